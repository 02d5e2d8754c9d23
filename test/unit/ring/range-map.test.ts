// The range map's rules: equal initial ranges, lookup by binary search agrees with a linear scan,
// tiling validated (no gap, no overlap, one range a shard), splits versioned, JSON and CLI forms.
import { describe, expect, test } from "bun:test";
import { hashMax, keyHash } from "../../../src/ring/key-hash.ts";
import { equalRanges, formatRange, parseHash, rangeFromJson, RangeMap, rangeToJson, splitRange, type ShardRange } from "../../../src/ring/range-map.ts";
import { Prng } from "../../../src/util/prng.ts";

function linearScan(ranges: readonly ShardRange[], hash: bigint): number {
  for (const range of ranges) if (range.start <= hash && hash <= range.end) return range.shardId;
  throw new Error(`no range holds ${hash}`);
}

function randomHash(prng: Prng): bigint {
  return (BigInt(prng.nextInt(2 ** 32)) << 32n) | BigInt(prng.nextInt(2 ** 32));
}

describe("initial ranges", () => {
  test("K shards get K equal ranges in id order, version 1, covering the space", () => {
    for (const count of [1, 2, 3, 7, 16, 1000]) {
      const ids = Array.from({ length: count }, (_, index) => 10 + index * 3).reverse();
      const ranges = equalRanges(ids);
      expect(ranges.map((range) => range.shardId)).toEqual([...ids].sort((a, b) => a - b));
      expect(ranges[0]!.start).toBe(0n);
      expect(ranges.at(-1)!.end).toBe(hashMax);
      const sizes = ranges.map((range) => range.end - range.start + 1n);
      const smallest = sizes.reduce((a, b) => (a < b ? a : b));
      const largest = sizes.reduce((a, b) => (a > b ? a : b));
      expect(largest - smallest <= 1n).toBe(true);
      expect(ranges.every((range) => range.version === 1)).toBe(true);
      RangeMap.fromRanges(ranges); // tiles
    }
  });

  test("200k random keys spread within 3% of the mean over 8 equal ranges", () => {
    const map = RangeMap.equal([1, 2, 3, 4, 5, 6, 7, 8]);
    const counts = new Map<number, number>();
    const prng = new Prng(5);
    for (let index = 0; index < 200_000; index++) {
      const key = new TextEncoder().encode(`key-${prng.nextInt(2 ** 31)}-${index}`);
      const shardId = map.shardForKey(key);
      counts.set(shardId, (counts.get(shardId) ?? 0) + 1);
    }
    for (const count of counts.values()) expect(Math.abs(count - 25_000) / 25_000).toBeLessThan(0.03);
  });
});

describe("lookup", () => {
  test("binary search agrees with a linear scan, at every boundary and for random hashes", () => {
    let map = RangeMap.equal([1, 2, 3]);
    map = map.split(2, map.rangeOf(2)!.start + 12345n, 4).split(1, 1n, 5).split(3, hashMax, 6);
    const ranges = map.ranges();
    const probes: bigint[] = [0n, hashMax];
    for (const range of ranges) probes.push(range.start, range.end, range.start + (range.end - range.start) / 2n);
    const prng = new Prng(9);
    for (let index = 0; index < 20_000; index++) probes.push(randomHash(prng));
    for (const hash of probes) expect(map.lookup(hash).shardId).toBe(linearScan(ranges, hash));
    expect(map.lookup(hashMax).shardId).toBe(6);
    expect(map.lookup(0n).shardId).toBe(1);
    expect(map.lookup(1n).shardId).toBe(5);
  });

  test("shardForKey is lookup(keyHash(key))", () => {
    const map = RangeMap.equal([4, 5, 6, 7]);
    for (const name of ["a", "b", "user:1", "é"]) {
      const key = new TextEncoder().encode(name);
      expect(map.shardForKey(key)).toBe(map.lookup(keyHash(key)).shardId);
    }
  });
});

