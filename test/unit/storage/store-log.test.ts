// The store log's rules, checked through its public face against a plain model of many Raft logs:
// interleaved groups recovered exactly, Raft's suffix replacement, reset, compaction, removal,
// newest hard state, group commit across groups, records split at the size limit, space reclaimed
// by maintain() (rewriting idle groups, crash-safe in the middle of a rewrite), torn tails, malformed
// payloads, and failed writes undone so they can be retried.
import { afterEach, expect, test } from "bun:test";
import { cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, truncateSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { GroupHardState, GroupLogEntry, GroupRecovery } from "../../../src/storage/store-log.ts";
import { StoreLog } from "../../../src/storage/store-log.ts";
import { Wal } from "../../../src/storage/wal.ts";
import { isUkvError } from "../../../src/util/errors.ts";
import { storeLogSegmentCountMax } from "../../../src/util/limits.ts";
import { Prng } from "../../../src/util/prng.ts";

/** The smallest segment the Wal accepts: many segments from little data. */
const smallSegmentSizeBytes = 8192;
const dirs: string[] = [];
const openLogs: StoreLog[] = [];

afterEach(async () => {
  for (const log of openLogs.splice(0)) await log.close();
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), "ukv-store-log-"));
  dirs.push(dir);
  return dir;
}

async function openLog(dir: string, segmentSizeBytes = smallSegmentSizeBytes) {
  const opened = await StoreLog.open(dir, { segmentSizeBytes });
  openLogs.push(opened.log);
  return opened;
}

async function closeLog(log: StoreLog): Promise<void> {
  await log.close();
  openLogs.splice(openLogs.indexOf(log), 1);
}

/** Deterministic bytes per (group, index, term), so recovery is checked byte for byte. */
function entry(groupId: number, index: number, term = 1, sizeBytes = 40): GroupLogEntry {
  const data = new Uint8Array(sizeBytes);
  for (let i = 0; i < sizeBytes; i++) data[i] = (groupId * 131 + index * 31 + term * 7 + i) & 0xff;
  return { term, index, data };
}

function entries(groupId: number, from: number, to: number, term = 1, sizeBytes = 40): GroupLogEntry[] {
  const result: GroupLogEntry[] = [];
  for (let index = from; index <= to; index++) result.push(entry(groupId, index, term, sizeBytes));
  return result;
}

interface ModelGroup {
  entries: GroupLogEntry[];
  hardState: GroupHardState | null;
  lastIndex: number;
}

/**
 * What each group's log must hold, by the rules alone: no seqs, no segments. Every call goes to
 * the model and the store log together (Driver), so the model is the expected recovery.
 */
class Model {
  readonly groups = new Map<number, ModelGroup>();

  append(groupId: number, batch: { entries: GroupLogEntry[]; hardState?: GroupHardState }): void {
    if (batch.entries.length === 0 && batch.hardState === undefined) return;
    const group = this.#group(groupId);
    const first = batch.entries[0];
    if (first !== undefined) {
      const firstIndex = group.entries[0]?.index;
      const kept = firstIndex === undefined || first.index < firstIndex ? [] : group.entries.slice(0, first.index - firstIndex);
      group.entries = [...kept, ...batch.entries];
      group.lastIndex = batch.entries[batch.entries.length - 1]!.index;
    }
    if (batch.hardState !== undefined) group.hardState = { ...batch.hardState };
  }

  reset(groupId: number, snapshotIndex: number): void {
    const group = this.#group(groupId);
    group.entries = [];
    group.lastIndex = snapshotIndex;
  }

  compact(groupId: number, throughIndex: number): void {
    const group = this.groups.get(groupId);
    if (group !== undefined) group.entries = group.entries.filter((item) => item.index > throughIndex);
  }

  remove(groupId: number): void {
    this.groups.delete(groupId);
  }

  clone(): Model {
    const copy = new Model();
    for (const [groupId, group] of this.groups) copy.groups.set(groupId, { ...group, entries: [...group.entries] });
    return copy;
  }

  expected(): [number, GroupRecovery][] {
    return [...this.groups.entries()]
      .sort((a, b) => a[0] - b[0])
      .map(([groupId, group]) => [groupId, { entries: group.entries, hardState: group.hardState, firstIndex: group.entries[0]?.index ?? 0 }]);
  }

  #group(groupId: number): ModelGroup {
    let group = this.groups.get(groupId);
    if (group === undefined) {
      group = { entries: [], hardState: null, lastIndex: 0 };
      this.groups.set(groupId, group);
    }
    return group;
  }
}

/** Makes each call on the store log and the model together; calls are not awaited here. */
class Driver {
  log: StoreLog;
  readonly model: Model;

  constructor(log: StoreLog, model = new Model()) {
    this.log = log;
    this.model = model;
  }

  append(groupId: number, batch: { entries: GroupLogEntry[]; hardState?: GroupHardState }): Promise<void> {
    this.model.append(groupId, batch);
    return this.log.group(groupId).append(batch);
  }

