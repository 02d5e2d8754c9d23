// The smart client's routing against fake stores: ring placement, shard-tagged requests, leader
// discovery, NOT_LEADER hints, retries through an election, the retry bound, follower reads and
// their fallback, a stale placement (WRONG_SHARD) refreshing the topology, and a key moved by a
// split (STALE_EPOCH) routed again by the refreshed ranges.
import { afterEach, describe, expect, test } from "bun:test";
import { ShardedClient } from "../../../src/client/sharded-client.ts";
import { topologyFromLayout, type Topology, type TopologySource } from "../../../src/client/topology.ts";
import { isUkvError } from "../../../src/util/errors.ts";
import { makeKvResponse } from "../../../src/transport/kv-protocol.ts";
import type { KvServer } from "../../../src/transport/kv-server.ts";
import { hashMax, keyHash } from "../../../src/ring/key-hash.ts";
import { RangeMap, rangeToJson } from "../../../src/ring/range-map.ts";
import { disjointPlacement, FakeCluster, keysOf, startKvServer } from "./fake-cluster.ts";

const decoder = new TextDecoder();
let cluster: FakeCluster | null = null;
let client: ShardedClient | null = null;

afterEach(async () => {
  client?.close();
  client = null;
  await cluster?.stop();
  cluster = null;
});

async function setUp(placement: number[][], options: { retryWindowMs?: number } = {}): Promise<{ cluster: FakeCluster; client: ShardedClient }> {
  cluster = await FakeCluster.start(placement);
  client = new ShardedClient({ config: cluster.layout(), requestTimeoutMs: 1000, ...options });
  return { cluster, client };
}

/** A source that holds a stale topology until the first refresh, then the fresh one. */
class RefreshingSource implements TopologySource {
  refreshCount = 0;
  #topology: Topology;
  readonly #fresh: Topology;

  constructor(stale: Topology, fresh: Topology) {
    this.#topology = stale;
    this.#fresh = fresh;
  }

  current(): Topology {
    return this.#topology;
  }

  refresh(): Promise<void> {
    this.refreshCount++;
    this.#topology = this.#fresh;
    return Promise.resolve();
  }
}

