// The range map: which shard owns a key. The 64-bit key-hash space [0, 2^64) (key-hash.ts) is cut
// into contiguous ranges, one per shard, each with a version that increases whenever the range
// changes (a split). Ranges are sorted by start, the first starts at 0, each next one starts at the
// previous end + 1, the last ends at 2^64 - 1; lookup is a binary search over the starts. A
// RangeMap is an immutable value: split() returns a new one.
//
// Why ranges and not the vnode ring this replaced (docs/design.md, "Partitioning"): a ring fixed
// at creation could not split a shard in place (the points are functions of the shard ids), and a
// range is what a replica can own and check on its own: a split changes two ranges at one log
// index, and a replica answers STALE_EPOCH for a key outside its range, whatever its store thinks.
//
// The initial layout of K shards is K equal ranges, in ascending shard id order (equalRanges).
// JSON: { start, end } as decimal strings (bigints do not survive JSON.stringify), version a number.
import { UkvError } from "../util/errors.ts";
import { shardCountMax } from "../util/limits.ts";
import { hashMax, keyHash } from "./key-hash.ts";

/** A contiguous part of the hash space, both ends inclusive, and its version (1 at creation, +1 a split). */
export interface KeyRange {
  start: bigint;
  end: bigint;
  version: number;
}

export interface ShardRange extends KeyRange {
  shardId: number;
}

/** A KeyRange as JSON carries it. */
export interface KeyRangeJson {
  start: string;
  end: string;
  version: number;
}

/** Ranges one map may hold (one per shard; splits make shards, so the same bound). */
export const rangeCountMax = shardCountMax;

function rangeError(message: string): UkvError {
  return new UkvError("BAD_REQUEST", message);
}

export function rangeToJson(range: KeyRange): KeyRangeJson {
  return { start: range.start.toString(), end: range.end.toString(), version: range.version };
}

export function rangeFromJson(json: unknown): KeyRange {
  const value = json as Partial<Record<string, unknown>> | null;
  if (value === null || typeof value !== "object") throw rangeError("A key range must be an object");
  const { start, end, version } = value;
  if (typeof start !== "string" || !/^[0-9]{1,20}$/.test(start) || typeof end !== "string" || !/^[0-9]{1,20}$/.test(end)) {
    throw rangeError("A key range needs start and end as decimal strings");
  }
  if (!Number.isSafeInteger(version) || (version as number) < 1) throw rangeError(`A key range needs a positive integer version: ${String(version)}`);
  const range = { start: BigInt(start), end: BigInt(end), version: version as number };
  if (range.end > hashMax || range.start > range.end) throw rangeError(`Invalid key range [${start}, ${end}]`);
  return range;
}

export function rangeContains(range: KeyRange, hash: bigint): boolean {
  return hash >= range.start && hash <= range.end;
}

/** "[0x..., 0x...] v3": how ranges appear in messages and `ukv status`. */
export function formatRange(range: KeyRange): string {
  return `[${formatHash(range.start)}, ${formatHash(range.end)}] v${range.version}`;
}

export function formatHash(hash: bigint): string {
  return `0x${hash.toString(16).padStart(16, "0")}`;
}

/** A hash given on a command line: decimal or 0x-prefixed hex, within [0, 2^64 - 1]. */
export function parseHash(text: string): bigint {
  const trimmed = text.trim();
  if (!/^(0x[0-9a-fA-F]{1,16}|[0-9]{1,20})$/.test(trimmed)) throw rangeError(`Invalid hash: ${JSON.stringify(text)}, expected decimal or 0x-hex in [0, 2^64 - 1]`);
  const hash = BigInt(trimmed);
  if (hash > hashMax) throw rangeError(`Invalid hash: ${text} is above 2^64 - 1`);
  return hash;
}

/**
 * The initial layout: K equal ranges for `shardIds` in ascending id order (range i starts at
 * floor(i * 2^64 / K)), each at version 1. Every store, router and client computes the same one.
 */
export function equalRanges(shardIds: readonly number[]): ShardRange[] {
  const sorted = [...shardIds].sort((left, right) => left - right);
  const count = BigInt(sorted.length);
  return sorted.map((shardId, index) => {
    const start = (BigInt(index) << 64n) / count;
    const end = ((BigInt(index + 1) << 64n) / count) - 1n;
    return { shardId, start, end, version: 1 };
  });
}

