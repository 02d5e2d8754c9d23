// What hosting many groups per store adds, on real `ukv node` stores: idle groups quiesce (no
// ticks, no heartbeats) and wake on the next write; a quiesced group whose leader's store goes
// silent (paused: no connection drop) still elects a new leader through the store-level liveness
// beat; leadership starts on the placement's preferred stores and returns there after a restart;
// a store routes a write for a shard it does not lead to the new leader right after a failover;
// a replica removed from a store and added back replays its old removal without deleting itself.
import { afterEach, expect, test } from "bun:test";
import { LocalStores, ukvBinary, waitFor } from "./harness.ts";

let stores: LocalStores | null = null;

afterEach(async () => {
  await stores?.destroy();
  stores = null;
});

interface GroupSummary {
  groupId: number;
  role: string;
  leader: number;
  quiesced?: boolean;
}

async function groupsOf(target: LocalStores, storeId: number): Promise<GroupSummary[]> {
  const status = await target.storeStatus(storeId);
  return (status?.groups ?? []) as GroupSummary[];
}

async function leadersPerStore(target: LocalStores): Promise<Map<number, number>> {
  const counts = new Map<number, number>();
  for (const storeId of target.runningStoreIds()) {
    const led = (await groupsOf(target, storeId)).filter((group) => group.groupId !== 0 && group.role === "leader").length;
    counts.set(storeId, led);
  }
  return counts;
}

test("idle groups quiesce on every store, serve follower reads while quiet, and wake on the next write", async () => {
  stores = await LocalStores.create({ storeCount: 3, shardCount: 4, replication: 3 });
  stores.startAll();
  await stores.waitForLeaders();
  await stores.waitForRouting();
  for (let index = 0; index < 20; index++) expect((await stores.request(1, { op: "SET", key: `quiet-${index}`, value: `v${index}` })).code).toBe("OK");
  // Quiet after an election timeout of idleness: every data group on every store.
  for (const storeId of stores.storeIds) {
    await waitFor(
      `store ${storeId} quiesced`,
      () => groupsOf(stores!, storeId),
      (groups) => groups.filter((group) => group.groupId !== 0).every((group) => group.quiesced === true),
      10_000,
    );
  }
  for (let index = 0; index < 20; index++) {
    const read = await stores.request(2, { op: "GET", key: `quiet-${index}` });
    expect(read.code).toBe("OK");
    expect(new TextDecoder().decode(read.value)).toBe(`v${index}`);
  }
  // A write wakes its group (on every replica: the append reaches the followers) and succeeds.
  expect((await stores.request(3, { op: "SET", key: "quiet-0", value: "woken" })).code).toBe("OK");
  const shard = stores.shardOf("quiet-0");
  const awake = await Promise.all(stores.storeIds.map(async (storeId) => (await groupsOf(stores!, storeId)).find((group) => group.groupId === shard)?.quiesced));
  expect(awake.some((quiesced) => quiesced === false)).toBe(true);
  expect(new TextDecoder().decode((await stores.request(1, { op: "GET", key: "quiet-0", linearizable: true })).value)).toBe("woken");
});

test("a quiesced group whose leader's store is paused (no connection drop) elects a new leader through the store liveness beat", async () => {
  stores = await LocalStores.create({ storeCount: 3, shardCount: 1, replication: 3 });
  stores.startAll();
  const leader = await stores.waitForLeader(1);
  await stores.waitForRouting();
  expect((await stores.request(leader, { op: "SET", key: "before-pause", value: "1", shard: 1 })).code).toBe("OK");
  await waitFor("shard 1 quiesced on its leader", () => groupsOf(stores!, leader), (groups) => groups.find((group) => group.groupId === 1)?.quiesced === true, 10_000);
  stores.pause(leader);
  const survivor = stores.storeIds.find((storeId) => storeId !== leader)!;
  // Election timeout 300 ms (harness timing): silence is noticed after one, then an election.
  const newLeader = await waitFor(
    "a new leader among the running stores",
    async () => (await stores!.replicaStatus(survivor, 1))?.leader ?? 0,
    (leaderId) => leaderId !== 0 && leaderId !== leader,
    15_000,
  );
  expect(newLeader).not.toBe(leader);
  expect((await stores.request(survivor, { op: "SET", key: "after-pause", value: "2" })).code).toBe("OK");
  stores.resume(leader);
  await waitFor("the resumed store follows", async () => (await stores!.replicaStatus(leader, 1))?.leader ?? 0, (leaderId) => leaderId === newLeader, 15_000);
  expect(new TextDecoder().decode((await stores.request(leader, { op: "GET", key: "after-pause", linearizable: true })).value)).toBe("2");
});