describe("ShardedClient", () => {
  test("every write lands on the leader of the shard the ring names for its key", async () => {
    // Both shards on the same three stores: the shard tag, not the address, picks the replica.
    const { cluster, client } = await setUp([[1, 2, 3], [2, 3, 1]]);
    const ring = topologyFromLayout(cluster.layout()).ranges;
    const keys = keysOf("placed", 60);
    for (const key of keys) await client.set(key, `v-${key}`);
    for (const key of keys) {
      const ownerId = ring.shardForKey(new TextEncoder().encode(key));
      expect(client.shardOf(key)).toBe(ownerId);
      expect(cluster.shard(ownerId).store.has(key)).toBe(true);
      expect(cluster.shard(3 - ownerId).store.has(key)).toBe(false);
    }
    expect(cluster.shard(1).store.size).toBeGreaterThan(0);
    expect(cluster.shard(2).store.size).toBeGreaterThan(0);
    // Only leaders took writes: followers saw no SET, and every request named its shard.
    for (const shard of cluster.shards) for (const member of shard.members.slice(1)) expect(member.countOf("SET")).toBe(0);
    for (const store of cluster.stores) for (const request of store.received) expect(request.shard).toBeGreaterThan(0);
  });

  test("a NOT_LEADER hint is followed to the member it names", async () => {
    const { cluster, client } = await setUp([[1, 2, 3]]);
    const shard = cluster.shard(1);
    // STATUS answers point at store 2 (stale views), which is a follower; its hint names the
    // real leader, store 3.
    shard.elect(3);
    for (const member of shard.members) {
      member.statusLeaderOverride = 2;
      member.statusRoleOverride = "follower";
    }
    shard.member(2).hintOverride = shard.member(3).address;
    await client.set("hinted", "yes");
    expect(decoder.decode(shard.store.get("hinted")!)).toBe("yes");
    expect(shard.member(2).countOf("SET")).toBe(1);
    expect(shard.member(3).countOf("SET")).toBe(1);
    // The hint was cached: the next write goes straight to store 3.
    await client.set("hinted-2", "yes");
    expect(shard.member(2).countOf("SET")).toBe(1);
    expect(shard.member(3).countOf("SET")).toBe(2);
  });

  test("writes retry through an election and reach the new leader", async () => {
    const { cluster, client } = await setUp([[1, 2, 3]]);
    const shard = cluster.shard(1);
    await client.set("before", "1");
    await cluster.store(1).stop();
    setTimeout(() => shard.elect(2), 300);
    const startedMs = performance.now();
    await client.set("after", "2");
    const elapsedMs = performance.now() - startedMs;
    expect(decoder.decode(shard.store.get("after")!)).toBe("2");
    expect(shard.member(2).countOf("SET")).toBe(1);
    expect(elapsedMs).toBeGreaterThanOrEqual(250);
    expect(elapsedMs).toBeLessThan(3000);
  });

  test("a write fails with UNAVAILABLE once the retry window passes without a leader", async () => {
    const { cluster, client } = await setUp([[1, 2, 3]], { retryWindowMs: 400 });
    await cluster.store(1).stop();
    const startedMs = performance.now();
    const error = await client.set("nowhere", "x").then(() => null, (caught: unknown) => caught);
    const elapsedMs = performance.now() - startedMs;
    expect(isUkvError(error, "UNAVAILABLE")).toBe(true);
    expect((error as Error).message).toContain("Shard 1 did not accept the SET within 400 ms");
    expect(elapsedMs).toBeGreaterThanOrEqual(400);
    expect(elapsedMs).toBeLessThan(2000);
  });

  test("follower reads go round-robin over all members", async () => {
    const { cluster, client } = await setUp([[1, 2, 3]]);
    const shard = cluster.shard(1);
    await client.set("spread", "v");
    for (let readIndex = 0; readIndex < 30; readIndex++) expect(decoder.decode((await client.get("spread"))!)).toBe("v");
    for (const member of shard.members) expect(member.countOf("GET")).toBe(10);
  });

  test("follower reads skip a stopped member and still answer", async () => {
    const { cluster, client } = await setUp([[1, 2, 3]]);
    const shard = cluster.shard(1);
    await client.set("survive", "v");
    await cluster.store(3).stop();
    for (let readIndex = 0; readIndex < 12; readIndex++) expect(decoder.decode((await client.get("survive"))!)).toBe("v");
    // Store 3 failed once and was then quarantined; the two live stores served every read.
    expect(shard.member(1).countOf("GET") + shard.member(2).countOf("GET")).toBe(12);
    expect(shard.member(3).countOf("GET")).toBe(0);
  });

  test("a linearizable read goes to the leader only; an absent key reads as null", async () => {
    const { cluster, client } = await setUp([[1, 2, 3]]);
    const shard = cluster.shard(1);
    await client.set("strong", "v");
    expect(decoder.decode((await client.get("strong", { linearizable: true }))!)).toBe("v");
    expect(await client.get("absent", { linearizable: true })).toBeNull();
    expect(shard.member(1).countOf("GET")).toBe(2);
    expect(shard.member(2).countOf("GET") + shard.member(3).countOf("GET")).toBe(0);
    await client.delete("strong");
    expect(await client.get("strong")).toBeNull();
  });

  test("the cached leader's store answering WRONG_SHARD (its replica moved away) refreshes the topology and reaches the new leader", async () => {
    cluster = await FakeCluster.start([[1, 2, 3]]);
    const membersOf = (storeIds: number[]) => storeIds.map((storeId) => ({ id: storeId, clientAddress: cluster!.store(storeId).address }));
    const source = new RefreshingSource(topologyFromLayout({ shards: [{ id: 1, members: membersOf([1, 2, 3]) }] }, 1), topologyFromLayout({ shards: [{ id: 1, members: membersOf([2, 3]) }] }, 2));
    client = new ShardedClient({ topologySource: source, requestTimeoutMs: 1000, retryWindowMs: 2000 });
    await client.set("first", "1");
    expect(cluster.shard(1).member(1).countOf("SET")).toBe(1);
    // Store 1's replica is removed and store 2 leads; the client still caches store 1 as leader.
    cluster.store(1).replicas.delete(1);
    cluster.shard(1).elect(2);
    await client.set("second", "2");
    expect(decoder.decode(cluster.shard(1).store.get("second")!)).toBe("2");
    expect(cluster.shard(1).member(2).countOf("SET")).toBe(1);
    expect(cluster.store(1).received.filter((request) => request.op === "SET").length).toBe(2);
    expect(source.refreshCount).toBe(1);
  });

  test("a stale placement naming stores without a replica refreshes the topology and reaches the leader it did not list", async () => {
    // Shard 1 really lives on stores 1-3, led by 1; the client's topology still has it on 4, 2, 3
    // (store 4's replica was removed, store 1's added), so no store it asks names a leader it knows.
    cluster = await FakeCluster.start([[1, 2, 3], [4]]);
    const fresh = topologyFromLayout({ shards: [{ id: 1, members: cluster.shard(1).members.map((member) => ({ id: member.id, clientAddress: member.address })) }] }, 2);
    const staleMembers = [4, 2, 3].map((storeId) => ({ id: storeId, clientAddress: cluster!.store(storeId).address }));
    const stale = topologyFromLayout({ shards: [{ id: 1, members: staleMembers }] }, 1);
    const source = new RefreshingSource(stale, fresh);
    client = new ShardedClient({ topologySource: source, requestTimeoutMs: 1000, retryWindowMs: 2000 });
    const startedMs = performance.now();
    await client.set("moved", "v");
    expect(decoder.decode(cluster.shard(1).store.get("moved")!)).toBe("v");
    expect(cluster.shard(1).member(1).countOf("SET")).toBe(1);
    expect(source.refreshCount).toBeGreaterThanOrEqual(1);
    expect(performance.now() - startedMs).toBeLessThan(1500);
  });

  test("a key a split moved (STALE_EPOCH) is routed again by the refreshed ranges to the new shard; every request carries its range version", async () => {
    cluster = await FakeCluster.start([[1, 2, 3], [1, 2, 3]]);
    const membersOf = (shardId: number) => cluster!.shard(shardId).members.map((member) => ({ id: member.id, clientAddress: member.address }));
    const whole = { start: 0n, end: hashMax, version: 1 };
    const half = 1n << 63n;
    const split = RangeMap.fromRanges([{ shardId: 1, ...whole }]).split(1, half, 2);
    const stale = topologyFromLayout({ shards: [{ id: 1, members: membersOf(1), range: rangeToJson(whole) }] }, 1);
    const fresh = topologyFromLayout({ shards: [1, 2].map((shardId) => ({ id: shardId, members: membersOf(shardId), range: rangeToJson(split.rangeOf(shardId)!) })) }, 2);
    const source = new RefreshingSource(stale, fresh);
    client = new ShardedClient({ topologySource: source, requestTimeoutMs: 1000, retryWindowMs: 2000 });
    const encoder = new TextEncoder();
    const movedAway = (key: string | Uint8Array): boolean => keyHash(typeof key === "string" ? encoder.encode(key) : key) >= half;
    const parent = cluster.shard(1).leader()!;
    // The parent's replica no longer owns the upper half (nothing applied there, in a real store).
    parent.answerOverride = (request) => (request.op !== "STATUS" && movedAway(request.key) ? makeKvResponse(request.id, "STALE_EPOCH", { message: "Shard 1 no longer owns the key" }) : null);
    const keys = keysOf("split", 40);
    const moved = keys.find((key) => movedAway(key))!;
    const kept = keys.find((key) => !movedAway(key))!;
    await client.set(moved, "m");
    expect(decoder.decode(cluster.shard(2).store.get(moved)!)).toBe("m");
    expect(source.refreshCount).toBe(1);
    expect(parent.received.find((request) => request.op === "SET")!.rangeVersion).toBe(1);
    expect(cluster.shard(2).leader()!.received.find((request) => request.op === "SET")!.rangeVersion).toBe(2);
    await client.set(kept, "k");
    expect(parent.received.filter((request) => request.op === "SET").at(-1)!.rangeVersion).toBe(2);
    expect(decoder.decode((await client.get(moved))!)).toBe("m");
  });

  test("an empty or oversized key is refused locally with its protocol code", async () => {
    const { cluster, client } = await setUp([[1, 2, 3]]);
    const empty = await client.set("", "x").then(() => null, (caught: unknown) => caught);
    expect(isUkvError(empty, "BAD_REQUEST")).toBe(true);
    const large = await client.get("k".repeat(5000)).then(() => null, (caught: unknown) => caught);
    expect(isUkvError(large, "KEY_TOO_LARGE")).toBe(true);
    for (const store of cluster.stores) expect(store.received.length).toBe(0);
  });
});

