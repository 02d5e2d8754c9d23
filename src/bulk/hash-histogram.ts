// The key-hash distribution, and the shard boundaries chosen from it, in bounded memory: rows and
// bytes per bucket of the 64-bit hash space, bucket = top 16 bits of the hash (65,536 buckets of
// 2^48 hashes each, two Float64Arrays: 1 MiB; Float64 counts stay exact up to 2^53).
//
// Boundaries fall on bucket edges, so the expected rows and bytes of each shard are exact sums of
// the input (a loader can check its per-shard counts against them), and a boundary can be off the
// ideal split by at most the weight of one bucket: with hashed keys a bucket holds 1/65,536 of the
// rows, 0.1% of a shard's share at 64 shards. Finer boundaries inside a bucket would need the
// distribution within it (a second pass or a per-bucket sketch) and would lose the exact counts;
// a single key repeated many times is one hash point that no boundary can split anyway.
import { bulkHashBucketCount, shardCountMax } from "../util/limits.ts";
import { assert } from "../util/assert.ts";

const bucketShift = 64n - 16n;
assert(bulkHashBucketCount === 1 << 16, "a bucket is the top 16 bits of the hash");

/** What the boundaries balance: rows, bytes (key + value), or both with equal weight. */
export type BalanceMode = "keys" | "bytes" | "both";
export const balanceModes: readonly BalanceMode[] = ["keys", "bytes", "both"];

export interface ShardSplit {
  /** First bucket of each shard; shard i covers buckets [startBuckets[i], startBuckets[i+1]). */
  startBuckets: number[];
  keys: number[];
  bytes: number[];
}

export class HashHistogram {
  readonly keys = new Float64Array(bulkHashBucketCount);
  readonly bytes = new Float64Array(bulkHashBucketCount);

  /** One row whose hash's high 32-bit word is `hashHigh`, of `rowBytes` key + value bytes. */
  add(hashHigh: number, rowBytes: number): void {
    const bucket = hashHigh >>> 16;
    this.keys[bucket] = (this.keys[bucket] as number) + 1;
    this.bytes[bucket] = (this.bytes[bucket] as number) + rowBytes;
  }

  /**
   * Splits the buckets into `shardCount` contiguous runs of (near) equal weight: boundary i is
   * the bucket edge nearest to i/shardCount of the total weight, every shard at least one bucket.
   */
  split(shardCount: number, balance: BalanceMode): ShardSplit {
    assert(Number.isInteger(shardCount) && shardCount >= 1 && shardCount <= shardCountMax, "shard count within limits");
    const prefix = this.#prefixWeights(balance);
    const total = prefix[bulkHashBucketCount] as number;
    const startBuckets = [0];
    for (let shard = 1; shard < shardCount; shard += 1) {
      const previous = startBuckets[shard - 1] as number;
      const lowest = previous + 1;
      const highest = bulkHashBucketCount - (shardCount - shard);
      // An empty input has no weight: fall back to equal ranges of the hash space.
      const edge = total === 0 ? Math.round((shard * bulkHashBucketCount) / shardCount) : nearestEdge(prefix, (total * shard) / shardCount);
      startBuckets.push(Math.min(highest, Math.max(lowest, edge)));
    }
    const keys: number[] = [];
    const bytes: number[] = [];
    for (let shard = 0; shard < shardCount; shard += 1) {
      const end = shard + 1 < shardCount ? (startBuckets[shard + 1] as number) : bulkHashBucketCount;
      keys.push(sumRange(this.keys, startBuckets[shard] as number, end));
      bytes.push(sumRange(this.bytes, startBuckets[shard] as number, end));
    }
    return { startBuckets, keys, bytes };
  }

  /** prefix[b] = weight of buckets [0, b); prefix has bucketCount + 1 entries. */
  #prefixWeights(balance: BalanceMode): Float64Array {
    const totalKeys = sumRange(this.keys, 0, bulkHashBucketCount);
    const totalBytes = sumRange(this.bytes, 0, bulkHashBucketCount);
    const keyWeight = balance === "bytes" || totalKeys === 0 ? 0 : 1 / totalKeys;
    const byteWeight = balance === "keys" || totalBytes === 0 ? 0 : 1 / totalBytes;
    const prefix = new Float64Array(bulkHashBucketCount + 1);
    for (let bucket = 0; bucket < bulkHashBucketCount; bucket += 1) {
      const weight = (this.keys[bucket] as number) * keyWeight + (this.bytes[bucket] as number) * byteWeight;
      prefix[bucket + 1] = (prefix[bucket] as number) + weight;
    }
    return prefix;
  }
}

/** The bucket edge b (0..bucketCount) whose prefix weight is nearest to `target`. */
function nearestEdge(prefix: Float64Array, target: number): number {
  let low = 0;
  let high = prefix.length - 1;
  while (low < high) {
    const middle = (low + high) >>> 1;
    if ((prefix[middle] as number) < target) low = middle + 1;
    else high = middle;
  }
  if (low > 0 && target - (prefix[low - 1] as number) < (prefix[low] as number) - target) return low - 1;
  return low;
}

function sumRange(values: Float64Array, start: number, end: number): number {
  let sum = 0;
  for (let index = start; index < end; index += 1) sum += values[index] as number;
  return sum;
}

/** The first hash of a bucket, as an unsigned 64-bit bigint (bucketCount maps to 2^64). */
export function bucketStartHash(bucket: number): bigint {
  assert(Number.isInteger(bucket) && bucket >= 0 && bucket <= bulkHashBucketCount, "a bucket edge");
  return BigInt(bucket) << bucketShift;
}
