// The ring's rules: balanced shares, minimal movement on growth, lookup = linear scan, explicit
// ranges validated, splits and moves, JSON round trip. Seeded, so every run sees the same keys.
import { describe, expect, test } from "bun:test";
import { Ring, hashMax, shardPoints, vnodeCountDefault, vnodeCountForShardCount, type RingRange } from "../../../src/ring/ring.ts";
import { xxHash64 } from "../../../src/ring/ring.ts";
import { routingKey } from "../../../src/ring/hash-tag.ts";
import { isUkvError } from "../../../src/util/errors.ts";
import { ringRangeCountMax } from "../../../src/util/limits.ts";
import { Prng } from "../../../src/util/prng.ts";

const spaceSize = Number(hashMax + 1n);
const keyCount = 200_000;
const keySizeBytes = 16;

function randomKeys(seed: number, count: number): Uint8Array[] {
  const prng = new Prng(seed);
  const keys: Uint8Array[] = [];
  for (let i = 0; i < count; i++) {
    const key = new Uint8Array(keySizeBytes);
    for (let j = 0; j < keySizeBytes; j++) key[j] = prng.nextInt(256);
    keys.push(key);
  }
  return keys;
}

const keys = randomKeys(11, keyCount);

function sharesByLength(ring: Ring): Map<number, number> {
  const shares = new Map<number, number>();
  for (const range of ring.ranges()) {
    shares.set(range.shardId, (shares.get(range.shardId) ?? 0) + Number(range.end - range.start + 1n) / spaceSize);
  }
  return shares;
}

function countsByKeys(ring: Ring): Map<number, number> {
  const counts = new Map<number, number>();
  for (const key of keys) {
    const shardId = ring.shardForKey(key);
    counts.set(shardId, (counts.get(shardId) ?? 0) + 1);
  }
  return counts;
}

function shardRange(count: number): number[] {
  return Array.from({ length: count }, (_, i) => i + 1);
}

function linearScan(ranges: readonly RingRange[], hash: bigint): number {
  for (const range of ranges) if (range.start <= hash && hash <= range.end) return range.shardId;
  throw new Error(`no range holds ${hash}`);
}

function expectRingError(action: () => unknown, message: RegExp): void {
  let caught: unknown;
  try {
    action();
  } catch (error) {
    caught = error;
  }
  expect(isUkvError(caught, "RING_INVALID")).toBe(true);
  expect((caught as Error).message).toMatch(message);
}

describe("balance with the default vnode count", () => {
  test("the largest shard owns at most 1.1x the mean share, by range length, for 3..16 shards", () => {
    for (let shardCount = 3; shardCount <= 16; shardCount++) {
      const shares = sharesByLength(Ring.build(shardRange(shardCount)));
      expect(shares.size).toBe(shardCount);
      const total = [...shares.values()].reduce((a, b) => a + b, 0);
      expect(Math.abs(total - 1)).toBeLessThan(1e-9);
      expect(Math.max(...shares.values()) * shardCount).toBeLessThanOrEqual(1.1);
    }
  });

  test("the largest shard gets at most 1.1x the mean of 200k random keys, for 3..16 shards", () => {
    for (let shardCount = 3; shardCount <= 16; shardCount += 1) {
      const counts = countsByKeys(Ring.build(shardRange(shardCount)));
      expect(counts.size).toBe(shardCount);
      expect(Math.max(...counts.values()) / (keyCount / shardCount)).toBeLessThanOrEqual(1.1);
    }
  });

  test("balance also holds for sparse, large shard ids", () => {
    const ids = [7, 1000, 65_536, 4_000_000_000, 12, 99];
    const shares = sharesByLength(Ring.build(ids));
    expect(Math.max(...shares.values()) * ids.length).toBeLessThanOrEqual(1.1);
  });

  test("too few vnodes do not balance: the bound is not met at 16 vnodes (the check can fail)", () => {
    const shares = sharesByLength(Ring.build(shardRange(8), { vnodeCount: 16 }));
    expect(Math.max(...shares.values()) * 8).toBeGreaterThan(1.1);
  });
});

