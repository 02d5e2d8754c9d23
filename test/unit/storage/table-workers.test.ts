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

/** Int32 slots of the shared flag: stop, attached count, then one read counter per reader. */
function newStopFlag(readerCount: number): SharedArrayBuffer {
  return new SharedArrayBuffer(4 * (2 + readerCount));
}

function readsOf(stopFlag: SharedArrayBuffer, readerIndex: number): number {
  return Atomics.load(new Int32Array(stopFlag), 2 + readerIndex);
}

/** Waits (bounded) until reader `readerIndex` has published at least `count` reads. */
async function waitForReads(stopFlag: SharedArrayBuffer, readerIndex: number, count: number): Promise<void> {
  for (let attempt = 0; attempt < 1_000 && readsOf(stopFlag, readerIndex) < count; attempt++) await Bun.sleep(10);
  expect(readsOf(stopFlag, readerIndex)).toBeGreaterThanOrEqual(count);
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
  const stopFlag = newStopFlag(3);
  const readers = [1, 2, 3].map((seed, readerIndex) => startReader({ tableId: table.tableId, keyCount, stopFlag, readerIndex, seed }));
  await waitForAttached(stopFlag, readers.length);

  // At least versionCountMin versions, then more until every reader has read readsMin values while
  // the writes ran: a loaded machine may schedule the Workers late, so the bound is a count of
  // reads reached, not a wall-clock time; versionCountMax keeps the loop bounded.
  const versionCountMin = 60;
  const versionCountMax = 5_000;
  const readsMin = 1_000;
  const readersBehind = (): boolean => readers.some((_, readerIndex) => readsOf(stopFlag, readerIndex) < readsMin);
  let versionCount = 0;
  for (let version = 1; version <= versionCountMax && (version <= versionCountMin || readersBehind()); version++) {
    versionCount = version;
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
  expect(readersBehind()).toBe(false);
  expect(versionCount).toBeGreaterThanOrEqual(versionCountMin);
  Atomics.store(new Int32Array(stopFlag), 0, 1);
  const reports = await Promise.all(readers.map((reader) => reader.report));
  for (const reader of readers) reader.worker.terminate();

  for (const report of reports) {
    expect(report.firstTorn).toBeNull();
    expect(report.tornCount).toBe(0);
    expect(report.readCount).toBeGreaterThanOrEqual(readsMin);
    expect(report.hitCount).toBeGreaterThan(0);
  }
  expect(table.count()).toBeGreaterThan(0);
  table.close();
}, 30_000);

test("a table outlives its creator's handle while a Worker still holds one", async () => {
  const table = Table.create();
  table.set(encoder.encode("key-0"), valueFor(0, 5));
  const stopFlag = newStopFlag(1);
  const reader = startReader({ tableId: table.tableId, keyCount: 1, stopFlag, readerIndex: 0, seed: 9 });
  await waitForAttached(stopFlag, 1);
  const tableId = table.tableId;
  table.close();
  const stillThere = Table.attach(tableId);
  expect(stillThere.count()).toBe(1);
  stillThere.close();
  // The Worker reads on after the creator's handle is gone: wait for it to publish more reads.
  await waitForReads(stopFlag, 0, readsOf(stopFlag, 0) + 1_000);
  Atomics.store(new Int32Array(stopFlag), 0, 1);
  const report = await reader.report;
  reader.worker.terminate();
  expect(report.tornCount).toBe(0);
  expect(report.hitCount).toBeGreaterThan(0);
  expect(() => Table.attach(tableId)).toThrow();
}, 30_000);