describe("validation", () => {
  const half = 1n << 63n;
  test("gaps, overlaps, duplicate shards, empty maps and out-of-space ranges are refused", () => {
    expect(() => RangeMap.fromRanges([])).toThrow(/at least one range/);
    expect(() => RangeMap.fromRanges([{ shardId: 1, start: 0n, end: half, version: 1 }])).toThrow(/do not cover/);
    expect(() => RangeMap.fromRanges([{ shardId: 1, start: 0n, end: half, version: 1 }, { shardId: 2, start: half + 2n, end: hashMax, version: 1 }])).toThrow(/Gap/);
    expect(() => RangeMap.fromRanges([{ shardId: 1, start: 0n, end: half, version: 1 }, { shardId: 2, start: half, end: hashMax, version: 1 }])).toThrow(/overlaps/);
    expect(() => RangeMap.fromRanges([{ shardId: 1, start: 0n, end: half, version: 1 }, { shardId: 1, start: half + 1n, end: hashMax, version: 1 }])).toThrow(/two ranges/);
    expect(() => RangeMap.fromRanges([{ shardId: 1, start: 0n, end: hashMax + 1n, version: 1 }])).toThrow(/out of the hash space/);
    expect(() => RangeMap.fromRanges([{ shardId: 0, start: 0n, end: hashMax, version: 1 }])).toThrow(/Invalid shard id/);
  });
});

describe("split", () => {
  test("the parent keeps [start, at - 1], the child gets [at, end], both at the next version", () => {
    const map = RangeMap.equal([1, 2]);
    const parentBefore = map.rangeOf(2)!;
    const at = parentBefore.start + 1000n;
    const split = map.split(2, at, 3);
    expect(split.rangeOf(2)).toEqual({ shardId: 2, start: parentBefore.start, end: at - 1n, version: 2 });
    expect(split.rangeOf(3)).toEqual({ shardId: 3, start: at, end: hashMax, version: 2 });
    expect(split.rangeOf(1)).toEqual(map.rangeOf(1)); // untouched
    expect(map.rangeOf(3)).toBeNull(); // maps are values
  });

  test("a split point outside (start, end], an unknown shard or a taken child id are refused", () => {
    const map = RangeMap.equal([1, 2]);
    const range = map.rangeOf(2)!;
    expect(() => map.split(2, range.start, 3)).toThrow(/must be in \(start, end\]/);
    expect(() => map.split(1, range.start, 3)).toThrow(/must be in/);
    expect(() => map.split(9, range.start + 1n, 3)).toThrow(/owns no range/);
    expect(() => map.split(2, range.start + 1n, 1)).toThrow(/already owns/);
    expect(() => splitRange({ start: 5n, end: 5n, version: 1 }, 5n)).toThrow(/Cannot split/);
  });
});

describe("forms", () => {
  test("JSON round trip with decimal strings; malformed JSON is a clear error", () => {
    const range = { start: 12n, end: hashMax, version: 3 };
    expect(rangeFromJson(JSON.parse(JSON.stringify(rangeToJson(range))))).toEqual(range);
    expect(rangeToJson(range).end).toBe("18446744073709551615");
    expect(() => rangeFromJson(null)).toThrow(/must be an object/);
    expect(() => rangeFromJson({ start: "0", end: "-1", version: 1 })).toThrow(/decimal strings/);
    expect(() => rangeFromJson({ start: "0", end: "18446744073709551616", version: 1 })).toThrow(/Invalid key range/);
    expect(() => rangeFromJson({ start: "9", end: "8", version: 1 })).toThrow(/Invalid key range/);
    expect(() => rangeFromJson({ start: "0", end: "8", version: 0 })).toThrow(/positive integer version/);
  });

  test("hashes parse as decimal or 0x-hex and format as 16 hex digits", () => {
    expect(parseHash("0x8000000000000000")).toBe(1n << 63n);
    expect(parseHash("42")).toBe(42n);
    expect(() => parseHash("0x1ffffffffffffffff")).toThrow(/Invalid hash/);
    expect(() => parseHash("18446744073709551616")).toThrow(/above 2\^64 - 1/);
    expect(() => parseHash("-1")).toThrow(/Invalid hash/);
    expect(formatRange({ start: 0n, end: hashMax, version: 2 })).toBe("[0x0000000000000000, 0xffffffffffffffff] v2");
  });
});
