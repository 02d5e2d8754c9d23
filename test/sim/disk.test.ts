// The simulated disk: what was persisted survives a crash, a pending (slow) write does not, a
// received snapshot replaces the log, and compaction keeps what the snapshot does not cover.
import { describe, expect, test } from "bun:test";
import { EntryType, type Entry, type Snapshot } from "../../src/raft/types.ts";
import { SimDisk } from "../../src/sim/disk.ts";

const conf = { voters: [1, 2, 3], learners: [] };

function entries(from: number, to: number, term: number): Entry[] {
  const out: Entry[] = [];
  for (let index = from; index <= to; index++) out.push({ index, term, type: EntryType.Normal, data: new Uint8Array([index]) });
  return out;
}

function snapshotAt(index: number, term: number): Snapshot {
  return { metadata: { index, term, conf }, data: new Uint8Array(0) };
}

describe("SimDisk", () => {
  test("a slow write lands at its tick, and a crash before then loses it whole", () => {
    const disk = new SimDisk(conf);
    disk.persist({ hardState: { term: 1, vote: 1, commit: 0 }, snapshot: null, entries: entries(1, 2, 1) });
    disk.beginWrite({ hardState: { term: 1, vote: 1, commit: 2 }, snapshot: null, entries: entries(3, 4, 1) }, 10);
    expect(disk.completeDue(9)).toBeNull();
    expect(disk.crash()).toBe(true);
    expect(disk.lastIndex).toBe(2);
    expect(disk.hardState.commit).toBe(0);
    disk.beginWrite({ hardState: { term: 1, vote: 1, commit: 2 }, snapshot: null, entries: entries(3, 4, 1) }, 12);
    expect(disk.completeDue(12)).not.toBeNull();
    expect(disk.lastIndex).toBe(4);
    expect(disk.hardState.commit).toBe(2);
    expect(disk.crash()).toBe(false);
  });

  test("appending at an earlier index truncates the conflicting suffix", () => {
    const disk = new SimDisk(conf);
    disk.persist({ hardState: null, snapshot: null, entries: entries(1, 5, 1) });
    disk.persist({ hardState: null, snapshot: null, entries: entries(3, 3, 2) });
    expect(disk.lastIndex).toBe(3);
    expect(disk.termAt(3)).toBe(2);
    expect(disk.termAt(2)).toBe(1);
  });

  test("a gap in the log is refused", () => {
    const disk = new SimDisk(conf);
    disk.persist({ hardState: null, snapshot: null, entries: entries(1, 2, 1) });
    expect(() => disk.persist({ hardState: null, snapshot: null, entries: entries(4, 4, 1) })).toThrow();
  });

  test("a received snapshot replaces the log; entries after it are kept for restart", () => {
    const disk = new SimDisk(conf);
    disk.persist({ hardState: null, snapshot: null, entries: entries(1, 3, 1) });
    disk.persist({ hardState: { term: 2, vote: 0, commit: 10 }, snapshot: snapshotAt(10, 2), entries: entries(11, 12, 2) });
    expect(disk.snapshotIndex).toBe(10);
    expect(disk.termAt(10)).toBe(2);
    expect(disk.termAt(3)).toBeUndefined();
    expect(disk.entriesAfterSnapshot().map((e) => e.index)).toEqual([11, 12]);
  });

  test("compaction drops only entries the local snapshot covers", () => {
    const disk = new SimDisk(conf);
    disk.persist({ hardState: { term: 1, vote: 1, commit: 8 }, snapshot: null, entries: entries(1, 10, 1) });
    disk.saveLocalSnapshot(snapshotAt(8, 1));
    expect(() => disk.compact(9)).toThrow();
    disk.compact(5);
    expect(disk.firstIndex).toBe(6);
    expect(disk.lastIndex).toBe(10);
    expect(disk.entriesAfterSnapshot().map((e) => e.index)).toEqual([9, 10]);
  });

  test("only committed state may be snapshotted", () => {
    const disk = new SimDisk(conf);
    disk.persist({ hardState: { term: 1, vote: 1, commit: 2 }, snapshot: null, entries: entries(1, 5, 1) });
    expect(() => disk.saveLocalSnapshot(snapshotAt(3, 1))).toThrow();
  });

  test("mutation drop-fsync: a hard-state-only write is lost on a crash until a write with entries syncs it", () => {
    const disk = new SimDisk(conf, { dropHardStateSync: true });
    disk.persist({ hardState: { term: 1, vote: 1, commit: 0 }, snapshot: null, entries: entries(1, 3, 1) });
    disk.persist({ hardState: { term: 1, vote: 1, commit: 3 }, snapshot: null, entries: [] });
    expect(disk.durableIndex).toBe(3);
    disk.crash();
    expect(disk.hardState.commit).toBe(0);
    disk.persist({ hardState: { term: 1, vote: 1, commit: 3 }, snapshot: null, entries: [] });
    disk.persist({ hardState: null, snapshot: null, entries: entries(4, 4, 1) });
    disk.crash();
    expect(disk.hardState.commit).toBe(3);
  });

  test("without the mutation a hard-state-only write survives a crash", () => {
    const disk = new SimDisk(conf);
    disk.persist({ hardState: { term: 1, vote: 1, commit: 0 }, snapshot: null, entries: entries(1, 3, 1) });
    disk.persist({ hardState: { term: 1, vote: 1, commit: 3 }, snapshot: null, entries: [] });
    disk.crash();
    expect(disk.hardState.commit).toBe(3);
  });
});
