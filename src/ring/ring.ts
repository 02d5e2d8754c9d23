// The ring: which shard owns a key. Pure (no IO, clock, randomness); a Ring is an immutable value
// and every change (add a shard, split or move a range) returns a new Ring with epoch + 1.
//
// Key hash (documented for every client): h = xxHash64(routingKey(keyBytes), seed 0), the reference
// XXH64 (Bun.hash.xxHash64, native XXH64), read as an unsigned 64-bit integer in [0, 2^64);
// routingKey (hash-tag.ts) is the key, or its `{tag}` as in Redis Cluster.
//
// Layout: the hash space [0, 2^64) is cut into contiguous ranges, each owned by one shard.
// A range is [start, end] with BOTH ends inclusive; ranges are sorted, the first starts at 0,
// each next one starts at the previous end + 1, the last ends at 2^64 - 1. lookup(h) is the owner
// of the range whose end is the first end >= h: a binary search, O(log ranges), which a bucket
// hint indexed by the hash's top bits narrows to about one range.
//
// Building from shard ids (consistent hashing with virtual nodes): shard `id` gets `vnodeCount`
// points, point i = xxHash64(UTF-8 "shard-<id>-vnode-<i>", seed 0). Sorted points p0 < p1 < ...
// < pN give ranges [0, p0] -> owner(p0), (p(k-1), pk] -> owner(pk), and the tail (pN, 2^64 - 1]
// -> owner(p0): on the circle the tail and the head [0, p0] are one arc, ending at p0. (If two
// points are equal, the lower shard id keeps it.) With many points per shard each shard's share
// is close to 1/n; the default vnode count keeps the largest share within 1.1x of the mean for
// 3..16 shards with margin (the ring tests measure it; see vnodeCountDefault).
//
// Adding a shard inserts its points: each point p takes (previous end, p] from the range that
// contained it, so keys move ONLY to the new shard, about 1/(n+1) of them. If a point lands in
// the head range and the tail has the same owner as the head (one arc, as after build), the rest
// of the tail moves too, so that adding to a freshly built ring equals building with the shard.
//
// JSON: { epoch, vnodeCount, ranges: [{ start, end, shardId }] } with bigints as decimal strings
// (about 70 bytes a range); ring-codec.ts has a binary form of 12 bytes a range.
import { UkvError } from "../util/errors.ts";
import { assert } from "../util/assert.ts";
import { routingKey } from "./hash-tag.ts";
import { ringRangeCountMax, ringVnodeCountMax } from "../util/limits.ts";
/**
 * xxHash64(data, seed 0) as its high and low 32 bits in out[0] and out[1]. Bun's native XXH64 (a
 * pure function: no IO, clock or randomness) replaced our own TypeScript port, which hashed the
 * same bits 3x slower (460 vs 154 ns a 20-byte key, /tmp bench on 2026-12-01).
 */
export function xxHash64Halves(data: Uint8Array, out: Uint32Array): void {
  const hash = BigInt.asUintN(64, BigInt(Bun.hash.xxHash64(data, 0n)));
  out[0] = Number(hash >> 32n);
  out[1] = Number(hash & 0xffffffffn);
}

/** xxHash64(data, seed 0) as an unsigned 64-bit bigint: the documented key hash. */
export function xxHash64(data: Uint8Array): bigint {
  return BigInt.asUintN(64, BigInt(Bun.hash.xxHash64(data, 0n)));
}

export const hashMax = (1n << 64n) - 1n;
/**
 * Points per shard when building. A shard's share has a relative spread of about 1/sqrt(vnodes).
 * Largest share / mean share measured over rings of shards 1..n, n = 3..16 (by range length; by
 * 200k random keys): 256 vnodes 1.146; 512: 1.075, 1.080; 1024: 1.091, 1.095; 2048: 1.045, 1.057.
 * 2048 keeps the 1.1x bound with margin (10% is 4.5 standard deviations of one share). The cost:
 * 2048 ranges a shard (see ring-codec.ts for the compact form).
 */
export const vnodeCountDefault = 2048;

