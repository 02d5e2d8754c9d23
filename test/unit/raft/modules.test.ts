// The small modules on their own: MemoryStorage, RaftLog, Inflights, quorum arithmetic,
// the ConfChange codec and config validation.
import { expect, test } from "bun:test";
import { decodeConfChange, encodeConfChange } from "../../../src/raft/conf-change.ts";
import { defaultRaftConfig, validateRaftConfig } from "../../../src/raft/config.ts";
import { SnapshotOutOfDateError } from "../../../src/raft/errors.ts";
import { Inflights } from "../../../src/raft/inflights.ts";
import { RaftLog } from "../../../src/raft/log.ts";
import { MemoryStorage } from "../../../src/raft/memory-storage.ts";
import { committedIndex, voteResult } from "../../../src/raft/quorum.ts";
import { ConfChangeType, LogCompactedError, LogUnavailableError } from "../../../src/raft/types.ts";
import { isUkvError } from "../../../src/util/errors.ts";
import { Prng } from "../../../src/util/prng.ts";
import { entriesOfTerm } from "./network.ts";

const conf = { voters: [1, 2, 3], learners: [] };

test("MemoryStorage: append truncates a conflicting suffix; compact keeps a dummy at the index", () => {
  const storage = new MemoryStorage({ conf });
  storage.append(entriesOfTerm(1, 10, 1));
  storage.append(entriesOfTerm(6, 7, 2));
  expect(storage.lastIndex()).toBe(7);
  expect(storage.term(6)).toBe(2);
  storage.compact(4);
  expect(storage.firstIndex()).toBe(5);
  expect(storage.term(4)).toBe(1);
  expect(() => storage.term(3)).toThrow(LogCompactedError);
  expect(() => storage.term(8)).toThrow(LogUnavailableError);
  expect(() => storage.entries(4, 6, 1000)).toThrow(LogCompactedError);
  expect(storage.entries(5, 8, 1_000_000).map((e) => e.index)).toEqual([5, 6, 7]);
  // Appending entries that are partly compacted keeps only the new part.
  storage.append(entriesOfTerm(3, 8, 2));
  expect(storage.lastIndex()).toBe(8);
  expect(storage.firstIndex()).toBe(5);
});

test("MemoryStorage: entries honours maxBytes but always returns at least one entry", () => {
  const storage = new MemoryStorage({ conf });
  storage.append(entriesOfTerm(1, 10, 1));
  expect(storage.entries(1, 11, 0).length).toBe(1);
  const one = 24 + "1/1".length;
  expect(storage.entries(1, 11, one * 3).length).toBe(3);
});

test("MemoryStorage: snapshots replace the log and older ones are refused", () => {
  const storage = new MemoryStorage({ conf });
  storage.append(entriesOfTerm(1, 10, 1));
  const snapshot = storage.createSnapshot(8, conf, new Uint8Array([1]));
  expect(snapshot.metadata).toEqual({ index: 8, term: 1, conf });
  expect(() => storage.createSnapshot(5, conf, new Uint8Array(0))).toThrow(SnapshotOutOfDateError);
  storage.applySnapshot({ metadata: { index: 20, term: 3, conf }, data: new Uint8Array(0) });
  expect(storage.firstIndex()).toBe(21);
  expect(storage.lastIndex()).toBe(20);
  expect(storage.initialState().hardState.commit).toBe(20);
  expect(() => storage.applySnapshot(snapshot)).toThrow(SnapshotOutOfDateError);
});

test("RaftLog: findConflict and findConflictByTerm locate divergence", () => {
  const storage = new MemoryStorage({ conf });
  storage.append([...entriesOfTerm(1, 3, 1), ...entriesOfTerm(4, 6, 2), ...entriesOfTerm(7, 9, 4)]);
  const log = new RaftLog(storage);
  expect(log.findConflict(entriesOfTerm(1, 3, 1))).toBe(0);
  expect(log.findConflict([...entriesOfTerm(5, 6, 2), ...entriesOfTerm(7, 8, 3)])).toBe(7);
  expect(log.findConflict(entriesOfTerm(10, 11, 4))).toBe(10);
  expect(log.findConflictByTerm(9, 3)).toEqual({ index: 6, term: 2 });
  expect(log.findConflictByTerm(9, 1)).toEqual({ index: 3, term: 1 });
  expect(log.findConflictByTerm(9, 5)).toEqual({ index: 9, term: 4 });
  expect(log.findConflictByTerm(2, 0)).toEqual({ index: 0, term: 0 });
});

test("RaftLog: maybeAppend refuses a mismatch, truncates conflicts and advances commit", () => {
  const storage = new MemoryStorage({ conf });
  storage.append(entriesOfTerm(1, 5, 1));
  const log = new RaftLog(storage);
  expect(log.maybeAppend(5, 2, 5, [])).toBeNull();
  expect(log.maybeAppend(3, 1, 4, entriesOfTerm(4, 6, 2))).toBe(6);
  expect(log.lastIndex()).toBe(6);
  expect(log.term(4)).toBe(2);
  expect(log.committed).toBe(4);
  // The leader's commit beyond the appended entries is capped at the last new index.
  expect(log.maybeAppend(6, 2, 100, [])).toBe(6);
  expect(log.committed).toBe(6);
});

