// Lists and hashes end to end with real clients (ioredis and node-redis) on 3 stores and 2 shards:
// every list and hash command through the shard's log, as Redis answers it; WRONGTYPE between
// strings and collections (GET of a list, LPUSH on a string), MGET nil and EXISTS 1 for a list;
// TYPE and SCAN TYPE; expiry on a list; a MULTI/EXEC on a hash-tagged list and hash; lists and
// hashes kept across kill -9 of every store; and `redis-benchmark -t set,get,incr,mset,lpush`
// running to the end.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import Redis from "ioredis";
import { createClient } from "redis";
import { LocalStores, ukvBinary, waitFor } from "./harness.ts";

let stores: LocalStores;
const clients: Redis[] = [];

beforeAll(async () => {
  stores = await LocalStores.create({ storeCount: 3, shardCount: 2 });
  stores.startAll();
  await stores.waitForLeaders();
  await stores.waitForRouting();
}, 60_000);

afterAll(async () => {
  for (const redis of clients.splice(0)) redis.disconnect();
  await stores.destroy();
}, 30_000);

function client(storeId: number): Redis {
  const redis = new Redis({ host: "127.0.0.1", port: stores.respPort(storeId), maxRetriesPerRequest: 0 });
  redis.on("error", () => undefined);
  // GET, MGET, EXISTS and TYPE of strings are follower reads by default: a replica may not have
  // applied the write acknowledged a moment ago. The list and hash commands go through the log.
  void redis.call("CLIENT", "READMODE", "linearizable");
  clients.push(redis);
  return redis;
}