  reset(groupId: number, snapshotIndex: number): Promise<void> {
    this.model.reset(groupId, snapshotIndex);
    return this.log.group(groupId).reset(snapshotIndex);
  }

  compact(groupId: number, throughIndex: number): Promise<void> {
    this.model.compact(groupId, throughIndex);
    return this.log.group(groupId).compact(throughIndex);
  }

  remove(groupId: number): Promise<void> {
    this.model.remove(groupId);
    return this.log.group(groupId).remove();
  }
}

function sortedRecovery(recovery: Map<number, GroupRecovery>): [number, GroupRecovery][] {
  return [...recovery.entries()].sort((a, b) => a[0] - b[0]);
}

/** Reopens `dir` and checks that it recovers exactly the model, last indexes included. */
async function reopenAndCheck(dir: string, model: Model, segmentSizeBytes = smallSegmentSizeBytes): Promise<StoreLog> {
  const { log, recovery } = await openLog(dir, segmentSizeBytes);
  expect(sortedRecovery(recovery)).toEqual(model.expected());
  expect(log.groupIds()).toEqual(model.expected().map(([groupId]) => groupId));
  for (const [groupId, group] of model.groups) expect(log.group(groupId).lastIndex()).toBe(group.lastIndex);
  return log;
}

async function expectRejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error("expected a rejection");
}

function segmentFiles(dir: string): string[] {
  return readdirSync(dir)
    .filter((name) => name.startsWith("wal-"))
    .sort();
}

interface RecordPosition {
  offset: number;
  end: number;
  seq: number;
}

/** The records of one segment file, by walking the Wal's length words (layout: native/wal.h). */
function recordPositions(file: string): RecordPosition[] {
  const bytes = readFileSync(file);
  const positions: RecordPosition[] = [];
  let offset = 0;
  while (offset + 25 <= bytes.byteLength) {
    const length = bytes.readUInt32LE(offset);
    if (length === 0) break;
    const seq = bytes.readUInt32LE(offset + 17) + bytes.readUInt32LE(offset + 21) * 2 ** 32;
    positions.push({ offset, end: offset + 8 + length, seq });
    offset += 8 + length;
  }
  return positions;
}

test("groups appending interleaved, group 0 included, are each recovered exactly after reopen", async () => {
  const dir = tempDir();
  const { log, recovery } = await openLog(dir);
  expect(recovery.size).toBe(0);
  const driver = new Driver(log);
  const groupIds = [0, 1, 2, 17, 4_000_000_000, Number.MAX_SAFE_INTEGER];
  for (let round = 1; round <= 12; round++) {
    const calls = groupIds.map((groupId, position) => {
      const hardState = round % 3 === position % 3 ? { term: round, vote: position, commit: round - 1 } : undefined;
      return driver.append(groupId, { entries: [entry(groupId, round, 1, 20 + position * 30)], hardState });
    });
    await Promise.all(calls);
  }
  expect(log.groupIds()).toEqual([...groupIds].sort((a, b) => a - b));
  await closeLog(log);
  const reopened = await reopenAndCheck(dir, driver.model);
  // Still a working log: appends continue each group.
  driver.log = reopened;
  await Promise.all(groupIds.map((groupId) => driver.append(groupId, { entries: [entry(groupId, 13)] })));
  await closeLog(reopened);
  await reopenAndCheck(dir, driver.model);
});

test("an entry at index i replaces the group's entries from i on, and no other group's (log matching)", async () => {
  const dir = tempDir();
  const { log } = await openLog(dir);
  const driver = new Driver(log);
  await driver.append(1, { entries: entries(1, 1, 10) });
  await driver.append(2, { entries: entries(2, 1, 10) });
  await driver.append(1, { entries: entries(1, 6, 7, 2) });
  expect(log.group(1).lastIndex()).toBe(7);
  expect(log.group(2).lastIndex()).toBe(10);
  // Below the first entry: the log starts over.
  await driver.compact(2, 4);
  await driver.append(2, { entries: entries(2, 3, 4, 3) });
  expect(log.group(2).lastIndex()).toBe(4);
  // A gap is refused and changes nothing.
  const gap = await expectRejection(log.group(1).append({ entries: [entry(1, 9, 2)] }));
  expect(isUkvError(gap, "BAD_REQUEST")).toBe(true);
  const notConsecutive = await expectRejection(log.group(1).append({ entries: [entry(1, 8, 2), entry(1, 10, 2)] }));
  expect(isUkvError(notConsecutive, "BAD_REQUEST")).toBe(true);
  expect(log.group(1).lastIndex()).toBe(7);
  await closeLog(log);
  const reopened = await reopenAndCheck(dir, driver.model);
  const group1 = driver.model.groups.get(1)!;
  expect(group1.entries.map((item) => [item.index, item.term])).toEqual([1, 2, 3, 4, 5, 6, 7].map((index) => [index, index >= 6 ? 2 : 1]));
  await closeLog(reopened);
});

