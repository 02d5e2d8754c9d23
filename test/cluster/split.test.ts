// Split in place with real stores (issue 14): `ukv admin split` divides a shard's hash range at a
// log index on every replica, the new shard's replicas are created on the same stores from their
// local data, and the metadata group lists both ranges. Under continuous writes through every
// store (each store routes by key) no request fails beyond the documented retries and no
// acknowledged write is lost; afterwards every key is readable and each key lives only in the
// shard whose range holds its hash. A store killed (kill -9) at the split and restarted replays
// the split and recreates (or keeps) the child; so does a metadata leader killed during it.
import { afterEach, expect, test } from "bun:test";
import { keyHash } from "../../src/ring/key-hash.ts";
import { rangeFromJson, rangeContains, type KeyRange } from "../../src/ring/range-map.ts";
import { KvClient } from "../../src/transport/kv-client.ts";
import type { Topology } from "../../src/transport/topology-wire.ts";
import { LocalStores, runAdmin, bytes, text, ukvBinary, waitFor } from "./harness.ts";

let stores: LocalStores | null = null;
const clients: KvClient[] = [];

afterEach(async () => {
  for (const client of clients.splice(0)) client.close();
  await stores?.destroy();
  stores = null;
});

/** Writers of unique keys through the given stores (shard 0: the store routes), until stopped. */
function startLoad(target: LocalStores, storeIds: number[], prefix = "w"): { ackedCount(): number; stop(): Promise<{ acked: Map<string, string>; failures: string[] }> } {
  const acked = new Map<string, string>();
  const failures: string[] = [];
  let running = true;
  const writers = storeIds.map(async (storeId) => {
    const client = new KvClient(target.clientAddress(storeId), { timeoutMs: 5000 });
    clients.push(client);
    for (let keyIndex = 0; running && keyIndex < 100_000; keyIndex++) {
      const key = `${prefix}${storeId}-${keyIndex}`;
      const value = `v${keyIndex}`;
      const response = await client.set(bytes(key), bytes(value));
      if (response.code === "OK") acked.set(key, value);
      else failures.push(`SET ${key} via store ${storeId}: ${response.code} ${response.message}`);
      await Bun.sleep(2);
    }
  });
  return {
    ackedCount: () => acked.size,
    stop: async () => {
      running = false;
      await Promise.all(writers);
      return { acked, failures };
    },
  };
}

function rangeOfShard(topology: Topology, shardId: number): KeyRange | null {
  const shard = topology.layout?.shards.find((candidate) => candidate.id === shardId);
  return shard === undefined ? null : rangeFromJson(shard.range);
}

/** Every acknowledged key reads back its value through store routing, and lives only in the shard whose range holds it. */
async function expectAllPlaced(target: LocalStores, acked: Map<string, string>, shardIds: number[]): Promise<void> {
  const topology = await target.topology();
  const ranges = new Map(shardIds.map((shardId) => [shardId, rangeOfShard(topology, shardId)!]));
  for (const [key, value] of acked) {
    const routed = await target.request(1, { op: "GET", key, linearizable: true });
    if (routed.code !== "OK" || text(routed.value) !== value) throw new Error(`acknowledged ${key} reads ${routed.code} ${text(routed.value)} ${routed.message}`);
    const hash = keyHash(bytes(key));
    for (const [shardId, range] of ranges) {
      const direct = await target.request(1, { op: "GET", key, shard: shardId });
      if (rangeContains(range, hash)) {
        if (direct.code !== "OK" || text(direct.value) !== value) throw new Error(`${key} missing from its owner shard ${shardId}: ${direct.code}`);
      } else if (direct.code !== "STALE_EPOCH") {
        throw new Error(`${key} (not in shard ${shardId}'s range) answered ${direct.code} by shard ${shardId}, expected STALE_EPOCH`);
      }
    }
  }
}

