// The RESP listener of every store, end to end with ioredis unchanged, in RESP3 (its default) and
// RESP2: every store's port answers for any key (a store routes it like the raw protocol), every
// supported command, a pipeline of 1,000 mixed commands answered in order, binary-safe keys and
// values, values at the limit and one byte over it (clear error, connection usable), malformed
// bytes (error, that connection closed, others unaffected), and CLUSTERDOWN for a shard that lost
// quorum while the other shard serves. On 4 stores placed so that stopping stores 1 and 2 takes
// quorum from shard 1 only (metadata on 2, 3, 4; shard 1 on 1, 2, 3; shard 2 on 4, 3, 2); most
// commands go to store 4, which holds no replica of shard 1. One cluster for the file, reset
// before each test (stopped stores restarted, every group led); each test uses its own keys.
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, test } from "bun:test";
import { connect } from "node:net";
import Redis from "ioredis";
import { storedPayloadSizeBytesMax as valueSizeBytesMax } from "../../src/kv/stored-value.ts";
import { LocalStores, waitFor, twoShardsOnFourStores } from "./harness.ts";

let stores: LocalStores;
const clients: Redis[] = [];
/** The store most tests talk to: it holds shard 2 only, so shard-1 keys are forwarded. */
const mainStoreId = 4;

beforeAll(async () => {
  stores = await LocalStores.create(twoShardsOnFourStores);
  stores.startAll();
  await stores.waitForLeaders();
}, 60_000);

beforeEach(async () => {
  await stores.reset();
}, 60_000);

afterEach(() => {
  for (const redis of clients.splice(0)) redis.disconnect();
});

afterAll(async () => {
  await stores.destroy();
}, 30_000);

function client(options: { storeId?: number; protocol?: 2 | 3 } = {}): Redis {
  const redis = new Redis({ host: "127.0.0.1", port: stores.respPort(options.storeId ?? mainStoreId), maxRetriesPerRequest: 0, enableOfflineQueue: true, ...(options.protocol === undefined ? {} : { protocol: options.protocol }) });
  redis.on("error", () => undefined);
  clients.push(redis);
  return redis;
}

