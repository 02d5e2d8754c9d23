// Where a shard's load is: a bounded sample of the key hashes its replica here served (reads on
// either thread, writes on the leader), so a load-based split cuts at the load's median rather
// than at the keys' median (issue 14: "or at the hot spot for load-based splits"). The sample is
// the last sampleCountMax accesses recorded, so it follows the load as it moves.
import { assert } from "../util/assert.ts";
import type { KeyRange } from "../ring/range-map.ts";

/** Hashes kept per replica. */
export const loadSampleCountMax = 1024;
/** Fewer samples in the range than this give no split point: too little load seen to place a cut. */
export const loadSampleCountMin = 64;
/** One access in this many is recorded by the callers that must hash the key for it. */
export const loadSampleStride = 8;

export class LoadSample {
  readonly #hashes: bigint[] = [];
  #next = 0;

  record(hash: bigint): void {
    if (this.#hashes.length < loadSampleCountMax) {
      this.#hashes.push(hash);
      return;
    }
    this.#hashes[this.#next] = hash;
    this.#next = (this.#next + 1) % loadSampleCountMax;
  }

  get size(): number {
    return this.#hashes.length;
  }

  /**
   * The hash that about halves the sampled load in `range` (the first hash of the upper part), or
   * null when no cut puts load on both sides: too few samples, or all of them on one key hash (a
   * single hot key cannot be divided by a split). The cut goes just below or just above the
   * median's hash, whichever leaves the halves closer to equal.
   */
  splitPoint(range: KeyRange): bigint | null {
    const sorted = this.#hashes.filter((hash) => hash >= range.start && hash <= range.end);
    if (sorted.length < loadSampleCountMin) return null;
    sorted.sort((left, right) => (left < right ? -1 : left > right ? 1 : 0));
    const median = sorted[Math.floor(sorted.length / 2)];
    assert(median !== undefined, "a non-empty sample has a median");
    const firstAtMedian = sorted.findIndex((hash) => hash === median);
    const firstAboveMedian = sorted.findIndex((hash) => hash > median);
    // A cut at hash h leaves the samples below h in the parent.
    const cuts: { at: bigint; below: number }[] = [];
    if (firstAtMedian > 0) cuts.push({ at: median, below: firstAtMedian });
    if (firstAboveMedian > 0) cuts.push({ at: sorted[firstAboveMedian] as bigint, below: firstAboveMedian });
    const half = sorted.length / 2;
    cuts.sort((left, right) => Math.abs(left.below - half) - Math.abs(right.below - half));
    return cuts[0]?.at ?? null;
  }
}
