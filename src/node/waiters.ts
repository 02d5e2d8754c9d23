// Clients waiting on the Raft group: proposals waiting for their entry to apply (found by the
// proposer's sequence number) and linearizable reads waiting for a read index to be applied.
// Every waiter has a deadline so that no client waits forever on a lost leader.
import { UkvError } from "../util/errors.ts";
import { assert } from "../util/assert.ts";
import type { ReplicaClock, TimerHandle } from "./replica-io.ts";

export const waiterCountMax = 100_000;

const emptyResult = new Uint8Array(0);

interface Waiter {
  resolve(result?: Uint8Array): void;
  reject(error: Error): void;
  timer: TimerHandle;
}

export class ProposalWaiters {
  readonly #waiters = new Map<number, Waiter>();
  readonly #clock: ReplicaClock;
  #sequenceNext: number;

  constructor(clock: ReplicaClock) {
    this.#clock = clock;
    // Start from the clock so that an entry proposed before a restart can never match a sequence
    // handed out after it.
    this.#sequenceNext = clock.epochMs() * 1000;
  }

  get size(): number {
    return this.#waiters.size;
  }

  /** Reserves a sequence and returns it with the promise that settles when that entry applies (with the entry's result: a keyed command's reply, else empty). */
  add(timeoutMs: number): { sequence: number; done: Promise<Uint8Array> } {
    if (this.#waiters.size >= waiterCountMax) {
      throw new UkvError("SHARD_UNAVAILABLE", `Too many writes in flight: limit ${waiterCountMax}`);
    }
    const sequence = this.#sequenceNext++;
    const done = new Promise<Uint8Array>((resolve, reject) => {
      const timer = this.#clock.setTimer(() => {
        this.#waiters.delete(sequence);
        reject(new UkvError("TIMEOUT", `Write not committed within ${timeoutMs} ms (outcome unknown)`));
      }, timeoutMs);
      this.#waiters.set(sequence, { resolve: (result) => resolve(result ?? emptyResult), reject, timer });
    });
    return { sequence, done };
  }

  resolve(sequence: number, result?: Uint8Array): void {
    const waiter = this.#waiters.get(sequence);
    if (waiter === undefined) return;
    waiter.timer.cancel();
    this.#waiters.delete(sequence);
    waiter.resolve(result);
  }

  reject(sequence: number, error: Error): void {
    const waiter = this.#waiters.get(sequence);
    if (waiter === undefined) return;
    waiter.timer.cancel();
    this.#waiters.delete(sequence);
    waiter.reject(error);
  }

  rejectAll(error: Error): void {
    for (const [sequence] of this.#waiters) this.reject(sequence, error);
    assert(this.#waiters.size === 0, "every proposal waiter settled");
  }

  /** The sequence the next add() hands out: every waiter so far is below it. */
  get nextSequence(): number {
    return this.#sequenceNext;
  }

  /** Rejects the waiters added before nextSequence was `bound`. */
  rejectBelow(bound: number, error: Error): void {
    for (const [sequence] of this.#waiters) if (sequence < bound) this.reject(sequence, error);
  }
}

interface ReadWaiter extends Waiter {
  readIndex: number; // 0 until the leader answered
}

export class ReadWaiters {
  readonly #waiters = new Map<number, ReadWaiter>();
  readonly #clock: ReplicaClock;
  #contextNext: number;

  constructor(clock: ReplicaClock) {
    this.#clock = clock;
    // From the clock, as proposal sequences: the leader may answer a ReadIndex of this replica's
    // previous incarnation after a restart, and with contexts restarting at 1 that answer (a read
    // index from before writes this read must see) confirmed a new read (found by the simulator,
    // seed 14530: a stale linearizable read).
    this.#contextNext = clock.epochMs() * 1000;
  }

  get size(): number {
    return this.#waiters.size;
  }

  add(timeoutMs: number): { context: Uint8Array; done: Promise<void> } {
    if (this.#waiters.size >= waiterCountMax) {
      throw new UkvError("SHARD_UNAVAILABLE", `Too many linearizable reads in flight: limit ${waiterCountMax}`);
    }
    const id = this.#contextNext++;
    const context = encodeReadContext(id);
    const done = new Promise<void>((resolve, reject) => {
      const timer = this.#clock.setTimer(() => {
        this.#waiters.delete(id);
        reject(new UkvError("TIMEOUT", `Linearizable read not confirmed within ${timeoutMs} ms`));
      }, timeoutMs);
      this.#waiters.set(id, { resolve: () => resolve(), reject, timer, readIndex: 0 });
    });
    return { context, done };
  }

  /** Fails one read (its ReadIndex could not be sent). */
  reject(context: Uint8Array, error: Error): void {
    const id = decodeReadContext(context);
    const waiter = id === null ? undefined : this.#waiters.get(id);
    if (waiter === undefined || id === null) return;
    waiter.timer.cancel();
    this.#waiters.delete(id);
    waiter.reject(error);
  }

  /** The leader confirmed the read at `readIndex`; it may be served once that index is applied. */
  confirm(context: Uint8Array, readIndex: number, appliedIndex: number): void {
    const id = decodeReadContext(context);
    const waiter = id === null ? undefined : this.#waiters.get(id);
    if (waiter === undefined || id === null) return;
    waiter.readIndex = readIndex;
    if (readIndex <= appliedIndex) this.#settle(id, waiter);
  }

  /** Serves every confirmed read whose index is now applied. */
  applied(appliedIndex: number): void {
    for (const [id, waiter] of this.#waiters) {
      if (waiter.readIndex > 0 && waiter.readIndex <= appliedIndex) this.#settle(id, waiter);
    }
  }

  rejectAll(error: Error): void {
    for (const [id, waiter] of this.#waiters) {
      waiter.timer.cancel();
      this.#waiters.delete(id);
      waiter.reject(error);
    }
  }

  #settle(id: number, waiter: ReadWaiter): void {
    waiter.timer.cancel();
    this.#waiters.delete(id);
    waiter.resolve();
  }
}

function encodeReadContext(id: number): Uint8Array {
  const bytes = new Uint8Array(8);
  new DataView(bytes.buffer).setFloat64(0, id, true);
  return bytes;
}

function decodeReadContext(bytes: Uint8Array): number | null {
  if (bytes.byteLength !== 8) return null;
  return new DataView(bytes.buffer, bytes.byteOffset, 8).getFloat64(0, true);
}