/** The ranges of the header comment's rule, the plain way: every point sorted (ties: lower id), repeats dropped, the tail closing the circle. */
function referenceEnds(shardIds: readonly number[], vnodeCount: number): { end: bigint; shardId: number }[] {
  const points = shardIds.flatMap((shardId) => [...shardPoints(shardId, vnodeCount)].map((point) => ({ end: point, shardId })));
  points.sort((left, right) => (left.end < right.end ? -1 : left.end > right.end ? 1 : left.shardId - right.shardId));
  const ends = points.filter((point, index) => index === 0 || point.end !== points[index - 1]!.end);
  if (ends.at(-1)!.end !== hashMax) ends.push({ end: hashMax, shardId: ends[0]!.shardId });
  return ends;
}

describe("building", () => {
  test("build merges the shards' points exactly as sorting them all would (ids in any order)", () => {
    const cases: [number[], number][] = [[[1], 8], [[2, 1], 1], [[9, 3, 5], 64], [[0, 4_294_967_295, 17], 100], [shardRange(40).map((id) => 3 * id), 50]];
    for (const [shardIds, vnodeCount] of cases) {
      const built = Ring.build(shardIds, { vnodeCount }).ranges().map((range) => ({ end: range.end, shardId: range.shardId }));
      expect(built).toEqual(referenceEnds(shardIds, vnodeCount));
    }
  });

  test("the vnode count for a shard set keeps the default up to 127 shards, then the most that fit", () => {
    expect(vnodeCountForShardCount(1)).toBe(vnodeCountDefault);
    expect(vnodeCountForShardCount(127)).toBe(vnodeCountDefault);
    expect(127 * vnodeCountDefault + 1).toBeLessThanOrEqual(ringRangeCountMax);
    expect(128 * vnodeCountDefault + 1).toBeGreaterThan(ringRangeCountMax);
    for (const shardCount of [128, 1000, 4096]) {
      const vnodeCount = vnodeCountForShardCount(shardCount);
      expect(vnodeCount).toBe(Math.floor((ringRangeCountMax - 1) / shardCount));
      expect(shardCount * vnodeCount + 1).toBeLessThanOrEqual(ringRangeCountMax);
    }
    expect(vnodeCountForShardCount(1000)).toBe(262);
    expectRingError(() => vnodeCountForShardCount(0), /Invalid shard count/);
    expectRingError(() => vnodeCountForShardCount(ringRangeCountMax), /Invalid shard count/);
  });

  test("a 1000-shard ring builds within the range limit, every shard owning a share near the mean", () => {
    const shardCount = 1000;
    const ring = Ring.build(shardRange(shardCount), { vnodeCount: vnodeCountForShardCount(shardCount) });
    expect(ring.rangeCount).toBeLessThanOrEqual(ringRangeCountMax);
    const shares = sharesByLength(ring);
    expect(shares.size).toBe(shardCount);
    // 262 points a shard: a share's relative spread is about 1/sqrt(262) = 6%; 1.4x is over 6 of them.
    expect(Math.max(...shares.values()) * shardCount).toBeLessThan(1.4);
    expect(Math.min(...shares.values()) * shardCount).toBeGreaterThan(0.6);
  });

  test("the default vnodes cannot hold 128 shards: build refuses rather than truncating", () => {
    expectRingError(() => Ring.build(shardRange(128)), /Too many ranges/);
  });
});