test("split under writes: no failed request, no lost write, every key readable and in the right child; status shows the ranges", async () => {
  stores = await LocalStores.create({ snapshotEntriesThreshold: 500 });
  const target = stores;
  target.startAll();
  await target.waitForLeader(1);
  await target.waitForRouting();
  const load = startLoad(target, target.storeIds);
  await waitFor("the load to run", async () => load.ackedCount(), (count) => count >= 150);

  const split = await runAdmin(target, ["split", "--shard", "1"]);
  expect(split.stderr).toBe("");
  expect(split.exitCode).toBe(0);
  expect(split.stdout).toContain("new shard id 2 allocated");
  expect(split.stdout).toContain("the metadata group lists shard 2");
  await waitFor("writes after the split", async () => load.ackedCount(), (count) => count >= 600);
  // A second split, of the new shard, at an explicit hash inside its range.
  const childRange = rangeOfShard(await target.topology(), 2)!;
  const at = childRange.start + (childRange.end - childRange.start) / 2n;
  const again = await runAdmin(target, ["split", "--shard", "2", "--at", `0x${at.toString(16)}`]);
  expect(again.stderr).toBe("");
  expect(again.exitCode).toBe(0);
  await waitFor("writes after the second split", async () => load.ackedCount(), (count) => count >= 900);
  const { acked, failures } = await load.stop();
  expect(failures).toEqual([]);

  const topology = await target.topology();
  const r1 = rangeOfShard(topology, 1)!;
  const r2 = rangeOfShard(topology, 2)!;
  const r3 = rangeOfShard(topology, 3)!;
  expect(r1.start).toBe(0n);
  expect(r2.start).toBe(r1.end + 1n);
  expect(r3.start).toBe(at);
  expect(r2.end).toBe(at - 1n);
  expect(r3.end).toBe((1n << 64n) - 1n);
  expect([r1.version, r2.version, r3.version]).toEqual([2, 3, 3]);
  // The median split halves the keys written before it (roughly: writes continued meanwhile).
  await expectAllPlaced(target, acked, [1, 2, 3]);
  for (const storeId of target.storeIds) {
    const statuses = await Promise.all([1, 2, 3].map((shardId) => target.replicaStatus(storeId, shardId)));
    expect(statuses.every((status) => status !== null)).toBe(true);
  }
  const status = Bun.spawn([ukvBinary, "status", "--config", target.configPath], { stdout: "pipe", stderr: "pipe" });
  const statusText = await new Response(status.stdout).text();
  expect(await status.exited).toBe(0);
  expect(statusText).toContain("[0x0000000000000000, ");
  expect(statusText).toContain(`0x${at.toString(16).padStart(16, "0")}`);
}, 180_000);

/** The shard ids the metadata group lists, once its ranges tile the hash space. */
async function listedShards(target: LocalStores): Promise<number[]> {
  const topology = await target.topology();
  return (topology.layout?.shards ?? []).map((shard) => shard.id).sort((a, b) => a - b);
}

/** Waits until every running store hosts a live replica of each of `shardIds`, agreeing on its range. */
async function waitForReplicas(target: LocalStores, shardIds: number[]): Promise<void> {
  for (const shardId of shardIds) {
    await waitFor(
      `every store to host shard ${shardId}`,
      async () => Promise.all(target.storeIds.map((storeId) => target.replicaStatus(storeId, shardId))),
      (statuses) => statuses.every((status) => status !== null && !status.removed),
      30_000,
    );
  }
}

