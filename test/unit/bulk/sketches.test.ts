// The bounded-memory statistics of `ukv analyze`: size quantiles, distinct keys (exact, then
// HyperLogLog), the key-hash histogram and the shard boundaries chosen from it; and the key hash
// itself, which must be the ring's.
import { describe, expect, test } from "bun:test";
import { AnalysisStats, keyHashWords } from "../../../src/bulk/analysis.ts";
import { DistinctCounter, hyperLogLogStandardError } from "../../../src/bulk/distinct-counter.ts";
import { HashHistogram, bucketStartHash } from "../../../src/bulk/hash-histogram.ts";
import { SizeHistogram } from "../../../src/bulk/size-histogram.ts";
import { xxHash64 } from "../../../src/ring/key-hash.ts";
import { routingKey } from "../../../src/ring/hash-tag.ts";
import { Prng } from "../../../src/util/prng.ts";

const encoder = new TextEncoder();

describe("key hash", () => {
  test("Bun.hash.xxHash64 seed 0, as analyze uses it, agrees with the ring's xxHash64 on keys of every length 0..200", () => {
    const prng = new Prng(16);
    for (let length = 0; length <= 200; length += 1) {
      const key = new Uint8Array(length);
      for (let index = 0; index < length; index += 1) key[index] = prng.nextInt(256);
      // The routing hash: of the key, or of its hash tag.
      const [high, low] = keyHashWords(key);
      const ring = xxHash64(routingKey(key));
      expect((BigInt(high) << 32n) | BigInt(low)).toBe(ring);
      expect(Bun.hash.xxHash64(routingKey(key))).toBe(ring);
    }
  });
});

describe("size histogram", () => {
  test("min and max are exact; p50 and p99 are within 1/64 above the true value", () => {
    const histogram = new SizeHistogram();
    const prng = new Prng(7);
    const sizes: number[] = [];
    for (let index = 0; index < 100_000; index += 1) {
      const size = prng.nextInt(1 << prng.nextInt(21));
      sizes.push(size);
      histogram.add(size);
    }
    sizes.sort((a, b) => a - b);
    const summary = histogram.summary();
    expect(summary.min).toBe(sizes[0] as number);
    expect(summary.max).toBe(sizes[sizes.length - 1] as number);
    expect(summary.sumBytes).toBe(sizes.reduce((sum, size) => sum + size, 0));
    for (const [quantile, reported] of [[0.5, summary.p50], [0.99, summary.p99]] as const) {
      const exact = sizes[Math.ceil(quantile * sizes.length) - 1] as number;
      expect(reported).toBeGreaterThanOrEqual(exact);
      expect(reported).toBeLessThanOrEqual(exact + Math.max(0, Math.floor(exact / 64)));
    }
  });

  test("sizes below 128 are exact; an empty histogram reports zeros", () => {
    const histogram = new SizeHistogram();
    expect(histogram.summary()).toEqual({ count: 0, sumBytes: 0, min: 0, p50: 0, p99: 0, max: 0 });
    for (const size of [3, 3, 5, 100]) histogram.add(size);
    expect(histogram.summary()).toEqual({ count: 4, sumBytes: 111, min: 3, p50: 3, p99: 100, max: 100 });
  });
});

