// A split child opened before its base is durable (docs/design.md, "Split in place"): the parent
// takes no snapshot (its log keeps the split) until the child's own snapshot made its state
// durable; a parent whose snapshot is due asks for it (onSnapshotDeferred); a cold child (nothing
// applied since its base) still takes one when asked; and the parent's commit index covering the
// split is on disk, so a restart replays the split from the parent's log alone.
import { afterEach, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pino from "pino";
import { GroupRuntime, type SplitChild } from "../../../src/node/group-runtime.ts";
import { CommandOp } from "../../../src/node/command.ts";
import type { GroupMembership } from "../../../src/node/log-codec.ts";
import { openFileReplicaState, realClock } from "../../../src/node/replica-io.ts";
import { keyHash } from "../../../src/ring/key-hash.ts";
import { StoreLog } from "../../../src/storage/store-log.ts";
import { Table } from "../../../src/storage/table.ts";

const dirs: string[] = [];
const closers: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const close of closers.splice(0)) await close();
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

const encoder = new TextEncoder();
const parentId = 1;
const childId = 2;
const threshold = 30;
const membership: GroupMembership = {
  conf: { voters: [1], learners: [] },
  addresses: new Map([[1, { raftAddress: "127.0.0.1:1", clientAddress: "127.0.0.1:2" }]]),
  range: { start: 0n, end: 0xffff_ffff_ffff_ffffn, version: 1 },
};

async function until(condition: () => boolean, what: string): Promise<void> {
  for (let waitIndex = 0; waitIndex < 500; waitIndex++) {
    if (condition()) return;
    await Bun.sleep(10);
  }
  throw new Error(`timed out waiting for ${what}`);
}

function baseOptions(dir: string, log: StoreLog, groupId: number) {
  return {
    nodeId: 1,
    groupId,
    log: log.group(groupId),
    transport: { send: () => undefined, sendSnapshot: () => Promise.reject(new Error("no peers")) },
    clock: realClock,
    logger: pino({ level: process.env.T_LOG ?? "silent" }),
    tickMs: 10,
    electionTicks: 10,
    heartbeatTicks: 1,
    snapshotEntriesThreshold: threshold,
  };
}

