// The read pool's Worker side (FR3.2): PoolReads answers GET/MGET/EXISTS from tables attached by
// id, under routing from the Raft thread; it sends back (null) anything it must not answer, and a
// Worker reading while the main thread splits and drops the tables neither crashes nor answers a
// key as absent that the table gave away.
import { expect, test } from "bun:test";
import { encodeStoredValue, ValueType } from "../../../src/kv/stored-value.ts";
import { hashMax, keyHash } from "../../../src/ring/key-hash.ts";
import { Table } from "../../../src/storage/table.ts";
import { PoolReads, type PoolReplica } from "../../../src/store/pool-reads.ts";
import { RespWriter } from "../../../src/router/resp/resp-encoder.ts";
import { keySizeBytesMax } from "../../../src/util/limits.ts";
import type { PoolReaderMessage, PoolReaderReport } from "./fixtures/pool-reader.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const bytes = (text: string): Uint8Array => encoder.encode(text);
const key = (index: number): Uint8Array => bytes(`key-${index}`);

function replicaOf(shardId: number, table: Table, start: bigint, end: bigint): PoolReplica {
  return { shardId, tableId: table.tableId, start, end, epoch: table.epoch() };
}

test("GET, MGET and EXISTS answered from the routed table, expiry decoded, anything else sent back", () => {
  const table = Table.create();
  const nowMs = 1_000_000;
  table.set(bytes("a"), encodeStoredValue(bytes("1"), null));
  table.set(bytes("b"), encodeStoredValue(bytes("2"), nowMs + 10));
  table.set(bytes("gone"), encodeStoredValue(bytes("3"), nowMs - 1));
  const reads = new PoolReads();
  expect(reads.answer([bytes("GET"), bytes("a")], nowMs)).toBeNull(); // no routing yet
  reads.setRouting([replicaOf(1, table, 0n, hashMax)]);
  expect(reads.answer([bytes("get"), bytes("a")], nowMs)).toEqual({ type: "bulk", value: bytes("1") });
  expect(reads.answer([bytes("GeT"), bytes("b")], nowMs)).toEqual({ type: "bulk", value: bytes("2") });
  expect(reads.answer([bytes("GET"), bytes("gone")], nowMs)).toEqual({ type: "bulk", value: null });
  expect(reads.answer([bytes("GET"), bytes("b")], nowMs + 10)).toEqual({ type: "bulk", value: null });
  expect(reads.answer([bytes("MGET"), bytes("a"), bytes("x"), bytes("b")], nowMs)).toEqual({
    type: "array",
    items: [
      { type: "bulk", value: bytes("1") },
      { type: "bulk", value: null },
      { type: "bulk", value: bytes("2") },
    ],
  });
  expect(reads.answer([bytes("exists"), bytes("a"), bytes("a"), bytes("gone"), bytes("x")], nowMs)).toEqual({ type: "integer", value: 2 });
  // Not a pooled read, or a wrong arity: the Raft thread answers (with Redis's errors).
  expect(reads.answer([bytes("SET"), bytes("a"), bytes("2")], nowMs)).toBeNull();
  expect(reads.answer([bytes("GET"), bytes("a"), bytes("b")], nowMs)).toBeNull();
  expect(reads.answer([bytes("MGET")], nowMs)).toBeNull();
  expect(reads.answer([bytes("GETSET"), bytes("a")], nowMs)).toBeNull();
  expect(reads.counts.hits).toBeGreaterThan(0);
  reads.close();
  table.close();
});

