// The keyspace over every shard, end to end on 3 stores with 4 shards: SCAN over 50,000 keys
// (ioredis's scanStream, MATCH, COUNT, TYPE) returns every key, also while keys are added and
// removed during the iteration; KEYS (and its limit error), DBSIZE exact right after writes,
// RANDOMKEY, TYPE, OBJECT ENCODING, and FLUSHDB through every shard's log (every replica empty).
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import Redis from "ioredis";
import { LocalStores, waitFor } from "./harness.ts";

let stores: LocalStores;
const clients: Redis[] = [];

beforeAll(async () => {
  stores = await LocalStores.create({ storeCount: 3, shardCount: 4, replication: 3 });
  stores.startAll();
  await stores.waitForLeaders();
  await stores.waitForRouting();
}, 60_000);

afterAll(async () => {
  for (const redis of clients.splice(0)) redis.disconnect();
  await stores.destroy();
}, 30_000);

/** MSET is idempotent: under load a leader change can answer TRYAGAIN (outcome unknown); send it again. */
async function msetRetrying(redis: Redis, pairs: string[]): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    try {
      expect(await redis.mset(...pairs)).toBe("OK");
      return;
    } catch (error) {
      if (attempt >= 5 || !String(error).includes("TRYAGAIN")) throw error;
      await Bun.sleep(200);
    }
  }
}

function client(storeId: number): Redis {
  const redis = new Redis({ host: "127.0.0.1", port: stores.respPort(storeId), maxRetriesPerRequest: 0 });
  redis.on("error", () => undefined);
  clients.push(redis);
  return redis;
}

async function scanAll(redis: Redis, options: { match?: string; count?: number; type?: string } = {}, during?: (round: number) => Promise<void>): Promise<string[]> {
  const found: string[] = [];
  let cursor = "0";
  let round = 0;
  do {
    const args: (string | number)[] = [cursor];
    if (options.match !== undefined) args.push("MATCH", options.match);
    if (options.count !== undefined) args.push("COUNT", options.count);
    if (options.type !== undefined) args.push("TYPE", options.type);
    const [next, keys] = (await redis.call("SCAN", ...args)) as [string, string[]];
    found.push(...keys);
    cursor = next;
    if (during !== undefined) await during(round++);
  } while (cursor !== "0");
  return found;
}

describe("keyspace over every shard", () => {
  test("SCAN returns each of 50,000 keys across 4 shards; MATCH, COUNT, TYPE; keys present throughout survive concurrent writes and deletes", async () => {
    const redis = client(1);
    // Warm-up keys of the harness are there too: clear them first.
    expect(await redis.flushdb()).toBe("OK");
    const keyCount = 50_000;
    for (let start = 0; start < keyCount; start += 2000) {
      const pairs: string[] = [];
      for (let index = start; index < start + 2000; index++) pairs.push(`scan:${index}`, "v");
      await msetRetrying(redis, pairs);
    }
    expect(await redis.dbsize()).toBe(keyCount);
    const shardsUsed = new Set(Array.from({ length: 200 }, (_, index) => stores.shardOf(`scan:${index}`)));
    expect(shardsUsed.size).toBe(4);

    const streamed = new Set<string>();
    await new Promise<void>((resolve, reject) => {
      const stream = client(2).scanStream({ count: 500 });
      stream.on("data", (keys: string[]) => {
        for (const key of keys) streamed.add(key);
      });
      stream.on("end", resolve);
      stream.on("error", reject);
    });
    expect(streamed.size).toBe(keyCount);

    const matched = await scanAll(redis, { match: "scan:1234*", count: 1000 });
    expect(new Set(matched)).toEqual(new Set(["scan:1234", ...Array.from({ length: 10 }, (_, index) => `scan:1234${index}`)]));
    expect(await scanAll(redis, { type: "hash", count: 5000 })).toEqual([]);

    // While the iteration runs, other clients add 5,000 keys (growing tables move entries) and delete
    // others; every key present from start to end is returned.
    const writer = client(3);
    const deleted = new Set<string>();
    const seen = new Set(
      await scanAll(redis, { count: 1000 }, async (round) => {
        if (round < 10) {
          const pairs: string[] = [];
          for (let index = 0; index < 500; index++) pairs.push(`grow:${round}:${index}`, "g");
          await msetRetrying(writer, pairs);
          const victim = `scan:${round * 7}`;
          await writer.del(victim);
          deleted.add(victim);
        }
      }),
    );
    for (let index = 0; index < keyCount; index++) {
      const key = `scan:${index}`;
      if (!deleted.has(key) && !seen.has(key)) throw new Error(`SCAN missed ${key}, present throughout`);
    }
  }, 180_000);

  test("KEYS, its limit, DBSIZE exact, RANDOMKEY, TYPE, OBJECT ENCODING", async () => {
    const redis = client(2);
    expect((await redis.keys("scan:4999*")).sort()).toEqual(["scan:4999", ...Array.from({ length: 10 }, (_, index) => `scan:4999${index}`)].sort());
    // Past 100,000 matches KEYS refuses (SCAN still walks them all).
    for (let start = 0; start < 50_000; start += 2000) {
      const pairs: string[] = [];
      for (let index = start; index < start + 2000; index++) pairs.push(`more:${index}`, "m");
      await msetRetrying(redis, pairs);
    }
    await expect(redis.keys("*")).rejects.toThrow("ERR KEYS matched more than 100000 keys: iterate with SCAN instead");
    const before = await redis.dbsize();
    await redis.set("dbsize:new", "1");
    expect(await redis.dbsize()).toBe(before + 1);
    const random = await redis.randomkey();
    expect(random).not.toBeNull();
    expect(await redis.exists(random!)).toBe(1);
    expect(await redis.type("dbsize:new")).toBe("string");
    // OBJECT reads like GET: a follower read may lag the write just acknowledged (eventual
    // consistency), so it is asked until the replica caught up.
    const encodingOf = (key: string): Promise<unknown> => waitFor(`OBJECT ENCODING ${key}`, () => redis.call("OBJECT", "ENCODING", key), (encoding) => encoding !== null, 10_000);
    expect(await encodingOf("dbsize:new")).toBe("int");
    await redis.set("enc", "x".repeat(100));
    expect(await encodingOf("enc")).toBe("raw");
    await expect(redis.call("OBJECT", "FREQ", "enc")).rejects.toThrow("LFU maxmemory policy is not selected");
  }, 120_000);

  test("FLUSHDB empties every replica of every shard through the log; RANDOMKEY then answers nil", async () => {
    const redis = client(3);
    expect(await redis.flushall()).toBe("OK");
    expect(await redis.dbsize()).toBe(0);
    expect(await redis.randomkey()).toBeNull();
    for (let shardId = 1; shardId <= 4; shardId++) {
      await waitFor(`every replica of shard ${shardId} empty`, () => stores.replicaStatuses(shardId), (statuses) => statuses.size === 3 && [...statuses.values()].every((status) => status.keyCount === 0), 10_000);
    }
    expect(await scanAll(redis)).toEqual([]);
  }, 60_000);
});