describe("distinct counter", () => {
  function randomHashes(count: number, seed: number): [number, number][] {
    const prng = new Prng(seed);
    return Array.from({ length: count }, () => [prng.nextInt(2 ** 32), prng.nextInt(2 ** 32)]);
  }

  test("counts exactly below its limit, however often a hash repeats, including the zero hash", () => {
    const counter = new DistinctCounter();
    const hashes = randomHashes(100_000, 1);
    for (const [high, low] of hashes) counter.add(high, low);
    for (const [high, low] of hashes.slice(0, 30_000)) counter.add(high, low);
    counter.add(0, 0);
    counter.add(0, 0);
    expect(counter.estimate()).toEqual({ distinctCount: 100_001, method: "exact", relativeStandardError: 0 });
  });

  test("past its limit it drops the exact set and the HyperLogLog estimate is within 3 standard errors", () => {
    const counter = new DistinctCounter({ exactCountMax: 10_000 });
    const hashes = randomHashes(500_000, 2);
    for (const [high, low] of hashes) counter.add(high, low);
    for (const [high, low] of hashes.slice(0, 100_000)) counter.add(high, low);
    expect(counter.isExact).toBe(false);
    const estimate = counter.estimate();
    expect(estimate.method).toBe("hyperloglog");
    expect(estimate.relativeStandardError).toBeCloseTo(0.0041, 4);
    expect(Math.abs(estimate.distinctCount - 500_000) / 500_000).toBeLessThan(3 * hyperLogLogStandardError);
  });

  test("the HyperLogLog's small-range (linear counting) estimate is close too", () => {
    const counter = new DistinctCounter();
    for (const [high, low] of randomHashes(20_000, 3)) counter.add(high, low);
    expect(Math.abs(counter.hyperLogLogEstimate() - 20_000) / 20_000).toBeLessThan(0.02);
  });
});

describe("hash histogram and shard boundaries", () => {
  function statsOf(keyCount: number, valueSize: (index: number) => number): AnalysisStats {
    const stats = new AnalysisStats();
    for (let index = 0; index < keyCount; index += 1) stats.row(encoder.encode(`user:${index}`), new Uint8Array(valueSize(index)));
    return stats;
  }

  test("200k keys in 2..64 shards: every shard within 1% of the mean, by keys and by bytes", () => {
    const stats = statsOf(200_000, (index) => 10 + (index % 200));
    const totalBytes = [...stats.hashes.bytes].reduce((sum, bytes) => sum + bytes, 0);
    for (const shardCount of [2, 3, 7, 16, 64]) {
      const split = stats.hashes.split(shardCount, "both");
      expect(split.keys.reduce((sum, keys) => sum + keys, 0)).toBe(200_000);
      for (const keys of split.keys) expect(Math.abs(keys - 200_000 / shardCount) / (200_000 / shardCount)).toBeLessThan(0.01 * Math.max(1, shardCount / 16));
      for (const bytes of split.bytes) expect(Math.abs(bytes - totalBytes / shardCount) / (totalBytes / shardCount)).toBeLessThan(0.01 * Math.max(1, shardCount / 16));
    }
  });

  test("balancing by bytes follows skewed value sizes that balancing by keys ignores", () => {
    const histogram = new HashHistogram();
    // Low half of the hash space: 1,000 rows of 1,000 bytes; high half: 1,000 rows of 10 bytes.
    for (let index = 0; index < 1000; index += 1) {
      histogram.add(index * 65536, 1000);
      histogram.add(0x80000000 + index * 65536, 10);
    }
    const byKeys = histogram.split(2, "keys");
    expect(byKeys.keys).toEqual([1000, 1000]);
    const byBytes = histogram.split(2, "bytes");
    expect(Math.abs((byBytes.bytes[0] as number) - (byBytes.bytes[1] as number))).toBeLessThanOrEqual(1000);
  });

  test("an empty input splits the hash space into equal ranges; every shard gets at least one bucket", () => {
    const empty = new HashHistogram().split(4, "both");
    expect(empty.startBuckets).toEqual([0, 16384, 32768, 49152]);
    // Every key in one bucket: the other shards still get a non-empty range each.
    const oneBucket = new HashHistogram();
    for (let index = 0; index < 100; index += 1) oneBucket.add(0x12340000, 5);
    const split = oneBucket.split(3, "keys");
    expect(split.startBuckets[1]).toBeGreaterThan(0);
    expect(split.startBuckets[2]).toBeGreaterThan(split.startBuckets[1] as number);
    expect(bucketStartHash(65536)).toBe(1n << 64n);
  });

  test("memory is fixed: the histograms do not grow with the number of rows", () => {
    const stats = statsOf(50_000, () => 1);
    expect(stats.hashes.keys.length).toBe(65536);
    expect(stats.hashes.bytes.length).toBe(65536);
  });
});
