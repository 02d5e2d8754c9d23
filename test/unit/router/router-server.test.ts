// The router against fake stores: requests land on the right shard through the proxy (tagged
// with it), STATUS shows the router's view, the health monitor probes one STATUS per store however
// many shards it hosts, a shard that loses quorum is answered SHARD_UNAVAILABLE with one CRITICAL
// log line per request while the other shard keeps serving (and serves again on recovery), and
// inside a store the `local` hook serves what it can before anything goes over the network.
import { afterEach, describe, expect, test } from "bun:test";
import type { RouteFields } from "../../../src/client/shard-routing.ts";
import { StaticTopologySource, topologyFromLayout } from "../../../src/client/topology.ts";
import { RouterServer, type LocalReplicas, type RouterServerOptions, type RouterView } from "../../../src/router/router-server.ts";
import { KvClient } from "../../../src/transport/kv-client.ts";
import { makeKvResponse, type KvResponse } from "../../../src/transport/kv-protocol.ts";
import { captureLogger, waitFor, type CapturedLogger } from "../transport/helpers.ts";
import { disjointPlacement, FakeCluster, keysOf } from "../client/fake-cluster.ts";

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

/** Two shards on disjoint stores (shard 1 on stores 1-3, shard 2 on 4-6) unless told otherwise; a 100 ms election timeout (no-leader limit 400 ms). */
async function setUp(options: { placement?: number[][]; local?: LocalReplicas; listen?: RouterServerOptions["listen"] } = {}): Promise<{ cluster: FakeCluster; router: RouterServer; client: KvClient; log: CapturedLogger }> {
  cluster = await FakeCluster.start(options.placement ?? disjointPlacement(2));
  const log = captureLogger();
  router = await RouterServer.start({
    electionTimeoutMs: 100,
    topologySource: new StaticTopologySource(cluster.layout()),
    listen: options.listen === undefined ? { host: "127.0.0.1", port: 0 } : options.listen,
    ...(options.local === undefined ? {} : { local: options.local }),
    logger: log.logger,
    probeIntervalMs: 50,
    probeTimeoutMs: 200,
    summaryIntervalMs: 60_000,
  });
  client = new KvClient(`127.0.0.1:${router.port}`, { timeoutMs: 3000 });
  return { cluster, router, client, log };
}

const ringByCluster = new WeakMap<FakeCluster, ReturnType<typeof topologyFromLayout>["ranges"]>();

