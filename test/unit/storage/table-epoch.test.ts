// Table epochs (FR3.2 read pool): a reader on another thread names the epoch its routing was built
// at; a split moving keys out, a snapshot replacing the content, or the owner closing the table
// makes getManyAt refuse (null) instead of answering from a table that no longer owns the keys.
import { expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { hashMax, keyHash } from "../../../src/ring/key-hash.ts";
import { SnapshotStore, loadSnapshotFile } from "../../../src/storage/snapshot-store.ts";
import { Table } from "../../../src/storage/table.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const key = (index: number): Uint8Array => encoder.encode(`key-${index}`);

test("getManyAt answers at the current epoch and refuses any other; writes and deletes keep the epoch", () => {
  const table = Table.create();
  const epoch = table.epoch();
  expect(epoch % 2).toBe(0);
  table.set(key(1), encoder.encode("one"));
  table.delete(key(2));
  table.applyBatch([{ kind: "set", key: key(3), value: encoder.encode("three") }]);
  table.clear();
  table.set(key(1), encoder.encode("uno"));
  expect(table.epoch()).toBe(epoch);
  const values = table.getManyAt(epoch, [key(1), key(2)]);
  expect(values?.map((value) => (value === null ? null : decoder.decode(value)))).toEqual(["uno", null]);
  expect(table.getManyAt(epoch + 2, [key(1)])).toBeNull();
  table.close();
});

test("a split (takeHashRange) bumps the parent's epoch: a reader routed before it cannot read the keys that left", () => {
  const table = Table.create();
  for (let index = 0; index < 200; index++) table.set(key(index), encoder.encode(`v${index}`));
  const before = table.epoch();
  const mid = hashMax / 2n;
  const child = table.takeHashRange(mid, hashMax);
  const moved = Array.from({ length: 200 }, (_, index) => index).find((index) => keyHash(key(index)) >= mid) as number;
  expect(table.get(key(moved))).toBeNull();
  // The old epoch is refused; the new one answers (absent, rightly: the child owns it now).
  expect(table.getManyAt(before, [key(moved)])).toBeNull();
  expect(table.epoch()).not.toBe(before);
  expect(table.getManyAt(table.epoch(), [key(moved)])).toEqual([null]);
  expect(child.getManyAt(child.epoch(), [key(moved)])?.[0]).not.toBeNull();
  child.close();
  table.close();
});

test("a snapshot load bumps the epoch; closing the owner retires the table for attached readers, closing an attached handle does not", async () => {
  const dir = mkdtempSync(join(tmpdir(), "ukv-epoch-"));
  try {
    const source = Table.create();
    source.set(key(1), encoder.encode("snap"));
    const store = new SnapshotStore(dir);
    const saved = await store.save(source, { index: 5, term: 1, metadata: new Uint8Array(0) });
    source.close();

    const table = Table.create();
    const reader = Table.attach(table.tableId);
    const before = table.epoch();
    await loadSnapshotFile(saved.path, table);
    expect(reader.getManyAt(before, [key(1)])).toBeNull();
    const loaded = reader.epoch();
    expect(loaded).not.toBe(before);
    expect(decoder.decode(reader.getManyAt(loaded, [key(1)])?.[0] as Uint8Array)).toBe("snap");

    const other = Table.attach(table.tableId);
    other.close(); // an attached handle closing retires nothing
    expect(reader.getManyAt(loaded, [key(1)])).not.toBeNull();
    table.close(); // the owner: retired for every reader
    expect(reader.getManyAt(loaded, [key(1)])).toBeNull();
    expect(reader.epoch() % 2).toBe(1);
    // The memory stays valid for the reader until its own handle goes.
    expect(reader.count()).toBe(1);
    reader.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