test("the parent keeps the split in its log until the child's in-memory base is durable; a due parent snapshot asks the child for one", async () => {
  const dir = mkdtempSync(join(tmpdir(), "ukv-split-base-"));
  dirs.push(dir);
  const { log, recovery } = await StoreLog.open(join(dir, "log"));
  let child: GroupRuntime | null = null;
  let deferredCount = 0;
  const parent = await GroupRuntime.open({
    ...baseOptions(dir, log, parentId),
    initialMembership: membership,
    recovery: recovery.get(parentId) ?? null,
    state: openFileReplicaState(join(dir, "p")),
    onSnapshotDeferred: () => {
      deferredCount++;
      child?.requestSnapshot();
    },
    onSplit: async (split: SplitChild) => {
      const childLog = log.group(childId);
      await Promise.all([parent.makeCommitDurable(), childLog.reset(5), childLog.append({ entries: [], hardState: { term: 5, vote: 0, commit: 5 } })]);
      child = await GroupRuntime.open({
        ...baseOptions(dir, log, childId),
        initialMembership: split.membership,
        recovery: { entries: [], hardState: { term: 5, vote: 0, commit: 5 }, firstIndex: 0 },
        state: openFileReplicaState(join(dir, "c"), split.stateMachine as Table),
        inMemoryBase: { index: 5, term: 5 },
      });
      return { baseDurable: child.whenBaseDurable().then(() => undefined) };
    },
  });
  closers.push(async () => {
    await child?.close();
    await parent.close();
    await log.close();
  });
  parent.campaignIfLeaderless();
  await until(() => parent.isLeader(), "leadership");
  for (let index = 0; index < 10; index++) await parent.write(CommandOp.Set, encoder.encode(`k${index}`), encoder.encode("v"));
  const keys = Array.from({ length: 10 }, (_, index) => keyHash(encoder.encode(`k${index}`))).sort((a, b) => (a < b ? -1 : 1));
  const split = await parent.split(childId, keys[5]!);
  await until(() => child !== null, "the child's creation");
  const opened = child as unknown as GroupRuntime;
  expect(opened.table.count()).toBe(5);
  expect(parent.table.count()).toBe(5);
  const splitIndex = parent.summary().appliedIndex;
  expect(split.child.start).toBe(keys[5]!);

  // The child holds no snapshot on disk yet, and nothing was applied since its base: a cold child.
  let baseDurable = false;
  void opened.whenBaseDurable().then((durable) => {
    baseDurable = durable;
  });
  // Past the parent's threshold: its snapshot is due, deferred, and asks the child for its own.
  for (let index = 0; index < threshold + 5; index++) {
    const key = encoder.encode(`p${index}`);
    if (keyHash(key) < keys[5]!) await parent.write(CommandOp.Set, key, encoder.encode("v"));
  }
  while (parent.summary().appliedIndex - splitIndex < threshold) await parent.write(CommandOp.Set, encoder.encode("p0"), encoder.encode("w"));
  await until(() => baseDurable, "the child's base to become durable");
  expect(deferredCount).toBeGreaterThan(0);
  expect(opened.summary().snapshotIndex).toBe(5);
  // Now the parent's snapshot goes past the split.
  await parent.write(CommandOp.Set, encoder.encode("p0"), encoder.encode("x"));
  await until(() => parent.summary().snapshotIndex > splitIndex, "the parent's snapshot past the split");
}, 30_000);

test("after the split, the parent's commit index covering it is on disk: a restart replays the split before hearing from anyone", async () => {
  const dir = mkdtempSync(join(tmpdir(), "ukv-split-base-"));
  dirs.push(dir);
  const first = await StoreLog.open(join(dir, "log"));
  let split: SplitChild | null = null;
  const parent = await GroupRuntime.open({
    ...baseOptions(dir, first.log, parentId),
    initialMembership: membership,
    recovery: null,
    state: openFileReplicaState(join(dir, "p")),
    onSplit: async (child: SplitChild) => {
      split = child;
      await parent.makeCommitDurable();
    },
  });
  parent.campaignIfLeaderless();
  await until(() => parent.isLeader(), "leadership");
  for (let index = 0; index < 10; index++) await parent.write(CommandOp.Set, encoder.encode(`k${index}`), encoder.encode("v"));
  await parent.split(childId, 1n << 63n);
  await until(() => split !== null, "the split's apply");
  await Bun.sleep(50); // the onSplit promise (the durable commit) settles
  const splitIndex = (split as unknown as SplitChild).splitIndex;
  (split as unknown as SplitChild).stateMachine.close();
  await parent.close();
  await first.log.close();

  const second = await StoreLog.open(join(dir, "log"));
  const replayed: SplitChild[] = [];
  const reopened = await GroupRuntime.open({
    ...baseOptions(dir, second.log, parentId),
    electionTicks: 1000, // no election meanwhile: the replay comes from the local log alone
    initialMembership: membership,
    recovery: second.recovery.get(parentId) ?? null,
    state: openFileReplicaState(join(dir, "p")),
    onSplit: async (child: SplitChild) => {
      replayed.push(child);
      child.stateMachine.close();
    },
  });
  closers.push(async () => {
    await reopened.close();
    await second.log.close();
  });
  expect(second.recovery.get(parentId)!.hardState!.commit).toBeGreaterThanOrEqual(splitIndex);
  reopened.tick();
  await until(() => replayed.length === 1, "the replayed split");
  expect(replayed[0]!.splitIndex).toBe(splitIndex);
  expect(reopened.isLeader()).toBe(false);
});
