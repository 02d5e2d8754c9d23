// Membership changes of a live shard (FR1.2) with real stores: stores join at run time
// (`ukv node --join`) and `ukv admin` places replicas on them (learner -> catch-up by snapshot ->
// voter), removes replicas (the leader's too: it hands over first), and moves the lead. Under
// continuous writes through every store no request fails and no acknowledged write is lost; a
// removed replica's data is deleted (also when its store was down during the removal); the
// metadata group registers every change; unsafe requests are refused with their reason; stores
// restarted after the changes find the replicas added since their bootstrap. Each test makes its
// own cluster.
import { afterEach, expect, test } from "bun:test";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { KvClient } from "../../src/transport/kv-client.ts";
import { localStorePortStride } from "../../src/config/local-cluster.ts";
import { LocalStores, runAdmin, bytes, text, waitFor } from "./harness.ts";

const shardId = 1;
let stores: LocalStores | null = null;
const clients: KvClient[] = [];

afterEach(async () => {
  for (const client of clients.splice(0)) client.close();
  await stores?.destroy();
  stores = null;
});

/** Waits until the metadata group knows store `storeId` (a joined store registered). */
async function waitForRegistered(target: LocalStores, storeId: number): Promise<void> {
  await waitFor(`store ${storeId} to register`, () => target.topology().catch(() => null), (topology) => topology?.layout?.stores.some((store) => store.id === storeId) === true);
}

/** The voters of shard 1 as the metadata group holds them, sorted. */
async function registeredVoters(target: LocalStores): Promise<number[]> {
  const topology = await target.topology().catch(() => null);
  return (topology?.layout?.shards.find((shard) => shard.id === shardId)?.members ?? []).map((member) => member.id).sort((a, b) => a - b);
}

