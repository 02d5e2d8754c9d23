// The metadata group (group 0, a replica on each metadata store) with real stores: it bootstraps
// the layout and the stores from the config, learns each shard's leader from the stores' reports
// (a leader change is no placement change: the epoch stays), answers a long-poll as soon as the
// placement moves (a store joining), survives losing a metadata store, and while it has no quorum
// at all the stores and the router keep routing from their cached topology. Each test makes its
// own cluster.
import { afterEach, expect, test } from "bun:test";
import { KvClient } from "../../src/transport/kv-client.ts";
import { fetchTopology } from "../../src/transport/meta-api.ts";
import type { Topology } from "../../src/transport/topology-wire.ts";
import { LocalStores, bytes, metaGroupId, ukvBinary, waitFor } from "./harness.ts";

let stores: LocalStores | null = null;

afterEach(async () => {
  await stores?.destroy();
  stores = null;
});

/** The topology as the metadata group serves it, null while it does not answer. */
function readTopology(target: LocalStores): Promise<Topology | null> {
  return target.topology().catch(() => null);
}

function leaderReportedBy(topology: Topology, storeId: number, shardId: number): string | null {
  return topology.health[String(storeId)]?.groups.find((group) => group.shardId === shardId)?.role ?? null;
}

test("the metadata group holds the layout, the stores and each shard's reported leader; a leader change keeps the epoch; a store joining wakes a long-poll", async () => {
  stores = await LocalStores.create({ spareStoreCount: 1 });
  const target = stores;
  target.startAll();
  await target.waitForLeader(1);
  // The leader may still move once at start (to the placement's preferred store): wait for a
  // report that names the leader its own store reports as leading, and take the leader from it.
  const first = await waitFor(
    "the layout and shard 1's leader in the topology",
    () => readTopology(target),
    (topology) => {
      const reported = topology?.leaders["1"]?.nodeId;
      return topology !== null && topology.layout !== null && reported !== undefined && leaderReportedBy(topology, reported, 1) === "leader";
    },
  );
  const leader = first!.leaders["1"]!.nodeId;
  expect(leader).toBe(await target.waitForLeader(1));
  expect(first!.layout!.shards.map((shard) => shard.id)).toEqual([1]);
  expect(first!.layout!.shards[0]!.members.map((member) => member.id)).toEqual(target.placement(1));
  expect(first!.layout!.stores.map((store) => [store.id, store.clientAddress])).toEqual(target.storeIds.map((storeId) => [storeId, target.clientAddress(storeId)]));
  // Every store reports the data replicas it hosts.
  for (const storeId of target.storeIds) {
    await waitFor(`store ${storeId}'s report`, () => readTopology(target), (topology) => (topology?.health[String(storeId)]?.groups.map((group) => group.shardId) ?? []).join() === "1");
  }

  // The smart client of `ukv kv --meta` routes by the topology it reads from the metadata group.
  const metaList = target.metaAddresses.join(",");
  const set = Bun.spawnSync([ukvBinary, "kv", "set", "via-meta", "routed", "--meta", metaList]);
  expect(set.stderr.toString()).toBe("");
  expect(set.exitCode).toBe(0);
  const get = Bun.spawnSync([ukvBinary, "kv", "get", "via-meta", "--meta", metaList, "--linearizable"]);
  expect(get.stdout.toString().trim()).toBe("routed");

  // A leader change is reported (a higher term), but it is no change of placement.
  await target.kill(leader, "SIGKILL");
  const newLeader = await target.waitForLeader(1);
  const second = await waitFor("the new leader in the topology", () => readTopology(target), (topology) => topology?.leaders["1"]?.nodeId === newLeader);
  expect(second!.leaders["1"]!.term).toBeGreaterThan(first!.leaders["1"]!.term);
  expect(second!.epoch).toBe(first!.epoch);

  // A long-poll on the current epoch stays open while nothing moves, and returns once a store joins.
  const meta = target.groupClient(target.metaAddresses, 15_000);
  let answered: Topology | null = null;
  const watching = fetchTopology(meta, { knownEpoch: second!.epoch }).then((topology) => {
    answered = topology;
    return topology;
  });
  await Promise.race([watching, Bun.sleep(500)]);
  expect(answered).toBeNull();
  target.joinStore(4, 0);
  const changed = await watching;
  expect(changed.epoch).toBeGreaterThan(second!.epoch);
  expect(changed.layout!.stores.map((store) => store.id)).toContain(4);
  // The store logs its registration once the metadata group's answer reaches it.
  await waitFor("store 4 to log its registration", () => Promise.resolve(target.eventCount(4, "store_registered")), (count) => count === 1, 5000);

  // With one metadata store down (the killed one), and then a second restarted after the first
  // returns, the topology stays served and the restarted store reports again.
  target.start(leader);
  await target.waitForLeader(metaGroupId);
  const other = target.config.metaStores.find((storeId) => storeId !== leader && storeId !== newLeader)!;
  const reportedBefore = (await readTopology(target))!.health[String(leader)]?.reportedAtMs ?? 0;
  await target.kill(other, "SIGKILL");
  await waitFor(
    `store ${leader}'s reports after its restart`,
    () => readTopology(target),
    (topology) => (topology?.health[String(leader)]?.reportedAtMs ?? 0) > reportedBefore && topology?.layout !== null,
  );
}, 90_000);

