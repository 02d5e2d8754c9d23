// The read route (a read-pool Worker's routing, held natively) and table epochs (FR3.2): keys are
// routed by their hash to the table owning their range and read there only while that table is at
// the epoch the route was made at. A split moving keys out, a snapshot replacing the content, or the
// owner closing the table makes the route refuse (notHere) instead of answering from a table that
// no longer owns the keys.
import { expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { hashMax, keyHash } from "../../../src/ring/key-hash.ts";
import { ReadRoute, type RouteLookup } from "../../../src/storage/read-route.ts";
import { SnapshotStore, loadSnapshotFile } from "../../../src/storage/snapshot-store.ts";
import { Table } from "../../../src/storage/table.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const key = (index: number): Uint8Array => encoder.encode(`key-${index}`);

/** Each key's value as text, null when absent, or the code (notHere, noRoom). */
function valuesOf(found: RouteLookup, count: number): (string | number | null)[] {
  const out: (string | number | null)[] = [];
  let offset = 0;
  for (let index = 0; index < count; index++) {
    const size = found.sizes[index] as number;
    if (size === ReadRoute.absent) out.push(null);
    else if (size < 0) out.push(size);
    else {
      out.push(decoder.decode(found.bytes.subarray(offset, offset + size)));
      offset += size;
    }
  }
  return out;
}

function lookUp(route: ReadRoute, keys: Uint8Array[]): (string | number | null)[] {
  return valuesOf(route.lookUp(keys), keys.length);
}

test("keys are routed by hash to the range that owns them, read in order, each with its range's index", () => {
  const low = Table.create();
  const high = Table.create();
  const mid = hashMax / 2n;
  const keys = Array.from({ length: 300 }, (_, index) => key(index));
  for (const [index, one] of keys.entries()) (keyHash(one) < mid ? low : high).set(one, encoder.encode(`v${index}`));
  // The ranges in reverse order: owners name the position given, not the sorted one.
  const route = ReadRoute.create([
    { tableId: high.tableId, epoch: high.epoch(), start: mid, end: hashMax },
    { tableId: low.tableId, epoch: low.epoch(), start: 0n, end: mid - 1n },
  ]);
  const asked = [...keys, key(1000), key(1001)];
  const found = route.lookUp(asked);
  expect(valuesOf(found, asked.length)).toEqual([...keys.map((_, index) => `v${index}`), null, null]);
  for (const [index, one] of asked.entries()) expect(found.owners[index]).toBe(keyHash(one) < mid ? 1 : 0);
  // A hash no range owns: notHere, owner -1.
  const partial = ReadRoute.create([{ tableId: low.tableId, epoch: low.epoch(), start: 0n, end: mid - 1n }]);
  const outside = keys.findIndex((one) => keyHash(one) >= mid);
  const inside = keys.findIndex((one) => keyHash(one) < mid);
  const mixed = partial.lookUp([key(outside), key(inside)]);
  expect(valuesOf(mixed, 2)).toEqual([ReadRoute.notHere, `v${inside}`]);
  expect(mixed.owners[0]).toBe(-1);
  partial.close();
  route.close();
  expect(() => route.lookUp([key(1)])).toThrow("closed");
  low.close();
  high.close();
});

test("overlapping ranges (a parent that has not applied a split beside its child): the one starting first keeps the overlap", () => {
  const parent = Table.create();
  const child = Table.create();
  const mid = hashMax / 2n;
  const high = Array.from({ length: 100 }, (_, index) => index).find((index) => keyHash(key(index)) >= mid) as number;
  parent.set(key(high), encoder.encode("from the parent"));
  child.set(key(high), encoder.encode("from the child"));
  const route = ReadRoute.create([
    { tableId: child.tableId, epoch: child.epoch(), start: mid, end: hashMax },
    { tableId: parent.tableId, epoch: parent.epoch(), start: 0n, end: hashMax },
  ]);
  const found = route.lookUp([key(high)]);
  expect(valuesOf(found, 1)).toEqual(["from the parent"]);
  expect(found.owners[0]).toBe(1);
  route.close();
  parent.close();
  child.close();
});

test("values past the route's buffer come back as noRoom, the keys after them still read", () => {
  const table = Table.create();
  const big = new Uint8Array(200 * 1024).fill(7);
  table.set(key(1), big);
  table.set(key(2), encoder.encode("small"));
  const route = ReadRoute.create([{ tableId: table.tableId, epoch: table.epoch(), start: 0n, end: hashMax }]);
  const found = route.lookUp([key(1), key(1), key(2)]);
  expect(found.sizes[0]).toBe(big.byteLength);
  expect(found.sizes[1]).toBe(ReadRoute.noRoom);
  expect(decoder.decode(found.bytes.subarray(big.byteLength, big.byteLength + 5))).toBe("small");
  route.close();
  table.close();
});

test("the route answers at the table's epoch; writes and deletes keep the epoch, any other epoch is refused", () => {
  const table = Table.create();
  const epoch = table.epoch();
  expect(epoch % 2).toBe(0);
  table.set(key(1), encoder.encode("one"));
  table.delete(key(2));
  table.applyBatch([{ kind: "set", key: key(3), value: encoder.encode("three") }]);
  table.clear();
  table.set(key(1), encoder.encode("uno"));
  expect(table.epoch()).toBe(epoch);
  const route = ReadRoute.create([{ tableId: table.tableId, epoch, start: 0n, end: hashMax }]);
  expect(lookUp(route, [key(1), key(2)])).toEqual(["uno", null]);
  const stale = ReadRoute.create([{ tableId: table.tableId, epoch: epoch + 2, start: 0n, end: hashMax }]);
  expect(lookUp(stale, [key(1)])).toEqual([ReadRoute.notHere]);
  route.close();
  stale.close();
  table.close();
});

test("a split (takeHashRange) bumps the parent's epoch: a route made before it cannot read the keys that left", () => {
  const table = Table.create();
  for (let index = 0; index < 200; index++) table.set(key(index), encoder.encode(`v${index}`));
  const before = ReadRoute.create([{ tableId: table.tableId, epoch: table.epoch(), start: 0n, end: hashMax }]);
  const mid = hashMax / 2n;
  const child = table.takeHashRange(mid, hashMax);
  const moved = Array.from({ length: 200 }, (_, index) => index).find((index) => keyHash(key(index)) >= mid) as number;
  expect(table.get(key(moved))).toBeNull();
  // The old route is refused; one at the new epochs answers from the child.
  expect(lookUp(before, [key(moved)])).toEqual([ReadRoute.notHere]);
  const after = ReadRoute.create([
    { tableId: table.tableId, epoch: table.epoch(), start: 0n, end: mid - 1n },
    { tableId: child.tableId, epoch: child.epoch(), start: mid, end: hashMax },
  ]);
  expect(lookUp(after, [key(moved)])).toEqual([`v${moved}`]);
  for (const route of [before, after]) route.close();
  child.close();
  table.close();
});

test("a snapshot load bumps the epoch; closing the owner retires the table for routes, which still hold its memory", async () => {
  const dir = mkdtempSync(join(tmpdir(), "ukv-epoch-"));
  try {
    const source = Table.create();
    source.set(key(1), encoder.encode("snap"));
    const store = new SnapshotStore(dir);
    const saved = await store.save(source, { index: 5, term: 1, metadata: new Uint8Array(0) });
    source.close();

    const table = Table.create();
    const before = ReadRoute.create([{ tableId: table.tableId, epoch: table.epoch(), start: 0n, end: hashMax }]);
    const beforeEpoch = table.epoch();
    await loadSnapshotFile(saved.path, table);
    expect(lookUp(before, [key(1)])).toEqual([ReadRoute.notHere]);
    expect(table.epoch()).not.toBe(beforeEpoch);
    const loaded = ReadRoute.create([{ tableId: table.tableId, epoch: table.epoch(), start: 0n, end: hashMax }]);
    expect(lookUp(loaded, [key(1)])).toEqual(["snap"]);

    const other = Table.attach(table.tableId);
    other.close(); // an attached handle closing retires nothing
    expect(lookUp(loaded, [key(1)])).toEqual(["snap"]);
    table.close(); // the owner: retired for every reader, though the route still holds the memory
    expect(lookUp(loaded, [key(1)])).toEqual([ReadRoute.notHere]);
    // A route made after the close leaves the table out (it cannot be attached any more).
    const late = ReadRoute.create([{ tableId: table.tableId, epoch: 0, start: 0n, end: hashMax }]);
    expect(lookUp(late, [key(1)])).toEqual([ReadRoute.notHere]);
    for (const route of [before, loaded, late]) route.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