describe("RESP on every store", () => {
  test("ioredis connects to every store's RESP port with its RESP3 handshake; a key set through one store reads back through the next", async () => {
    const storeIds = stores.storeIds;
    for (const storeId of storeIds) {
      const redis = client({ storeId });
      expect(await redis.ping()).toBe("PONG");
      expect(await redis.call("CLIENT", "INFO")).toContain("resp=3 lib-name=ioredis");
    }
    const keys = [...stores.keysOfShard("every-a-", 1, 4), ...stores.keysOfShard("every-b-", 2, 4)];
    for (const [index, key] of keys.entries()) {
      const writer = clients[index % storeIds.length]!;
      const reader = clients[(index + 1) % storeIds.length]!;
      expect(await writer.set(key, `v-${key}`)).toBe("OK");
      await reader.call("CLIENT", "READMODE", "linearizable");
      expect(await reader.get(key)).toBe(`v-${key}`);
    }
  });

  test("string commands: SET (NX, XX, GET), GET, MSET and MGET across shards, EXISTS, DEL across shards", async () => {
    const redis = client();
    await redis.call("CLIENT", "READMODE", "linearizable");
    const [a1, a2] = stores.keysOfShard("cmd-a-", 1, 2);
    const [b1, b2] = stores.keysOfShard("cmd-b-", 2, 2);
    expect(await redis.set(a1!, "1")).toBe("OK");
    expect(await redis.get(a1!)).toBe("1");
    expect(await redis.get("cmd-missing")).toBeNull();
    expect(await redis.set(a1!, "2", "NX")).toBeNull();
    expect(await redis.set(b1!, "x", "XX")).toBeNull();
    expect(await redis.set(b1!, "x", "NX")).toBe("OK");
    expect(await redis.set(b1!, "y", "XX", "GET")).toBe("x");
    expect(await redis.mset(a2!, "A2", b2!, "B2")).toBe("OK");
    expect(await redis.mget(a1!, a2!, b1!, b2!, "cmd-missing")).toEqual(["1", "A2", "y", "B2", null]);
    expect(await redis.exists(a1!, b1!, b1!, "cmd-missing")).toBe(3);
    expect(await redis.del(a1!, b1!, "cmd-missing")).toBe(2);
    expect(await redis.exists(a1!, b1!)).toBe(0);
    expect(await redis.set("cmd-ttl", "v", "EX", 10)).toBe("OK");
  });

  test("server commands: PING, ECHO, SELECT 0, INFO, DBSIZE, COMMAND, CONFIG GET, CLIENT names, unknown command, QUIT", async () => {
    const redis = client();
    expect(await redis.ping("hi")).toBe("hi");
    expect(await redis.echo("echoed")).toBe("echoed");
    expect(await redis.select(0)).toBe("OK");
    await expect(redis.select(1)).rejects.toThrow("DB index is out of range");
    const info = await redis.info();
    expect(info).toContain("redis_version:");
    expect(info).toContain("ukv_shards_available:2");
    // The store's own view of each shard: the leader it routes to, with its address.
    await waitFor("store 4's view of both leaders", () => redis.info("cluster"), (cluster) => /ukv_shard_1:state=available,leader=\d+@/.test(cluster) && /ukv_shard_2:state=available,leader=\d+@/.test(cluster), 5000);
    expect(await redis.info("keyspace")).toMatch(/db0:keys=\d+/);
    await redis.call("CLIENT", "READMODE", "linearizable");
    await redis.mset("dbsize-1", "1", "dbsize-2", "2", "dbsize-3", "3");
    // DBSIZE sums the key counts of the store's health probes (each probe round).
    const before = Number(/db0:keys=(\d+)/.exec(await redis.info("keyspace"))?.[1]);
    expect(await waitFor("DBSIZE to count the new keys", () => redis.dbsize(), (size) => size >= 3 && size >= before, 5000)).toBeGreaterThanOrEqual(3);
    expect(await redis.call("COMMAND", "COUNT")).toBeGreaterThanOrEqual(17);
    const docs = (await redis.call("COMMAND", "DOCS", "get")) as unknown;
    expect(JSON.stringify(docs)).toContain("summary");
    expect(await redis.config("GET", "appendonly")).toEqual(["appendonly", "yes"]);
    expect(await redis.client("SETNAME", "resp-test")).toBe("OK");
    expect(await redis.client("GETNAME")).toBe("resp-test");
    await expect(redis.call("SADD", "set", "x")).rejects.toThrow("ERR unknown command 'SADD'");
    expect(await redis.quit()).toBe("OK");
  });

  test("a RESP2 client (HELLO not sent) works the same", async () => {
    const redis = client({ protocol: 2 });
    expect(await redis.set("resp2-key", "v")).toBe("OK");
    expect(await redis.mget("resp2-none", "resp2-none-2")).toEqual([null, null]);
    expect(await redis.config("GET", "save")).toEqual(["save", ""]);
  });

  test("a pipeline of 1,000 mixed commands is answered in order", async () => {
    const redis = client();
    await redis.call("CLIENT", "READMODE", "linearizable");
    const pipeline = redis.pipeline();
    const expected: unknown[] = [];
    for (let index = 0; index < 250; index++) {
      const key = `pipe-${index}`;
      pipeline.set(key, `v${index}`);
      expected.push("OK");
      pipeline.get(key);
      expected.push(`v${index}`);
      pipeline.echo(`e${index}`);
      expected.push(`e${index}`);
      if (index % 2 === 0) {
        pipeline.exists(key, `pipe-none-${index}`);
        expected.push(1);
      } else {
        pipeline.mget(key, `pipe-${index - 1}`);
        expected.push([`v${index}`, `v${index - 1}`]);
      }
    }
    const results = await pipeline.exec();
    expect(results).not.toBeNull();
    expect(results!.map(([error]) => error)).toEqual(expected.map(() => null));
    expect(results!.map(([, value]) => value)).toEqual(expected);
  });

  test("keys and values are binary safe: all 256 byte values", async () => {
    const redis = client();
    const all = Buffer.from(Uint8Array.from({ length: 256 }, (_, index) => index));
    const key = Buffer.concat([Buffer.from("bin-"), all]);
    const value = Buffer.concat([all, Buffer.from(all).reverse()]);
    expect(await redis.set(key, value)).toBe("OK");
    await redis.call("CLIENT", "READMODE", "linearizable");
    const back = await redis.getBuffer(key);
    expect(back?.equals(value)).toBe(true);
    expect(await redis.exists(key)).toBe(1);
    for (let byte = 0; byte < 256; byte += 51) {
      const oneByteKey = Buffer.from([byte, byte]);
      await redis.set(oneByteKey, Buffer.from([byte]));
      expect((await redis.getBuffer(oneByteKey))?.equals(Buffer.from([byte]))).toBe(true);
    }
  });

  test("a value at the limit is stored; one byte over is a clear error and the connection stays usable", async () => {
    const redis = client();
    await redis.call("CLIENT", "READMODE", "linearizable");
    const atLimit = Buffer.alloc(valueSizeBytesMax, 0x5a);
    // Both shards: one value is served by store 4's own replica, the other forwarded.
    for (const key of [stores.keysOfShard("big-at-limit-", 1, 1)[0]!, stores.keysOfShard("big-at-limit-", 2, 1)[0]!]) {
      expect(await redis.set(key, atLimit)).toBe("OK");
      expect((await redis.getBuffer(key))?.byteLength).toBe(valueSizeBytesMax);
    }
    await expect(redis.set("big-over", Buffer.alloc(valueSizeBytesMax + 1))).rejects.toThrow(`ERR Value too large: ${valueSizeBytesMax + 1} bytes, limit ${valueSizeBytesMax}`);
    await expect(redis.set(Buffer.alloc(4097, 0x6b), "v")).rejects.toThrow("ERR Key too large");
    expect(await redis.ping()).toBe("PONG");
    expect(await redis.get("big-over")).toBeNull();
  });

  test("follower reads see a write eventually; READMODE linearizable at once", async () => {
    const writer = client({ storeId: 1 });
    const follower = client();
    expect(await follower.call("CLIENT", "READMODE")).toBe("follower");
    for (const key of [stores.keysOfShard("follower-", 1, 1)[0]!, stores.keysOfShard("follower-", 2, 1)[0]!]) {
      await writer.set(key, "fresh");
      expect(await waitFor("a follower read to see the write", () => follower.get(key), (value) => value === "fresh", 3000)).toBe("fresh");
    }
    await follower.call("CLIENT", "READMODE", "linearizable");
    for (let index = 0; index < 10; index++) {
      await writer.set("follower-lin", `v${index}`);
      expect(await follower.get("follower-lin")).toBe(`v${index}`);
    }
  });

  test("malformed RESP bytes: an error, that connection closes, the others are unaffected", async () => {
    const redis = client();
    expect(await redis.ping()).toBe("PONG");
    const raw = connect({ host: "127.0.0.1", port: stores.respPort(mainStoreId) });
    let received = "";
    const closed = new Promise<void>((resolvePromise) => raw.on("close", () => resolvePromise()));
    raw.on("data", (chunk: Buffer) => {
      received += chunk.toString("latin1");
    });
    raw.on("error", () => undefined);
    raw.write("*2\r\n$3\r\nGET\r\n:7\r\n");
    await Promise.race([closed, Bun.sleep(3000)]);
    expect(received).toBe("-ERR Protocol error: expected '$', got ':'\r\n");
    expect(raw.destroyed).toBe(true);
    expect(await redis.echo("still here")).toBe("still here");
  });

  test("a shard that lost 2 of its 3 replicas answers CLUSTERDOWN; the other shard serves", async () => {
    const redis = client();
    const [victimKey] = stores.keysOfShard("down-a-", 1, 1);
    const [survivorKey] = stores.keysOfShard("down-b-", 2, 1);
    await stores.kill(1);
    await stores.kill(2);
    const answer = await waitFor(
      "CLUSTERDOWN",
      () => redis.set(victimKey!, "v").then((value) => String(value), (error: unknown) => String(error)),
      (value) => value.includes("CLUSTERDOWN"),
      10_000,
    );
    expect(answer).toContain("CLUSTERDOWN shard 1 unavailable: no quorum");
    await expect(redis.get(victimKey!)).rejects.toThrow("CLUSTERDOWN shard 1 unavailable: no quorum");
    expect(await redis.set(survivorKey!, "still")).toBe("OK");
    expect(await redis.info("cluster")).toContain("ukv_shard_1:state=unavailable");
    expect(await redis.info("cluster")).toContain("ukv_shards_available:1");
  }, 30_000);
});
