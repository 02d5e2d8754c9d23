// Routing through the stores (every store routes any key: served by its own replica when that
// needs no hop, else forwarded to the shard's leader store) and through the optional `ukv router`
// process, on 4 real stores with an explicit placement chosen so that losing stores 1 and 2 takes
// quorum from shard 1 only:
//   metadata group on stores 2, 3, 4; shard 1 on stores 1, 2, 3; shard 2 on stores 4, 3, 2
// Store 1 holds no replica of shard 2, store 4 none of shard 1: both forward. Keys land on the
// shard the ring names; follower reads keep answering while a leader's store is paused; a killed
// leader's store is followed with no failed write; with stores 1 and 2 down, shard-1 requests fail
// fast with `shard 1 unavailable: no quorum` and a CRITICAL log line each while shard 2 serves,
// and after the restart nothing acknowledged is lost. One cluster for the file, reset before each
// test (stopped stores restarted, paused ones resumed, every group led); each test uses its own keys.
import { afterAll, beforeAll, beforeEach, describe, expect, test } from "bun:test";
import Redis from "ioredis";
import { ShardedClient } from "../../src/client/sharded-client.ts";
import { layoutFromConfig } from "../../src/meta/meta-service.ts";
import type { RouterView } from "../../src/router/router-server.ts";
import { KvClient } from "../../src/transport/kv-client.ts";
import type { KvResponse } from "../../src/transport/kv-protocol.ts";
import { LocalStores, bytes, logEvents, text, ukvBinary, waitFor, twoShardsOnFourStores } from "./harness.ts";

let stores: LocalStores;
const noQuorumMessage = "shard 1 unavailable: no quorum";

beforeAll(async () => {
  stores = await LocalStores.create(twoShardsOnFourStores);
  stores.startAll();
  await stores.waitForLeaders();
}, 60_000);

afterAll(async () => {
  await stores.destroy();
}, 30_000);

beforeEach(async () => {
  await stores.reset();
}, 60_000);

/** Linearizable reads of every key through `storeId`; the keys whose value differs. */
async function missingThrough(storeId: number, expected: Map<string, string>): Promise<string[]> {
  const missing: string[] = [];
  for (const [key, value] of expected) {
    const response = await stores.request(storeId, { op: "GET", key, linearizable: true });
    if (response.code !== "OK" || text(response.value) !== value) missing.push(`${key}: ${response.code} ${response.message}`);
  }
  return missing;
}