test("reset drops every entry of the group and its log restarts after the snapshot index", async () => {
  const dir = tempDir();
  const { log } = await openLog(dir);
  const driver = new Driver(log);
  await driver.append(3, { entries: entries(3, 1, 8), hardState: { term: 1, vote: 1, commit: 8 } });
  await driver.append(4, { entries: entries(4, 1, 3) });
  await driver.reset(3, 100);
  expect(log.group(3).lastIndex()).toBe(100);
  await closeLog(log);
  // Reset with nothing after it: no entries, but the position and the hard state survive.
  const reopened = await reopenAndCheck(dir, driver.model);
  expect(driver.model.groups.get(3)!.hardState).toEqual({ term: 1, vote: 1, commit: 8 });
  driver.log = reopened;
  await driver.append(3, { entries: entries(3, 101, 103, 2) });
  await driver.reset(4, 0);
  await closeLog(reopened);
  await reopenAndCheck(dir, driver.model);
});

test("compact drops the group's entries through the index; past the last index it is refused", async () => {
  const dir = tempDir();
  const { log } = await openLog(dir);
  const driver = new Driver(log);
  await driver.append(5, { entries: entries(5, 1, 10) });
  await driver.compact(5, 4);
  await driver.compact(5, 2); // below the first entry: nothing to do
  const tooFar = await expectRejection(log.group(5).compact(11));
  expect(isUkvError(tooFar, "BAD_REQUEST")).toBe(true);
  await driver.append(6, { entries: entries(6, 1, 3) });
  await driver.compact(6, 3); // every entry: the log is empty, its last index stays
  expect(log.group(6).lastIndex()).toBe(3);
  await closeLog(log);
  const reopened = await reopenAndCheck(dir, driver.model);
  expect(driver.model.groups.get(5)!.entries[0]!.index).toBe(5);
  driver.log = reopened;
  await driver.append(6, { entries: entries(6, 4, 5) });
  await closeLog(reopened);
  await reopenAndCheck(dir, driver.model);
});

test("remove forgets the group durably; its handle is unusable and its id can start a new group", async () => {
  const dir = tempDir();
  const { log } = await openLog(dir);
  const driver = new Driver(log);
  await driver.append(7, { entries: entries(7, 1, 5), hardState: { term: 2, vote: 7, commit: 5 } });
  await driver.append(8, { entries: entries(8, 1, 5) });
  const removed = log.group(7);
  expect(log.group(7)).toBe(removed);
  await driver.remove(7);
  expect(log.groupIds()).toEqual([8]);
  expect(isUkvError(await expectRejection(removed.append({ entries: [entry(7, 6)] })), "CLOSED")).toBe(true);
  expect(() => removed.lastIndex()).toThrow();
  await closeLog(log);
  const reopened = await reopenAndCheck(dir, driver.model);
  driver.log = reopened;
  // The same id again: a new group with nothing of the old one.
  await driver.append(7, { entries: entries(7, 1, 2, 5) });
  await closeLog(reopened);
  const again = await reopenAndCheck(dir, driver.model);
  expect(driver.model.groups.get(7)!.hardState).toBeNull();
  await closeLog(again);
});

test("the newest hard state wins, whether alone or with entries", async () => {
  const dir = tempDir();
  const { log } = await openLog(dir);
  const driver = new Driver(log);
  const calls = [
    driver.append(9, { entries: entries(9, 1, 2), hardState: { term: 1, vote: 1, commit: 1 } }),
    driver.append(9, { entries: [], hardState: { term: 2, vote: 3, commit: 1 } }),
    driver.append(9, { entries: [entry(9, 3, 2)] }),
    driver.append(10, { entries: [], hardState: { term: 1, vote: 0, commit: 0 } }),
  ];
  await Promise.all(calls);
  await closeLog(log);
  const reopened = await reopenAndCheck(dir, driver.model);
  expect(driver.model.groups.get(9)!.hardState).toEqual({ term: 2, vote: 3, commit: 1 });
  expect(driver.model.groups.get(10)!.entries).toEqual([]);
  await closeLog(reopened);
});

test("200 groups appending in the same turn share a few fdatasyncs", async () => {
  const dir = tempDir();
  const { log } = await openLog(dir, 4 * 1024 * 1024);
  const driver = new Driver(log);
  const groupCount = 200;
  const before = log.stats();
  for (let round = 1; round <= 3; round++) {
    const calls: Promise<void>[] = [];
    for (let groupId = 0; groupId < groupCount; groupId++) {
      calls.push(driver.append(groupId, { entries: [entry(groupId, round, 1, 100)], hardState: { term: 1, vote: 1, commit: round } }));
    }
    await Promise.all(calls);
  }
  const after = log.stats();
  const appendCount = after.appendCount - before.appendCount;
  const syncCount = after.syncCount - before.syncCount;
  expect(appendCount).toBe(3 * groupCount);
  expect(syncCount).toBeGreaterThan(0);
  expect(syncCount).toBeLessThan(appendCount / 10);
  await closeLog(log);
  const reopened = await reopenAndCheck(dir, driver.model, 4 * 1024 * 1024);
  await closeLog(reopened);
});