/**
 * Points per shard for a ring built from a set of `shardCount` shards: the default while the ring
 * fits ringRangeCountMax (up to 127 shards), else the most that fit, floor((ringRangeCountMax -
 * 1) / shardCount) (262 at 1000 shards: a share's spread of about 1/sqrt(262), 6%). A function of
 * the shard count alone, so every store, router and client building the ring of one shard set
 * builds the same ring.
 */
export function vnodeCountForShardCount(shardCount: number): number {
  const fitting = Math.floor((ringRangeCountMax - 1) / shardCount);
  if (!Number.isInteger(shardCount) || shardCount < 1 || fitting < 1) {
    throw ringError(`Invalid shard count for a ring: ${shardCount}, must be an integer in 1..${ringRangeCountMax - 1}`);
  }
  return Math.min(vnodeCountDefault, fitting);
}
const shardIdMax = 0xffffffff;

export interface RingRange {
  /** First hash of the range (inclusive). */
  start: bigint;
  /** Last hash of the range (inclusive). */
  end: bigint;
  shardId: number;
}

export interface RingJson {
  epoch: number;
  vnodeCount: number;
  ranges: { start: string; end: string; shardId: number }[];
}

export interface RingOptions {
  /** Points per shard for build and withShardAdded; default vnodeCountDefault, at most ringVnodeCountMax. */
  vnodeCount?: number;
  /** Version of the topology; default 0. */
  epoch?: number;
}

function ringError(message: string, data: Record<string, unknown> = {}): UkvError {
  return new UkvError("RING_INVALID", message, { data });
}

function checkShardId(shardId: number, what: string): void {
  if (!Number.isInteger(shardId) || shardId < 0 || shardId > shardIdMax) {
    throw ringError(`Invalid ${what}: ${shardId}, must be an integer in 0..${shardIdMax}`, { shardId });
  }
}

function checkOptions(options: RingOptions): { vnodeCount: number; epoch: number } {
  const vnodeCount = options.vnodeCount ?? vnodeCountDefault;
  const epoch = options.epoch ?? 0;
  if (!Number.isInteger(vnodeCount) || vnodeCount < 1 || vnodeCount > ringVnodeCountMax) {
    throw ringError(`Invalid vnodeCount: ${vnodeCount}, must be an integer in 1..${ringVnodeCountMax}`);
  }
  if (!Number.isSafeInteger(epoch) || epoch < 0) {
    throw ringError(`Invalid epoch: ${epoch}, must be a non-negative safe integer`);
  }
  return { vnodeCount, epoch };
}

const textEncoder = new TextEncoder();

// A BigUint64Array seen as 32-bit words: which word of each 64-bit element is the high half
// depends on the platform's byte order, probed once.
const probeWords = new Uint32Array(2);
new BigUint64Array(probeWords.buffer)[0] = 1n;
const highWordOffset = probeWords[0] === 1 ? 1 : 0;
const lowWordOffset = 1 - highWordOffset;

/** The points of one shard (see the header comment), ascending. */
export function shardPoints(shardId: number, vnodeCount: number): BigUint64Array {
  const points = new BigUint64Array(vnodeCount);
  const words = new Uint32Array(points.buffer);
  const halves = new Uint32Array(2);
  for (let i = 0; i < vnodeCount; i++) {
    xxHash64Halves(textEncoder.encode(`shard-${shardId}-vnode-${i}`), halves);
    words[2 * i + highWordOffset] = halves[0] as number;
    words[2 * i + lowWordOffset] = halves[1] as number;
  }
  return points.sort();
}

/** Index of the range holding `hash` in sorted inclusive `ends` (the first end >= hash). */
function findRangeIndex(ends: BigUint64Array, hash: bigint): number {
  let low = 0;
  let high = ends.length - 1;
  while (low < high) {
    const middle = (low + high) >>> 1;
    if ((ends[middle] as bigint) >= hash) high = middle;
    else low = middle + 1;
  }
  return low;
}

/** Bits of the bucket hint: about one range a bucket, within 4..20 bits (64 B .. 4 MiB of hint). */
function bucketBitsFor(rangeCount: number): number {
  return Math.min(20, Math.max(4, Math.ceil(Math.log2(rangeCount))));
}

