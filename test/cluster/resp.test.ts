// The RESP listener end to end: `dist/ukv cluster up` (2 shards x 3 real members and a router)
// serves ioredis unchanged, in RESP3 (its default) and RESP2: every supported command, a pipeline
// of 1,000 mixed commands answered in order, binary-safe keys and values, values at the limit and
// one byte over it (clear error, connection usable), malformed bytes (error, that connection
// closed, others unaffected), and, last, CLUSTERDOWN for a shard that lost 2 of its 3 members
// while the other shard serves. One cluster for the whole file.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readdirSync, readFileSync, rmSync, mkdtempSync } from "node:fs";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Subprocess } from "bun";
import Redis from "ioredis";
import { topologyFromLayout } from "../../src/client/topology.ts";
import { loadClusterConfig, type ClusterConfig } from "../../src/config/cluster-config.ts";
import { valueSizeBytesMax } from "../../src/util/limits.ts";
import { findFreePortBase, ukvBinary } from "./harness.ts";

let dir: string;
let up: Subprocess | null = null;
let upOutput = "";
let config: ClusterConfig;
let respPort: number;
const clients: Redis[] = [];

function client(options: { protocol?: 2 | 3 } = {}): Redis {
  const redis = new Redis({ host: "127.0.0.1", port: respPort, maxRetriesPerRequest: 0, enableOfflineQueue: true, ...options });
  redis.on("error", () => {});
  clients.push(redis);
  return redis;
}

function shardOf(key: string | Uint8Array): number {
  return topologyFromLayout(config).ring.shardForKey(typeof key === "string" ? new TextEncoder().encode(key) : key);
}

/** `count` keys with `prefix` owned by `shardId`. */
function keysOnShard(prefix: string, shardId: number, count: number): string[] {
  const keys: string[] = [];
  for (let index = 0; keys.length < count && index < 100_000; index++) if (shardOf(`${prefix}${index}`) === shardId) keys.push(`${prefix}${index}`);
  return keys;
}

async function waitFor<T>(what: string, read: () => Promise<T>, done: (value: T) => boolean, timeoutMs: number): Promise<T> {
  const deadline = performance.now() + timeoutMs;
  let value = await read();
  while (!done(value) && performance.now() < deadline) {
    await Bun.sleep(100);
    value = await read();
  }
  if (!done(value)) throw new Error(`Timed out waiting for ${what}: last ${JSON.stringify(value)}`);
  return value;
}

/** Pids of the `ukv node --id ID` child of our cluster (by its command line naming our dir). */
function nodePid(memberId: number): number | null {
  for (const entry of readdirSync("/proc")) {
    if (!/^[0-9]+$/.test(entry)) continue;
    try {
      const argv = readFileSync(`/proc/${entry}/cmdline`, "utf8").split("\0");
      if (argv.includes("node") && argv.some((arg) => arg.startsWith(dir)) && argv[argv.indexOf("--id") + 1] === String(memberId)) return Number(entry);
    } catch {
      // exited while we looked
    }
  }
  return null;
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "ukv-resp-"));
  const portBase = await findFreePortBase(2 * 9 + 2);
  up = Bun.spawn([ukvBinary, "cluster", "up", "--dir", dir, "--shards", "2", "--replicas", "3", "--port-base", String(portBase)], { stdout: "pipe", stderr: "ignore" });
  const reader = (up.stdout as ReadableStream<Uint8Array>).getReader();
  const decoder = new TextDecoder();
  const deadline = performance.now() + 40_000;
  while (!upOutput.includes("ukv cluster ready") && performance.now() < deadline) {
    const { done, value } = await reader.read();
    if (done) break;
    upOutput += decoder.decode(value);
  }
  void (async () => {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return;
      upOutput += decoder.decode(value);
    }
  })();
  if (!upOutput.includes("ukv cluster ready")) throw new Error(`cluster up did not get ready:\n${upOutput}`);
  config = loadClusterConfig(join(dir, "cluster.yaml"));
  respPort = Number(config.router!.respAddress!.split(":")[1]);
}, 60_000);

afterAll(async () => {
  for (const redis of clients) redis.disconnect();
  if (up !== null) {
    up.kill("SIGINT");
    await Promise.race([up.exited, Bun.sleep(15_000)]);
    if (up.exitCode === null) up.kill("SIGKILL");
  }
  rmSync(dir, { recursive: true, force: true });
}, 30_000);