test("leadership starts on each shard's preferred store, and returns there after that store restarts", async () => {
  stores = await LocalStores.create({ storeCount: 3, shardCount: 6, replication: 3 });
  stores.startAll();
  await stores.waitForLeaders();
  const preferred = new Map(stores.config.shards.map((shard) => [shard.id, shard.replicas[0]!]));
  const onPreferred = async (): Promise<number> => {
    let count = 0;
    for (const [shardId, storeId] of preferred) if ((await stores!.replicaStatus(storeId, shardId))?.role === "leader") count++;
    return count;
  };
  await waitFor("every shard led by its preferred store", onPreferred, (count) => count === preferred.size, 15_000);
  const balanced = await leadersPerStore(stores);
  expect([...balanced.values()]).toEqual([2, 2, 2]);
  // Store 1 leaves and comes back: its shards fail over, then move back once it caught up.
  await stores.kill(1);
  for (const shardId of preferred.keys()) await stores.waitForLeader(shardId);
  expect((await stores.request(2, { op: "SET", key: "while-1-down", value: "x" })).code).toBe("OK");
  stores.start(1);
  await waitFor("leadership back on the preferred stores", onPreferred, (count) => count === preferred.size, 30_000);
});

test("right after a leader store is killed, a store routes writes of the shards it led to their new leaders", async () => {
  stores = await LocalStores.create({ storeCount: 3, shardCount: 3, replication: 3 });
  stores.startAll();
  await stores.waitForLeaders();
  await stores.waitForRouting();
  const leader = await stores.waitForLeader(1);
  const via = stores.storeIds.find((storeId) => storeId !== leader)!;
  const keys = stores.keysOfShard("failover-", 1, 20);
  await stores.kill(leader);
  // Every write is acknowledged (routing retries through the election), none refused.
  const { failures, unknownKey } = await stores.setAfterKill(via, keys, (key) => key);
  expect(failures).toEqual([]);
  for (const key of keys.filter((key) => key !== unknownKey)) expect(new TextDecoder().decode((await stores.request(via, { op: "GET", key, linearizable: true })).value)).toBe(key);
});

async function admin(target: LocalStores, args: string[]): Promise<{ exitCode: number; output: string }> {
  const child = Bun.spawn([ukvBinary, "admin", ...args, "--config", target.configPath], { stdout: "pipe", stderr: "pipe" });
  const [stdout, stderr, exitCode] = await Promise.all([new Response(child.stdout).text(), new Response(child.stderr).text(), child.exited]);
  return { exitCode, output: stdout + stderr };
}

test("a replica removed from a store and added back to it stays (its log replays the old removal of itself)", async () => {
  stores = await LocalStores.create({ storeCount: 4, shards: [{ id: 1, replicas: [1, 2, 3] }], metaStores: [1, 2, 3] });
  stores.startAll();
  await stores.waitForLeaders();
  await stores.waitForRouting();
  for (let index = 0; index < 20; index++) expect((await stores.request(1, { op: "SET", key: `readd-${index}`, value: "v" })).code).toBe("OK");
  const added = await admin(stores, ["add-replica", "--shard", "1", "--store", "4"]);
  expect(added.exitCode, added.output).toBe(0);
  const removed = await admin(stores, ["remove-replica", "--shard", "1", "--store", "4"]);
  expect(removed.exitCode, removed.output).toBe(0);
  await waitFor("store 4 deleted its replica", () => stores!.replicaStatus(4, 1), (status) => status === null, 15_000);
  const readded = await admin(stores, ["add-replica", "--shard", "1", "--store", "4"]);
  expect(readded.exitCode, readded.output).toBe(0);
  // Stays a member: not deleted after replaying RemoveNode(4) on its way to the newer AddNode(4).
  await Bun.sleep(1000);
  const status = await stores.replicaStatus(4, 1);
  expect(status?.removed).toBe(false);
  expect(status?.voters).toContain(4);
  const read = await stores.request(4, { op: "GET", key: "readd-7", shard: 1 });
  expect(read.code).toBe("OK");
});
