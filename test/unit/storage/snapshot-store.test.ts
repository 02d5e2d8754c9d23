// Snapshot files through SnapshotStore: round trip of a large table, stable bytes, corruption
// detection (CRC, truncation) with fallback to the previous snapshot, pruning, receiving over the
// network and installing what was received, and a full disk.
import { afterEach, expect, test } from "bun:test";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, truncateSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pino from "pino";
import { receivedSnapshotFileName, SnapshotStore, snapshotFileName } from "../../../src/storage/snapshot-store.ts";
import { Table, type TableOp } from "../../../src/storage/table.ts";
import { isUkvError, type UkvError } from "../../../src/util/errors.ts";

const dirs: string[] = [];
const tables: Table[] = [];
afterEach(() => {
  for (const table of tables.splice(0)) table.close();
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), "ukv-snapshot-"));
  dirs.push(dir);
  return dir;
}

function newTable(): Table {
  const table = Table.create();
  tables.push(table);
  return table;
}

const encoder = new TextEncoder();
const metadata = encoder.encode("conf-state");

function fill(table: Table, count: number, tag: string): void {
  for (let start = 0; start < count; start += 10_000) {
    const ops: TableOp[] = [];
    for (let i = start; i < Math.min(count, start + 10_000); i++) {
      ops.push({ kind: "set", key: encoder.encode(`key-${i}`), value: encoder.encode(`${tag}-${i}`) });
    }
    table.applyBatch(ops);
  }
}

/** A pino logger that keeps every line it writes. */
function capturingLogger(): { logger: pino.Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const logger = pino({ base: undefined }, { write: (line: string) => lines.push(JSON.parse(line) as Record<string, unknown>) });
  return { logger, lines };
}

async function rejection(promise: Promise<unknown>): Promise<UkvError> {
  try {
    await promise;
  } catch (error) {
    if (isUkvError(error)) return error;
    throw error;
  }
  throw new Error("Expected a rejection");
}

test("a 1,000,000-key table round-trips through a snapshot file with its index, term and metadata", async () => {
  const keyCount = 1_000_000;
  const source = newTable();
  fill(source, keyCount, "v");
  const store = new SnapshotStore(tempDir());
  const saved = await store.save(source, { index: 123_456, term: 7, metadata });
  expect(saved.path.endsWith(snapshotFileName(123_456, 7))).toBe(true);
  expect(saved.sizeBytes).toBeGreaterThan(keyCount * 16);

  const loaded = newTable();
  loaded.set(encoder.encode("stale"), encoder.encode("gone after load"));
  const info = await store.load(saved.path, loaded);
  expect(info.index).toBe(123_456);
  expect(info.term).toBe(7);
  expect(info.metadata).toEqual(metadata);
  expect(info.sizeBytes).toBe(saved.sizeBytes);
  expect(loaded.count()).toBe(keyCount);
  expect(loaded.get(encoder.encode("stale"))).toBeNull();
  let mismatchCount = 0;
  for (let start = 0; start < keyCount; start += 10_000) {
    const keys = Array.from({ length: 10_000 }, (_, offset) => encoder.encode(`key-${start + offset}`));
    const values = loaded.getMany(keys);
    values.forEach((value, offset) => {
      if (value === null || new TextDecoder().decode(value) !== `v-${start + offset}`) mismatchCount++;
    });
  }
  expect(mismatchCount).toBe(0);
}, 30_000);

test("snapshots are stable: the same table, or the same op history, gives identical bytes", async () => {
  const first = newTable();
  const second = newTable();
  fill(first, 20_000, "x");
  fill(second, 20_000, "x");
  for (let i = 0; i < 20_000; i += 3) {
    first.delete(encoder.encode(`key-${i}`));
    second.delete(encoder.encode(`key-${i}`));
  }
  const storeA = new SnapshotStore(tempDir());
  const storeB = new SnapshotStore(tempDir());
  const storeC = new SnapshotStore(tempDir());
  const a = await storeA.save(first, { index: 10, term: 1, metadata });
  const b = await storeB.save(first, { index: 10, term: 1, metadata });
  const c = await storeC.save(second, { index: 10, term: 1, metadata });
  const bytesA = readFileSync(a.path);
  expect(readFileSync(b.path).equals(bytesA)).toBe(true);
  expect(readFileSync(c.path).equals(bytesA)).toBe(true);
  // And the order on disk is the table's own slot order.
  expect(first.entries().length).toBe(first.count());
});

