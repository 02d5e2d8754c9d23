// Regression (found by the chaos disk-full nemesis, seed 424242, on the process-per-replica
// nodes): a replica whose disk filled up while it wrote a snapshot stopped its Raft group for good
// ("group_stopped", DISK_FULL) and never caught up again. A snapshot only shortens the log, so the
// replica must keep serving and converge once space is back. Now on stores: the disk that fills
// is a whole store's (its shared log and the snapshots of every replica it hosts). Needs root for
// the tmpfs mounts; skipped otherwise, with a SKIP line saying why.
import { afterEach, expect, test } from "bun:test";
import { mkdtempSync, rmSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { ChaosCluster } from "../../src/chaos/chaos-cluster.ts";
import { SmallFileSystem } from "../../src/chaos/disk-full.ts";
import { KvClient } from "../../src/transport/kv-client.ts";

const binaryPath = resolve(import.meta.dir, "../../dist/ukv");
const shardId = 1;
const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

const unavailable = SmallFileSystem.unavailableReason();
if (unavailable !== null) console.log(`SKIP disk-full regression test: ${unavailable}`);

async function leaderOf(cluster: ChaosCluster, storeIds: number[]): Promise<number | null> {
  for (const id of storeIds) if ((await cluster.groupStatus(id, shardId))?.role === "leader") return id;
  return null;
}

test.skipIf(unavailable !== null)("a store whose disk fills up while a replica snapshots keeps the group running and catches up", async () => {
  const runDir = mkdtempSync(join(tmpdir(), "ukv-diskfull-"));
  cleanups.push(() => rmSync(runDir, { recursive: true, force: true }));
  const cluster = await ChaosCluster.create({ binaryPath, runDir, storeCount: 3, shardCount: 1, replicas: 3, portBase: 10000 + Math.floor(Math.random() * 600) * 36, tickMs: 50, electionTicks: 20, snapshotEntriesThreshold: 100, walSegmentSizeBytes: 8 * 1024 * 1024 });
  cleanups.push(() => cluster.destroy());
  const ids = cluster.storeIds;
  // Every store gets a small file system: the one to fill is a follower, known only after the election.
  const fileSystems = new Map<number, SmallFileSystem>();
  for (const id of ids) {
    const mounted = SmallFileSystem.mount(cluster.dataDirOf(id), 24 * 1024 * 1024);
    expect(typeof mounted, `mount for store ${id}: ${String(mounted)}`).not.toBe("string");
    if (typeof mounted === "string") return;
    fileSystems.set(id, mounted);
    cleanups.push(() => mounted.unmount());
  }
  cluster.startAll();
  // Every store up (not only a quorum): a store still starting when its disk is filled dies on its
  // first write (the test's race, seen once in six runs), which is not the scenario under test.
  let leader: number | null = null;
  let allUp = false;
  for (let attemptIndex = 0; attemptIndex < 300 && (leader === null || !allUp); attemptIndex++) {
    await Bun.sleep(100);
    leader = await leaderOf(cluster, ids);
    allUp = (await Promise.all(ids.map((id) => cluster.groupStatus(id, shardId)))).every((status) => status !== null);
  }
  expect(leader).not.toBeNull();
  expect(allUp).toBe(true);
  const victim = ids.find((id) => id !== leader)!;
  const mounted = fileSystems.get(victim)!;
  const client = new KvClient(cluster.store(leader!).clientAddress, { timeoutMs: 5000 });
  cleanups.push(() => client.close());
  const encoder = new TextEncoder();
  const set = (key: string, value: string) => client.request({ op: "SET", key: encoder.encode(key), value: encoder.encode(value), linearizable: false, shard: shardId });
  mounted.fill();
  // Well past the snapshot threshold while the victim's disk is full.
  for (let keyIndex = 0; keyIndex < 400; keyIndex += 20) {
    const responses = await Promise.all(Array.from({ length: 20 }, (_, offset) => set(`key-${keyIndex + offset}`, "x".repeat(100))));
    expect(responses.map((response) => response.code)).toEqual(Array.from({ length: 20 }, () => "OK"));
  }
  await Bun.sleep(1000);
  mounted.release();
  expect((await set("after", "space is back")).code).toBe("OK");
  const leaderCommit = (await cluster.groupStatus(leader!, shardId))?.commitIndex ?? 0;
  let victimApplied = 0;
  for (let attemptIndex = 0; attemptIndex < 100 && victimApplied < leaderCommit; attemptIndex++) {
    await Bun.sleep(100);
    victimApplied = (await cluster.groupStatus(victim, shardId))?.appliedIndex ?? 0;
  }
  const log = readFileSync(cluster.logPath(victim), "utf8");
  expect(log).toContain("DISK_FULL"); // the scenario happened: a write of the victim's store hit the full disk
  expect(log).not.toContain("group_stopped");
  expect(cluster.exits.filter((exit) => !exit.expected)).toEqual([]);
  expect(victimApplied).toBeGreaterThanOrEqual(leaderCommit);
}, 90_000);
