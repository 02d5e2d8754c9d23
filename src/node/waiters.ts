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
  context: Uint8Array;
  sentMs: number; // when its ReadIndex last went out
}

export class ReadWaiters {
  readonly #waiters = new Map<number, ReadWaiter>();
  readonly #clock: ReplicaClock;
  readonly #nodeId: number;
  #contextNext: number;

  /**
   * `nodeId` goes into every context: the leader keeps one pending read per context, so two
   * replicas that handed out the same number (created in the same millisecond, as the simulator's
   * replicas are) had the second one's ReadIndex dropped as a duplicate of the first.
   */
  constructor(clock: ReplicaClock, nodeId: number) {
    this.#clock = clock;
    this.#nodeId = nodeId;
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
    const context = encodeReadContext(id, this.#nodeId);
    const done = new Promise<void>((resolve, reject) => {
      const timer = this.#clock.setTimer(() => {
        this.#waiters.delete(id);
        reject(new UkvError("TIMEOUT", `Linearizable read not confirmed within ${timeoutMs} ms`));
      }, timeoutMs);
      this.#waiters.set(id, { resolve: () => resolve(), reject, timer, readIndex: 0, context, sentMs: this.#clock.nowMs() });
    });
    return { context, done };
  }

  /**
   * The contexts of reads the leader has not answered for `intervalMs`, marked as sent now. A
   * ReadIndex is a message like any other: the forward to the leader, or the leader's answer, can
   * be lost (a peer connection re-dialling, a leader deposed with the read pending), and without a
   * resend the read waited out its whole timeout, longer than a client's retry window (the
   * deployment trial's linearizable GET after a quorum loss). Sending the same context again is
   * safe: any read index the leader fixes after the read began serves it, and a second answer
   * for a settled read is ignored.
   */
  dueForResend(nowMs: number, intervalMs: number): Uint8Array[] {
    const due: Uint8Array[] = [];
    for (const waiter of this.#waiters.values()) {
      if (waiter.readIndex !== 0 || nowMs - waiter.sentMs < intervalMs) continue;
      waiter.sentMs = nowMs;
      due.push(waiter.context);
    }
    return due;
  }

  /** Fails one read (its ReadIndex could not be sent). */
  reject(context: Uint8Array, error: Error): void {
    const id = decodeReadContext(context, this.#nodeId);
    const waiter = id === null ? undefined : this.#waiters.get(id);
    if (waiter === undefined || id === null) return;
    waiter.timer.cancel();
    this.#waiters.delete(id);
    waiter.reject(error);
  }

  /** The leader confirmed the read at `readIndex`; it may be served once that index is applied. */
  confirm(context: Uint8Array, readIndex: number, appliedIndex: number): void {
    const id = decodeReadContext(context, this.#nodeId);
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

const readContextBytes = 12;

function encodeReadContext(id: number, nodeId: number): Uint8Array {
  const bytes = new Uint8Array(readContextBytes);
  const view = new DataView(bytes.buffer);
  view.setFloat64(0, id, true);
  view.setUint32(8, nodeId, true);
  return bytes;
}

/** The read's id, or null for a context that is not one of `nodeId`'s. */
function decodeReadContext(bytes: Uint8Array, nodeId: number): number | null {
  if (bytes.byteLength !== readContextBytes) return null;
  const view = new DataView(bytes.buffer, bytes.byteOffset, readContextBytes);
  if (view.getUint32(8, true) !== nodeId) return null;
  return view.getFloat64(0, true);
}