describe("RESP on the router (ukv cluster up)", () => {
  test("cluster up prints the RESP endpoint and ioredis connects with its RESP3 handshake", async () => {
    expect(upOutput).toContain(`redis    ${config.router!.respAddress}`);
    const redis = client();
    expect(await redis.ping()).toBe("PONG");
    expect(await redis.call("CLIENT", "INFO")).toContain("resp=3 lib-name=ioredis");
  });

  test("string commands: SET (NX, XX, GET), GET, MSET and MGET across shards, EXISTS, DEL across shards", async () => {
    const redis = client();
    await redis.call("CLIENT", "READMODE", "linearizable");
    const [a1, a2] = keysOnShard("cmd-a-", 1, 2);
    const [b1, b2] = keysOnShard("cmd-b-", 2, 2);
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
    await expect(redis.set("cmd-ttl", "v", "EX", 10)).rejects.toThrow("ERR not supported: SET EX");
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
    expect(info).toMatch(/ukv_shard_1:state=available,leader=\d+@/);
    expect(await redis.info("keyspace")).toMatch(/db0:keys=\d+/);
    await redis.call("CLIENT", "READMODE", "linearizable");
    await redis.mset("dbsize-1", "1", "dbsize-2", "2", "dbsize-3", "3");
    // DBSIZE sums the key counts of the router's health probes (every 500 ms).
    const before = Number(/db0:keys=(\d+)/.exec(await redis.info("keyspace"))?.[1]);
    expect(await waitFor("DBSIZE to count the new keys", () => redis.dbsize(), (size) => size >= 3 && size >= before, 5000)).toBeGreaterThanOrEqual(3);
    expect(await redis.call("COMMAND", "COUNT")).toBeGreaterThanOrEqual(17);
    const docs = (await redis.call("COMMAND", "DOCS", "get")) as unknown;
    expect(JSON.stringify(docs)).toContain("summary");
    expect(await redis.config("GET", "appendonly")).toEqual(["appendonly", "yes"]);
    expect(await redis.client("SETNAME", "resp-test")).toBe("OK");
    expect(await redis.client("GETNAME")).toBe("resp-test");
    await expect(redis.call("FLUSHALL")).rejects.toThrow("ERR unknown command 'FLUSHALL'");
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
    expect(await redis.set("big-at-limit", atLimit)).toBe("OK");
    expect((await redis.getBuffer("big-at-limit"))?.byteLength).toBe(valueSizeBytesMax);
    await expect(redis.set("big-over", Buffer.alloc(valueSizeBytesMax + 1))).rejects.toThrow(`ERR Value too large: ${valueSizeBytesMax + 1} bytes, limit ${valueSizeBytesMax}`);
    await expect(redis.set(Buffer.alloc(4097, 0x6b), "v")).rejects.toThrow("ERR Key too large");
    expect(await redis.ping()).toBe("PONG");
    expect(await redis.get("big-over")).toBeNull();
  });

  test("follower reads see a write eventually; READMODE linearizable at once", async () => {
    const writer = client();
    const follower = client();
    expect(await follower.call("CLIENT", "READMODE")).toBe("follower");
    await writer.set("follower-key", "fresh");
    expect(await waitFor("a follower read to see the write", () => follower.get("follower-key"), (value) => value === "fresh", 3000)).toBe("fresh");
  });

  test("malformed RESP bytes: an error, that connection closes, the others are unaffected", async () => {
    const redis = client();
    expect(await redis.ping()).toBe("PONG");
    const raw = connect({ host: "127.0.0.1", port: respPort });
    let received = "";
    const closed = new Promise<void>((resolve) => raw.on("close", () => resolve()));
    raw.on("data", (chunk: Buffer) => {
      received += chunk.toString("latin1");
    });
    raw.on("error", () => {});
    raw.write("*2\r\n$3\r\nGET\r\n:7\r\n");
    await Promise.race([closed, Bun.sleep(3000)]);
    expect(received).toBe("-ERR Protocol error: expected '$', got ':'\r\n");
    expect(raw.destroyed).toBe(true);
    expect(await redis.echo("still here")).toBe("still here");
  });

  test("a shard that lost 2 of 3 members answers CLUSTERDOWN; the other shard serves", async () => {
    const redis = client();
    const victim = config.shards[0]!;
    const survivor = config.shards[1]!;
    const [victimKey] = keysOnShard("down-a-", victim.id, 1);
    const [survivorKey] = keysOnShard("down-b-", survivor.id, 1);
    for (const member of victim.members.slice(0, 2)) {
      const pid = nodePid(member.id);
      expect(pid).not.toBeNull();
      process.kill(pid!, "SIGKILL");
    }
    const answer = await waitFor(
      "CLUSTERDOWN",
      () => redis.set(victimKey!, "v").then((value) => String(value), (error: unknown) => String(error)),
      (value) => value.includes("CLUSTERDOWN"),
      10_000,
    );
    expect(answer).toContain(`CLUSTERDOWN shard ${victim.id} unavailable: no quorum`);
    await expect(redis.get(victimKey!)).rejects.toThrow(`CLUSTERDOWN shard ${victim.id} unavailable: no quorum`);
    expect(await redis.set(survivorKey!, "still")).toBe("OK");
    expect(await redis.info("cluster")).toContain(`ukv_shard_${victim.id}:state=unavailable`);
  }, 20_000);
});