test("an append too large for one record is split into several, all durable when it resolves", async () => {
  const dir = tempDir();
  const { log } = await openLog(dir);
  const driver = new Driver(log);
  // 3000-byte entries: two fit one record of an 8 KiB segment, so ten take five records or more.
  await driver.append(11, { entries: entries(11, 1, 10, 1, 3000), hardState: { term: 1, vote: 11, commit: 10 } });
  await driver.append(11, { entries: entries(11, 4, 6, 2, 3000) });
  expect(log.stats().segmentCount).toBeGreaterThan(2);
  // One entry alone over the limit is refused whole, before anything changes.
  const tooLarge = await expectRejection(log.group(11).append({ entries: [entry(11, 7, 2, 3000), entry(11, 8, 2, smallSegmentSizeBytes)] }));
  expect(isUkvError(tooLarge, "RECORD_TOO_LARGE")).toBe(true);
  expect(log.group(11).lastIndex()).toBe(6);
  await closeLog(log);
  const reopened = await reopenAndCheck(dir, driver.model);
  await closeLog(reopened);
});

/** Busy groups append and compact to their last two entries; returns after `roundCount` rounds. */
async function churn(driver: Driver, groupIds: number[], roundCount: number, sizeBytes = 500): Promise<void> {
  for (let round = 0; round < roundCount; round++) {
    const calls: Promise<void>[] = [];
    for (const groupId of groupIds) {
      const next = driver.log.group(groupId).lastIndex() + 1;
      calls.push(driver.append(groupId, { entries: [entry(groupId, next, 1, sizeBytes)], hardState: { term: 1, vote: 1, commit: next } }));
      if (next > 2) calls.push(driver.compact(groupId, next - 2));
    }
    await Promise.all(calls);
  }
}

test("maintain() deletes the segments no group needs and rewrites the idle groups that pin the oldest", async () => {
  const dir = tempDir();
  const { log } = await openLog(dir);
  const driver = new Driver(log);
  // Idle from the start: a small group, the metadata group with only a hard state, a group whose
  // live entries need several records, and a group whose log is empty after a reset.
  await driver.append(70, { entries: entries(70, 1, 3), hardState: { term: 3, vote: 70, commit: 2 } });
  await driver.append(0, { entries: [], hardState: { term: 5, vote: 0, commit: 0 } });
  await driver.append(90, { entries: entries(90, 1, 6, 1, 3000) });
  await driver.reset(91, 40);
  await churn(driver, [1, 2, 3], 60);
  const segmentsBefore = segmentFiles(dir);
  expect(segmentsBefore.length).toBeGreaterThan(storeLogSegmentCountMax + 2);
  const appendCountBefore = log.stats().appendCount;

  await log.maintain();
  const segmentsAfter = segmentFiles(dir);
  // Left: the newest segment(s) of the busy groups, and the rewritten ~20 KiB.
  expect(segmentsAfter.length).toBeLessThanOrEqual(storeLogSegmentCountMax + 1);
  expect(segmentsAfter.filter((name) => segmentsBefore.includes(name)).length).toBeLessThanOrEqual(2);
  expect(log.stats().segmentCount).toBe(segmentsAfter.length);
  // One rewrite per idle group: 70, 0, 90 and 91.
  expect(log.stats().appendCount - appendCountBefore).toBe(4);
  // Right after, the segments over the limit free less than group 90 would rewrite: no rewrite
  // loop (the store calls maintain() every tick).
  for (let call = 0; call < 5; call++) await log.maintain();
  expect(log.stats().appendCount - appendCountBefore).toBeLessThanOrEqual(4 + 3);
  await closeLog(log);
  const reopened = await reopenAndCheck(dir, driver.model);

  // Rewritten groups keep working, and are rewritten again when they pin old segments again.
  driver.log = reopened;
  await driver.append(90, { entries: [entry(90, 7, 1, 3000)] });
  await churn(driver, [1, 2, 3], 60);
  const segmentsBeforeAgain = segmentFiles(dir);
  await reopened.maintain();
  // Group 90's 21 KiB now take four records, one a segment at this tiny size: more are left.
  expect(segmentFiles(dir).length).toBeLessThanOrEqual(storeLogSegmentCountMax + 3);
  expect(segmentFiles(dir).length).toBeLessThan(segmentsBeforeAgain.length / 2);
  expect(segmentFiles(dir)).not.toContain(segmentsBeforeAgain[0]);
  await closeLog(reopened);
  const again = await reopenAndCheck(dir, driver.model);
  await closeLog(again);
});

