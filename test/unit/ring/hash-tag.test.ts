// Hash tags follow Redis Cluster's rule: the first `{`, the first `}` after it, non-empty between.
import { expect, test } from "bun:test";
import { routingKey } from "../../../src/ring/hash-tag.ts";
import { RangeMap } from "../../../src/ring/range-map.ts";

const bytes = (text: string): Uint8Array => new TextEncoder().encode(text);
const tag = (key: string): string => new TextDecoder().decode(routingKey(bytes(key)));

test("the routing key is the tag's content, or the whole key", () => {
  expect(tag("{user1000}.following")).toBe("user1000");
  expect(tag("foo{bar}{zap}")).toBe("bar");
  expect(tag("foo{}{bar}")).toBe("foo{}{bar}");
  expect(tag("foo{{bar}}zap")).toBe("{bar");
  expect(tag("foo{bar")).toBe("foo{bar");
  expect(tag("}{x}")).toBe("x");
  expect(tag("plain")).toBe("plain");
});

test("keys with one tag land on one shard of any range map", () => {
  const ring = RangeMap.equal([1, 2, 3, 4, 5, 6, 7, 8]);
  for (let index = 0; index < 100; index++) {
    const shard = ring.shardForKey(bytes(`{order:${index}}:head`));
    for (const suffix of ["lines", "total", "x".repeat(index)]) expect(ring.shardForKey(bytes(`{order:${index}}:${suffix}`))).toBe(shard);
    expect(ring.shardForKey(bytes(`order:${index}`))).toBe(shard);
  }
});