test("RaftLog: slice spans storage and unstable entries and respects maxBytes", () => {
  const storage = new MemoryStorage({ conf });
  storage.append(entriesOfTerm(1, 5, 1));
  const log = new RaftLog(storage);
  log.append(entriesOfTerm(6, 8, 2));
  expect(log.slice(4, 9, 1_000_000).map((e) => e.index)).toEqual([4, 5, 6, 7, 8]);
  expect(log.slice(4, 9, 0).map((e) => e.index)).toEqual([4]);
  log.stableTo(7, 2);
  expect(log.unstable.offset).toBe(8);
  // A stale stableTo (the entry was replaced meanwhile) is ignored.
  log.append(entriesOfTerm(8, 8, 3));
  log.stableTo(8, 2);
  expect(log.unstable.offset).toBe(8);
});

test("Inflights: full by count or by bytes; freeLE and freeFirstOne release in order", () => {
  const byCount = new Inflights(3, 1_000_000);
  byCount.add(1, 10);
  byCount.add(2, 10);
  expect(byCount.full()).toBe(false);
  byCount.add(5, 10);
  expect(byCount.full()).toBe(true);
  expect(() => byCount.add(6, 10)).toThrow();
  byCount.freeLE(2);
  expect(byCount.count).toBe(1);
  byCount.add(6, 10);
  byCount.add(7, 10); // Wraps around the ring.
  expect(byCount.full()).toBe(true);
  byCount.freeFirstOne();
  expect(byCount.count).toBe(2);
  byCount.freeLE(100);
  expect(byCount.count).toBe(0);
  expect(byCount.bytes).toBe(0);
  const byBytes = new Inflights(100, 50);
  byBytes.add(1, 30);
  expect(byBytes.full()).toBe(false);
  byBytes.add(2, 30);
  expect(byBytes.full()).toBe(true);
});

test("quorum: commit index is the majority's match; votes win, lose or wait", () => {
  const match = new Map([[1, 10], [2, 7], [3, 3], [4, 9], [5, 1]]);
  expect(committedIndex([1, 2, 3, 4, 5], (id) => match.get(id) ?? 0)).toBe(7);
  expect(committedIndex([1, 2, 3], (id) => match.get(id) ?? 0)).toBe(7);
  expect(committedIndex([1, 3], (id) => match.get(id) ?? 0)).toBe(3);
  expect(committedIndex([], () => 5)).toBe(0);
  expect(voteResult([1, 2, 3], new Map([[1, true], [2, true]]))).toBe("won");
  expect(voteResult([1, 2, 3], new Map([[1, true], [2, false]]))).toBe("pending");
  expect(voteResult([1, 2, 3], new Map([[2, false], [3, false]]))).toBe("lost");
  expect(voteResult([1, 2, 3, 4], new Map([[1, true], [2, true]]))).toBe("pending");
});

test("ConfChange codec: round trips, and garbage is a typed FRAME_INVALID error", () => {
  const change = { type: ConfChangeType.AddLearner, nodeId: 2 ** 40 + 7, context: new Uint8Array([1, 2, 3]) };
  expect(decodeConfChange(encodeConfChange(change))).toEqual(change);
  const bytes = encodeConfChange(change);
  for (let size = 0; size < bytes.byteLength; size++) {
    let caught: unknown = null;
    try {
      decodeConfChange(bytes.subarray(0, size));
    } catch (error) {
      caught = error;
    }
    expect(isUkvError(caught, "FRAME_INVALID")).toBe(true);
  }
  const badType = bytes.slice();
  badType[1] = 9;
  expect(() => decodeConfChange(badType)).toThrow(/type unknown/);
});

test("config validation names the bad field and its limit", () => {
  const base = () => defaultRaftConfig({ id: 1, storage: new MemoryStorage({ conf }), random: new Prng(1) });
  expect(() => validateRaftConfig(base())).not.toThrow();
  const cases: [string, (c: ReturnType<typeof base>) => void][] = [
    ["id", (c) => (c.id = 0)],
    ["electionTicks", (c) => (c.electionTicks = 1)],
    ["heartbeatTicks", (c) => (c.heartbeatTicks = 0)],
    ["maxInflightMsgs", (c) => (c.maxInflightMsgs = 0)],
    ["maxInflightBytes", (c) => (c.maxInflightBytes = 10)],
    ["maxSizePerMsgBytes", (c) => (c.maxSizePerMsgBytes = -1)],
  ];
  for (const [field, mutate] of cases) {
    const config = base();
    mutate(config);
    let caught: unknown = null;
    try {
      validateRaftConfig(config);
    } catch (error) {
      caught = error;
    }
    expect(isUkvError(caught, "CONFIG_INVALID")).toBe(true);
    expect((caught as Error).message).toContain(field);
  }
});