test("maintain() below the segment limit only deletes what no group needs, and rewrites nothing", async () => {
  const dir = tempDir();
  const { log } = await openLog(dir);
  const driver = new Driver(log);
  await churn(driver, [1, 2], 12);
  const segmentsBefore = segmentFiles(dir);
  expect(segmentsBefore.length).toBeGreaterThan(1);
  expect(segmentsBefore.length).toBeLessThanOrEqual(storeLogSegmentCountMax);
  const appendCountBefore = log.stats().appendCount;
  await log.maintain();
  expect(log.stats().appendCount).toBe(appendCountBefore);
  expect(segmentFiles(dir).length).toBeLessThan(segmentsBefore.length);
  // A second run finds nothing more to do.
  const segmentsBetween = segmentFiles(dir);
  await log.maintain();
  expect(segmentFiles(dir)).toEqual(segmentsBetween);
  await closeLog(log);
  const reopened = await reopenAndCheck(dir, driver.model);
  await closeLog(reopened);
});

test("a crash in the middle of a rewrite (old copies still on disk) recovers the same logs", async () => {
  const dir = tempDir();
  const { log } = await openLog(dir);
  const driver = new Driver(log);
  // Group 90's live entries take three records: its rewrite is three COPIES records.
  await driver.append(90, { entries: entries(90, 1, 6, 1, 3000), hardState: { term: 1, vote: 90, commit: 6 } });
  await churn(driver, [1, 2, 3], 60);
  const before = tempDir();
  cpSync(dir, before, { recursive: true });
  await log.maintain();
  await closeLog(log);

  // Every segment that ever existed, newest version: `before` has those maintain() deleted, `dir`
  // the rewrite records (appended to the segment active at the copy, or in new segments).
  const files = new Map<string, string>();
  for (const name of segmentFiles(before)) files.set(name, join(before, name));
  for (const name of segmentFiles(dir)) files.set(name, join(dir, name));
  const names = [...files.keys()].sort();
  const lastSeqBefore = Math.max(...segmentFiles(before).flatMap((name) => recordPositions(join(before, name)).map((record) => record.seq)));
  const cuts: { name: string; cut: number }[] = [];
  for (const name of names) {
    for (const record of recordPositions(files.get(name)!)) {
      if (record.seq <= lastSeqBefore) continue;
      cuts.push({ name, cut: record.offset + 30 }, { name, cut: record.end });
    }
  }
  expect(cuts.length).toBeGreaterThanOrEqual(6);
  for (const [position, { name, cut }] of cuts.entries()) {
    const crashed = tempDir();
    for (const other of names.filter((candidate) => candidate < name)) cpSync(files.get(other)!, join(crashed, other));
    cpSync(files.get(name)!, join(crashed, name));
    truncateSync(join(crashed, name), cut);
    const reopened = await reopenAndCheck(crashed, driver.model);
    if (position === Math.floor(cuts.length / 2)) {
      // Reclaiming space from the half-rewritten state must not lose what the old copies hold.
      const crashedDriver = new Driver(reopened, driver.model.clone());
      await churn(crashedDriver, [1, 2, 3], 60);
      await reopened.maintain();
      await closeLog(reopened);
      const again = await reopenAndCheck(crashed, crashedDriver.model);
      await closeLog(again);
    } else {
      await closeLog(reopened);
    }
    rmSync(crashed, { recursive: true, force: true });
  }
}, 60_000);

/**
 * Random calls of 12 groups, one call per group per turn (a Raft group awaits its own writes),
 * maintain() now and then, reopen now and then, each time checked against the model. With
 * failures, some turns' Wal writes fail (EIO or ENOSPC, after 0-3 good writes): the calls that
 * fail are retried until they succeed, as the group runtime does; the model takes each call once.
 */
