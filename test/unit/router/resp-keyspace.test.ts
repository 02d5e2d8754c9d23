// SCAN's cursor codec and Redis's glob patterns (MATCH, KEYS), pure.
import { expect, test } from "bun:test";
import { decodeCursor, encodeCursor, globMatch } from "../../../src/router/resp/resp-keyspace-commands.ts";

const bytes = (text: string): Uint8Array => new TextEncoder().encode(text);
const match = (pattern: string, key: string): boolean => globMatch(bytes(pattern), bytes(key));

test("cursors round trip; 0 is the start; garbage and values past 2^64 are refused", () => {
  expect(encodeCursor({ shardIndex: 0, slot: 0, layoutTag: 0 })).toBe("0");
  for (const cursor of [
    { shardIndex: 4095, slot: 2 ** 36 - 1, layoutTag: 65535 },
    { shardIndex: 3, slot: 123456, layoutTag: 7 },
  ]) {
    expect(decodeCursor(encodeCursor(cursor))).toEqual(cursor);
  }
  expect(decodeCursor("18446744073709551616")).toBeNull();
  expect(decodeCursor("-1")).toBeNull();
  expect(decodeCursor("1x")).toBeNull();
});

test("glob patterns follow Redis's stringmatch", () => {
  expect(match("*", "")).toBe(true);
  expect(match("user:*", "user:1")).toBe(true);
  expect(match("user:*", "use")).toBe(false);
  expect(match("h?llo", "hello")).toBe(true);
  expect(match("h?llo", "hllo")).toBe(false);
  expect(match("h[ae]llo", "hallo")).toBe(true);
  expect(match("h[ae]llo", "hillo")).toBe(false);
  expect(match("h[^e]llo", "hallo")).toBe(true);
  expect(match("h[^e]llo", "hello")).toBe(false);
  expect(match("h[a-b]llo", "hbllo")).toBe(true);
  expect(match("h[b-a]llo", "hallo")).toBe(true);
  expect(match("a\\*b", "a*b")).toBe(true);
  expect(match("a\\*b", "axb")).toBe(false);
  expect(match("*a*b*c*", "xxaxxbxxcxx")).toBe(true);
  expect(match("*a*b*c*", "xxaxxcxxbxx")).toBe(false);
  expect(match("{tag}:*", "{tag}:x")).toBe(true);
});

test("a pathological pattern stays linear-ish: many stars over a 4 KiB key", () => {
  const started = performance.now();
  expect(globMatch(bytes("*a".repeat(50) + "b"), bytes("a".repeat(4096)))).toBe(false);
  expect(performance.now() - started).toBeLessThan(2000);
});