describe("every store routes", () => {
  test("200 keys written through the 4 stores in turn land on the shard the ring names and read back through every store, the smart client and ukv kv", async () => {
    const keys = Array.from({ length: 200 }, (_, index) => `spread-${index}`);
    const perShard = new Map<number, string[]>([[1, []], [2, []]]);
    for (const key of keys) perShard.get(stores.shardOf(key))!.push(key);
    expect(perShard.get(1)!.length).toBeGreaterThan(50);
    expect(perShard.get(2)!.length).toBeGreaterThan(50);
    const leaders = new Map([[1, await stores.waitForLeader(1)], [2, await stores.waitForLeader(2)]]);
    const keyCountBefore = new Map<number, number>();
    for (const [shardId, leader] of leaders) keyCountBefore.set(shardId, (await stores.replicaStatus(leader, shardId))!.keyCount);

    const responses = await Promise.all(keys.map((key, index) => stores.request((index % 4) + 1, { op: "SET", key, value: `value-${key}` })));
    expect(responses.filter((response) => response.code !== "OK").map((response) => `${response.code} ${response.message}`)).toEqual([]);

    for (const [shardId, shardKeys] of perShard) {
      const leader = leaders.get(shardId)!;
      expect((await stores.replicaStatus(leader, shardId))!.keyCount - keyCountBefore.get(shardId)!).toBe(shardKeys.length);
      // Store 3 holds both shards: a key asked of the other shard's replica is refused (its range
      // does not hold the key), not served.
      const otherShard = 3 - shardId;
      for (const key of shardKeys.slice(0, 10)) {
        const direct = await stores.request(leader, { op: "GET", key, linearizable: true, shard: shardId });
        expect(text(direct.value)).toBe(`value-${key}`);
        const wrong = await stores.request(3, { op: "GET", key, shard: otherShard });
        expect(wrong.code).toBe("STALE_EPOCH");
        expect(wrong.message).toContain(`Shard ${otherShard} no longer owns the key`);
      }
    }
    // A store asked for a shard it holds no replica of says so.
    const noReplica = await stores.request(4, { op: "GET", key: perShard.get(1)![0]!, shard: 1 });
    expect(noReplica.code).toBe("WRONG_SHARD");

    const expected = new Map(keys.map((key) => [key, `value-${key}`]));
    for (const storeId of stores.storeIds) expect(await missingThrough(storeId, expected)).toEqual([]);
    const smart = new ShardedClient({ config: layoutFromConfig(stores.config) });
    try {
      for (const key of keys) expect(text((await smart.get(key, { linearizable: true }))!)).toBe(`value-${key}`);
    } finally {
      smart.close();
    }
    const viaCli = Bun.spawnSync([ukvBinary, "kv", "get", perShard.get(1)![0]!, "--node", stores.clientAddress(4), "--linearizable"]);
    expect(viaCli.stderr.toString()).toBe("");
    expect(viaCli.stdout.toString().trim()).toBe(`value-${perShard.get(1)![0]!}`);
  }, 60_000);

  test("follower reads keep answering from the live replicas while the leader's store is paused", async () => {
    const leader = await stores.waitForLeader(1);
    const keys = stores.keysOfShard("paused-", 1, 30);
    for (const key of keys) expect((await stores.request(leader, { op: "SET", key, value: `v-${key}`, shard: 1 })).code).toBe("OK");
    await stores.waitForCaughtUp(1);
    // Through a store holding a follower replica (served locally) and through store 4 (no replica: forwarded).
    const readers = [stores.placement(1).find((storeId) => storeId !== leader)!, 4];
    stores.pause(leader);
    try {
      const readAll = async (storeId: number, batch: string[]): Promise<{ elapsedMs: number; wrong: string[] }> => {
        const startedMs = performance.now();
        const wrong: string[] = [];
        for (const key of batch) {
          const response = await stores.request(storeId, { op: "GET", key });
          if (response.code !== "OK" || text(response.value) !== `v-${key}`) wrong.push(`${key}: ${response.code} ${response.message}`);
        }
        return { elapsedMs: performance.now() - startedMs, wrong };
      };
      for (const reader of readers) {
        // Until the store's health probe has marked the paused replica down, one read may wait for a timeout.
        await waitFor(`store ${reader} to read around the paused store`, () => readAll(reader, keys.slice(0, 5)), (round) => round.wrong.length === 0 && round.elapsedMs < 500, 10_000);
        const round = await readAll(reader, keys);
        expect(round.wrong).toEqual([]);
        expect(round.elapsedMs).toBeLessThan(3000);
      }
    } finally {
      stores.resume(leader);
    }
  }, 60_000);

  test("after the shard leader's store is killed, writes through a store without a replica resume with no failed request", async () => {
    const leader = await stores.waitForLeader(1);
    const keys = stores.keysOfShard("failover-", 1, 40);
    await stores.kill(leader);
    const { failures, unknownKey } = await stores.setAfterKill(4, keys, (key) => `after-${key}`);
    expect(failures).toEqual([]);
    const newLeader = await stores.waitForLeader(1);
    expect(newLeader).not.toBe(leader);
    expect(await missingThrough(4, new Map(keys.filter((key) => key !== unknownKey).map((key) => [key, `after-${key}`])))).toEqual([]);
  }, 60_000);

  test("with stores 1 and 2 down, shard-1 requests fail fast with no quorum and a CRITICAL line each; shard 2 serves; after the restart nothing is lost", async () => {
    const acked = new Map<string, string>();
    for (const key of stores.keysOfShard("before-dark-", 1, 20)) {
      expect((await stores.request(4, { op: "SET", key, value: "kept" })).code).toBe("OK");
      acked.set(key, "kept");
    }
    await stores.kill(1);
    await stores.kill(2);
    const [probeKey, ...darkKeys] = stores.keysOfShard("dark-", 1, 21);
    // Store 4's health probe notices within a few election timeouts.
    await waitFor("store 4 to refuse shard 1", () => stores.request(4, { op: "SET", key: probeKey!, value: "x" }), (response) => response.code === "SHARD_UNAVAILABLE", 20_000);
    const criticalBefore = stores.eventCount(4, "shard_unavailable");
    const startedMs = performance.now();
    const answers: KvResponse[] = [];
    for (const key of darkKeys) {
      answers.push(await stores.request(4, { op: "SET", key, value: "lost" }));
      answers.push(await stores.request(4, { op: "GET", key }));
    }
    expect(performance.now() - startedMs).toBeLessThan(2000);
    expect(answers.map((response) => `${response.code} ${response.message}`)).toEqual(answers.map(() => `SHARD_UNAVAILABLE ${noQuorumMessage}`));
    // The store holding shard 1's surviving replica refuses the same way once its own probe
    // noticed, follower reads included: its replica must not answer for a shard without quorum.
    await waitFor("store 3 to refuse shard 1", () => stores.request(3, { op: "SET", key: darkKeys[0]!, value: "lost" }), (response) => response.code === "SHARD_UNAVAILABLE", 20_000);
    const viaMinority = [await stores.request(3, { op: "SET", key: darkKeys[1]!, value: "lost" }), await stores.request(3, { op: "GET", key: [...acked.keys()][0]! })];
    expect(viaMinority.map((response) => `${response.code} ${response.message}`)).toEqual(viaMinority.map(() => `SHARD_UNAVAILABLE ${noQuorumMessage}`));

    for (const key of stores.keysOfShard("lit-", 2, 20)) {
      for (const storeId of [3, 4]) expect((await stores.request(storeId, { op: "SET", key, value: `lit-${key}` })).code).toBe("OK");
    }
    const expectedLines = darkKeys.length * 2;
    await waitFor("a CRITICAL line per refused request", async () => stores.eventCount(4, "shard_unavailable") - criticalBefore, (count) => count >= expectedLines, 5000);
    expect(stores.eventCount(4, "shard_unavailable") - criticalBefore).toBe(expectedLines);
    const critical = logEvents(stores.log(4), "shard_unavailable");
    expect(critical.length).toBeGreaterThanOrEqual(expectedLines);
    for (const event of critical) {
      expect(event.severity).toBe("CRITICAL");
      expect(event.level).toBe(60);
      expect(event.shard).toBe(1);
      expect(typeof event.keySizeBytes).toBe("number");
      expect(JSON.stringify(event)).not.toContain("dark-"); // never the key itself
    }

    stores.start(1);
    stores.start(2);
    await waitFor("shard 1 to serve again through store 4", () => stores.request(4, { op: "SET", key: probeKey!, value: "back" }), (response) => response.code === "OK", 20_000);
    expect(await missingThrough(4, acked)).toEqual([]);
    for (const key of darkKeys) expect((await stores.request(4, { op: "GET", key, linearizable: true })).code).toBe("NOT_FOUND");
  }, 90_000);
});

