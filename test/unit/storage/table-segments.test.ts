// The native table's hash segments (native/segmented_table.h): a table splits into segments by
// routing-hash prefix as it fills, and everything a single table did still holds across them:
// lookups, counts, a scan that returns each key once, a stale scan cursor that restarts without
// skipping a key, takeHashRange moving exactly its range (whole segments by pointer), snapshots,
// and a hash tag whose keys cannot be split apart.
import { afterAll, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { keyHash } from "../../../src/ring/key-hash.ts";
import { loadSnapshotFile, SnapshotStore } from "../../../src/storage/snapshot-store.ts";
import { Table, tableSegmentCountMax, tableSegmentKeyCountMax, type TableScanPage } from "../../../src/storage/table.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const dirs: string[] = [];
afterAll(() => dirs.forEach((dir) => rmSync(dir, { recursive: true, force: true })));

function fill(table: Table, keys: Uint8Array[], valueOf: (index: number) => Uint8Array): void {
  for (let begin = 0; begin < keys.length; begin += 50_000) {
    table.applyBatch(keys.slice(begin, begin + 50_000).map((key, offset) => ({ kind: "set", key, value: valueOf(begin + offset) })));
  }
}

const keysOf = (count: number, prefix = "key-"): Uint8Array[] => Array.from({ length: count }, (_, index) => encoder.encode(`${prefix}${index}`));

/** Every key a whole scan returns, pages of `slots` slots, with how many times each came back. */
function scanAll(table: Table, slots: number): Map<string, number> {
  const seen = new Map<string, number>();
  for (let position = 0; ; ) {
    const page = table.scan(position, slots, 100_000, 0);
    for (const key of page.keys) seen.set(decoder.decode(key), (seen.get(decoder.decode(key)) ?? 0) + 1);
    if (page.next >= page.capacity) return seen;
    expect(page.next).toBeGreaterThan(position);
    position = page.next;
  }
}

test("a filling table splits into segments; lookups, counts, deletes and a full scan hold across them", () => {
  const table = Table.create();
  const keys = keysOf(300_000);
  fill(table, keys, (index) => encoder.encode(`v${index}`));
  // 300k uniform keys in segments of at most 57,344: at least 8 (depth 3), splitting at ~half full.
  expect(table.segmentCount()).toBeGreaterThanOrEqual(Math.ceil(300_000 / tableSegmentKeyCountMax));
  expect(table.segmentCount()).toBeLessThanOrEqual(16);
  expect(table.count()).toBe(300_000);
  for (let index = 0; index < keys.length; index += 7) expect(decoder.decode(table.get(keys[index]!)!)).toBe(`v${index}`);
  const seen = scanAll(table, 5000);
  expect(seen.size).toBe(300_000);
  expect([...seen.values()].every((times) => times === 1)).toBe(true);
  const deletes = keys.filter((_, index) => index % 2 === 0);
  for (let begin = 0; begin < deletes.length; begin += 50_000) table.applyBatch(deletes.slice(begin, begin + 50_000).map((key) => ({ kind: "delete", key })));
  expect(table.count()).toBe(150_000);
  expect(table.get(keys[0]!)).toBeNull();
  expect(decoder.decode(table.get(keys[1]!)!)).toBe("v1");
  expect(scanAll(table, 1 << 20).size).toBe(150_000);
  table.clear();
  expect(table.count()).toBe(0);
  expect(table.segmentCount()).toBe(1);
  table.close();
});

test("a scan cursor taken before its segment split restarts at the segment's start and misses no key present throughout", () => {
  // One segment one key short of splitting, its lower hash half holding few enough keys (28,000)
  // that the split rebuilds that half into a table of half the slots: the keys past the cursor's
  // slot land below it, where a cursor that went on would never look.
  const half = 1n << 63n;
  const lower: Uint8Array[] = [];
  const upper: Uint8Array[] = [];
  for (let index = 0; lower.length < 28_000 || upper.length < tableSegmentKeyCountMax - 28_000; index++) {
    const key = encoder.encode(`old-${index}`);
    const side = keyHash(key) < half ? lower : upper;
    if (side.length < (side === lower ? 28_000 : tableSegmentKeyCountMax - 28_000)) side.push(key);
  }
  const present = [...lower, ...upper.slice(1)];
  const run = (restart: boolean): { missing: number; restarts: number } => {
    const table = Table.create();
    fill(table, present, () => encoder.encode("x"));
    expect(table.segmentCount()).toBe(1);
    const seen = new Set<string>();
    let position = 0;
    let layout = 0;
    let restarts = 0;
    for (let pages = 0; pages < 10_000; pages++) {
      let page: TableScanPage = table.scan(position, 1000, 100_000, 0);
      // The rule the store applies (store-service #scan): a cursor under another layout walks again from its segment's start.
      if (restart && layout !== 0 && page.startLayout !== layout && page.startSegment !== position) {
        restarts++;
        page = table.scan(page.startSegment, 1000, 100_000, 0);
      }
      for (const key of page.keys) seen.add(decoder.decode(key));
      if (page.next >= page.capacity) break;
      position = page.next;
      layout = page.layout;
      if (position >= 60_000 && table.segmentCount() === 1) {
        table.set(upper[0]!, encoder.encode("x"));
        expect(table.segmentCount()).toBe(2);
      }
    }
    table.close();
    return { missing: present.filter((key) => !seen.has(decoder.decode(key))).length, restarts };
  };
  expect(run(true)).toEqual({ missing: 0, restarts: 1 });
  // The check has teeth: without the restart, keys present throughout are missed.
  expect(run(false).missing).toBeGreaterThan(1000);
});

test("takeHashRange moves exactly its range: whole segments by pointer, the straddled ones entry by entry", () => {
  const table = Table.create();
  const keys = keysOf(250_000);
  fill(table, keys, (index) => encoder.encode(`v${index}`));
  const segmentsBefore = table.segmentCount();
  // A bound that is not a segment boundary on either side.
  const low = (1n << 62n) + 12_345n;
  const high = (3n << 62n) - 98_765n;
  const child = table.takeHashRange(low, high);
  let moved = 0;
  keys.forEach((key, index) => {
    const inRange = keyHash(key) >= low && keyHash(key) <= high;
    if (inRange) moved++;
    expect(decoder.decode((inRange ? child : table).get(key)!)).toBe(`v${index}`);
    expect((inRange ? table : child).get(key)).toBeNull();
  });
  expect(child.count()).toBe(moved);
  expect(table.count()).toBe(250_000 - moved);
  expect(child.segmentCount()).toBe(segmentsBefore);
  expect(scanAll(child, 1 << 20).size).toBe(moved);
  expect(scanAll(table, 1 << 20).size).toBe(250_000 - moved);
  // Both keep working as tables: writes into the other's former range and their own.
  for (const target of [table, child]) {
    const more = keysOf(80_000, `more-${target === table ? "p" : "c"}-`);
    fill(target, more, () => encoder.encode("m"));
    for (let index = 0; index < more.length; index += 11) expect(decoder.decode(target.get(more[index]!)!)).toBe("m");
  }
  expect(table.count()).toBe(250_000 - moved + 80_000);
  expect(child.count()).toBe(moved + 80_000);
  child.close();
  table.close();
});

test("a snapshot of a segmented table loads back whole", async () => {
  const dir = mkdtempSync(join(tmpdir(), "ukv-segments-"));
  dirs.push(dir);
  const table = Table.create();
  const keys = keysOf(200_000);
  fill(table, keys, (index) => encoder.encode(`v${index}`));
  const store = new SnapshotStore(dir);
  const saved = await store.save(table, { index: 5, term: 1, metadata: new Uint8Array(0) });
  const loaded = Table.create();
  await loadSnapshotFile(saved.path, loaded);
  expect(loaded.count()).toBe(200_000);
  expect(loaded.segmentCount()).toBeGreaterThan(1);
  for (let index = 0; index < keys.length; index += 13) expect(decoder.decode(loaded.get(keys[index]!)!)).toBe(`v${index}`);
  table.close();
  loaded.close();
});

test("keys of one hash tag stay in one segment, which grows past the split size once it is as deep as segments go", () => {
  const table = Table.create();
  const tagged = keysOf(tableSegmentKeyCountMax + 10_000, "{tag}:");
  fill(table, tagged, (index) => encoder.encode(`t${index}`));
  // Each split at the midpoint leaves them all on one side, down to the deepest segment.
  expect(table.segmentCount()).toBe(1 + Math.log2(tableSegmentCountMax));
  expect(table.count()).toBe(tagged.length);
  for (let index = 0; index < tagged.length; index += 5) expect(decoder.decode(table.get(tagged[index]!)!)).toBe(`t${index}`);
  expect(scanAll(table, 1 << 20).size).toBe(tagged.length);
  table.close();
});

test("a scan from a random fraction of the keys starts at a close-to-uniformly chosen key, empty segments or not (RANDOMKEY)", () => {
  const table = Table.create();
  const keys = keysOf(200_000);
  fill(table, keys, () => encoder.encode("x"));
  // The parent of a split keeps empty segments where the child's range was: they draw no starts.
  table.takeHashRange(1n << 63n, (1n << 64n) - 1n).close();
  expect(table.segmentCount()).toBe(4);
  const draws = 4000;
  const drawn = new Map<string, number>();
  let lowHalf = 0;
  for (let draw = 0; draw < draws; draw++) {
    const fraction = (draw + 0.5) / draws;
    const page = table.scan(table.positionAtFraction(fraction), 1 << 20, 1, 0);
    const name = decoder.decode(page.keys[0]!);
    drawn.set(name, (drawn.get(name) ?? 0) + 1);
    // Fractions walk the keys in hash order: the first half of them land on the lower half of the parent's hashes.
    if (fraction < 0.5 && keyHash(page.keys[0]!) < 1n << 62n) lowHalf++;
  }
  // ~100k keys: evenly spread draws almost never repeat (a fixed start, or a segment's first key, would).
  expect(drawn.size).toBeGreaterThan(draws * 0.97);
  expect(lowHalf).toBeGreaterThan(draws * 0.45);
  expect(table.positionAtFraction(0)).toBe(0);
  table.close();
});