async function runRandomCalls(seed: number, options: { withFailures: boolean; turnCount: number }): Promise<void> {
  const prng = new Prng(seed);
  const dir = tempDir();
  const segmentSizeBytes = [smallSegmentSizeBytes, 12 * 1024, 64 * 1024][prng.nextInt(3)]!;
  const driver = new Driver((await openLog(dir, segmentSizeBytes)).log);
  const groupIds = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11];
  let failedCallCount = 0;
  for (let turn = 0; turn < options.turnCount; turn++) {
    if (options.withFailures && prng.chance(0.08)) {
      driver.log.testOnlyFailNextWrite(prng.chance(0.5) ? "EIO" : "ENOSPC", { skipWriteCount: prng.nextInt(4) });
    }
    const calls = new Map<number, (log: StoreLog) => Promise<void>>();
    for (let callIndex = 1 + prng.nextInt(8); callIndex > 0; callIndex--) {
      const groupId = groupIds[prng.nextInt(groupIds.length)]!;
      if (!calls.has(groupId)) calls.set(groupId, randomCall(prng, driver, groupId, turn));
    }
    // A maintain() that meets a failure reports it and deletes nothing; the next one does.
    const maintained = (prng.chance(0.15) ? driver.log.maintain() : Promise.resolve()).catch((error: unknown) => {
      expect(options.withFailures && (isUkvError(error, "IO_ERROR") || isUkvError(error, "DISK_FULL"))).toBe(true);
    });
    let pending = [...calls.values()];
    for (let attemptIndex = 0; pending.length > 0; attemptIndex++) {
      expect(attemptIndex).toBeLessThan(20);
      const outcomes = await Promise.allSettled(pending.map((call) => call(driver.log)));
      const failed: typeof pending = [];
      for (const [position, outcome] of outcomes.entries()) {
        if (outcome.status === "fulfilled") continue;
        expect(options.withFailures).toBe(true);
        expect(isUkvError(outcome.reason, "IO_ERROR") || isUkvError(outcome.reason, "DISK_FULL"), String(outcome.reason)).toBe(true);
        failed.push(pending[position]!);
      }
      failedCallCount += failed.length;
      pending = failed;
    }
    await maintained;
    if (turn % 100 === 99 || prng.chance(0.02)) {
      await closeLog(driver.log);
      driver.log = await reopenAndCheck(dir, driver.model, segmentSizeBytes);
    }
  }
  if (options.withFailures) expect(failedCallCount).toBeGreaterThan(0);
  await driver.log.maintain();
  await closeLog(driver.log);
  const reopened = await reopenAndCheck(dir, driver.model, segmentSizeBytes);
  await closeLog(reopened);
}

/** One random call of a group: told to the model now, made on the log (each attempt) by the caller. */
function randomCall(prng: Prng, driver: Driver, groupId: number, turn: number): (log: StoreLog) => Promise<void> {
  const lastIndex = driver.log.group(groupId).lastIndex();
  const roll = prng.nextInt(100);
  if (roll < 60) {
    // Usually the next index; sometimes a conflict a few entries back; sometimes a large entry.
    const from = Math.max(1, lastIndex + 1 - (prng.chance(0.2) ? prng.nextInt(4) : 0));
    const term = 1 + Math.floor(turn / 50);
    const batch = entries(groupId, from, from + prng.nextInt(5) - 1, term, 1 + prng.nextInt(prng.chance(0.1) ? 7000 : 900));
    const hardState = prng.chance(0.4) ? { term, vote: prng.nextInt(3), commit: Math.max(0, from - 1) } : undefined;
    driver.model.append(groupId, { entries: batch, hardState });
    return (log) => log.group(groupId).append({ entries: batch, hardState });
  }
  if (roll < 82) {
    const throughIndex = prng.nextInt(lastIndex + 1);
    driver.model.compact(groupId, throughIndex);
    return (log) => log.group(groupId).compact(throughIndex);
  }
  if (roll < 86) {
    const snapshotIndex = lastIndex + prng.nextInt(5);
    driver.model.reset(groupId, snapshotIndex);
    return (log) => log.group(groupId).reset(snapshotIndex);
  }
  if (roll < 89) {
    driver.model.remove(groupId);
    return (log) => log.group(groupId).remove();
  }
  const hardState = { term: turn, vote: groupId, commit: 0 };
  driver.model.append(groupId, { entries: [], hardState });
  return (log) => log.group(groupId).append({ entries: [], hardState });
}

test("random calls of many groups, maintain() and reopen in between, recover exactly the model (seed 7)", async () => {
  await runRandomCalls(7, { withFailures: false, turnCount: 400 });
}, 60_000);

test("random calls with failed Wal writes, retried, recover exactly the model (seed 11)", async () => {
  await runRandomCalls(11, { withFailures: true, turnCount: 300 });
}, 60_000);

test("a torn last record is cut off: the log recovers the records before it, and stays appendable", async () => {
  const source = tempDir();
  const { log } = await openLog(source, 64 * 1024);
  const driver = new Driver(log);
  // One record per call, so the model after k calls is the expected recovery of k whole records.
  const expectedAfter: [number, GroupRecovery][][] = [driver.model.expected()];
  const calls: (() => Promise<void>)[] = [
    () => driver.append(1, { entries: entries(1, 1, 3) }),
    () => driver.append(2, { entries: entries(2, 1, 2), hardState: { term: 1, vote: 2, commit: 1 } }),
    () => driver.append(1, { entries: entries(1, 2, 4, 2, 100) }),
    () => driver.compact(2, 1),
    () => driver.append(2, { entries: [], hardState: { term: 2, vote: 2, commit: 2 } }),
    () => driver.reset(1, 9),
  ];
  for (const call of calls) {
    await call();
    expectedAfter.push(structuredClone(driver.model.expected()));
  }
  await closeLog(log);
  const [segment] = segmentFiles(source);
  const records = recordPositions(join(source, segment!));
  expect(records.length).toBe(calls.length);
  const cutPoints = new Set<number>();
  for (const record of records.slice(-3)) {
    for (const delta of [0, 1, 8, 24, 26, 40]) if (record.offset + delta < record.end) cutPoints.add(record.offset + delta);
    cutPoints.add(record.end - 1);
    cutPoints.add(record.end);
  }
  for (const cut of [...cutPoints].sort((a, b) => a - b)) {
    const dir = tempDir();
    cpSync(source, dir, { recursive: true });
    truncateSync(join(dir, segment!), cut);
    const wholeCount = records.filter((record) => record.end <= cut).length;
    const { log: reopened, recovery } = await openLog(dir, 64 * 1024);
    expect(sortedRecovery(recovery)).toEqual(expectedAfter[wholeCount]!);
    const next = reopened.group(3).lastIndex() + 1;
    await reopened.group(3).append({ entries: [entry(3, next)] });
    await closeLog(reopened);
    const { log: again, recovery: recoveredAgain } = await openLog(dir, 64 * 1024);
    expect(recoveredAgain.get(3)?.entries).toEqual([entry(3, next)]);
    expect(sortedRecovery(recoveredAgain).filter(([groupId]) => groupId !== 3)).toEqual(expectedAfter[wholeCount]!);
    await closeLog(again);
    rmSync(dir, { recursive: true, force: true });
  }
}, 30_000);