/** bucketFirstRange of the constructor (see there), from the ends as 32-bit words. */
function bucketIndex(words: Uint32Array, rangeCount: number, shift: number): Uint32Array {
  const bucketCount = 2 ** (32 - shift);
  const firstRange = new Uint32Array(bucketCount + 1);
  let range = 0;
  for (let bucket = 0; bucket < bucketCount; bucket++) {
    // A range holds the bucket's first hash (bucket << shift : 0) iff its end's high word is >= it.
    const firstHashHigh = bucket * 2 ** shift;
    while ((words[2 * range + highWordOffset] as number) < firstHashHigh) range++;
    firstRange[bucket] = range;
  }
  firstRange[bucketCount] = rangeCount - 1;
  assert(range < rangeCount, "the last range ends at 2^64 - 1 and so holds every bucket's first hash");
  return firstRange;
}

interface PointList {
  shardId: number;
  points: BigUint64Array;
  /** Index of the next point to merge. */
  next: number;
}

/** Whether list `left`'s next point comes before `right`'s: the smaller point, on a tie the lower shard id. */
function headBefore(left: PointList, right: PointList): boolean {
  const leftPoint = left.points[left.next] as bigint;
  const rightPoint = right.points[right.next] as bigint;
  return leftPoint < rightPoint || (leftPoint === rightPoint && left.shardId < right.shardId);
}

/** Restores the min-heap order of `heap` (by headBefore) below `index`; the loop is bounded by the heap's depth. */
function siftDown(heap: PointList[], index: number): void {
  const count = heap.length;
  let current = index;
  for (;;) {
    const left = 2 * current + 1;
    if (left >= count) return;
    const right = left + 1;
    const smaller = right < count && headBefore(heap[right] as PointList, heap[left] as PointList) ? right : left;
    if (!headBefore(heap[smaller] as PointList, heap[current] as PointList)) return;
    [heap[current], heap[smaller]] = [heap[smaller] as PointList, heap[current] as PointList];
    current = smaller;
  }
}

export class Ring {
  readonly epoch: number;
  readonly vnodeCount: number;
  /**
   * Inclusive range ends, ascending; the last is hashMax. Range k starts at ends[k-1] + 1 (or 0).
   * Never written after construction, so rings that differ only in owners share it.
   */
  readonly #ends: BigUint64Array;
  /** The same memory as 32-bit words, so lookups compare plain numbers, never bigints. */
  readonly #endWords: Uint32Array;
  readonly #owners: Uint32Array;
  /**
   * Search hint: the hash space cut into 2^bucketBits equal buckets by the top bits of the hash;
   * bucketFirstRange[b] is the index of the range holding bucket b's first hash. A hash in bucket
   * b lies in ranges bucketFirstRange[b] ..= bucketFirstRange[b + 1], so the binary search covers
   * about one range instead of all (and touches one cache line instead of log2(ranges)).
   */
  readonly #bucketFirstRange: Uint32Array;
  readonly #bucketShift: number;
  readonly #hashScratch = new Uint32Array(2);
  // lookup(bigint) splits the hash by storing it here and reading the two words: no bigint shifts.
  readonly #hashBigScratch = new BigUint64Array(1);
  readonly #hashBigWords = new Uint32Array(this.#hashBigScratch.buffer);

  private constructor(ends: BigUint64Array, owners: Uint32Array, vnodeCount: number, epoch: number) {
    assert(ends.length === owners.length, "one owner per range");
    assert(ends.length >= 1 && ends[ends.length - 1] === hashMax, "the ranges cover the space up to 2^64 - 1");
    this.epoch = epoch;
    this.vnodeCount = vnodeCount;
    this.#ends = ends;
    this.#endWords = new Uint32Array(ends.buffer, ends.byteOffset, ends.length * 2);
    this.#owners = owners;
    this.#bucketShift = 32 - bucketBitsFor(ends.length);
    this.#bucketFirstRange = bucketIndex(this.#endWords, ends.length, this.#bucketShift);
    const words = this.#endWords;
    for (let k = 1; k < ends.length; k++) {
      const previousHigh = words[2 * (k - 1) + highWordOffset] as number;
      const high = words[2 * k + highWordOffset] as number;
      const ascending = high > previousHigh || (high === previousHigh && (words[2 * k + lowWordOffset] as number) > (words[2 * (k - 1) + lowWordOffset] as number));
      assert(ascending, "range ends strictly ascend");
    }
  }