test("a corrupt byte in the newest snapshot makes loadLatest report snapshot_corrupt and use the previous one", async () => {
  const dir = tempDir();
  const { logger, lines } = capturingLogger();
  const store = new SnapshotStore(dir, { logger });
  const table = newTable();
  fill(table, 1_000, "old");
  await store.save(table, { index: 100, term: 1, metadata });
  fill(table, 1_000, "new");
  const newest = await store.save(table, { index: 200, term: 2, metadata });
  expect(store.latest()?.index).toBe(200);

  const bytes = readFileSync(newest.path);
  const flipOffset = Math.floor(bytes.length / 2);
  bytes[flipOffset] = (bytes[flipOffset] as number) ^ 0x40;
  writeFileSync(newest.path, bytes);

  const restored = newTable();
  const info = await store.loadLatest(restored);
  expect(info?.index).toBe(100);
  expect(new TextDecoder().decode(restored.get(encoder.encode("key-5")) as Uint8Array)).toBe("old-5");
  const report = lines.find((line) => line.event === "snapshot_corrupt");
  expect(report?.path).toBe(newest.path);
  expect(typeof report?.offset).toBe("number");

  // load() of the corrupt file throws, and leaves the table as it was.
  const error = await rejection(store.load(newest.path, restored));
  expect(error.code).toBe("SNAPSHOT_CORRUPT");
  expect(restored.count()).toBe(1_000);
});

test("a truncated snapshot is SNAPSHOT_CORRUPT naming the file and the offset where it ends", async () => {
  const dir = tempDir();
  const { logger, lines } = capturingLogger();
  const store = new SnapshotStore(dir, { logger });
  const table = newTable();
  fill(table, 5_000, "t");
  const saved = await store.save(table, { index: 9, term: 3, metadata });
  const cutSizeBytes = saved.sizeBytes - 1_000;
  truncateSync(saved.path, cutSizeBytes);
  const error = await rejection(store.load(saved.path, newTable()));
  expect(error.code).toBe("SNAPSHOT_CORRUPT");
  expect(error.data.path).toBe(saved.path);
  expect(error.data.offset).toBe(cutSizeBytes);
  expect(error.message).toContain(saved.path);

  // Cut inside the header: list() skips it, loadLatest reports it and finds nothing good.
  truncateSync(saved.path, 20);
  expect(store.list()).toEqual([]);
  const target = newTable();
  target.set(encoder.encode("k"), encoder.encode("v"));
  expect(await store.loadLatest(target)).toBeNull();
  expect(target.count()).toBe(0);
  expect(lines.find((line) => line.event === "snapshot_corrupt")?.offset).toBe(20);
});

test("save keeps the newest keepCount snapshots, newest first, and removes older ones", async () => {
  const dir = tempDir();
  const store = new SnapshotStore(dir, { keepCount: 3 });
  const table = newTable();
  for (let index = 1; index <= 6; index++) {
    table.set(encoder.encode(`k${index}`), encoder.encode("v"));
    await store.save(table, { index: index * 10, term: index, metadata });
  }
  expect(store.list().map((info) => info.index)).toEqual([60, 50, 40]);
  expect(readdirSync(dir).sort()).toEqual([snapshotFileName(40, 4), snapshotFileName(50, 5), snapshotFileName(60, 6)]);
  // Saves issued together run one after the other and all land.
  await Promise.all([7, 8, 9].map((index) => store.save(table, { index: index * 10, term: index, metadata })));
  expect(store.list().map((info) => info.index)).toEqual([90, 80, 70]);
  expect(new SnapshotStore(tempDir()).latest()).toBeNull();
});