describe("lists and hashes", () => {
  test("list commands (ioredis), read back through another store", async () => {
    const redis = client(1);
    const other = client(3);
    expect(await redis.lpushx("queue", "x")).toBe(0);
    expect(await redis.lpush("queue", "a", "b", "c")).toBe(3);
    expect(await redis.rpush("queue", "d", "e")).toBe(5);
    expect(await other.lrange("queue", 0, -1)).toEqual(["c", "b", "a", "d", "e"]);
    expect(await other.llen("queue")).toBe(5);
    expect(await other.lindex("queue", -1)).toBe("e");
    expect(await redis.lset("queue", 1, "B")).toBe("OK");
    await expect(redis.lset("queue", 10, "B")).rejects.toThrow("ERR index out of range");
    await expect(redis.lset("nolist", 0, "B")).rejects.toThrow("ERR no such key");
    expect(await redis.lpop("queue")).toBe("c");
    expect(await redis.rpop("queue", 2)).toEqual(["e", "d"]);
    expect(await redis.rpushx("queue", "f")).toBe(3);
    expect(await redis.rpush("queue", "B", "g", "B")).toBe(6);
    expect(await redis.lrem("queue", 2, "B")).toBe(2);
    expect(await redis.lrange("queue", 0, -1)).toEqual(["a", "f", "g", "B"]);
    expect(await redis.ltrim("queue", 1, 2)).toBe("OK");
    expect(await redis.lrange("queue", 0, -1)).toEqual(["f", "g"]);
    expect(await redis.lpop("nolist")).toBeNull();
    await expect(redis.lpop("queue", -1)).rejects.toThrow("ERR value is out of range, must be positive");
    await expect(redis.lrange("queue", "x" as unknown as number, 1)).rejects.toThrow("ERR value is not an integer or out of range");
    expect(await redis.rpop("queue", 5)).toEqual(["g", "f"]);
    expect(await redis.exists("queue")).toBe(0);
  }, 30_000);

  test("hash commands (ioredis and node-redis over RESP3)", async () => {
    const redis = client(2);
    expect(await redis.hset("user:1", "name", "ada", "lang", "en")).toBe(2);
    expect(await redis.hset("user:1", { name: "Ada", born: "1815" })).toBe(1);
    expect(await redis.hsetnx("user:1", "name", "x")).toBe(0);
    expect(await redis.hsetnx("user:1", "mail", "a@b")).toBe(1);
    expect(await redis.hget("user:1", "name")).toBe("Ada");
    expect(await redis.hmget("user:1", "lang", "nope")).toEqual(["en", null]);
    expect(await redis.hgetall("user:1")).toEqual({ name: "Ada", lang: "en", born: "1815", mail: "a@b" });
    expect(await redis.hkeys("user:1")).toEqual(["name", "lang", "born", "mail"]);
    expect(await redis.hvals("user:1")).toEqual(["Ada", "en", "1815", "a@b"]);
    expect(await redis.hexists("user:1", "mail")).toBe(1);
    expect(await redis.hdel("user:1", "mail", "nope")).toBe(1);
    expect(await redis.hlen("user:1")).toBe(3);
    expect(await redis.hincrby("user:1", "visits", 3)).toBe(3);
    await expect(redis.hincrby("user:1", "name", 1)).rejects.toThrow("ERR hash value is not an integer");
    expect(await redis.hmset("user:2", { a: "1" })).toBe("OK");
    await expect(redis.call("HSET", "user:2", "a")).rejects.toThrow("ERR wrong number of arguments for 'hset' command");

    const node = createClient({ url: `redis://127.0.0.1:${stores.respPort(3)}`, RESP: 3 });
    await node.connect();
    try {
      await node.sendCommand(["CLIENT", "READMODE", "linearizable"]);
      expect(await node.hGetAll("user:1")).toEqual({ name: "Ada", lang: "en", born: "1815", visits: "3" });
      expect(await node.hIncrBy("user:1", "visits", 2)).toBe(5);
      expect(await node.rPush("nq", ["1", "2", "3"])).toBe(3);
      expect(await node.lRange("nq", 0, -1)).toEqual(["1", "2", "3"]);
      expect(await node.lPop("nq")).toBe("1");
      expect(await node.type("nq")).toBe("list");
      expect(await node.type("user:1")).toBe("hash");
    } finally {
      await node.quit();
    }
  }, 30_000);

  test("WRONGTYPE like Redis; MGET nil and EXISTS 1 for a list; TYPE; SCAN TYPE; OBJECT ENCODING", async () => {
    const redis = client(1);
    await redis.rpush("wt:list", "a");
    await redis.hset("wt:hash", "f", "v");
    await redis.set("wt:string", "s");
    const wrongType = "WRONGTYPE Operation against a key holding the wrong kind of value";
    await expect(redis.get("wt:list")).rejects.toThrow(wrongType);
    await expect(redis.strlen("wt:hash")).rejects.toThrow(wrongType);
    await expect(redis.incr("wt:list")).rejects.toThrow(wrongType);
    await expect(redis.getset("wt:list", "x")).rejects.toThrow(wrongType);
    await expect(redis.lpush("wt:string", "x")).rejects.toThrow(wrongType);
    await expect(redis.hget("wt:list", "f")).rejects.toThrow(wrongType);
    await expect(redis.llen("wt:hash")).rejects.toThrow(wrongType);
    expect(await redis.mget("wt:list", "wt:string", "wt:none")).toEqual([null, "s", null]);
    expect(await redis.exists("wt:list", "wt:hash", "wt:none")).toBe(2);
    expect(await redis.type("wt:list")).toBe("list");
    expect(await redis.type("wt:hash")).toBe("hash");
    expect(await redis.type("wt:string")).toBe("string");
    expect(await redis.object("ENCODING", "wt:list")).toBe("quicklist");
    expect(await redis.object("ENCODING", "wt:hash")).toBe("listpack");
    const scanned = async (type: string): Promise<string[]> => {
      const found: string[] = [];
      let cursor = "0";
      do {
        const [next, keys] = (await redis.call("SCAN", cursor, "MATCH", "wt:*", "TYPE", type, "COUNT", 1000)) as [string, string[]];
        found.push(...keys);
        cursor = next;
      } while (cursor !== "0");
      return found.sort();
    };
    expect(await scanned("list")).toEqual(["wt:list"]);
    expect(await scanned("hash")).toEqual(["wt:hash"]);
    expect(await scanned("string")).toEqual(["wt:string"]);
    // SET replaces a list, as in Redis.
    expect(await redis.set("wt:list", "now a string")).toBe("OK");
    expect(await redis.get("wt:list")).toBe("now a string");
  }, 30_000);

  test("expiry applies to lists and hashes; a MULTI/EXEC on a hash-tagged list and hash is atomic", async () => {
    const redis = client(2);
    await redis.rpush("ttl:list", "a", "b");
    await redis.hset("ttl:hash", "f", "v");
    // Margins for a loaded machine: the deadline is 3 s out, the wait for it 15 s.
    expect(await redis.pexpire("ttl:list", 3000)).toBe(1);
    expect(await redis.expire("ttl:hash", 100)).toBe(1);
    expect(await redis.rpush("ttl:list", "c")).toBe(3);
    const ttl = await redis.pttl("ttl:list");
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(3000);
    expect(await redis.ttl("ttl:hash")).toBeGreaterThan(90);
    await waitFor("the list to expire", () => redis.exists("ttl:list"), (count) => count === 0, 15_000);
    expect(await redis.lrange("ttl:list", 0, -1)).toEqual([]);

    const results = await redis.multi().rpush("{cart:9}:items", "apple", "pear").hset("{cart:9}:meta", "count", "2").hincrby("{cart:9}:meta", "count", 1).lrange("{cart:9}:items", 0, -1).exec();
    expect(results as unknown).toEqual([
      [null, 2],
      [null, 1],
      [null, 3],
      [null, ["apple", "pear"]],
    ]);
    await expect(redis.multi().rpush("{a}:l", "x").rpush("{b}:l", "y").exec()).rejects.toThrow("CROSSSLOT");
  }, 30_000);

  test("a list holds more than one value's bytes (header and chunks): 20,000 elements of 100 bytes, pushed and popped at both ends", async () => {
    const redis = client(2);
    const element = (index: number): string => `e${index}:`.padEnd(100, "x");
    for (let batch = 0; batch < 20; batch++) {
      const pipeline = redis.pipeline();
      for (let index = batch * 1000; index < (batch + 1) * 1000; index += 100) pipeline.rpush("long:list", ...Array.from({ length: 100 }, (_, offset) => element(index + offset)));
      await pipeline.exec();
    }
    expect(await redis.llen("long:list")).toBe(20_000);
    expect(await redis.lindex("long:list", 12_345)).toBe(element(12_345));
    expect(await redis.lrange("long:list", 9_998, 10_001)).toEqual([9_998, 9_999, 10_000, 10_001].map(element));
    expect(await redis.lpush("long:list", "head")).toBe(20_001);
    expect(await redis.lpop("long:list", 2)).toEqual(["head", element(0)]);
    expect(await redis.rpop("long:list")).toBe(element(19_999));
    // SCAN shows the list's key, never its chunks; DEL removes them with it.
    const keys = (await redis.call("SCAN", "0", "MATCH", "*long:list*", "COUNT", 10_000)) as [string, string[]];
    let found = [...keys[1]];
    let cursor = keys[0];
    while (cursor !== "0") {
      const next = (await redis.call("SCAN", cursor, "MATCH", "*long:list*", "COUNT", 10_000)) as [string, string[]];
      found = [...found, ...next[1]];
      cursor = next[0];
    }
    expect(found).toEqual(["long:list"]);
    expect(await redis.del("long:list")).toBe(1);
    expect(await redis.exists("long:list")).toBe(0);
  }, 60_000);

  test("lists and hashes survive kill -9 of every store", async () => {
    const redis = client(1);
    const values = Array.from({ length: 200 }, (_, index) => `v${index}`);
    await redis.rpush("durable:list", ...values);
    await redis.hset("durable:hash", Object.fromEntries(values.map((value) => [`f-${value}`, value])));
    for (const storeId of stores.storeIds) await stores.kill(storeId);
    for (const storeId of stores.storeIds) stores.start(storeId);
    await stores.waitForLeaders();
    await stores.waitForRouting();
    const reader = client(3);
    expect(await reader.lrange("durable:list", 0, -1)).toEqual(values);
    expect(await reader.hlen("durable:hash")).toBe(200);
    expect(await reader.hget("durable:hash", "f-v199")).toBe("v199");
  }, 90_000);

  test("ukv admin snapshot and restore bring back strings, lists and hashes with their deadlines", async () => {
    const redis = client(1);
    const shardId = stores.shardOf("{bk}");
    await redis.rpush("{bk}:list", "a", "b", "c");
    await redis.hset("{bk}:hash", "f", "1", "g", "2");
    await redis.set("{bk}:str", "plain");
    await redis.set("{bk}:ttl", "soon", "EX", 1000);
    const ukv = async (args: string[]): Promise<{ exitCode: number; stdout: string; stderr: string }> => {
      const child = Bun.spawn([ukvBinary, ...args], { stdout: "pipe", stderr: "pipe" });
      const [stdout, stderr, exitCode] = await Promise.all([new Response(child.stdout).text(), new Response(child.stderr).text(), child.exited]);
      return { exitCode, stdout, stderr };
    };
    const snapshot = await ukv(["admin", "snapshot", "--config", stores.configPath, "--shard", String(shardId)]);
    expect(snapshot.stderr).toBe("");
    expect(snapshot.exitCode).toBe(0);
    const path = /: (\/\S+\.snap)\s*$/m.exec(snapshot.stdout)?.[1] ?? "";
    expect(path).not.toBe("");
    await redis.del("{bk}:list", "{bk}:hash", "{bk}:str", "{bk}:ttl");
    const restored = await ukv(["admin", "restore", "--config", stores.configPath, "--snapshot", path]);
    expect(restored.stderr).toBe("");
    expect(restored.exitCode).toBe(0);
    expect(await redis.lrange("{bk}:list", 0, -1)).toEqual(["a", "b", "c"]);
    expect(await redis.hgetall("{bk}:hash")).toEqual({ f: "1", g: "2" });
    expect(await redis.get("{bk}:str")).toBe("plain");
    expect(await redis.type("{bk}:list")).toBe("list");
    expect(await redis.ttl("{bk}:ttl")).toBeGreaterThan(900);
    expect(await redis.ttl("{bk}:str")).toBe(-1);
  }, 60_000);

  test("redis-benchmark -t set,get,incr,mset,lpush runs to the end", async () => {
    if (Bun.which("redis-benchmark") === null) {
      console.log("SKIP: redis-benchmark is not installed (Debian package redis-tools)");
      return;
    }
    const argv = ["redis-benchmark", "-h", "127.0.0.1", "-p", String(stores.respPort(1)), "-t", "set,get,incr,mset,lpush", "-d", "100", "-r", "100000", "-n", "2000", "-c", "10", "--csv"];
    const child = Bun.spawn(argv, { stdout: "pipe", stderr: "pipe" });
    const [stdout, stderr, exitCode] = await Promise.all([new Response(child.stdout).text(), new Response(child.stderr).text(), child.exited]);
    expect(stderr).not.toContain("ERR");
    expect(exitCode).toBe(0);
    const tests = stdout
      .split("\n")
      .slice(1)
      .map((line) => line.split(",")[0]?.replaceAll('"', ""))
      .filter((name): name is string => name !== undefined && name !== "");
    expect(tests).toEqual(["SET", "GET", "INCR", "LPUSH", "MSET (10 keys)"]);
  }, 120_000);
});