  /** A ring of `shardIds` by consistent hashing with `vnodeCount` points each. */
  static build(shardIds: readonly number[], options: RingOptions = {}): Ring {
    const { vnodeCount, epoch } = checkOptions(options);
    if (shardIds.length === 0) throw ringError("A ring needs at least one shard");
    for (const shardId of shardIds) checkShardId(shardId, "shard id");
    if (new Set(shardIds).size !== shardIds.length) throw ringError(`Duplicate shard ids: ${shardIds.join(", ")}`);
    if (shardIds.length * vnodeCount + 1 > ringRangeCountMax) {
      throw ringError(`Too many ranges: ${shardIds.length} shards x ${vnodeCount} vnodes, limit ${ringRangeCountMax}`);
    }
    // Merge the shards' sorted point lists: each step takes the smallest head (ties: lower id).
    // A min-heap of the lists by their heads makes a step O(log shards), not O(shards): a
    // 1000-shard ring (262 vnodes each) builds in a fraction of a second, not in seconds.
    const heap: PointList[] = shardIds.map((shardId) => ({ shardId, points: shardPoints(shardId, vnodeCount), next: 0 }));
    for (let index = (heap.length >>> 1) - 1; index >= 0; index--) siftDown(heap, index);
    const pointCount = shardIds.length * vnodeCount;
    const ends = new BigUint64Array(pointCount + 1);
    const owners = new Uint32Array(pointCount + 1);
    let rangeCount = 0;
    for (let step = 0; step < pointCount; step++) {
      const best = heap[0];
      assert(best !== undefined && best.next < vnodeCount, "a point remains while step < pointCount");
      const bestPoint = best.points[best.next] as bigint;
      best.next++;
      if (best.next === vnodeCount) {
        const last = heap.pop() as PointList;
        if (heap.length > 0 && last !== best) heap[0] = last;
      }
      if (heap.length > 0) siftDown(heap, 0);
      if (rangeCount > 0 && ends[rangeCount - 1] === bestPoint) continue; // collision: the lower id kept it
      ends[rangeCount] = bestPoint;
      owners[rangeCount] = best.shardId;
      rangeCount++;
    }
    assert(heap.length === 0, "every point was merged");
    if (ends[rangeCount - 1] !== hashMax) {
      ends[rangeCount] = hashMax;
      owners[rangeCount] = owners[0] as number; // the tail closes the circle into the head's arc
      rangeCount++;
    }
    return new Ring(ends.slice(0, rangeCount), owners.slice(0, rangeCount), vnodeCount, epoch);
  }

  /** A ring of explicit ranges: sorted, non-overlapping, without gaps, covering [0, 2^64 - 1]. */
  static fromRanges(ranges: readonly RingRange[], options: RingOptions = {}): Ring {
    const { vnodeCount, epoch } = checkOptions(options);
    if (ranges.length === 0) throw ringError("A ring needs at least one range");
    if (ranges.length > ringRangeCountMax) throw ringError(`Too many ranges: ${ranges.length}, limit ${ringRangeCountMax}`);
    const ends: bigint[] = [];
    const owners: number[] = [];
    let expectedStart = 0n;
    for (let index = 0; index < ranges.length; index++) {
      const { start, end, shardId } = ranges[index] as RingRange;
      const data = { rangeIndex: index, start: String(start), end: String(end) };
      if (typeof start !== "bigint" || typeof end !== "bigint") throw ringError(`Range ${index}: start and end must be bigints`, data);
      checkShardId(shardId, `shard id of range ${index}`);
      if (start < 0n || end > hashMax) throw ringError(`Range ${index} [${start}, ${end}] leaves the hash space [0, 2^64 - 1]`, data);
      if (end < start) throw ringError(`Range ${index} is empty or reversed: start ${start} > end ${end}`, data);
      if (start < expectedStart) {
        throw ringError(`Range ${index} overlaps or is out of order: starts at ${start}, the ranges before it end at ${expectedStart - 1n}`, data);
      }
      if (start > expectedStart) throw ringError(`Gap before range ${index}: hashes ${expectedStart}..${start - 1n} have no owner`, data);
      ends.push(end);
      owners.push(shardId);
      expectedStart = end + 1n;
    }
    if (expectedStart !== hashMax + 1n) {
      throw ringError(`Ranges do not cover the space: hashes ${expectedStart}..${hashMax} have no owner`, { rangeIndex: ranges.length });
    }
    return new Ring(BigUint64Array.from(ends), Uint32Array.from(owners), vnodeCount, epoch);
  }