describe("adding a shard", () => {
  test("moves about 1/(n+1) of the keys (within 10% relative), and only to the new shard", () => {
    for (const shardCount of [3, 5, 8, 12, 16]) {
      const before = Ring.build(shardRange(shardCount));
      const newShardId = shardCount + 1;
      const after = before.withShardAdded(newShardId);
      expect(after.epoch).toBe(before.epoch + 1);
      let moved = 0;
      for (const key of keys) {
        const from = before.shardForKey(key);
        const to = after.shardForKey(key);
        if (from !== to) {
          moved++;
          expect(to).toBe(newShardId);
        }
      }
      const expected = keyCount / (shardCount + 1);
      expect(Math.abs(moved - expected) / expected).toBeLessThanOrEqual(0.1);
    }
  });

  test("adding to a freshly built ring equals building with the shard", () => {
    for (const shardCount of [1, 3, 7]) {
      const grown = Ring.build(shardRange(shardCount), { vnodeCount: 64 }).withShardAdded(shardCount + 1);
      const built = Ring.build(shardRange(shardCount + 1), { vnodeCount: 64, epoch: 1 });
      expect(grown.toJSON()).toEqual(built.toJSON());
    }
  });

  test("equality with build holds also when the new shard takes the head range (and so the tail)", () => {
    let headTaken = 0;
    for (let newShardId = 4; newShardId <= 40; newShardId++) {
      const grown = Ring.build([1, 2, 3], { vnodeCount: 8 }).withShardAdded(newShardId);
      expect(grown.toJSON()).toEqual(Ring.build([1, 2, 3, newShardId], { vnodeCount: 8, epoch: 1 }).toJSON());
      const ranges = grown.ranges();
      if (ranges[0]?.shardId === newShardId) {
        headTaken++;
        expect(ranges.at(-1)?.shardId).toBe(newShardId);
      }
    }
    expect(headTaken).toBeGreaterThan(0);
  });

  test("on a ring edited by splits and moves, keys still move only to the added shard", () => {
    const base = Ring.build([1, 2, 3], { vnodeCount: 128 });
    const head = base.ranges()[0] as RingRange;
    const edited = base.splitRange(0n, 4).moveRange(head.start, head.shardId === 2 ? 3 : 2);
    const after = edited.withShardAdded(5);
    let moved = 0;
    for (const key of keys.slice(0, 20_000)) {
      const from = edited.shardForKey(key);
      const to = after.shardForKey(key);
      if (from !== to) {
        moved++;
        expect(to).toBe(5);
      }
    }
    expect(moved).toBeGreaterThan(0);
  });

  test("the new shard owns exactly its points as range ends", () => {
    const after = Ring.build([1, 2, 3], { vnodeCount: 32 }).withShardAdded(9);
    const ends = after.ranges().filter((range) => range.shardId === 9).map((range) => range.end);
    for (const point of shardPoints(9, 32)) expect(ends).toContain(point);
  });

  test("a shard already in the ring cannot be added again", () => {
    expectRingError(() => Ring.build([1, 2]).withShardAdded(2), /Shard 2 is already in the ring/);
  });
});

