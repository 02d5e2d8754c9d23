// FR3.2: several Workers attach to one table by id and read while the main thread writes. Every
// value read must be one that was written whole (no torn value), and nothing crashes.
import { expect, test } from "bun:test";
import { Table } from "../../../src/storage/table.ts";
import type { ReaderReport, ReaderStart } from "./fixtures/table-reader.ts";

const encoder = new TextEncoder();

function valueFor(keyIndex: number, version: number): Uint8Array {
  // Sizes vary with the version, so overwrites move entry blocks (realloc) under the readers.
  return encoder.encode(`${keyIndex}.${version}|`.repeat(1 + (version % 13) * 5));
}

function startReader(start: ReaderStart): { worker: Worker; report: Promise<ReaderReport> } {
  const worker = new Worker(new URL("./fixtures/table-reader.ts", import.meta.url));
  const report = new Promise<ReaderReport>((resolve, reject) => {
    worker.onmessage = (event: MessageEvent<ReaderReport>) => resolve(event.data);
    worker.onerror = (event) => reject(new Error(`Reader worker failed: ${event.message}`));
  });
  worker.postMessage(start);
  return { worker, report };
}

/** Waits (bounded) until `count` readers have attached. */
async function waitForAttached(stopFlag: SharedArrayBuffer, count: number): Promise<void> {
  const flags = new Int32Array(stopFlag);
  for (let attempt = 0; attempt < 1_000 && Atomics.load(flags, 1) < count; attempt++) await Bun.sleep(10);
  expect(Atomics.load(flags, 1)).toBe(count);
}

test("three Workers attached by id read only whole values while the main thread overwrites, deletes and batches", async () => {
  const keyCount = 2_000;
  const table = Table.create();
  const keys = Array.from({ length: keyCount }, (_, index) => encoder.encode(`key-${index}`));
  for (let index = 0; index < keyCount; index++) table.set(keys[index] as Uint8Array, valueFor(index, 0));
  const stopFlag = new SharedArrayBuffer(8);
  const readers = [1, 2, 3].map((seed) => startReader({ tableId: table.tableId, keyCount, stopFlag, seed }));
  await waitForAttached(stopFlag, readers.length);

  const versionCount = 60;
  for (let version = 1; version <= versionCount; version++) {
    for (let index = 0; index < keyCount; index++) {
      if ((index + version) % 11 === 0) table.delete(keys[index] as Uint8Array);
      else table.set(keys[index] as Uint8Array, valueFor(index, version));
    }
    // Batched writes too: one write lock for a run of sets.
    const ops = Array.from({ length: 200 }, (_, offset) => {
      const index = (version * 31 + offset) % keyCount;
      return { kind: "set" as const, key: keys[index] as Uint8Array, value: valueFor(index, version + 1000) };
    });
    table.applyBatch(ops);
    if (version % 20 === 0) await Bun.sleep(1);
  }
  Atomics.store(new Int32Array(stopFlag), 0, 1);
  const reports = await Promise.all(readers.map((reader) => reader.report));
  for (const reader of readers) reader.worker.terminate();

  for (const report of reports) {
    expect(report.firstTorn).toBeNull();
    expect(report.tornCount).toBe(0);
    expect(report.readCount).toBeGreaterThan(1_000);
    expect(report.hitCount).toBeGreaterThan(0);
  }
  expect(table.count()).toBeGreaterThan(0);
  table.close();
}, 30_000);

test("a table outlives its creator's handle while a Worker still holds one", async () => {
  const table = Table.create();
  table.set(encoder.encode("key-0"), valueFor(0, 5));
  const stopFlag = new SharedArrayBuffer(8);
  const reader = startReader({ tableId: table.tableId, keyCount: 1, stopFlag, seed: 9 });
  await waitForAttached(stopFlag, 1);
  const tableId = table.tableId;
  table.close();
  const stillThere = Table.attach(tableId);
  expect(stillThere.count()).toBe(1);
  stillThere.close();
  // Let the Worker read on for a while after the creator's handle is gone.
  await Bun.sleep(100);
  Atomics.store(new Int32Array(stopFlag), 0, 1);
  const report = await reader.report;
  reader.worker.terminate();
  expect(report.tornCount).toBe(0);
  expect(report.hitCount).toBeGreaterThan(0);
  expect(() => Table.attach(tableId)).toThrow();
}, 30_000);