test("pipelined GETs are written straight to the RESP writer, in order, up to the first one the Raft thread must answer", () => {
  const low = Table.create();
  const high = Table.create();
  const mid = hashMax / 2n;
  const nowMs = 1_000_000;
  const tableOf = (name: Uint8Array): Table => (keyHash(name) < mid ? low : high);
  for (let index = 0; index < 40; index++) tableOf(key(index)).set(key(index), encodeStoredValue(bytes(`v${index}`), null));
  tableOf(bytes("ttl")).set(bytes("ttl"), encodeStoredValue(bytes("later"), nowMs + 10));
  tableOf(bytes("gone")).set(bytes("gone"), encodeStoredValue(bytes("x"), nowMs - 1));
  tableOf(bytes("h")).set(bytes("h"), encodeStoredValue(bytes("field-bytes"), null, ValueType.Hash));
  const reads = new PoolReads();
  const writer = new RespWriter();
  const keys = [key(1), bytes("missing"), bytes("ttl"), bytes("gone"), ...Array.from({ length: 36 }, (_, index) => key(index + 4))];
  expect(reads.answerGets(keys, nowMs, writer, 2)).toBe(0); // no routing yet
  reads.setRouting([replicaOf(7, low, 0n, mid - 1n), replicaOf(9, high, mid, hashMax)]);
  expect(reads.answerGets(keys, nowMs, writer, 2)).toBe(keys.length);
  const expected = ["$2\r\nv1\r\n", "$-1\r\n", "$5\r\nlater\r\n", "$-1\r\n", ...Array.from({ length: 36 }, (_, index) => `$${`v${index + 4}`.length}\r\nv${index + 4}\r\n`)].join("");
  expect(decoder.decode(writer.take())).toBe(expected);
  expect(reads.counts.get).toBe(keys.length);
  expect((reads.keysReadByShard.get(7) ?? 0) + (reads.keysReadByShard.get(9) ?? 0)).toBe(keys.length);
  // RESP3's null; a hash stops the run (the Raft thread says WRONGTYPE), as does a key too large to look up.
  expect(reads.answerGets([bytes("missing"), key(2), bytes("h"), key(3)], nowMs, writer, 3)).toBe(2);
  expect(decoder.decode(writer.take())).toBe("_\r\n$2\r\nv2\r\n");
  expect(reads.answerGets([key(2), new Uint8Array(keySizeBytesMax + 1), key(3)], nowMs, writer, 2)).toBe(1);
  expect(decoder.decode(writer.take())).toBe("$2\r\nv2\r\n");
  // A split under the routing: the parent's keys go back until the routing catches up.
  const child = low.takeHashRange(mid / 2n, mid - 1n);
  const parentKey = Array.from({ length: 40 }, (_, index) => index).find((index) => keyHash(key(index)) < mid / 2n) as number;
  expect(reads.answerGets([key(parentKey)], nowMs, writer, 2)).toBe(0);
  expect(writer.sizeBytes).toBe(0);
  for (const table of [child, low, high]) table.close();
  reads.close();
});

test("a list or a hash is not answered here (GET must say WRONGTYPE, MGET nil): the whole command goes to the Raft thread", () => {
  const table = Table.create();
  const nowMs = 1_000_000;
  table.set(bytes("s"), encodeStoredValue(bytes("1"), null));
  table.set(bytes("h"), encodeStoredValue(bytes("field-bytes"), null, ValueType.Hash));
  table.set(bytes("l"), encodeStoredValue(bytes("list-header"), null, ValueType.List));
  const reads = new PoolReads();
  reads.setRouting([replicaOf(1, table, 0n, hashMax)]);
  const hitsBefore = reads.counts.hits;
  for (const name of ["h", "l"]) {
    expect(reads.answer([bytes("GET"), bytes(name)], nowMs)).toBeNull();
    expect(reads.answer([bytes("MGET"), bytes("s"), bytes(name)], nowMs)).toBeNull();
    expect(reads.readKey(bytes(name), 0, nowMs)).toBeUndefined();
  }
  expect(reads.counts.hits).toBe(hitsBefore);
  expect(reads.answer([bytes("GET"), bytes("s")], nowMs)).toEqual({ type: "bulk", value: bytes("1") });
  reads.close();
  table.close();
});

