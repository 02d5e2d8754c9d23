// Flow control window of one follower in replicate mode: a ring of the Append messages sent but
// not yet acknowledged, each remembered by its last entry index and its byte size. The window is
// full when it holds maxCount messages OR maxBytes bytes, whichever comes first.
// Layout: slots [start, start + count) modulo capacity, oldest first; indexes ascend.
import { assert } from "../util/assert.ts";

export class Inflights {
  readonly maxCount: number;
  readonly maxBytes: number;
  #indexes: number[];
  #sizesBytes: number[];
  #start = 0;
  #count = 0;
  #bytes = 0;

  constructor(maxCount: number, maxBytes: number) {
    assert(maxCount >= 1, "an inflight window holds at least one message");
    assert(maxBytes >= 1, "an inflight window holds at least one byte");
    this.maxCount = maxCount;
    this.maxBytes = maxBytes;
    this.#indexes = new Array<number>(maxCount).fill(0);
    this.#sizesBytes = new Array<number>(maxCount).fill(0);
  }

  get count(): number {
    return this.#count;
  }

  get bytes(): number {
    return this.#bytes;
  }

  full(): boolean {
    return this.#count === this.maxCount || this.#bytes >= this.maxBytes;
  }

  /** Records a sent message whose last entry is `index`. The caller checks full() first. */
  add(index: number, sizeBytes: number): void {
    assert(!this.full(), "no message is sent into a full inflight window");
    if (this.#count > 0) {
      const newest = this.#indexes[(this.#start + this.#count - 1) % this.maxCount] as number;
      assert(index > newest, "inflight indexes ascend");
    }
    const slot = (this.#start + this.#count) % this.maxCount;
    this.#indexes[slot] = index;
    this.#sizesBytes[slot] = sizeBytes;
    this.#count++;
    this.#bytes += sizeBytes;
  }

  /** Frees every message whose last index is <= `index` (acknowledged). */
  freeLE(index: number): void {
    // Bounded by maxCount iterations.
    while (this.#count > 0) {
      const slot = this.#start;
      if ((this.#indexes[slot] as number) > index) break;
      this.#bytes -= this.#sizesBytes[slot] as number;
      this.#start = (this.#start + 1) % this.maxCount;
      this.#count--;
    }
    if (this.#count === 0) this.#start = 0;
    assert(this.#bytes >= 0, "inflight bytes never go negative");
  }

  /** Frees the oldest message: a heartbeat response proves the follower is alive. */
  freeFirstOne(): void {
    if (this.#count === 0) return;
    this.freeLE(this.#indexes[this.#start] as number);
  }

  reset(): void {
    this.#start = 0;
    this.#count = 0;
    this.#bytes = 0;
  }
}