describe("writesToRaftPorts", () => {
  test("writes go to the leader's Raft address, follower GETs to the members' client addresses; without the option, everything to the client address", async () => {
    const seen: { port: string; op: string }[] = [];
    const servers: KvServer[] = [];
    const start = async (name: string): Promise<string> => {
      const { server, address } = await startKvServer((request) => {
        seen.push({ port: name, op: request.op });
        if (request.op === "STATUS") return makeKvResponse(request.id, "OK", { statusJson: JSON.stringify({ nodeId: 1, groupId: 1, role: "leader", term: 1, leader: 1, commitIndex: 0, appliedIndex: 0, lastIndex: 0, snapshotIndex: 0, keyCount: 0 }) });
        return makeKvResponse(request.id, request.op === "GET" ? "NOT_FOUND" : "OK");
      });
      servers.push(server);
      return address;
    };
    const clientAddress = await start("client");
    const raftAddress = await start("raft");
    const layout = { shards: [{ id: 1, members: [{ id: 1, clientAddress, raftAddress }] }] };
    for (const writesToRaftPorts of [true, false]) {
      seen.length = 0;
      const one = new ShardedClient({ config: layout, requestTimeoutMs: 1000, writesToRaftPorts });
      await one.set("k", "v");
      expect(await one.get("k")).toBeNull();
      one.close();
      const writes = seen.filter((entry) => entry.op === "SET");
      expect(writes).toEqual([{ port: writesToRaftPorts ? "raft" : "client", op: "SET" }]);
      expect(seen.filter((entry) => entry.op === "GET")).toEqual([{ port: "client", op: "GET" }]);
      if (!writesToRaftPorts) expect(seen.every((entry) => entry.port === "client")).toBe(true);
    }
    for (const server of servers) await server.close();
  });
});