test("createIncoming writes chunks and verifies a received snapshot, kept apart until installReceived; a bad one is refused and leaves nothing", async () => {
  const source = new SnapshotStore(tempDir());
  const table = newTable();
  fill(table, 10_000, "net");
  const saved = await source.save(table, { index: 77, term: 4, metadata });
  const bytes = readFileSync(saved.path);

  const receiverDir = tempDir();
  const receiver = new SnapshotStore(receiverDir);
  const incoming = receiver.createIncoming({ index: 77, term: 4 });
  for (let offset = 0; offset < bytes.length; offset += 4096) await incoming.write(bytes.subarray(offset, offset + 4096));
  const info = await incoming.finish();
  expect(info.index).toBe(77);
  expect(info.metadata).toEqual(metadata);
  expect(readFileSync(info.path).equals(bytes)).toBe(true);
  // Received, not installed: none of the group's snapshots, so a restart would not open from it.
  expect(receiver.latest()).toBeNull();
  expect(readdirSync(receiverDir)).toEqual([receivedSnapshotFileName(77, 4)]);
  const installed = await receiver.installReceived(77, 4);
  expect(installed.path).toBe(join(receiverDir, snapshotFileName(77, 4)));
  expect(readdirSync(receiverDir)).toEqual([snapshotFileName(77, 4)]);
  const loaded = newTable();
  expect((await receiver.loadLatest(loaded))?.index).toBe(77);
  expect(loaded.count()).toBe(10_000);
  expect((await rejection(receiver.installReceived(78, 4))).code).toBe("SNAPSHOT_CORRUPT");

  // Announced as a different index: refused.
  const wrong = receiver.createIncoming({ index: 78, term: 4 });
  await wrong.write(bytes);
  expect((await rejection(wrong.finish())).code).toBe("SNAPSHOT_CORRUPT");
  // Damaged in transit: refused.
  const damaged = Uint8Array.from(bytes);
  damaged[100] = (damaged[100] as number) ^ 1;
  const bad = receiver.createIncoming({ index: 79, term: 4 });
  await bad.write(damaged);
  expect((await rejection(bad.finish())).code).toBe("SNAPSHOT_CORRUPT");
  // Aborted: its temp file goes.
  const aborted = receiver.createIncoming({ index: 80, term: 4 });
  await aborted.write(bytes.subarray(0, 100));
  aborted.abort();
  for (let attempt = 0; attempt < 100 && readdirSync(receiverDir).length > 1; attempt++) await Bun.sleep(10);
  expect(readdirSync(receiverDir)).toEqual([snapshotFileName(77, 4)]);
});

test("received snapshots never installed go at a restart, and once a snapshot at or past them is saved", async () => {
  const source = new SnapshotStore(tempDir());
  const table = newTable();
  fill(table, 100, "net");
  const receiverDir = tempDir();
  const receiver = new SnapshotStore(receiverDir);
  const receive = async (index: number): Promise<void> => {
    const bytes = readFileSync((await source.save(table, { index, term: 1, metadata })).path);
    const incoming = receiver.createIncoming({ index, term: 1 });
    await incoming.write(bytes);
    await incoming.finish();
  };
  await receive(10);
  await receive(20);
  await receiver.save(table, { index: 15, term: 1, metadata });
  expect(readdirSync(receiverDir).sort()).toEqual([snapshotFileName(15, 1), receivedSnapshotFileName(20, 1)]);
  new SnapshotStore(receiverDir);
  expect(readdirSync(receiverDir)).toEqual([snapshotFileName(15, 1)]);
});

const canMountTmpfs = process.platform === "linux" && process.getuid?.() === 0 && existsSync("/usr/bin/mount");

// A full disk needs a small filesystem: a 1 MiB tmpfs, which needs root. Skipped otherwise.
test.skipIf(!canMountTmpfs)("a full disk gives DISK_FULL, removes the temp file and keeps older snapshots", async () => {
  const dir = join(tempDir(), "small");
  mkdirSync(dir);
  const mounted = Bun.spawnSync(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", dir]);
  if (mounted.exitCode !== 0) throw new Error(`mount failed: ${mounted.stderr.toString()}`);
  try {
    const store = new SnapshotStore(dir);
    const table = newTable();
    fill(table, 100, "small");
    const kept = await store.save(table, { index: 1, term: 1, metadata });
    fill(table, 100_000, "big");
    const error = await rejection(store.save(table, { index: 2, term: 1, metadata }));
    expect(error.code).toBe("DISK_FULL");
    expect(readdirSync(dir)).toEqual([snapshotFileName(1, 1)]);
    const restored = newTable();
    expect((await store.loadLatest(restored))?.path).toBe(kept.path);
    expect(restored.count()).toBe(100);
  } finally {
    Bun.spawnSync(["umount", dir]);
  }
});