  /** Parses and validates the output of toJSON. */
  static fromJSON(json: unknown): Ring {
    if (typeof json !== "object" || json === null) throw ringError("Ring JSON must be an object");
    const { epoch, vnodeCount, ranges } = json as Record<string, unknown>;
    if (typeof epoch !== "number" || typeof vnodeCount !== "number" || !Array.isArray(ranges)) {
      throw ringError("Ring JSON needs a number epoch, a number vnodeCount and a ranges array");
    }
    if (ranges.length > ringRangeCountMax) throw ringError(`Too many ranges: ${ranges.length}, limit ${ringRangeCountMax}`);
    const parsed: RingRange[] = [];
    for (let index = 0; index < ranges.length; index++) {
      const item: unknown = ranges[index];
      if (typeof item !== "object" || item === null) throw ringError(`Range ${index} must be an object`);
      const { start, end, shardId } = item as Record<string, unknown>;
      if (typeof start !== "string" || !/^[0-9]{1,20}$/.test(start) || typeof end !== "string" || !/^[0-9]{1,20}$/.test(end)) {
        throw ringError(`Range ${index}: start and end must be decimal strings`, { rangeIndex: index });
      }
      if (typeof shardId !== "number") throw ringError(`Range ${index}: shardId must be a number`, { rangeIndex: index });
      parsed.push({ start: BigInt(start), end: BigInt(end), shardId });
    }
    return Ring.fromRanges(parsed, { epoch, vnodeCount });
  }

  toJSON(): RingJson {
    return {
      epoch: this.epoch,
      vnodeCount: this.vnodeCount,
      ranges: this.ranges().map((range) => ({ start: range.start.toString(), end: range.end.toString(), shardId: range.shardId })),
    };
  }

  get rangeCount(): number {
    return this.#ends.length;
  }