test("while the metadata group has no quorum, stores and the router keep routing from their cached topology; it elects again once a store returns", async () => {
  // Metadata group on stores 1-3, both shards on stores 2-4: stopping stores 1 and 2 takes the
  // metadata group's quorum and leaves every shard its own.
  stores = await LocalStores.create({
    storeCount: 4,
    metaStores: [1, 2, 3],
    shards: [
      { id: 1, replicas: [2, 3, 4] },
      { id: 2, replicas: [3, 4, 2] },
    ],
  });
  const target = stores;
  target.startAll();
  await target.waitForLeaders();
  target.spawn("router", ["router", "--config", target.configPath]);
  const router = new KvClient(target.config.router!.clientAddress, { timeoutMs: 5000 });
  try {
    await waitFor("the router to serve", () => router.set(bytes("warm-up"), bytes("1")), (response) => response.code === "OK");
    const epoch = (await readTopology(target))!.epoch;
    await target.kill(1, "SIGKILL");
    await target.kill(2, "SIGKILL");
    // Check-quorum: the lone metadata replica does not keep (or win) the lead.
    await waitFor("the metadata group to lose its leader", () => target.replicaStatus(3, metaGroupId), (status) => status !== null && status.role !== "leader" && status.leader === 0, 10_000);
    const keys = Array.from({ length: 20 }, (_, index) => `meta-down-${index}`);
    expect(new Set(keys.map((key) => target.shardOf(key)))).toEqual(new Set([1, 2]));
    const failures: string[] = [];
    for (const key of keys) {
      for (const response of [await router.set(bytes(key), bytes("v")), await target.request(3, { op: "SET", key, value: "v" }), await target.request(4, { op: "SET", key, value: "v" })]) {
        if (response.code !== "OK") failures.push(`${key}: ${response.code} ${response.message}`);
      }
    }
    expect(failures).toEqual([]);
    // The surviving metadata replica still answers TOPOLOGY from what it applied.
    const stale = await fetchTopology(target.groupClient([target.clientAddress(3)]));
    expect(stale.epoch).toBe(epoch);
    expect(stale.layout).not.toBeNull();

    const restartedMs = Date.now();
    target.start(1);
    await target.waitForLeader(metaGroupId);
    await waitFor("store 1's report through the re-elected metadata group", () => readTopology(target), (topology) => (topology?.health["1"]?.reportedAtMs ?? 0) >= restartedMs);
  } finally {
    router.close();
  }
}, 90_000);