describe("lookup", () => {
  test("agrees with a linear scan over the ranges, for keys, boundaries and the extremes", () => {
    const built = Ring.build([1, 2, 3, 4, 5], { vnodeCount: 64 }).splitRange(0n, 6);
    const tail = built.ranges().at(-1) as RingRange;
    const ring = built.moveRange(tail.start, tail.shardId === 1 ? 2 : 1);
    const ranges = ring.ranges();
    for (const key of keys.slice(0, 5000)) expect(ring.lookup(xxHash64(key))).toBe(linearScan(ranges, xxHash64(key)));
    for (const range of ranges) {
      expect(ring.lookup(range.start)).toBe(range.shardId);
      expect(ring.lookup(range.end)).toBe(range.shardId);
    }
    expect(ring.lookup(0n)).toBe(linearScan(ranges, 0n));
    expect(ring.lookup(hashMax)).toBe(tail.shardId === 1 ? 2 : 1);
  });

  test("agrees with a linear scan on random explicit rings: clustered cuts, bucket edges, 1..5000 ranges", () => {
    const prng = new Prng(21);
    const random64 = (): bigint => (BigInt(prng.nextUint32()) << 32n) | BigInt(prng.nextUint32());
    for (let trial = 0; trial < 40; trial++) {
      const cuts = new Set<bigint>();
      const cutCount = trial < 5 ? trial : prng.nextInt(5000);
      const base = random64() & ~0xffffn;
      for (let i = 0; i < cutCount; i++) {
        const kind = prng.nextInt(4);
        // Uniform cuts, cuts crowded in one small region, cuts at bucket edges (top bits, low bits 0), and near the ends.
        const cut = kind === 0 ? random64() : kind === 1 ? base + BigInt(prng.nextInt(65536)) : kind === 2 ? BigInt(prng.nextInt(1 << 20)) << 44n : BigInt(prng.nextInt(3));
        if (cut < hashMax) cuts.add(cut);
      }
      const ends = [...cuts].sort((a, b) => (a < b ? -1 : 1)).concat([hashMax]);
      let start = 0n;
      const ranges = ends.map((end, index) => {
        const range = { start, end, shardId: index % 7 };
        start = end + 1n;
        return range;
      });
      const ring = Ring.fromRanges(ranges);
      for (let probe = 0; probe < 300; probe++) {
        const hash = random64();
        expect(ring.lookup(hash)).toBe(linearScan(ranges, hash));
      }
      for (const range of ranges.slice(0, 300)) {
        expect(ring.lookup(range.start)).toBe(range.shardId);
        expect(ring.lookup(range.end)).toBe(range.shardId);
      }
    }
  });

  test("shardForKey is lookup of the documented key hash xxHash64(routingKey(key), seed 0)", () => {
    const ring = Ring.build([10, 20, 30]);
    for (const key of keys.slice(0, 2000)) expect(ring.shardForKey(key)).toBe(ring.lookup(BigInt(Bun.hash.xxHash64(routingKey(key), 0n))));
  });

  test("a hash outside [0, 2^64) is a typed error", () => {
    const ring = Ring.build([1]);
    expect(() => ring.lookup(-1n)).toThrow(/Key hash out of range/);
    expect(() => ring.lookup(hashMax + 1n)).toThrow(/Key hash out of range/);
  });

  test("the vnode points are xxHash64 of shard-<id>-vnode-<i>, so other clients can rebuild the ring", () => {
    const ring = Ring.build([4], { vnodeCount: 3 });
    const points = [0, 1, 2].map((i) => xxHash64(new TextEncoder().encode(`shard-4-vnode-${i}`))).sort((a, b) => (a < b ? -1 : 1));
    expect(ring.ranges().map((range) => range.end)).toEqual(points[2] === hashMax ? points : [...points, hashMax]);
    expect(ring.vnodeCount).toBe(3);
    expect(vnodeCountDefault).toBe(2048);
  });
});

describe("explicit ranges", () => {
  const half = 1n << 63n;

  test("valid ranges make a ring whose ranges() returns them", () => {
    const ranges = [
      { start: 0n, end: half - 1n, shardId: 1 },
      { start: half, end: hashMax, shardId: 2 },
    ];
    const ring = Ring.fromRanges(ranges, { epoch: 5 });
    expect(ring.ranges()).toEqual(ranges);
    expect(ring.epoch).toBe(5);
    expect(ring.shardIds()).toEqual([1, 2]);
    expect(ring.lookup(half - 1n)).toBe(1);
    expect(ring.lookup(half)).toBe(2);
  });

  test("a gap is refused, naming the hashes without an owner", () => {
    expectRingError(
      () =>
        Ring.fromRanges([
          { start: 0n, end: 9n, shardId: 1 },
          { start: 11n, end: hashMax, shardId: 2 },
        ]),
      /Gap before range 1: hashes 10\.\.10 have no owner/,
    );
  });

  test("overlapping or unsorted ranges are refused", () => {
    expectRingError(
      () =>
        Ring.fromRanges([
          { start: 0n, end: 10n, shardId: 1 },
          { start: 10n, end: hashMax, shardId: 2 },
        ]),
      /Range 1 overlaps or is out of order: starts at 10/,
    );
    expectRingError(
      () =>
        Ring.fromRanges([
          { start: half, end: hashMax, shardId: 2 },
          { start: 0n, end: half - 1n, shardId: 1 },
        ]),
      /Gap before range 0/,
    );
  });

  test("ranges must start at 0 and end at 2^64 - 1, inside the space, start <= end", () => {
    expectRingError(() => Ring.fromRanges([{ start: 0n, end: half, shardId: 1 }]), /do not cover the space/);
    expectRingError(() => Ring.fromRanges([{ start: 0n, end: hashMax + 1n, shardId: 1 }]), /leaves the hash space/);
    expectRingError(() => Ring.fromRanges([{ start: 5n, end: 4n, shardId: 1 }]), /empty or reversed/);
    expectRingError(() => Ring.fromRanges([]), /at least one range/);
  });

  test("shard ids must be 32-bit unsigned integers", () => {
    expectRingError(() => Ring.fromRanges([{ start: 0n, end: hashMax, shardId: -1 }]), /Invalid shard id of range 0: -1/);
    expectRingError(() => Ring.fromRanges([{ start: 0n, end: hashMax, shardId: 1.5 }]), /Invalid shard id/);
    expectRingError(() => Ring.build([1, 1]), /Duplicate shard ids/);
    expectRingError(() => Ring.build([]), /at least one shard/);
    expectRingError(() => Ring.build([1], { vnodeCount: 0 }), /Invalid vnodeCount/);
  });
});