describe("the optional ukv router", () => {
  test("routes the raw protocol and RESP like a store, and reports every shard in its view", async () => {
    const routerAddress = stores.config.router!.clientAddress;
    const router = stores.spawn("router", ["router", "--config", stores.configPath]);
    const client = new KvClient(routerAddress, { timeoutMs: 3000 });
    const redis = new Redis({ host: "127.0.0.1", port: Number(stores.config.router!.respAddress!.split(":")[1]), maxRetriesPerRequest: 0, lazyConnect: true });
    redis.on("error", () => undefined);
    try {
      await waitFor("the router to serve", () => client.set(bytes("router-warm-up"), bytes("1")), (response) => response.code === "OK", 15_000);
      const keys = Array.from({ length: 50 }, (_, index) => `via-router-${index}`);
      for (const key of keys) expect((await client.set(bytes(key), bytes(`r-${key}`))).code).toBe("OK");
      expect(new Set(keys.map((key) => stores.shardOf(key)))).toEqual(new Set([1, 2]));
      expect(await missingThrough(1, new Map(keys.map((key) => [key, `r-${key}`])))).toEqual([]);
      for (const key of keys.slice(0, 10)) expect(text((await client.get(bytes(key), { linearizable: true })).value)).toBe(`r-${key}`);
      const view = await waitFor(
        "the router's view of both shards",
        async () => {
          const response = await client.status();
          return response.code === "OK" ? (JSON.parse(response.statusJson) as RouterView) : null;
        },
        (value) => value !== null && value.shards.length === 2 && value.shards.every((shard) => shard.state === "available"),
        10_000,
      );
      expect(view!.shards.map((shard) => shard.members.map((member) => member.id).sort())).toEqual([[1, 2, 3], [2, 3, 4]]);
      await redis.connect();
      expect(await redis.get(keys[0]!)).toBe(`r-${keys[0]}`);
      expect(await redis.set("via-router-resp", "yes")).toBe("OK");
      expect(text((await stores.request(2, { op: "GET", key: "via-router-resp", linearizable: true })).value)).toBe("yes");
      expect(router.child.exitCode).toBeNull();
    } finally {
      redis.disconnect();
      client.close();
    }
    // Regression: a pending first-wait timer (5 s) kept a router told to stop soon after start alive.
    const stoppingMs = performance.now();
    expect(await stores.killProcess("router", "SIGTERM")).toBe(0);
    expect(performance.now() - stoppingMs).toBeLessThan(2000);
    expect(stores.log("router")).toContain("router_stopped");
  }, 60_000);
});