test("kill -9 of a follower store as the split applies, then of every store: the split completes, nothing is lost", async () => {
  // A high snapshot threshold: after the restarts the parent replays the split from its log.
  stores = await LocalStores.create({ snapshotEntriesThreshold: 100_000 });
  const target = stores;
  target.startAll();
  const leader = await target.waitForLeader(1);
  await target.waitForRouting();
  const victim = target.storeIds.find((storeId) => storeId !== leader)!;
  const writers = target.storeIds.filter((storeId) => storeId !== victim);
  const load = startLoad(target, writers);
  await waitFor("the load to run", async () => load.ackedCount(), (count) => count >= 150);
  const splitting = runAdmin(target, ["split", "--shard", "1"]);
  // Kill the follower's store the moment any store applied the split (or soon after it started).
  await waitFor("the split to apply somewhere", async () => target.storeIds.reduce((sum, storeId) => sum + target.eventCount(storeId, "split_applied"), 0), (count) => count > 0, 20_000);
  await target.kill(victim);
  const split = await splitting;
  expect(split.stderr).toBe("");
  expect(split.exitCode).toBe(0);
  target.start(victim);
  await waitForReplicas(target, [1, 2]);
  await waitFor("writes after the split", async () => load.ackedCount(), (count) => count >= 500);
  const { acked, failures } = await load.stop();
  expect(failures).toEqual([]);
  await target.waitForCaughtUp(2);
  await expectAllPlaced(target, acked, [1, 2]);
  // Every replica of the child holds the same keys (the restarted one created it from its own log).
  const childKeys = await Promise.all(target.storeIds.map(async (storeId) => (await target.replicaStatus(storeId, 2))!.keyCount));
  expect(new Set(childKeys).size).toBe(1);

  // kill -9 of everything: every parent replays the split over a child its manifest already lists.
  for (const storeId of target.storeIds) await target.kill(storeId);
  target.startAll();
  await target.waitForLeader(1);
  await target.waitForLeader(2);
  await target.waitForRouting();
  expect(await listedShards(target)).toEqual([1, 2]);
  await waitForReplicas(target, [1, 2]);
  await expectAllPlaced(target, acked, [1, 2]);
  const afterRestart = await Promise.all(target.storeIds.map(async (storeId) => (await target.replicaStatus(storeId, 2))!.keyCount));
  expect(afterRestart).toEqual(childKeys);

  // Writes again, then kill -9 of everything once more: the child's base is still not durable (the
  // high threshold), so each store rebuilds it again, and what the child logged after the first
  // rebuild must still be on disk (it was once dropped: "the log resumes at index N but the
  // snapshot ends at 5").
  const again = startLoad(target, target.storeIds, "x");
  await waitFor("writes after the restart", async () => again.ackedCount(), (count) => count >= 300);
  const second = await again.stop();
  expect(second.failures).toEqual([]);
  for (const storeId of target.storeIds) await target.kill(storeId);
  target.startAll();
  await target.waitForLeader(1);
  await target.waitForLeader(2);
  await target.waitForRouting();
  await waitForReplicas(target, [1, 2]);
  await expectAllPlaced(target, new Map([...acked, ...second.acked]), [1, 2]);
  for (const storeId of target.storeIds) expect(target.eventCount(storeId, "group_stopped")).toBe(0);
  // Each store created the child at most once (the follower killed as the split applied may have
  // written the child's first record before it died: its restart rebuilds it instead); every
  // restart that found no durable snapshot of the child rebuilt its base from the replayed split.
  for (const storeId of target.storeIds) {
    expect(target.eventCount(storeId, "split_child_created")).toBeLessThanOrEqual(1);
    expect(target.eventCount(storeId, "split_child_created") + target.eventCount(storeId, "split_child_rebuilt")).toBeGreaterThanOrEqual(1);
    expect(target.eventCount(storeId, "split_applied")).toBeGreaterThanOrEqual(2);
  }
}, 240_000);

test("a store down during a split catches up on the parent by snapshot, then adopts the child and gets its data from the child's leader", async () => {
  // A low snapshot threshold: the parent's log is compacted past the split before the store returns.
  stores = await LocalStores.create({ snapshotEntriesThreshold: 100 });
  const target = stores;
  target.startAll();
  const leader = await target.waitForLeader(1);
  await target.waitForRouting();
  const absent = target.storeIds.find((storeId) => storeId !== leader)!;
  const writers = target.storeIds.filter((storeId) => storeId !== absent);
  await target.kill(absent);
  const load = startLoad(target, writers);
  await waitFor("the load to run", async () => load.ackedCount(), (count) => count >= 150);
  const split = await runAdmin(target, ["split", "--shard", "1"]);
  expect(split.stderr).toBe("");
  expect(split.exitCode).toBe(0);
  await waitFor("writes past a few snapshots", async () => load.ackedCount(), (count) => count >= 700);
  target.start(absent);
  await waitForReplicas(target, [1, 2]);
  await waitFor("more writes", async () => load.ackedCount(), (count) => count >= 900);
  const { acked, failures } = await load.stop();
  expect(failures).toEqual([]);
  expect(target.eventCount(absent, "replica_adopted")).toBe(1);
  expect(target.eventCount(absent, "split_applied")).toBe(0);
  await target.waitForCaughtUp(1);
  await target.waitForCaughtUp(2);
  for (const shardId of [1, 2]) {
    const counts = await Promise.all(target.storeIds.map(async (storeId) => (await target.replicaStatus(storeId, shardId))!.keyCount));
    expect(new Set(counts).size).toBe(1);
  }
  await expectAllPlaced(target, acked, [1, 2]);
}, 240_000);