describe("split and move", () => {
  const ring = Ring.fromRanges([{ start: 0n, end: hashMax, shardId: 1 }]);

  test("splitRange cuts at the midpoint by default: the upper half goes to the new shard", () => {
    const split = ring.splitRange(0n, 2);
    expect(split.ranges()).toEqual([
      { start: 0n, end: (1n << 63n) - 1n, shardId: 1 },
      { start: 1n << 63n, end: hashMax, shardId: 2 },
    ]);
    expect(split.epoch).toBe(ring.epoch + 1);
    const again = split.splitRange(1n << 63n, 3, { splitAt: hashMax });
    expect(again.ranges().at(-1)).toEqual({ start: hashMax, end: hashMax, shardId: 3 });
  });

  test("moveRange changes only the owner of that range", () => {
    const split = ring.splitRange(0n, 2);
    const moved = split.moveRange(1n << 63n, 7);
    expect(moved.ranges().map((range) => range.shardId)).toEqual([1, 7]);
    expect(moved.epoch).toBe(split.epoch + 1);
    expect(split.ranges().map((range) => range.shardId)).toEqual([1, 2]); // rings are values
  });

  test("an unknown range start, a bad split point and a no-op move are refused", () => {
    expectRingError(() => ring.splitRange(5n, 2), /No range starts at 5/);
    expectRingError(() => ring.moveRange(1n, 2), /No range starts at 1/);
    expectRingError(() => ring.splitRange(0n, 2, { splitAt: 0n }), /Cannot split range/);
    expectRingError(() => Ring.fromRanges([{ start: 0n, end: 0n, shardId: 1 }, { start: 1n, end: hashMax, shardId: 2 }]).splitRange(0n, 3), /Cannot split range \[0, 0\]/);
    expectRingError(() => ring.moveRange(0n, 1), /already belongs to shard 1/);
  });
});

describe("JSON", () => {
  test("round-trips through JSON text with bigints as decimal strings", () => {
    const ring = Ring.build([1, 2, 3], { vnodeCount: 16, epoch: 3 }).splitRange(0n, 4);
    const text = JSON.stringify(ring);
    const parsed = Ring.fromJSON(JSON.parse(text));
    expect(parsed.toJSON()).toEqual(ring.toJSON());
    expect(parsed.epoch).toBe(4);
    expect(parsed.vnodeCount).toBe(16);
    expect(ring.toJSON().ranges.at(-1)?.end).toBe("18446744073709551615");
  });

  test("malformed JSON is a typed error", () => {
    expectRingError(() => Ring.fromJSON(null), /must be an object/);
    expectRingError(() => Ring.fromJSON({ epoch: 0, vnodeCount: 1 }), /ranges array/);
    expectRingError(() => Ring.fromJSON({ epoch: 0, vnodeCount: 1, ranges: [{ start: "0", end: "-1", shardId: 1 }] }), /decimal strings/);
    expectRingError(
      () => Ring.fromJSON({ epoch: 0, vnodeCount: 1, ranges: [{ start: "0", end: "18446744073709551616", shardId: 1 }] }),
      /leaves the hash space/,
    );
  });
});