/**
 * Where a range splits: the child gets [at, end], the parent keeps [start, at - 1]; so `at` must
 * be in (start, end]. Both get version max(parent's) + 1.
 */
export function splitRange(range: KeyRange, at: bigint): { parent: KeyRange; child: KeyRange } {
  if (at <= range.start || at > range.end) {
    throw rangeError(`Cannot split ${formatRange(range)} at ${formatHash(at)}: the split point must be in (start, end]`);
  }
  const version = range.version + 1;
  return { parent: { start: range.start, end: at - 1n, version }, child: { start: at, end: range.end, version } };
}

export class RangeMap {
  /** Sorted by start; together they cover [0, 2^64 - 1] exactly. */
  readonly #ranges: readonly ShardRange[];
  readonly #starts: BigUint64Array;
  readonly #byShard: Map<number, ShardRange>;

  private constructor(ranges: ShardRange[]) {
    this.#ranges = ranges;
    this.#starts = BigUint64Array.from(ranges.map((range) => range.start));
    this.#byShard = new Map(ranges.map((range) => [range.shardId, range]));
  }

  /** Validates that `ranges` (any order) tile the hash space, one range per shard. */
  static fromRanges(ranges: readonly ShardRange[]): RangeMap {
    if (ranges.length === 0) throw rangeError("A range map needs at least one range");
    if (ranges.length > rangeCountMax) throw rangeError(`Too many ranges: ${ranges.length}, limit ${rangeCountMax}`);
    const sorted = [...ranges].map((range) => ({ ...range })).sort((left, right) => (left.start < right.start ? -1 : left.start > right.start ? 1 : 0));
    const seen = new Set<number>();
    let expectedStart = 0n;
    for (const range of sorted) {
      if (!Number.isInteger(range.shardId) || range.shardId < 1) throw rangeError(`Invalid shard id in a range map: ${range.shardId}`);
      if (seen.has(range.shardId)) throw rangeError(`Shard ${range.shardId} owns two ranges`);
      seen.add(range.shardId);
      if (range.end < range.start || range.end > hashMax) throw rangeError(`Range of shard ${range.shardId} is empty or out of the hash space`);
      if (range.start < expectedStart) throw rangeError(`Range of shard ${range.shardId} overlaps the one before it at ${formatHash(range.start)}`);
      if (range.start > expectedStart) throw rangeError(`Gap before the range of shard ${range.shardId}: ${formatHash(expectedStart)}..${formatHash(range.start - 1n)} have no owner`);
      expectedStart = range.end + 1n;
    }
    if (expectedStart !== hashMax + 1n) throw rangeError(`Ranges do not cover the hash space: ${formatHash(expectedStart)}.. have no owner`);
    return new RangeMap(sorted);
  }

  static equal(shardIds: readonly number[]): RangeMap {
    return RangeMap.fromRanges(equalRanges(shardIds));
  }

  ranges(): ShardRange[] {
    return this.#ranges.map((range) => ({ ...range }));
  }

  shardIds(): number[] {
    return this.#ranges.map((range) => range.shardId).sort((left, right) => left - right);
  }

  rangeOf(shardId: number): ShardRange | null {
    const range = this.#byShard.get(shardId);
    return range === undefined ? null : { ...range };
  }

  /** The range holding `hash`: the last start <= hash, by binary search. */
  lookup(hash: bigint): ShardRange {
    const starts = this.#starts;
    let low = 0;
    let high = starts.length - 1;
    while (low < high) {
      const middle = (low + high + 1) >>> 1;
      if ((starts[middle] as bigint) <= hash) low = middle;
      else high = middle - 1;
    }
    return this.#ranges[low] as ShardRange;
  }

  shardForKey(key: Uint8Array): number {
    return this.lookup(keyHash(key)).shardId;
  }

  /** The map after `shardId`'s range split at `at`, its upper part going to `childId`. */
  split(shardId: number, at: bigint, childId: number): RangeMap {
    const range = this.#byShard.get(shardId);
    if (range === undefined) throw rangeError(`Shard ${shardId} owns no range`);
    if (this.#byShard.has(childId)) throw rangeError(`Shard ${childId} already owns a range`);
    const { parent, child } = splitRange(range, at);
    return RangeMap.fromRanges([
      ...this.#ranges.filter((candidate) => candidate.shardId !== shardId),
      { shardId, ...parent },
      { shardId: childId, ...child },
    ]);
  }
}