function shardOfKey(fake: FakeCluster, key: string): number {
  let ring = ringByCluster.get(fake);
  if (ring === undefined) {
    ring = topologyFromLayout(fake.layout()).ranges;
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
    // Every request the router forwarded named its shard, so no store routed it again.
    for (const store of cluster.stores) for (const request of store.received) if (request.op !== "STATUS") expect(request.shard).toBe(store.id <= 3 ? 1 : 2);
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
      expect(shard.leader?.memberId).toBe(shard.shardId === 1 ? 1 : 4);
      expect(shard.members.map((member) => member.role)).toEqual(["leader", "follower", "follower"]);
    }
  });

  test("a shard without quorum answers SHARD_UNAVAILABLE with a CRITICAL line per request; the other shard serves", async () => {
    const { cluster, client, log } = await setUp();
    await waitFor(() => router!.view().shards.every((shard) => shard.state === "available"), 3000, "first probes");
    await cluster.store(1).stop();
    await cluster.store(2).stop();
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

    // Stores back on their ports: the shard serves again.
    await cluster.store(1).start();
    await cluster.store(2).start();
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
  test("the health monitor sends one STATUS per store, not one per replica, and reads every hosted shard from it", async () => {
    // Four shards on the same three stores: twelve replicas, three stores to probe.
    const { cluster } = await setUp({ placement: [[1, 2, 3], [2, 3, 1], [3, 1, 2], [1, 2, 3]] });
    await waitFor(() => router!.view().shards.every((shard) => shard.state === "available"), 3000, "first probes");
    await new Promise((resolve) => setTimeout(resolve, 200));
    const view = router!.view();
    expect(view.shards.map((shard) => shard.leader?.memberId)).toEqual([1, 2, 3, 1]);
    for (const shard of view.shards) expect(shard.members.every((member) => member.reachable && member.role !== null)).toBe(true);
    for (const store of cluster.stores) {
      const statuses = store.received.filter((request) => request.op === "STATUS");
      expect(statuses.length).toBeGreaterThanOrEqual(3);
      expect(statuses.every((request) => (request.shard ?? 0) === 0)).toBe(true);
    }
    // A stopped store makes every replica it hosts unreachable at once.
    await cluster.store(3).stop();
    await waitFor(() => router!.view().shards.every((shard) => shard.reachableCount === 2), 3000, "store 3 seen down");
    expect(router!.view().shards.every((shard) => shard.state === "available")).toBe(true);
  });

  test("inside a store (no listener) the local hook serves what it can; the rest is routed over the network", async () => {
    const served: { shardId: number; request: RouteFields }[] = [];
    const hook = {
      // This "store" holds shard 1 only, and knows no leader of another shard.
      tryServe(shardId: number, request: RouteFields): Promise<KvResponse> | null {
        if (shardId !== 1) return null;
        served.push({ shardId, request });
        return Promise.resolve(makeKvResponse(0, "OK", { value: encoder.encode("local") }));
      },
      leaderOf: (): null => null,
      knowsLeader: (): boolean => false,
    };
    const local: LocalReplicas = hook;
    const { cluster } = await setUp({ local, listen: null });
    expect(router!.port).toBe(0);
    const keys = keysOf("local", 30);
    const shardOneKey = keys.find((key) => shardOfKey(cluster, key) === 1)!;
    const shardTwoKey = keys.find((key) => shardOfKey(cluster, key) === 2)!;
    const fromLocal = await router!.handle({ id: 41, op: "GET", key: encoder.encode(shardOneKey), value: new Uint8Array(0), linearizable: false });
    expect(fromLocal).toMatchObject({ id: 41, code: "OK" });
    expect(decoder.decode(fromLocal.value)).toBe("local");
    expect(served).toEqual([{ shardId: 1, request: expect.objectContaining({ op: "GET" }) }]);
    for (const member of cluster.shard(1).members) expect(member.countOf("GET")).toBe(0);
    const routed = await router!.handle({ id: 42, op: "SET", key: encoder.encode(shardTwoKey), value: encoder.encode("remote"), linearizable: false });
    expect(routed).toMatchObject({ id: 42, code: "OK" });
    expect(cluster.shard(2).member(4).countOf("SET")).toBe(1);
    expect(served.length).toBe(1);
  });

  test("a shard without quorum is refused before the local hook is asked", async () => {
    let asked = 0;
    const hook = {
      tryServe(): Promise<KvResponse> | null {
        asked++;
        return null;
      },
      leaderOf: (): null => null,
      knowsLeader: (): boolean => false,
    };
    const local: LocalReplicas = hook;
    const { cluster } = await setUp({ local, listen: null });
    await waitFor(() => router!.view().shards.every((shard) => shard.state === "available"), 3000, "first probes");
    await cluster.store(1).stop();
    await cluster.store(2).stop();
    await waitFor(() => router!.view().shards[0]!.state === "unavailable", 3000, "shard 1 unavailable");
    const key = keysOf("gated", 40).find((candidate) => shardOfKey(cluster, candidate) === 1)!;
    const response = await router!.handle({ id: 7, op: "GET", key: encoder.encode(key), value: new Uint8Array(0), linearizable: false });
    expect(response).toMatchObject({ id: 7, code: "SHARD_UNAVAILABLE" });
    expect(asked).toBe(0);
  });

  test("ADMIN and TOPOLOGY go to a store, not through the router", async () => {
    const { client } = await setUp();
    for (const op of ["ADMIN", "TOPOLOGY"] as const) {
      const response = await client.request({ op, key: new Uint8Array(0), value: new Uint8Array(0), linearizable: false });
      expect(response.code).toBe("BAD_REQUEST");
      expect(response.message).toContain("goes to a store");
    }
  });
});
