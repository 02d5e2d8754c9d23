// The router against fake members: requests land on the right shard through the proxy, STATUS
// shows the router's view, and a shard that loses quorum is answered SHARD_UNAVAILABLE with one
// CRITICAL log line per request while the other shard keeps serving; it serves again on recovery.
import { afterEach, describe, expect, test } from "bun:test";
import { generateLocalClusterConfig, type ClusterConfig } from "../../../src/config/cluster-config.ts";
import { topologyFromLayout } from "../../../src/client/topology.ts";
import { RouterServer, type RouterView } from "../../../src/router/router-server.ts";
import { KvClient } from "../../../src/transport/kv-client.ts";
import { captureLogger, waitFor, type CapturedLogger } from "../transport/helpers.ts";
import { FakeCluster, keysOf } from "../client/fake-cluster.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();
let cluster: FakeCluster | null = null;
let router: RouterServer | null = null;
let client: KvClient | null = null;

afterEach(async () => {
  client?.close();
  client = null;
  await router?.close();
  router = null;
  await cluster?.stop();
  cluster = null;
});

function configOf(fake: FakeCluster): ClusterConfig {
  const base = generateLocalClusterConfig({ dir: "/tmp/ukv-router-unit", shards: 1, replicas: 3, portBase: 40000 });
  return { ...base, tickMs: 10, electionTicks: 10, shards: fake.layout().shards };
}

async function setUp(): Promise<{ cluster: FakeCluster; router: RouterServer; client: KvClient; log: CapturedLogger }> {
  cluster = await FakeCluster.start(2);
  const log = captureLogger();
  router = await RouterServer.start({ config: configOf(cluster), host: "127.0.0.1", port: 0, logger: log.logger, probeIntervalMs: 50, probeTimeoutMs: 200, summaryIntervalMs: 60_000 });
  client = new KvClient(`127.0.0.1:${router.port}`, { timeoutMs: 3000 });
  return { cluster, router, client, log };
}

const ringByCluster = new WeakMap<FakeCluster, ReturnType<typeof topologyFromLayout>["ring"]>();

function shardOfKey(fake: FakeCluster, key: string): number {
  let ring = ringByCluster.get(fake);
  if (ring === undefined) {
    ring = topologyFromLayout(fake.layout()).ring;
    ringByCluster.set(fake, ring);
  }
  return ring.shardForKey(encoder.encode(key));
}

async function routerView(target: KvClient): Promise<RouterView> {
  const response = await target.status();
  expect(response.code).toBe("OK");
  return JSON.parse(response.statusJson) as RouterView;
}

describe("RouterServer", () => {
  test("routes every key to its shard and reads it back through the proxy", async () => {
    const { cluster, client } = await setUp();
    const keys = keysOf("routed", 50);
    const sets = await Promise.all(keys.map((key) => client.set(encoder.encode(key), encoder.encode(`v-${key}`))));
    expect(sets.every((response) => response.code === "OK")).toBe(true);
    for (const key of keys) expect(cluster.shard(shardOfKey(cluster, key)).store.has(key)).toBe(true);
    expect(cluster.shard(1).store.size + cluster.shard(2).store.size).toBe(50);
    const gets = await Promise.all(keys.map((key) => client.get(encoder.encode(key))));
    gets.forEach((response, index) => expect(decoder.decode(response.value)).toBe(`v-${keys[index]}`));
    const missing = await client.get(encoder.encode("never-set"));
    expect(missing.code).toBe("NOT_FOUND");
  });

  test("STATUS returns the router's view of every shard", async () => {
    const { client } = await setUp();
    await waitFor(() => router !== null && router.view().shards.every((shard) => shard.state === "available"), 3000, "first probes");
    const view = await routerView(client);
    expect(view.role).toBe("router");
    expect(view.shards.map((shard) => shard.shardId)).toEqual([1, 2]);
    for (const shard of view.shards) {
      expect(shard.state).toBe("available");
      expect(shard.reachableCount).toBe(3);
      expect(shard.leader?.memberId).toBe(shard.shardId * 10 + 1);
      expect(shard.members.map((member) => member.role)).toEqual(["leader", "follower", "follower"]);
    }
  });

  test("a shard without quorum answers SHARD_UNAVAILABLE with a CRITICAL line per request; the other shard serves", async () => {
    const { cluster, client, log } = await setUp();
    await waitFor(() => router!.view().shards.every((shard) => shard.state === "available"), 3000, "first probes");
    await cluster.shard(1).member(11).stop();
    await cluster.shard(1).member(12).stop();
    await waitFor(() => router!.view().shards[0]!.state === "unavailable", 3000, "shard 1 unavailable");
    const keys = keysOf("split", 40);
    const shardOneKeys = keys.filter((key) => shardOfKey(cluster, key) === 1);
    const shardTwoKeys = keys.filter((key) => shardOfKey(cluster, key) === 2);
    expect(shardOneKeys.length).toBeGreaterThan(5);
    expect(shardTwoKeys.length).toBeGreaterThan(5);
    const startedMs = performance.now();
    for (const key of shardOneKeys) {
      const response = await client.set(encoder.encode(key), encoder.encode("x"));
      expect(response.code).toBe("SHARD_UNAVAILABLE");
      expect(response.message).toBe("shard 1 unavailable: no quorum");
      const read = await client.get(encoder.encode(key));
      expect(read.code).toBe("SHARD_UNAVAILABLE");
    }
    // Refused at once, not after the retry window.
    expect(performance.now() - startedMs).toBeLessThan(1000);
    for (const key of shardTwoKeys) expect((await client.set(encoder.encode(key), encoder.encode("y"))).code).toBe("OK");
    const critical = log.events().filter((event) => event.event === "shard_unavailable");
    expect(critical.length).toBe(shardOneKeys.length * 2);
    for (const event of critical) {
      expect(event.level).toBe(60);
      expect(event.severity).toBe("CRITICAL");
      expect(event.shard).toBe(1);
      expect(["SET", "GET"]).toContain(event.op as string);
      expect(typeof event.keySizeBytes).toBe("number");
    }
    expect(log.events().filter((event) => event.event === "shard_unavailable_summary").length).toBe(1);
    expect(router!.view().shards[0]!.refusedNoQuorumCount).toBe(shardOneKeys.length * 2);

    // Members back on their ports: the shard serves again.
    await cluster.shard(1).member(11).start();
    await cluster.shard(1).member(12).start();
    await waitFor(() => router!.view().shards[0]!.state === "available", 3000, "shard 1 available again");
    expect((await client.set(encoder.encode(shardOneKeys[0]!), encoder.encode("back"))).code).toBe("OK");
  });

  test("a shard whose members answer but elect no leader becomes unavailable after the no-leader limit", async () => {
    const { cluster, client } = await setUp();
    await waitFor(() => router!.view().shards.every((shard) => shard.state === "available"), 3000, "first probes");
    for (const member of cluster.shard(2).members) member.role = "follower";
    // Limit: 4 x electionTicks x tickMs = 400 ms.
    await waitFor(() => router!.view().shards[1]!.state === "unavailable", 3000, "shard 2 unavailable");
    const key = keysOf("leaderless", 40).find((candidate) => shardOfKey(cluster, candidate) === 2)!;
    const response = await client.get(encoder.encode(key));
    expect(response.code).toBe("SHARD_UNAVAILABLE");
    expect(response.message).toBe("shard 2 unavailable: no quorum");
  });
});