/** Little-endian payload bytes by hand, as the store log's header comment lays them out. */
function payload(parts: ({ u8: number } | { u32: number } | { u64: number } | { bytes: number[] })[]): Uint8Array {
  const bytes: number[] = [];
  for (const part of parts) {
    if ("u8" in part) bytes.push(part.u8);
    else if ("u32" in part) for (let i = 0; i < 4; i++) bytes.push(Math.floor(part.u32 / 2 ** (8 * i)) & 0xff);
    else if ("u64" in part) for (let i = 0; i < 8; i++) bytes.push(Math.floor(part.u64 / 2 ** (8 * i)) & 0xff);
    else bytes.push(...part.bytes);
  }
  return new Uint8Array(bytes);
}

test("a malformed payload is WAL_CORRUPT naming its seq", async () => {
  const source = tempDir();
  const { log } = await openLog(source);
  await log.group(1).append({ entries: entries(1, 1, 3) });
  await closeLog(log);
  // A valid ENTRIES record of group 1 at index 4, then damaged copies of it.
  const valid = payload([{ u8: 1 }, { u8: 2 }, { u64: 1 }, { u32: 1 }, { u64: 4 }, { u64: 1 }, { u32: 2 }, { bytes: [7, 7] }]);
  const cases: { why: string; data: Uint8Array; term?: number }[] = [
    { why: "unknown version", data: Uint8Array.from([9, ...valid.subarray(1)]) },
    { why: "no section flag", data: Uint8Array.from([1, 0, ...valid.subarray(2, 10)]) },
    { why: "unknown section flag", data: Uint8Array.from([1, 64 | 2, ...valid.subarray(2)]) },
    { why: "REMOVE with entries", data: Uint8Array.from([1, 32 | 2, ...valid.subarray(2)]) },
    { why: "COPIES without ENTRIES", data: payload([{ u8: 1 }, { u8: 4 }, { u64: 1 }]) },
    { why: "cut inside the group id", data: valid.subarray(0, 6) },
    { why: "cut inside entry data", data: valid.subarray(0, valid.byteLength - 1) },
    { why: "zero entries", data: payload([{ u8: 1 }, { u8: 2 }, { u64: 1 }, { u32: 0 }, { u64: 4 }]) },
    { why: "bytes after the last section", data: Uint8Array.from([...valid, 0]) },
    { why: "an index over 2^53", data: payload([{ u8: 1 }, { u8: 1 }, { u64: 1 }, { u32: 0 }, { u32: 0x00400000 }]) },
    { why: "a gap in the group's log", data: payload([{ u8: 1 }, { u8: 2 }, { u64: 1 }, { u32: 1 }, { u64: 9 }, { u64: 1 }, { u32: 0 }]) },
    { why: "a Wal term other than 0", data: valid, term: 3 },
  ];
  for (const { why, data, term } of cases) {
    const dir = tempDir();
    cpSync(source, dir, { recursive: true });
    const { wal } = await Wal.open(dir, { segmentSizeBytes: smallSegmentSizeBytes });
    const seq = wal.lastIndex() + 1;
    await wal.append({ entries: [{ term: term ?? 0, index: seq, data }] });
    await wal.close();
    const error = await expectRejection(StoreLog.open(dir, { segmentSizeBytes: smallSegmentSizeBytes }));
    expect(isUkvError(error, "WAL_CORRUPT"), why).toBe(true);
    if (!isUkvError(error)) continue;
    expect(error.data.seq, why).toBe(seq);
    expect(error.message, why).toContain(`record ${seq}`);
  }
  // The valid one is accepted: the cases fail for their damage alone.
  const dir = tempDir();
  cpSync(source, dir, { recursive: true });
  const { wal } = await Wal.open(dir, { segmentSizeBytes: smallSegmentSizeBytes });
  await wal.append({ entries: [{ term: 0, index: wal.lastIndex() + 1, data: valid }] });
  await wal.close();
  const { log: reopened, recovery } = await openLog(dir);
  expect(recovery.get(1)?.entries.map((item) => item.index)).toEqual([1, 2, 3, 4]);
  expect(recovery.get(1)?.entries[3]?.data).toEqual(Uint8Array.from([7, 7]));
  await closeLog(reopened);
});

