// The simulated store disk: records of every group share one log and become durable in call
// order; a crash loses what is not durable except a torn prefix of it; a group's log follows
// StoreLog's rules (replace from an index, reset, compact, remove); and the drop-fsync fault
// acknowledges writes that a crash then loses.
import { describe, expect, test } from "bun:test";
import { SimGroupLog, SimStoreDisk, type DiskRecord } from "../../src/sim/disk.ts";
import type { GroupLogEntry } from "../../src/storage/store-log.ts";

function entries(from: number, to: number, term: number): GroupLogEntry[] {
  const out: GroupLogEntry[] = [];
  for (let index = from; index <= to; index++) out.push({ index, term, data: new Uint8Array([0, index]) });
  return out;
}

/** A disk and a log of each group writing through it, every record landing `delayTicks` after now. */
function setUp(options: { dropEverySecondSync?: boolean } = {}): { disk: SimStoreDisk; log: (groupId: number) => SimGroupLog; now: { ticks: number }; delay: { ticks: number } } {
  const disk = new SimStoreDisk(options);
  const now = { ticks: 0 };
  const delay = { ticks: 0 };
  const log = (groupId: number): SimGroupLog => new SimGroupLog(groupId, disk, (record: DiskRecord) => disk.write(record, now.ticks + delay.ticks));
  return { disk, log, now, delay };
}

describe("SimStoreDisk", () => {
  test("a write resolves once it lands, and a slow write holds back every later one, of any group", async () => {
    const { disk, log, now, delay } = setUp();
    const settled: string[] = [];
    delay.ticks = 5;
    void log(1).append({ entries: entries(1, 2, 1) }).then(() => settled.push("g1"));
    delay.ticks = 0;
    void log(2).append({ entries: entries(1, 1, 1) }).then(() => settled.push("g2"));
    expect(log(1).lastIndex()).toBe(2);
    expect(disk.landDue(now.ticks)).toBe(0);
    await Bun.sleep(0);
    expect(settled).toEqual([]);
    expect(disk.durable(2).lastIndex).toBe(0);
    now.ticks = 5;
    expect(disk.landDue(now.ticks)).toBe(2);
    await Bun.sleep(0);
    expect(settled).toEqual(["g1", "g2"]);
    expect(disk.durable(1).lastIndex).toBe(2);
    expect(disk.durable(2).lastIndex).toBe(1);
  });

  test("a crash loses what is in flight; a torn write keeps a prefix of the shared log's records", () => {
    const { disk, log, now } = setUp();
    void log(1).append({ entries: entries(1, 3, 1), hardState: { term: 1, vote: 1, commit: 0 } });
    disk.landDue(now.ticks);
    void log(1).append({ entries: entries(4, 4, 1) });
    void log(2).append({ entries: entries(1, 2, 1) });
    void log(1).append({ entries: entries(5, 5, 1), hardState: { term: 1, vote: 1, commit: 5 } });
    expect(disk.volatileCount).toBe(3);
    expect(disk.crash(2)).toBe(1);
    expect(disk.recovery(1)?.entries.map((entry) => entry.index)).toEqual([1, 2, 3, 4]);
    expect(disk.recovery(1)?.hardState?.commit).toBe(0);
    expect(disk.recovery(2)?.entries.map((entry) => entry.index)).toEqual([1, 2]);
    expect(log(1).lastIndex()).toBe(4);
  });

  test("an append at an earlier index replaces the log from there; a gap is refused", () => {
    const { disk, log, now } = setUp();
    void log(1).append({ entries: entries(1, 5, 1) });
    void log(1).append({ entries: entries(3, 3, 2) });
    disk.landDue(now.ticks);
    expect(disk.durable(1).lastIndex).toBe(3);
    expect(disk.durable(1).termAt(3)).toBe(2);
    expect(disk.durable(1).termAt(2)).toBe(1);
    expect(() => log(1).append({ entries: entries(5, 5, 2) })).toThrow();
  });

  test("reset restarts the log after a snapshot; compact drops a prefix; remove forgets the group", () => {
    const { disk, log, now } = setUp();
    void log(1).append({ entries: entries(1, 5, 1) });
    void log(1).reset(10);
    void log(1).append({ entries: entries(11, 14, 2) });
    void log(1).compact(12);
    disk.landDue(now.ticks);
    expect(disk.durable(1).firstIndex).toBe(13);
    expect(disk.durable(1).lastIndex).toBe(14);
    expect(disk.recovery(1)?.firstIndex).toBe(13);
    const removed = log(1);
    void removed.remove();
    expect(() => removed.append({ entries: entries(15, 15, 2) })).toThrow();
    disk.landDue(now.ticks);
    expect(disk.recovery(1)).toBeNull();
  });

  test("the durable index of a group is its log's end or its newest snapshot", () => {
    const { disk, log, now } = setUp();
    void log(1).append({ entries: entries(1, 3, 1) });
    disk.landDue(now.ticks);
    expect(disk.durableIndex(1)).toBe(3);
    disk.saveSnapshot(1, { index: 8, term: 1, metadata: new Uint8Array(0), bytes: new Uint8Array(0) });
    expect(disk.durableIndex(1)).toBe(8);
  });

  test("fault drop-fsync: every second landing is acknowledged unsynced and lost on a crash until a later sync", async () => {
    const { disk, log, now } = setUp({ dropEverySecondSync: true });
    let acknowledged = false;
    void log(1).append({ entries: entries(1, 2, 1) }).then(() => (acknowledged = true));
    disk.landDue(now.ticks);
    await Bun.sleep(0);
    expect(acknowledged).toBe(true);
    expect(disk.durable(1).lastIndex).toBe(0);
    expect(disk.crash(0)).toBe(1);
    expect(disk.recovery(1)?.entries ?? []).toEqual([]);
    void log(1).append({ entries: entries(1, 1, 1) });
    disk.landDue(now.ticks);
    expect(disk.durable(1).lastIndex).toBe(1);
    void log(1).append({ entries: entries(2, 2, 1) });
    disk.landDue(now.ticks);
    expect(disk.durable(1).lastIndex).toBe(1);
    void log(1).append({ entries: entries(3, 3, 1) });
    disk.landDue(now.ticks);
    expect(disk.durable(1).lastIndex).toBe(3);
  });

  test("without the fault every landing is synced", () => {
    const { disk, log, now } = setUp();
    void log(1).append({ entries: entries(1, 2, 1) });
    disk.landDue(now.ticks);
    expect(disk.crash(0)).toBe(0);
    expect(disk.recovery(1)?.entries.length).toBe(2);
  });
});
