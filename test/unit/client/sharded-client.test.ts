// The smart client's routing against fake members: ring placement, leader discovery, NOT_LEADER
// hints, retries through an election, the retry bound, follower reads and their fallback.
import { afterEach, describe, expect, test } from "bun:test";
import { ShardedClient } from "../../../src/client/sharded-client.ts";
import { topologyFromLayout } from "../../../src/client/topology.ts";
import { isUkvError } from "../../../src/util/errors.ts";
import { FakeCluster, keysOf } from "./fake-cluster.ts";

const decoder = new TextDecoder();
let cluster: FakeCluster | null = null;
let client: ShardedClient | null = null;

afterEach(async () => {
  client?.close();
  client = null;
  await cluster?.stop();
  cluster = null;
});

async function setUp(shardCount: number, options: { retryWindowMs?: number } = {}): Promise<{ cluster: FakeCluster; client: ShardedClient }> {
  cluster = await FakeCluster.start(shardCount);
  client = new ShardedClient({ config: cluster.layout(), requestTimeoutMs: 1000, ...options });
  return { cluster, client };
}

describe("ShardedClient", () => {
  test("every write lands on the leader of the shard the ring names for its key", async () => {
    const { cluster, client } = await setUp(2);
    const ring = topologyFromLayout(cluster.layout()).ring;
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
    // Only leaders took writes: followers saw no SET.
    for (const shard of cluster.shards) for (const member of shard.members.slice(1)) expect(member.countOf("SET")).toBe(0);
  });

  test("a NOT_LEADER hint is followed to the member it names", async () => {
    const { cluster, client } = await setUp(1);
    const shard = cluster.shard(1);
    // STATUS answers point at member 12 (stale views), which is a follower; its hint names the
    // real leader 13.
    shard.elect(13);
    for (const member of shard.members) {
      member.statusLeaderOverride = 12;
      member.statusRoleOverride = "follower";
    }
    shard.member(12).hintOverride = shard.member(13).address;
    await client.set("hinted", "yes");
    expect(decoder.decode(shard.store.get("hinted")!)).toBe("yes");
    expect(shard.member(12).countOf("SET")).toBe(1);
    expect(shard.member(13).countOf("SET")).toBe(1);
    // The hint was cached: the next write goes straight to 13.
    await client.set("hinted-2", "yes");
    expect(shard.member(12).countOf("SET")).toBe(1);
    expect(shard.member(13).countOf("SET")).toBe(2);
  });

  test("writes retry through an election and reach the new leader", async () => {
    const { cluster, client } = await setUp(1);
    const shard = cluster.shard(1);
    await client.set("before", "1");
    await shard.member(11).stop();
    setTimeout(() => shard.elect(12), 300);
    const startedMs = performance.now();
    await client.set("after", "2");
    const elapsedMs = performance.now() - startedMs;
    expect(decoder.decode(shard.store.get("after")!)).toBe("2");
    expect(shard.member(12).countOf("SET")).toBe(1);
    expect(elapsedMs).toBeGreaterThanOrEqual(250);
    expect(elapsedMs).toBeLessThan(3000);
  });

  test("a write fails with UNAVAILABLE once the retry window passes without a leader", async () => {
    const { cluster, client } = await setUp(1, { retryWindowMs: 400 });
    const shard = cluster.shard(1);
    await shard.member(11).stop();
    const startedMs = performance.now();
    const error = await client.set("nowhere", "x").then(() => null, (caught: unknown) => caught);
    const elapsedMs = performance.now() - startedMs;
    expect(isUkvError(error, "UNAVAILABLE")).toBe(true);
    expect((error as Error).message).toContain("Shard 1 did not accept the SET within 400 ms");
    expect(elapsedMs).toBeGreaterThanOrEqual(400);
    expect(elapsedMs).toBeLessThan(2000);
  });

  test("follower reads go round-robin over all members", async () => {
    const { cluster, client } = await setUp(1);
    const shard = cluster.shard(1);
    await client.set("spread", "v");
    for (let readIndex = 0; readIndex < 30; readIndex++) expect(decoder.decode((await client.get("spread"))!)).toBe("v");
    for (const member of shard.members) expect(member.countOf("GET")).toBe(10);
  });

  test("follower reads skip a stopped member and still answer", async () => {
    const { cluster, client } = await setUp(1);
    const shard = cluster.shard(1);
    await client.set("survive", "v");
    await shard.member(13).stop();
    for (let readIndex = 0; readIndex < 12; readIndex++) expect(decoder.decode((await client.get("survive"))!)).toBe("v");
    // Member 13 failed once and was then quarantined; the two live members served every read.
    expect(shard.member(11).countOf("GET") + shard.member(12).countOf("GET")).toBe(12);
    expect(shard.member(13).countOf("GET")).toBe(0);
  });

  test("a linearizable read goes to the leader only; an absent key reads as null", async () => {
    const { cluster, client } = await setUp(1);
    const shard = cluster.shard(1);
    await client.set("strong", "v");
    expect(decoder.decode((await client.get("strong", { linearizable: true }))!)).toBe("v");
    expect(await client.get("absent", { linearizable: true })).toBeNull();
    expect(shard.member(11).countOf("GET")).toBe(2);
    expect(shard.member(12).countOf("GET") + shard.member(13).countOf("GET")).toBe(0);
    await client.delete("strong");
    expect(await client.get("strong")).toBeNull();
  });

  test("an empty or oversized key is refused locally with its protocol code", async () => {
    const { cluster, client } = await setUp(1);
    const empty = await client.set("", "x").then(() => null, (caught: unknown) => caught);
    expect(isUkvError(empty, "BAD_REQUEST")).toBe(true);
    const large = await client.get("k".repeat(5000)).then(() => null, (caught: unknown) => caught);
    expect(isUkvError(large, "KEY_TOO_LARGE")).toBe(true);
    for (const member of cluster.shard(1).members) expect(member.received.length).toBe(0);
  });
});