/** Writers of unique keys through the given stores (shard 0: each store routes), each also reading back, until stopped. */
function startLoad(target: LocalStores, storeIds: number[]): { ackedCount(): number; stop(): Promise<{ acked: Map<string, string>; failures: string[] }> } {
  const acked = new Map<string, string>();
  const failures: string[] = [];
  let running = true;
  const writers = storeIds.map(async (storeId) => {
    const client = new KvClient(target.clientAddress(storeId), { timeoutMs: 5000 });
    clients.push(client);
    for (let keyIndex = 0; running && keyIndex < 100_000; keyIndex++) {
      const key = `w${storeId}-${keyIndex}`;
      const value = `v${keyIndex}`;
      const response = await client.set(bytes(key), bytes(value));
      if (response.code === "OK") acked.set(key, value);
      else failures.push(`SET ${key} via store ${storeId}: ${response.code} ${response.message}`);
      const read = await client.get(bytes(key));
      // A follower read may lag (eventual consistency) but never fails or invents a value.
      if (read.code !== "OK" && read.code !== "NOT_FOUND") failures.push(`GET ${key} via store ${storeId}: ${read.code} ${read.message}`);
      if (read.code === "OK" && text(read.value) !== value) failures.push(`GET ${key} via store ${storeId}: phantom ${text(read.value)}`);
      await Bun.sleep(5);
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

/** Every acknowledged key, read from store `storeId`'s own replica of shard 1. */
async function expectReplicaHas(target: LocalStores, storeId: number, acked: Map<string, string>): Promise<void> {
  for (const [key, value] of acked) {
    const response = await target.request(storeId, { op: "GET", key, shard: shardId });
    if (response.code !== "OK" || text(response.value) !== value) throw new Error(`store ${storeId}'s replica lacks acknowledged ${key}: ${response.code} ${response.message}`);
  }
}

/** Waits until store `storeId` deleted its removed replica of shard 1: gone from its STATUS and its disk. */
async function expectReplicaDeleted(target: LocalStores, storeId: number, timeoutMs?: number): Promise<void> {
  await waitFor(`store ${storeId} to delete its replica`, async () => ({ status: await target.replicaStatus(storeId, shardId), logged: target.eventCount(storeId, "replica_deleted") }), ({ status, logged }) => status === null && logged > 0, timeoutMs);
  expect(existsSync(join(target.storeDir(storeId), "groups", String(shardId)))).toBe(false);
}

test("add, remove, move the lead and replace the leader under load: nothing fails, nothing is lost, removed replicas are deleted, meta registers it", async () => {
  // A low snapshot threshold: the leader compacts its log, so new replicas catch up by snapshot.
  stores = await LocalStores.create({ snapshotEntriesThreshold: 200, spareStoreCount: 2 });
  const target = stores;
  target.startAll();
  const leader = await target.waitForLeader(shardId);
  const preload = await Promise.all(Array.from({ length: 400 }, (_, index) => target.request(leader, { op: "SET", key: `before-${index}`, value: "x", shard: shardId })));
  expect(preload.filter((response) => response.code !== "OK")).toEqual([]);
  target.joinStore(4, 0);
  target.joinStore(5, 1);
  await waitForRegistered(target, 4);
  await waitForRegistered(target, 5);
  // A joined store's HTTP address (--http-addr) is in the topology, where dashboards find it.
  const joinedHttp = (await target.topology()).layout?.stores.find((store) => store.id === 4)?.httpAddress;
  expect(joinedHttp).toBe(`127.0.0.1:${target.portBase + localStorePortStride * (target.storeIds.length + 1) + 3}`);
  expect((await fetch(`http://${joinedHttp}/metrics`)).status).toBe(200);
  await target.waitForRouting();
  const load = startLoad(target, target.storeIds);
  await waitFor("the load to run", async () => load.ackedCount(), (count) => count >= 30);

  const added = await runAdmin(target, ["add-replica", "--shard", "1", "--store", "4"]);
  expect(added.stderr).toBe("");
  expect(added.exitCode).toBe(0);
  expect(added.stdout).toContain("promoted to voter");

  const oldFollower = target.storeIds.find((storeId) => storeId !== leader)!;
  const removed = await runAdmin(target, ["remove-replica", "--shard", "1", "--store", String(oldFollower)]);
  expect(removed.stderr).toBe("");
  expect(removed.exitCode).toBe(0);

  const addedB = await runAdmin(target, ["add-replica", "--shard", "1", "--store", "5"]);
  expect(addedB.stderr).toBe("");
  expect(addedB.exitCode).toBe(0);
  // Removing the leader's replica: it hands the lead over first.
  const replaced = await runAdmin(target, ["remove-replica", "--shard", "1", "--store", String(leader)]);
  expect(replaced.stderr).toBe("");
  expect(replaced.exitCode).toBe(0);
  const moved = await runAdmin(target, ["transfer-leader", "--shard", "1", "--to", "4"]);
  expect(moved.stderr).toBe("");
  expect(moved.exitCode).toBe(0);
  expect(await target.waitForLeader(shardId)).toBe(4);

  // Unsafe or wrong requests, each refused with its reason; a repeated add changes nothing.
  const tooFew = await runAdmin(target, ["remove-replica", "--shard", "1", "--store", "4"]);
  expect(tooFew.exitCode).not.toBe(0);
  expect(tooFew.stderr).toContain("would leave 2 voters");
  const unknown = await runAdmin(target, ["remove-replica", "--shard", "1", "--store", "99"]);
  expect(unknown.exitCode).not.toBe(0);
  expect(unknown.stderr).toContain("is not a member");
  const unknownStore = await runAdmin(target, ["add-replica", "--shard", "1", "--store", "99"]);
  expect(unknownStore.exitCode).not.toBe(0);
  expect(unknownStore.stderr).toContain("Unknown store 99");
  const duplicateStartedMs = performance.now();
  const duplicate = await runAdmin(target, ["add-replica", "--shard", "1", "--store", "4"]);
  expect(duplicate.stderr).toBe("");
  expect(duplicate.exitCode).toBe(0);
  expect(duplicate.stdout).toContain("already a voter");
  expect(performance.now() - duplicateStartedMs).toBeLessThan(5000);

  // On a loaded machine the steps above can end before the load made 100 writes: let it.
  await waitFor("the load to make 100 writes", async () => load.ackedCount(), (count) => count > 100);
  const { acked, failures } = await load.stop();
  expect(failures).toEqual([]);
  expect(acked.size).toBeGreaterThan(100);

  const remaining = [target.storeIds.find((storeId) => storeId !== leader && storeId !== oldFollower)!, 4, 5].sort((a, b) => a - b);
  await target.waitForCaughtUp(shardId, { storeIds: remaining });
  for (const storeId of remaining) await expectReplicaHas(target, storeId, acked);
  expect(target.log(4)).toContain("snapshot_installed");
  for (const storeId of [oldFollower, leader]) {
    expect(target.log(storeId)).toContain("removed_from_group");
    await expectReplicaDeleted(target, storeId);
    // A store without a replica still routes the shard's keys.
    const [key, value] = [...acked][0]!;
    expect(text((await target.request(storeId, { op: "GET", key, linearizable: true })).value)).toBe(value);
  }
  await waitFor("the metadata group to register the new voters", () => registeredVoters(target), (voters) => voters.join() === remaining.join());
}, 120_000);

test("a replica whose store crashed during catch-up can be removed again; the shard serves on, also once that store is back", async () => {
  stores = await LocalStores.create({ spareStoreCount: 1 });
  const target = stores;
  target.startAll();
  await target.waitForLeader(shardId);
  target.joinStore(4, 0);
  await waitForRegistered(target, 4);
  const added = await runAdmin(target, ["add-replica", "--shard", "1", "--store", "4", "--no-wait"]);
  expect(added.stderr).toBe("");
  expect(added.exitCode).toBe(0);
  expect(added.stdout).toContain("as a learner");
  await target.kill(4, "SIGKILL");
  const removed = await runAdmin(target, ["remove-replica", "--shard", "1", "--store", "4"]);
  expect(removed.stderr).toBe("");
  expect(removed.exitCode).toBe(0);
  const leader = await target.waitForLeader(shardId);
  expect((await target.replicaStatus(leader, shardId))!.learners).toEqual([]);
  expect((await target.request(leader, { op: "SET", key: "after", value: "removal" })).code).toBe("OK");
  // The store comes back with the replica it created: it is no member, so it neither votes nor
  // campaigns, and the shard keeps its three voters.
  target.start(4);
  await waitFor("store 4 to serve again", () => target.storeStatus(4), (status) => status !== null);
  await waitFor("the metadata group to register the voters", () => registeredVoters(target), (voters) => voters.join() === target.storeIds.join());
  expect((await target.request(4, { op: "SET", key: "after-return", value: "y" })).code).toBe("OK");
  const after = await target.replicaStatus(await target.waitForLeader(shardId), shardId);
  expect([after!.voters, after!.learners]).toEqual([target.storeIds, []]);
  // Store 4's replica goes too, whether or not the store heard it was added before it crashed:
  // one that never was a member is deleted once it stayed outside the newer membership the
  // metadata reports for 30 s (or 10 election timeouts if longer; GroupRuntime.removedElsewhere).
  await expectReplicaDeleted(target, 4, 50_000);
  expect(target.log(4)).toContain("removal_learned_from_meta");
}, 120_000);

// Regression (chaos seed 31338): a member restarted after a membership change knew the current
// members from its snapshot but dialled only the members it bootstrapped with, so messages to
// members added later were dropped; with enough members restarted the shard never elected a
// leader again. Now: a replica on a store that joined at run time (not in any config).
test("stores restarted after a change reach the replicas added since they bootstrapped, from their snapshots", async () => {
  // A low threshold: every replica snapshots after the change, so the membership comes from a snapshot.
  stores = await LocalStores.create({ snapshotEntriesThreshold: 50, spareStoreCount: 1 });
  const target = stores;
  target.startAll();
  const leader = await target.waitForLeader(shardId);
  target.joinStore(4, 0);
  await waitForRegistered(target, 4);
  const added = await runAdmin(target, ["add-replica", "--shard", "1", "--store", "4"]);
  expect(added.stderr).toBe("");
  expect(added.exitCode).toBe(0);
  const removedId = target.storeIds.find((storeId) => storeId !== leader)!;
  const removed = await runAdmin(target, ["remove-replica", "--shard", "1", "--store", String(removedId)]);
  expect(removed.exitCode).toBe(0);
  const voters = target.storeIds.filter((storeId) => storeId !== removedId).concat(4);
  let writer = leader;
  for (let index = 0; index < 150; index++) {
    const result = await target.setOnLeader(shardId, `before-${index}`, "x", writer);
    expect(result.ok).toBe(true);
    writer = result.leader;
  }
  await target.waitForCaughtUp(shardId, { storeIds: voters });
  for (const storeId of voters) expect((await target.replicaStatus(storeId, shardId))?.snapshotIndex ?? 0).toBeGreaterThan(0);

  // kill -9 of every store, then restart: the originals bootstrapped with [1, 2, 3], store 4 is in no config.
  await Promise.all([...target.storeIds, 4].map((storeId) => target.kill(storeId, "SIGKILL")));
  target.startAll();
  target.start(4);

  // Each replica must receive new writes: the originals from each other, store 4 from the leader.
  await waitFor("a write after the restart", () => target.request(voters[0]!, { op: "SET", key: "after-restart", value: "y" }), (response) => response.code === "OK", 20_000);
  const seen = await waitFor(
    "store 4's replica to see the write",
    async () => {
      const response = await target.request(4, { op: "GET", key: "after-restart", shard: shardId });
      return response.code === "OK" ? text(response.value) : response.code;
    },
    (value) => value === "y",
    20_000,
  );
  expect(seen).toBe("y");
  // The removed replica stayed deleted through the crash.
  expect(await target.replicaStatus(removedId, shardId)).toBeNull();
}, 90_000);
