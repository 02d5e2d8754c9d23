// The native table's range operations for splits: its XXH64 equals the routing hash (so native
// code puts every key on the side of the split the routers and replicas put it), takeHashRange
// moves exactly the keys of the range and nothing else, and medianHash is the median of them: exact
// on a small table, from a bounded sample on a large one (still within a percent or so of half).
import { describe, expect, test } from "bun:test";
import { keyHash } from "../../../src/ring/key-hash.ts";
import { nativeKeyHash, Table, type TableOp, tableMedianSampleCountMax } from "../../../src/storage/table.ts";
import { Prng } from "../../../src/util/prng.ts";

const encoder = new TextEncoder();

test("the native XXH64 equals the routing hash on every length 0..100 and on known vectors", () => {
  expect(nativeKeyHash(encoder.encode("abc"))).toBe(0x44bc2cf5ad770999n);
  expect(nativeKeyHash(new Uint8Array(0))).toBe(0xef46db3751d8e999n);
  const prng = new Prng(3);
  for (let length = 0; length <= 100; length++) {
    for (let sample = 0; sample < 5; sample++) {
      const data = Uint8Array.from({ length }, () => prng.nextInt(256));
      expect(nativeKeyHash(data)).toBe(keyHash(data));
    }
  }
  // Hash tags route by the tag on both sides, so a split keeps tagged keys together.
  for (const key of ["{user:1}:name", "{user:1}:mail", "x{user:1}", "a{}b{c}", "{", "}{x}", "{{x}}"]) {
    expect(nativeKeyHash(encoder.encode(key))).toBe(keyHash(encoder.encode(key)));
  }
  expect(nativeKeyHash(encoder.encode("{user:1}:name"))).toBe(nativeKeyHash(encoder.encode("user:1")));
});