test("a failed write is undone in every group it touched, and the same calls succeed when retried", async () => {
  const dir = tempDir();
  const { log } = await openLog(dir);
  const driver = new Driver(log);
  for (const groupId of [1, 2, 3, 4]) await driver.append(groupId, { entries: entries(groupId, 1, 3), hardState: { term: 1, vote: 1, commit: 1 } });
  const calls = (target: Driver): Promise<void>[] => [
    target.append(1, { entries: entries(1, 4, 6), hardState: { term: 2, vote: 1, commit: 4 } }),
    target.append(2, { entries: entries(2, 2, 3, 2) }),
    target.reset(3, 50),
    target.remove(4),
    target.compact(1, 2),
  ];
  log.testOnlyFailNextWrite("ENOSPC");
  // All in one turn: one Wal batch, which fails whole. A throwaway model: these calls fail.
  const outcomes = await Promise.allSettled(calls(new Driver(log)));
  for (const outcome of outcomes) {
    expect(outcome.status).toBe("rejected");
    if (outcome.status === "rejected") expect(isUkvError(outcome.reason, "DISK_FULL")).toBe(true);
  }
  for (const groupId of [1, 2, 3, 4]) expect(log.group(groupId).lastIndex()).toBe(3);
  expect(log.groupIds()).toEqual([1, 2, 3, 4]);
  // Calls that write nothing resolve: the failure belongs to the calls that failed (regression:
  // they used to get that failure again, forever, so a retry loop never ended).
  await log.group(1).append({ entries: [] });
  await log.group(1).compact(0);
  // Space is back: the same calls, retried, succeed.
  await Promise.all(calls(driver));
  await closeLog(log);
  const reopened = await reopenAndCheck(dir, driver.model);
  await closeLog(reopened);
});

test("a write failing after part of its batch is durable keeps that part and undoes the rest", async () => {
  for (const skipWriteCount of [0, 1, 2, 3, 4]) {
    const dir = tempDir();
    const { log } = await openLog(dir);
    const driver = new Driver(log);
    await churn(driver, [1, 2], 3);
    // Large enough to roll over into new segments mid-batch: part of it is committed first.
    // The model gets the calls twice, failed and retried: appending the same entries again lands
    // them in the same place (Raft's rule), so the model ends the same.
    const calls = () => [1, 2, 3, 4, 5, 6].map((groupId) => driver.append(groupId, { entries: entries(groupId, 1, 2, 7, 2500) }));
    log.testOnlyFailNextWrite("EIO", { skipWriteCount });
    const outcomes = await Promise.allSettled(calls());
    for (const groupId of [1, 2, 3, 4, 5, 6]) expect([0, 2, 3]).toContain(log.group(groupId).lastIndex());
    expect(outcomes.some((outcome) => outcome.status === "rejected")).toBe(true);
    await Promise.all(calls());
    await closeLog(log);
    const reopened = await reopenAndCheck(dir, driver.model);
    await closeLog(reopened);
  }
}, 30_000);

test("group ids and indexes are checked: bad input is BAD_REQUEST, nothing is written", async () => {
  const dir = tempDir();
  const { log } = await openLog(dir);
  expect(() => log.group(-1)).toThrow();
  expect(() => log.group(1.5)).toThrow();
  expect(isUkvError(await expectRejection(log.group(1).reset(-1)), "BAD_REQUEST")).toBe(true);
  expect(isUkvError(await expectRejection(log.group(1).append({ entries: [entry(1, 0)] })), "BAD_REQUEST")).toBe(true);
  expect(isUkvError(await expectRejection(log.group(1).append({ entries: [], hardState: { term: -1, vote: 0, commit: 0 } })), "BAD_REQUEST")).toBe(true);
  expect(log.stats().appendCount).toBe(0);
  expect(log.groupIds()).toEqual([]);
  await closeLog(log);
  expect(isUkvError(await expectRejection(log.group(1).append({ entries: [entry(1, 1)] })), "CLOSED")).toBe(true);
  expect(isUkvError(await expectRejection(log.maintain()), "CLOSED")).toBe(true);
  // An empty directory that is not a store log yet becomes one.
  mkdirSync(join(dir, "fresh"));
  writeFileSync(join(dir, "fresh", "unrelated.txt"), "x");
  const fresh = await openLog(join(dir, "fresh"));
  expect(fresh.recovery.size).toBe(0);
  await closeLog(fresh.log);
});
