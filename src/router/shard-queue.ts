// The router's per-shard admission: at most `inflightCountMax` requests of a shard are being
// routed at once (they pipeline on one connection per member); the next `waitingCountMax` wait in
// FIFO order for a slot; past that the request is refused at once. Memory per shard is therefore
// bounded, and a slow shard cannot take the router's memory (or the other shards' service) with it.
import { assert } from "../util/assert.ts";

export interface ShardQueueOptions {
  inflightCountMax: number;
  waitingCountMax: number;
}

export class ShardQueue {
  readonly #options: ShardQueueOptions;
  readonly #waiting: (() => void)[] = [];
  #waitingHeadIndex = 0;
  #inflightCount = 0;
  #refusedCount = 0;

  constructor(options: ShardQueueOptions) {
    assert(options.inflightCountMax > 0, "a shard may route at least one request");
    assert(options.waitingCountMax >= 0, "the waiting bound is not negative");
    this.#options = options;
  }

  get inflightCount(): number {
    return this.#inflightCount;
  }

  get waitingCount(): number {
    return this.#waiting.length - this.#waitingHeadIndex;
  }

  /** Requests refused because the queue was full, since start. */
  get refusedCount(): number {
    return this.#refusedCount;
  }

  /** Runs `task` when a slot is free; `onFull()` instead when both bounds are reached. */
  async run<T>(task: () => Promise<T>, onFull: () => T): Promise<T> {
    if (this.#inflightCount >= this.#options.inflightCountMax) {
      if (this.waitingCount >= this.#options.waitingCountMax) {
        this.#refusedCount++;
        return onFull();
      }
      await new Promise<void>((resolve) => this.#waiting.push(resolve));
      // The slot was handed over by #release: the count already includes this request.
    } else {
      this.#inflightCount++;
    }
    assert(this.#inflightCount <= this.#options.inflightCountMax, "in-flight requests stay within the bound");
    try {
      return await task();
    } finally {
      this.#release();
    }
  }

  #release(): void {
    if (this.waitingCount > 0) {
      const next = this.#waiting[this.#waitingHeadIndex];
      assert(next !== undefined, "a waiting request has a resolver");
      this.#waitingHeadIndex++;
      // Compact now and then so the array does not keep every resolver ever queued.
      if (this.#waitingHeadIndex >= 1024 && this.#waitingHeadIndex * 2 >= this.#waiting.length) {
        this.#waiting.splice(0, this.#waitingHeadIndex);
        this.#waitingHeadIndex = 0;
      }
      next(); // hands this slot to the next request: inflightCount stays the same
      return;
    }
    this.#inflightCount--;
    assert(this.#inflightCount >= 0, "every release matches one admission");
  }
}