describe("takeHashRange and medianHash", () => {
  function filled(count: number): { table: Table; keys: Uint8Array[] } {
    const table = Table.create();
    const keys = Array.from({ length: count }, (_, index) => encoder.encode(`key-${index}`));
    // In batches under the table's batch limit (65,536 ops).
    for (let begin = 0; begin < count; begin += 50_000) {
      const batch = keys.slice(begin, begin + 50_000);
      table.applyBatch(batch.map((key, offset) => ({ kind: "set", key, value: encoder.encode(`value-${begin + offset}`) })));
    }
    return { table, keys };
  }

  test("moves exactly the keys whose hash is in the range, with their values", () => {
    const { table, keys } = filled(5000);
    const low = 1n << 62n;
    const high = (3n << 62n) - 1n;
    const child = table.takeHashRange(low, high);
    let moved = 0;
    keys.forEach((key, index) => {
      const inRange = keyHash(key) >= low && keyHash(key) <= high;
      const [here, there] = inRange ? [child, table] : [table, child];
      expect(new TextDecoder().decode(here.get(key)!)).toBe(`value-${index}`);
      expect(there.get(key)).toBeNull();
      if (inRange) moved++;
    });
    expect(child.count()).toBe(moved);
    expect(table.count()).toBe(5000 - moved);
    expect(moved).toBeGreaterThan(2000);
    expect(moved).toBeLessThan(3000);
    child.close();
    table.close();
  });

  test("the parent and child are slot for slot what set and delete would make, and stay so under later writes", () => {
    // The move looks no key up again: it erases by slot and inserts without a duplicate check. The
    // reference is the old way: delete the moved keys from a copy in slot order, and set them in that
    // order into a table sized for them. Equal layouts, counts and bytes after further writes mean
    // the tombstones were accounted alike too (they decide when and how each table rehashes).
    const prng = new Prng(14);
    const ops: TableOp[] = Array.from({ length: 20_000 }, (_, index) => {
      const key = encoder.encode(`k${index}:${"x".repeat(prng.nextInt(24))}`);
      // Some values above the arena's 1 KiB block limit, whose blocks are malloc'd and freed singly.
      const value = new Uint8Array(index % 97 === 0 ? 2000 : prng.nextInt(200)).fill(index & 0xff);
      return { kind: "set", key, value };
    });
    const parent = Table.create();
    const reference = Table.create();
    parent.applyBatch(ops);
    reference.applyBatch(ops);
    const low = 1n << 62n;
    const high = (3n << 62n) - 1n;
    const moving = parent.entries().filter(([key]) => keyHash(key) >= low && keyHash(key) <= high);

    const child = parent.takeHashRange(low, high);
    reference.applyBatch(moving.map(([key]) => ({ kind: "delete", key })));
    const referenceChild = Table.create({ capacityHint: moving.length });
    referenceChild.applyBatch(moving.map(([key, value]) => ({ kind: "set", key, value })));
    expect(child.count()).toBe(moving.length);
    expectSameTable(parent, reference);
    expectSameTable(child, referenceChild);

    // Deletes (a tombstone or an empty slot, as erase decides), then inserts one at a time until
    // both tables rehash: a table rehashes when its full slots plus tombstones reach 7/8, so equal
    // rehash points mean equal tombstone counts.
    for (const [table, twin] of [[parent, reference], [child, referenceChild]] as const) {
      const deletes = table.entries().flatMap(([key], index) => (index % 3 === 0 ? [{ kind: "delete" as const, key }] : []));
      table.applyBatch(deletes);
      twin.applyBatch(deletes);
      expect(rehashPoints(table, 30_000)).toEqual(rehashPoints(twin, 30_000));
      expectSameTable(table, twin);
    }
    for (const table of [parent, reference, child, referenceChild]) table.close();
  });

  function expectSameTable(actual: Table, expected: Table): void {
    expect(actual.count()).toBe(expected.count());
    expect(actual.bytesUsed()).toBe(expected.bytesUsed());
    expect(slotsOf(actual)).toEqual(slotsOf(expected));
    for (const [key, value] of expected.entries()) expect(actual.get(key)).toEqual(value);
  }

  // After which of `count` new keys, set one by one, the table's slot layout changed.
  function rehashPoints(table: Table, count: number): number[] {
    const points: number[] = [];
    let layout = table.scan(0, 1, 1, 0).layout;
    for (let index = 0; index < count; index++) {
      table.set(encoder.encode(`later-${index}`), encoder.encode(`v${index}`));
      const now = table.scan(0, 1, 1, 0).layout;
      if (now !== layout) points.push(index);
      layout = now;
    }
    expect(points.length).toBeGreaterThan(0);
    return points;
  }

  // Every full slot's position, key and value, one entry per scan page.
  function slotsOf(table: Table): [number, string, number][] {
    const slots: [number, string, number][] = [];
    const decoder = new TextDecoder();
    for (let slot = 0; ; ) {
      const page = table.scan(slot, 1e9, 1, 1 << 20);
      if (page.keys.length === 0) return slots;
      slots.push([page.next - 1, decoder.decode(page.keys[0]!), page.values[0]!.length]);
      slot = page.next;
    }
  }

  const allHashes = (1n << 64n) - 1n;
  const sorted = (hashes: bigint[]): bigint[] => hashes.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));

  test("the median hash halves the keys of the range; an empty range has none", () => {
    const { table, keys } = filled(2001);
    const hashes = sorted(keys.map(keyHash));
    expect(table.medianHash(0n, allHashes)).toEqual({ countEstimate: 2001, median: hashes[1000]! });
    const upper = hashes.filter((hash) => hash >= 1n << 63n);
    expect(table.medianHash(1n << 63n, allHashes)).toEqual({ countEstimate: upper.length, median: upper[upper.length >> 1]! });
    expect(table.medianHash(5n, 5n)).toEqual({ countEstimate: 0, median: null });
    expect(() => table.medianHash(6n, 5n)).toThrow(/Invalid hash bounds/);
    table.close();
  });

  test("a table of exactly the sample size still gets the exact median and count", () => {
    const { table, keys } = filled(tableMedianSampleCountMax);
    const hashes = sorted(keys.map(keyHash));
    expect(table.medianHash(0n, allHashes)).toEqual({ countEstimate: hashes.length, median: hashes[hashes.length >> 1]! });
    table.close();
  });

  test("on 200k keys the sampled median splits the keys within 2% of half, and the count is estimated", () => {
    const keyCount = 200_000;
    const { table, keys } = filled(keyCount);
    const hashes = keys.map(keyHash);
    // One standard deviation of the sample median's rank is 0.5 / sqrt(16384) = 0.4%: 2% is 5 of them.
    const belowFraction = (median: bigint, inRange: bigint[]): number => inRange.filter((hash) => hash < median).length / inRange.length;
    const whole = table.medianHash(0n, allHashes);
    expect(Math.abs(belowFraction(whole.median!, hashes) - 0.5)).toBeLessThan(0.02);
    expect(Math.abs(whole.countEstimate - keyCount) / keyCount).toBeLessThan(0.02);

    // A sub-range: the sample is filtered to it, so the count is scaled from its share of the sample.
    const low = 1n << 62n;
    const high = (3n << 62n) - 1n;
    const inRange = hashes.filter((hash) => hash >= low && hash <= high);
    const part = table.medianHash(low, high);
    expect(part.median! >= low && part.median! <= high).toBe(true);
    expect(Math.abs(belowFraction(part.median!, inRange) - 0.5)).toBeLessThan(0.03);
    expect(Math.abs(part.countEstimate - inRange.length) / inRange.length).toBeLessThan(0.05);
    table.close();
  });

  test("after most keys are deleted the sample still covers the table", () => {
    // Deletes leave the capacity (and tombstones) behind: the stride must follow the keys, not the slots.
    const { table, keys } = filled(100_000);
    const kept = keys.filter((_, index) => index % 5 === 0);
    for (let begin = 0; begin < keys.length; begin += 50_000) {
      const ops = keys.slice(begin, begin + 50_000).flatMap((key, offset) => ((begin + offset) % 5 === 0 ? [] : [{ kind: "delete" as const, key }]));
      table.applyBatch(ops);
    }
    expect(table.count()).toBe(kept.length);
    const hashes = kept.map(keyHash);
    const { countEstimate, median } = table.medianHash(0n, allHashes);
    expect(Math.abs(hashes.filter((hash) => hash < median!).length / hashes.length - 0.5)).toBeLessThan(0.02);
    expect(Math.abs(countEstimate - kept.length) / kept.length).toBeLessThan(0.02);
    table.close();
  });
});