  ranges(): RingRange[] {
    const result: RingRange[] = [];
    let start = 0n;
    for (let k = 0; k < this.#ends.length; k++) {
      const end = this.#ends[k] as bigint;
      result.push({ start, end, shardId: this.#owners[k] as number });
      start = end + 1n;
    }
    return result;
  }

  /** The shards owning at least one range, ascending. */
  shardIds(): number[] {
    return [...new Set(this.#owners)].sort((a, b) => a - b);
  }

  /** The shard owning `keyHash`, an unsigned 64-bit hash. */
  lookup(keyHash: bigint): number {
    if (keyHash < 0n || keyHash > hashMax) throw new UkvError("BAD_REQUEST", `Key hash out of range [0, 2^64 - 1]: ${keyHash}`);
    this.#hashBigScratch[0] = keyHash;
    const words = this.#hashBigWords;
    return this.#lookupHalves(words[highWordOffset] as number, words[lowWordOffset] as number);
  }

  /** The shard owning `key`: lookup(xxHash64(routingKey(key), seed 0)), without allocating. */
  shardForKey(key: Uint8Array): number {
    const halves = this.#hashScratch;
    xxHash64Halves(routingKey(key), halves);
    return this.#lookupHalves(halves[0] as number, halves[1] as number);
  }

  #lookupHalves(hashHigh: number, hashLow: number): number {
    const words = this.#endWords;
    const bucket = hashHigh >>> this.#bucketShift;
    let low = this.#bucketFirstRange[bucket] as number;
    let high = this.#bucketFirstRange[bucket + 1] as number; // the answer is in [low, high]
    while (low < high) {
      const middle = (low + high) >>> 1;
      const endHigh = words[2 * middle + highWordOffset] as number;
      if (endHigh > hashHigh || (endHigh === hashHigh && (words[2 * middle + lowWordOffset] as number) >= hashLow)) high = middle;
      else low = middle + 1;
    }
    return this.#owners[low] as number;
  }

  /**
   * A ring where `shardId` (owning nothing yet) takes over (previous end, p] for each of its
   * `vnodeCount` points p; every moved key moves to the new shard (see the header comment).
   */
  withShardAdded(shardId: number): Ring {
    checkShardId(shardId, "shard id");
    if (this.#owners.includes(shardId)) throw ringError(`Shard ${shardId} is already in the ring`, { shardId });
    const points = shardPoints(shardId, this.vnodeCount);
    if (this.#ends.length + points.length > ringRangeCountMax) {
      throw ringError(`Too many ranges: ${this.#ends.length} + ${points.length}, limit ${ringRangeCountMax}`);
    }
    const ends: bigint[] = [];
    const owners: number[] = [];
    let pointIndex = 0;
    for (let k = 0; k < this.#ends.length; k++) {
      const end = this.#ends[k] as bigint;
      // New points inside (previous end, end] cut this range; the part up to each point is the new shard's.
      for (; pointIndex < points.length && (points[pointIndex] as bigint) <= end; pointIndex++) {
        const point = points[pointIndex] as bigint;
        if (ends.length > 0 && ends[ends.length - 1] === point) continue; // a repeated point
        ends.push(point);
        owners.push(shardId);
      }
      if (ends[ends.length - 1] !== end) {
        ends.push(end);
        owners.push(this.#owners[k] as number);
      }
    }
    const headEnd = this.#ends[0] as bigint;
    const headOwner = this.#owners[0] as number;
    const tailOwner = this.#owners[this.#owners.length - 1] as number;
    const oneArc = this.#ends.length > 1 && headOwner === tailOwner;
    if (oneArc && (points[0] as bigint) <= headEnd) owners[owners.length - 1] = shardId;
    return new Ring(BigUint64Array.from(ends), Uint32Array.from(owners), this.vnodeCount, this.epoch + 1);
  }

  /**
   * A ring where the range starting at `start` is cut in two: the lower part keeps its owner, the
   * upper part, from `splitAt` (default: the midpoint + 1) to the end, goes to `newShardId`.
   */
  splitRange(start: bigint, newShardId: number, options: { splitAt?: bigint } = {}): Ring {
    checkShardId(newShardId, "shard id");
    const index = this.#indexOfStart(start);
    const end = this.#ends[index] as bigint;
    const splitAt = options.splitAt ?? start + (end - start + 1n) / 2n;
    if (splitAt <= start || splitAt > end) {
      throw ringError(`Cannot split range [${start}, ${end}] at ${splitAt}: the split point must be in (start, end]`, { start: String(start) });
    }
    if (this.#ends.length + 1 > ringRangeCountMax) throw ringError(`Too many ranges: limit ${ringRangeCountMax}`);
    const count = this.#ends.length;
    const ends = new BigUint64Array(count + 1);
    ends.set(this.#ends.subarray(0, index), 0);
    ends[index] = splitAt - 1n;
    ends.set(this.#ends.subarray(index), index + 1);
    const owners = new Uint32Array(count + 1);
    owners.set(this.#owners.subarray(0, index + 1), 0);
    owners[index + 1] = newShardId;
    owners.set(this.#owners.subarray(index + 1), index + 2);
    return new Ring(ends, owners, this.vnodeCount, this.epoch + 1);
  }

  /** A ring where the range starting at `start` belongs to `toShardId`. */
  moveRange(start: bigint, toShardId: number): Ring {
    checkShardId(toShardId, "shard id");
    const index = this.#indexOfStart(start);
    if (this.#owners[index] === toShardId) {
      throw ringError(`Range starting at ${start} already belongs to shard ${toShardId}`, { start: String(start), shardId: toShardId });
    }
    const owners = this.#owners.slice();
    owners[index] = toShardId;
    return new Ring(this.#ends, owners, this.vnodeCount, this.epoch + 1);
  }

  #indexOfStart(start: bigint): number {
    if (start < 0n || start > hashMax) throw ringError(`No range starts at ${start}: outside [0, 2^64 - 1]`);
    const index = start === 0n ? 0 : findRangeIndex(this.#ends, start - 1n) + 1;
    const actualStart = index === 0 ? 0n : (this.#ends[index - 1] as bigint) + 1n;
    if (index >= this.#ends.length || actualStart !== start) {
      throw ringError(`No range starts at ${start}`, { start: String(start) });
    }
    return index;
  }
}