describe("writes whose outcome is unknown", () => {
  test("a SET the leader answered TIMEOUT (applied or not) is returned as TIMEOUT, never sent again; a GET is retried", async () => {
    const { cluster, client } = await setUp(disjointPlacement(1));
    const shard = cluster.shard(1);
    shard.elect(shard.members[0]!.id);
    const leader = shard.leader()!;
    leader.answerOverride = (request) => (request.op === "SET" ? makeKvResponse(request.id, "TIMEOUT", { message: "lost the lead before commit: outcome unknown" }) : null);
    const setsBefore = leader.countOf("SET");
    const written = await client.request({ op: "SET", key: new TextEncoder().encode("k"), value: new TextEncoder().encode("v"), linearizable: false });
    expect(written.code).toBe("TIMEOUT");
    expect(leader.countOf("SET") - setsBefore).toBe(1);
    let getTimeouts = 1;
    leader.answerOverride = (request) => (request.op === "GET" && getTimeouts-- > 0 ? makeKvResponse(request.id, "TIMEOUT", { message: "slow" }) : null);
    const read = await client.request({ op: "GET", key: new TextEncoder().encode("k"), value: new Uint8Array(0), linearizable: true });
    expect(read.code).toBe("OK");
    expect(decoder.decode(read.value)).toBe("v");
  });
});
