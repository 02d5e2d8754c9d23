// The simulator's virtual time. Time is a count of ticks, advanced only by the runner, so a run
// never reads the wall clock and a seed replays exactly. One tick is one call of the driver's
// tick() and lasts tickMs of virtual milliseconds.
// Each incarnation of a simulated store gets its own StoreClock, the ReplicaClock its replicas'
// driver runs on: deferred calls and timers of a store that crashed die with it.
import { assert } from "../util/assert.ts";
import type { ReplicaClock, TimerHandle } from "../node/replica-io.ts";

/** Virtual milliseconds per tick (the driver's timeouts and retry delays are in ms). */
export const tickMs = 10;
/** The epoch the virtual clock starts at (only ids that must differ across restarts read it). */
const epochMsStart = 1_800_000_000_000;
/** Timers pending at once per store; the driver keeps far fewer (asserted). */
export const timersPendingMax = 200_000;

export class VirtualClock {
  #nowTicks = 0;

  get nowTicks(): number {
    return this.#nowTicks;
  }

  get nowMs(): number {
    return this.#nowTicks * tickMs;
  }

  /** Moves time forward by one tick and returns the new time. */
  advance(): number {
    this.#nowTicks += 1;
    return this.#nowTicks;
  }
}

interface SimTimer {
  dueMs: number;
  sequence: number;
  callback: () => void;
  cancelled: boolean;
}

export class StoreClock implements ReplicaClock {
  readonly #time: VirtualClock;
  #deferred: (() => void)[] = [];
  #timers: SimTimer[] = [];
  #sequenceNext = 0;
  #dead = false;

  constructor(time: VirtualClock) {
    this.#time = time;
  }

  nowMs(): number {
    return this.#time.nowMs;
  }

  epochMs(): number {
    return epochMsStart + this.#time.nowMs;
  }

  defer(callback: () => void): void {
    if (!this.#dead) this.#deferred.push(callback);
  }

  setTimer(callback: () => void, delayMs: number): TimerHandle {
    const timer: SimTimer = { dueMs: this.nowMs() + Math.max(0, delayMs), sequence: this.#sequenceNext++, callback, cancelled: false };
    if (!this.#dead) {
      assert(this.#timers.length < timersPendingMax, "a store keeps a bounded number of timers");
      this.#timers.push(timer);
    }
    return { cancel: () => void (timer.cancelled = true) };
  }

  sleep(delayMs: number): Promise<void> {
    return new Promise((resolve) => this.setTimer(resolve, delayMs));
  }

  /** The store crashed: nothing it scheduled runs any more. */
  kill(): void {
    this.#dead = true;
    this.#deferred = [];
    this.#timers = [];
  }

  /** Runs deferred calls, then timers due now (by due time, then creation order); returns how many ran. */
  runDue(): number {
    const deferred = this.#deferred;
    this.#deferred = [];
    for (const callback of deferred) callback();
    const nowMs = this.nowMs();
    if (this.#timers.length === 0) return deferred.length;
    const due = this.#timers.filter((timer) => timer.dueMs <= nowMs && !timer.cancelled);
    this.#timers = this.#timers.filter((timer) => timer.dueMs > nowMs && !timer.cancelled);
    due.sort((left, right) => left.dueMs - right.dueMs || left.sequence - right.sequence);
    for (const timer of due) if (!timer.cancelled) timer.callback();
    return deferred.length + due.length;
  }
}