// Killed at once (the admin process is still starting) and a moment later (the id allocated, the
// split proposed or applied). The admin command follows the new metadata leader, so it usually
// completes; either way the cluster must settle on one consistent layout with nothing lost.
test.each([0, 150])("kill -9 of the metadata leader %i ms into a split: after its restart the split is complete or cleanly abandoned", async (killDelayMs) => {
  // A 1 s election timeout rather than the harness's 300 ms: the stores' routing refuses a shard
  // (FR1.3) once no member reported a leader for 4 election timeouts, and on the loaded CI machine
  // the election after this kill (its store led the metadata group and often shard 1, while the
  // admin process, the split and the load all ran) took past 1.2 s in two CI runs, refusing a write
  // as "no quorum" with a majority up. The kill is noticed by the followers' fast path either way.
  stores = await LocalStores.create({ snapshotEntriesThreshold: 100_000, electionTicks: 50 });
  const target = stores;
  target.startAll();
  await target.waitForLeader(1);
  await target.waitForRouting();
  const metaLeader = await target.waitForLeader(0);
  const writers = target.storeIds.filter((storeId) => storeId !== metaLeader);
  const load = startLoad(target, writers);
  await waitFor("the load to run", async () => load.ackedCount(), (count) => count >= 150);
  const splitting = runAdmin(target, ["split", "--shard", "1"]);
  await Bun.sleep(killDelayMs);
  await target.kill(metaLeader);
  const split = await splitting;
  target.start(metaLeader);
  await target.waitForLeader(0);
  await target.waitForRouting();
  // Whatever the admin command saw, the cluster settles on one consistent layout.
  const applied = target.storeIds.some((storeId) => target.eventCount(storeId, "split_applied") > 0);
  const expected = applied ? [1, 2] : [1];
  await waitFor("the metadata group to list the outcome", () => listedShards(target), (ids) => ids.length === expected.length, 30_000);
  await waitForReplicas(target, expected);
  console.log(`metadata leader killed during the split: ${applied ? "split applied" : "split abandoned"}, admin exit ${split.exitCode} ${split.stderr.trim()}`);
  if (split.exitCode === 0) expect(applied).toBe(true);
  else expect(split.stderr.trim().split("\n").length).toBe(1);
  await waitFor("more writes", async () => load.ackedCount(), (count) => count >= 500);
  const { acked, failures } = await load.stop();
  // Writes through the surviving stores: a write whose leader was the killed store may be
  // answered TIMEOUT (outcome unknown, documented); nothing else fails.
  expect(failures.filter((failure) => !failure.includes(": TIMEOUT"))).toEqual([]);
  await expectAllPlaced(target, acked, expected);
}, 240_000);

test("bad split requests are refused with one clear line", async () => {
  stores = await LocalStores.create();
  const target = stores;
  target.startAll();
  await target.waitForLeader(1);
  const unknown = await runAdmin(target, ["split", "--shard", "9"]);
  expect(unknown.exitCode).not.toBe(0);
  expect(unknown.stderr).toContain("9");
  const outside = await runAdmin(target, ["split", "--shard", "1", "--at", "0"]);
  expect(outside.exitCode).not.toBe(0);
  expect(outside.stderr).toContain("must be in (start, end]");
  const garbage = await runAdmin(target, ["split", "--shard", "1", "--at", "0xzz"]);
  expect(garbage.exitCode).not.toBe(0);
  expect(garbage.stderr).toContain("Invalid hash");
  for (const result of [unknown, outside, garbage]) expect(result.stderr.trim().split("\n").length).toBe(1);
}, 60_000);