test("a key outside every routed range, a stale epoch, a retired table and an undecodable value go back to the Raft thread", () => {
  const table = Table.create();
  for (let index = 0; index < 100; index++) table.set(key(index), encodeStoredValue(bytes(`v${index}`), null));
  const mid = hashMax / 2n;
  const low = Array.from({ length: 100 }, (_, index) => index).find((index) => keyHash(key(index)) < mid) as number;
  const high = Array.from({ length: 100 }, (_, index) => index).find((index) => keyHash(key(index)) >= mid) as number;
  const reads = new PoolReads();
  reads.setRouting([replicaOf(1, table, 0n, mid - 1n)]);
  expect(reads.answer([bytes("GET"), key(low)], 0)).toEqual({ type: "bulk", value: bytes(`v${low}`) });
  expect(reads.answer([bytes("GET"), key(high)], 0)).toBeNull(); // no replica here owns it
  expect(reads.answer([bytes("MGET"), key(low), key(high)], 0)).toBeNull(); // all keys or none

  // A split under the old routing: the parent's epoch moved, so even its own keys go back until the routing catches up.
  reads.setRouting([replicaOf(1, table, 0n, hashMax)]);
  const child = table.takeHashRange(mid, hashMax);
  expect(reads.answer([bytes("GET"), key(high)], 0)).toBeNull();
  expect(reads.answer([bytes("GET"), key(low)], 0)).toBeNull();
  reads.setRouting([replicaOf(1, table, 0n, mid - 1n), replicaOf(2, child, mid, hashMax)]);
  expect(reads.answer([bytes("MGET"), key(low), key(high)], 0)).toEqual({ type: "array", items: [{ type: "bulk", value: bytes(`v${low}`) }, { type: "bulk", value: bytes(`v${high}`) }] });

  child.set(key(high), bytes("\u00ff not a stored value"));
  expect(reads.answer([bytes("GET"), key(high)], 0)).toBeNull();
  child.close(); // the replica closed: retired
  expect(reads.answer([bytes("GET"), key(low)], 0)).not.toBeNull();
  expect(reads.answer([bytes("GET"), key(high)], 0)).toBeNull();
  reads.setRouting([replicaOf(1, table, 0n, mid - 1n)]);
  expect(reads.replicaCount).toBe(1);
  reads.close();
  table.close();
});

test("a Worker reading while the main thread splits, closes and drops tables: no crash, no wrong answer", async () => {
  const keyCount = 2_000;
  const parent = Table.create();
  for (let index = 0; index < keyCount; index++) parent.set(key(index), encodeStoredValue(bytes(`v${index}`), null));
  const worker = new Worker(new URL("./fixtures/pool-reader.ts", import.meta.url));
  const reported = new Promise<PoolReaderReport>((resolve, reject) => {
    worker.onmessage = (event: MessageEvent<PoolReaderReport>) => resolve(event.data);
    worker.onerror = (event) => reject(new Error(`pool reader failed: ${event.message}`));
  });
  const post = (message: PoolReaderMessage): void => worker.postMessage(message);
  const stopFlag = new SharedArrayBuffer(12);
  const flags = new Int32Array(stopFlag);
  const waitForLocal = async (count: number): Promise<void> => {
    for (let attempt = 0; attempt < 2_000 && Atomics.load(flags, 1) < count; attempt++) await Bun.sleep(5);
    expect(Atomics.load(flags, 1)).toBeGreaterThanOrEqual(count);
  };
  post({ type: "routing", replicas: [replicaOf(1, parent, 0n, hashMax)] });
  post({ type: "start", keyCount, stopFlag });
  await waitForLocal(500);

  // Split after split under the Worker's reads, the routing sent late each time.
  let tables: { table: Table; start: bigint; end: bigint }[] = [{ table: parent, start: 0n, end: hashMax }];
  for (let round = 0; round < 6; round++) {
    const widest = tables.reduce((best, entry) => (entry.end - entry.start > best.end - best.start ? entry : best));
    const at = widest.start + (widest.end - widest.start) / 2n;
    const child = widest.table.takeHashRange(at, widest.end);
    tables = [...tables.filter((entry) => entry !== widest), { table: widest.table, start: widest.start, end: at - 1n }, { table: child, start: at, end: widest.end }];
    await Bun.sleep(5);
    post({ type: "routing", replicas: tables.map((entry, index) => replicaOf(index + 1, entry.table, entry.start, entry.end)) });
    await waitForLocal(Atomics.load(flags, 1) + 200);
  }
  // Drop every table while the Worker still routes to them: its handles keep the memory alive,
  // the owners' close retired them, so it sends everything back.
  const fallbackBefore = Atomics.load(flags, 2);
  for (const entry of tables) entry.table.close();
  for (let attempt = 0; attempt < 2_000 && Atomics.load(flags, 2) < fallbackBefore + 500; attempt++) await Bun.sleep(5);
  post({ type: "routing", replicas: [] });
  await Bun.sleep(20);
  Atomics.store(flags, 0, 1);
  const report = await reported;
  worker.terminate();
  expect(report.wrong).toEqual([]);
  expect(report.local).toBeGreaterThanOrEqual(500 + 6 * 200);
  expect(report.fallback).toBeGreaterThanOrEqual(fallbackBefore + 500);
  // Every table is gone now: no handle is left in either thread.
  for (const entry of tables) expect(() => Table.attach(entry.table.tableId)).toThrow();
}, 60_000);
