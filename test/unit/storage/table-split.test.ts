// The native table's range operations for splits: its XXH64 equals the routing hash (so native
// code puts every key on the side of the split the routers and replicas put it), takeHashRange
// moves exactly the keys of the range and nothing else, and medianHash is the median of them.
import { describe, expect, test } from "bun:test";
import { keyHash } from "../../../src/ring/key-hash.ts";
import { nativeKeyHash, Table } from "../../../src/storage/table.ts";
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
    table.applyBatch(keys.map((key, index) => ({ kind: "set", key, value: encoder.encode(`value-${index}`) })));
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

  test("the median hash halves the keys of the range; an empty range has none", () => {
    const { table, keys } = filled(2001);
    const hashes = keys.map(keyHash).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    expect(table.medianHash(0n, (1n << 64n) - 1n)).toEqual({ count: 2001, median: hashes[1000]! });
    const upper = hashes.filter((hash) => hash >= 1n << 63n);
    expect(table.medianHash(1n << 63n, (1n << 64n) - 1n)).toEqual({ count: upper.length, median: upper[upper.length >> 1]! });
    expect(table.medianHash(5n, 5n)).toEqual({ count: 0, median: null });
    expect(() => table.medianHash(6n, 5n)).toThrow(/Invalid hash bounds/);
    table.close();
  });
});
