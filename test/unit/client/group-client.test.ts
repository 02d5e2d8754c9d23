// GroupClient against fake stores: a group reached through member addresses alone (no topology),
// following its leader with ShardRouting's loop: the metadata group's leader discovered from the
// stores' STATUS (group 0 is in the untagged, whole-store answer) and followed by NOT_LEADER
// hints, TOPOLOGY answered by any metadata replica even without a leader, a shard's admin request
// past a listed store without a replica (WRONG_SHARD), the retry window, and close().
import { afterEach, describe, expect, test } from "bun:test";
import { GroupClient } from "../../../src/client/group-client.ts";
import { fetchTopology } from "../../../src/transport/meta-api.ts";
import { FakeCluster } from "./fake-cluster.ts";

const encoder = new TextEncoder();
const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

function admin(group: GroupClient, shard: number) {
  return group.request({ op: "ADMIN", key: new Uint8Array(0), value: encoder.encode(JSON.stringify({ action: "meta-report" })), linearizable: false, shard });
}

async function setUp(placement: number[][], options: { metaStores?: number[]; addresses?: (cluster: FakeCluster) => string[]; retryWindowMs?: number } = {}) {
  const cluster = await FakeCluster.start(placement, options.metaStores === undefined ? {} : { metaStores: options.metaStores });
  cleanups.push(() => cluster.stop());
  const addresses = options.addresses?.(cluster) ?? cluster.stores.map((store) => store.address);
  const client = new GroupClient(addresses, { timeoutMs: 1000, ...(options.retryWindowMs === undefined ? {} : { retryWindowMs: options.retryWindowMs }) });
  cleanups.push(() => client.close());
  return { cluster, client };
}

describe("GroupClient", () => {
  test("a metadata write reaches the leader its STATUS names (stores known by address alone), then follows a NOT_LEADER hint without a new discovery", async () => {
    const { cluster, client } = await setUp([[1, 2, 3]], { metaStores: [1, 2, 3] });
    const meta = cluster.metaGroup!;
    meta.elect(2);
    expect((await admin(client, 0)).code).toBe("OK");
    expect(meta.members.map((member) => member.countOf("ADMIN"))).toEqual([0, 1, 0]);
    meta.elect(3);
    expect((await admin(client, 0)).code).toBe("OK");
    // Store 2 (the old leader) was asked twice: once served, once answering NOT_LEADER with store 3.
    expect(meta.members.map((member) => member.countOf("ADMIN"))).toEqual([0, 2, 1]);
    expect(cluster.stores.map((store) => store.storeStatusCount())).toEqual([1, 1, 1]);
  });

  test("TOPOLOGY is answered by any metadata replica, with no leader and with a replica down", async () => {
    const { cluster, client } = await setUp([[1, 2, 3]], { metaStores: [1, 2, 3] });
    for (const member of cluster.metaGroup!.members) member.role = "follower";
    expect((await fetchTopology(client)).epoch).toBe(cluster.epoch);
    await cluster.store(1).stop();
    for (let round = 0; round < 3; round++) expect((await fetchTopology(client)).layout?.shards.length).toBe(1);
  });

  test("a shard's admin request passes a listed store without a replica (WRONG_SHARD) and reaches the leader", async () => {
    const { cluster, client } = await setUp([[1, 2, 3], [4, 5, 6]], { addresses: (fake) => [4, 2, 3, 1].map((storeId) => fake.store(storeId).address) });
    expect((await admin(client, 1)).code).toBe("OK");
    expect(cluster.shard(1).members.map((member) => member.countOf("ADMIN"))).toEqual([1, 0, 0]);
    cluster.shard(1).elect(2);
    expect((await admin(client, 1)).code).toBe("OK");
    expect(cluster.shard(1).member(2).countOf("ADMIN")).toBe(1);
  });

  test("without a leader for the retry window the answer is UNAVAILABLE naming the last answer", async () => {
    const { cluster, client } = await setUp([[1, 2, 3]], { retryWindowMs: 300 });
    for (const member of cluster.shard(1).members) member.role = "follower";
    const startedMs = performance.now();
    const response = await admin(client, 1);
    expect(response.code).toBe("UNAVAILABLE");
    expect(response.message).toContain("Shard 1 did not accept the ADMIN within 300 ms");
    expect(performance.now() - startedMs).toBeLessThan(2000);
  });

  test("close() ends a request that is waiting out an election at once", async () => {
    const { cluster, client } = await setUp([[1, 2, 3]], { retryWindowMs: 10_000 });
    for (const member of cluster.shard(1).members) member.role = "follower";
    const answer = admin(client, 1);
    await Bun.sleep(100);
    const closedMs = performance.now();
    client.close();
    expect((await answer).code).toBe("UNAVAILABLE");
    expect(performance.now() - closedMs).toBeLessThan(1000);
  });
});
