// A size distribution in bounded memory (2,752 counters, 22 KiB, whatever the row count): exact
// count, sum, min and max; quantiles from a log-linear histogram (HDR histogram's layout).
//
// Sizes 0..127 have a bucket each (exact). Above, each power of two [2^e, 2^(e+1)) is cut into 64
// equal buckets, so a bucket spans at most 1/64 of its lower edge. A quantile is reported as the
// largest size of the bucket holding it (clamped to the exact max): never below the true value,
// and at most 1.6% (1/64) above it.
import { assert } from "../util/assert.ts";

const exactSizeCount = 128;
const subBucketBits = 6;
const subBucketCount = 1 << subBucketBits;
/** Sizes below 2^31 (clz32 covers them); rows are far smaller (bulkRowSizeBytesMax). */
const exponentMax = 30;
const bucketCount = exactSizeCount + (exponentMax - 6) * subBucketCount;

export interface SizeSummary {
  count: number;
  sumBytes: number;
  min: number;
  p50: number;
  p99: number;
  max: number;
}

export class SizeHistogram {
  readonly #counts = new Float64Array(bucketCount);
  #count = 0;
  #sum = 0;
  #min = Number.POSITIVE_INFINITY;
  #max = 0;

  add(size: number): void {
    assert(Number.isInteger(size) && size >= 0 && size < 2 ** 31, "a size is a non-negative int below 2^31");
    const bucket = bucketOf(size);
    this.#counts[bucket] = (this.#counts[bucket] as number) + 1;
    this.#count += 1;
    this.#sum += size;
    if (size < this.#min) this.#min = size;
    if (size > this.#max) this.#max = size;
  }

  get count(): number {
    return this.#count;
  }

  /** The q-quantile (0 < q <= 1): the size of rank ceil(q * count), as described in the header. */
  quantile(q: number): number {
    assert(q > 0 && q <= 1, "a quantile is in (0, 1]");
    if (this.#count === 0) return 0;
    const rank = Math.max(1, Math.ceil(q * this.#count));
    let seen = 0;
    for (let bucket = 0; bucket < bucketCount; bucket += 1) {
      seen += this.#counts[bucket] as number;
      if (seen >= rank) return Math.max(this.#min, Math.min(this.#max, bucketLargestSize(bucket)));
    }
    return this.#max;
  }

  summary(): SizeSummary {
    return {
      count: this.#count,
      sumBytes: this.#sum,
      min: this.#count === 0 ? 0 : this.#min,
      p50: this.quantile(0.5),
      p99: this.quantile(0.99),
      max: this.#max,
    };
  }
}

function bucketOf(size: number): number {
  if (size < exactSizeCount) return size;
  const exponent = 31 - Math.clz32(size);
  const subBucket = (size >>> (exponent - subBucketBits)) & (subBucketCount - 1);
  return exactSizeCount + (exponent - 7) * subBucketCount + subBucket;
}

function bucketLargestSize(bucket: number): number {
  if (bucket < exactSizeCount) return bucket;
  const exponent = 7 + Math.floor((bucket - exactSizeCount) / subBucketCount);
  const subBucket = (bucket - exactSizeCount) % subBucketCount;
  const width = 2 ** (exponent - subBucketBits);
  return (subBucketCount + subBucket) * width + width - 1;
}
