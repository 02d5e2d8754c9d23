// The router in front of 2 shards x 3 real `dist/ukv node` processes on 127.0.0.1, itself a real
// `dist/ukv router` process: keys land on the shard the ring names, follower reads, a killed
// leader is followed with no failed write, a shard that lost 2 of 3 members fails fast with
// `shard 1 unavailable: no quorum` and a CRITICAL log line per request while shard 2 serves, and
// after the restart nothing acknowledged is lost. The tests run in order on one cluster.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Subprocess } from "bun";
import { ShardedClient } from "../../src/client/sharded-client.ts";
import { topologyFromLayout } from "../../src/client/topology.ts";
import { generateLocalClusterConfig, renderClusterConfig, type ClusterConfig } from "../../src/config/cluster-config.ts";
import { KvClient } from "../../src/transport/kv-client.ts";
import type { KvResponse } from "../../src/transport/kv-protocol.ts";
import type { RouterView } from "../../src/router/router-server.ts";
import { bytes, findFreePortBase, text, ukvBinary, type MemberStatus } from "./harness.ts";

const decoder = new TextDecoder();

/** 2 shards x 3 members and a router, each a child process; logs kept per process. */
class ShardedCluster {
  readonly dir: string;
  readonly configPath: string;
  readonly config: ClusterConfig;
  readonly #processes = new Map<string, Subprocess>();
  readonly #clients = new Map<string, KvClient>();
  readonly logTails = new Map<string, string>();
  /** Router log lines with event "shard_unavailable", by shard. */
  readonly criticalCountByShard = new Map<number, number>();
  readonly routerLogEvents: Record<string, unknown>[] = [];

  constructor(dir: string, config: ClusterConfig) {
    this.dir = dir;
    this.config = config;
    this.configPath = join(dir, "cluster.yaml");
    writeFileSync(this.configPath, renderClusterConfig(config));
  }

  static async create(): Promise<ShardedCluster> {
    const dir = mkdtempSync(join(tmpdir(), "ukv-router-"));
    const portBase = await findFreePortBase(2 * (3 + 6) + 2);
    const generated = generateLocalClusterConfig({ dir: join(dir, "data"), shards: 2, replicas: 3, portBase });
    return new ShardedCluster(dir, { ...generated, tickMs: 20, electionTicks: 15, heartbeatTicks: 2, walSegmentSizeBytes: 8 * 1024 * 1024 });
  }

  get routerAddress(): string {
    return this.config.router!.clientAddress;
  }

  memberIds(shardId: number): number[] {
    return this.config.shards.find((shard) => shard.id === shardId)!.members.map((member) => member.id);
  }

  addressOf(id: number): string {
    for (const shard of this.config.shards) for (const member of shard.members) if (member.id === id) return member.clientAddress;
    throw new Error(`No member ${id}`);
  }

  startNode(id: number): void {
    this.#spawn(`node-${id}`, ["node", "--config", this.configPath, "--id", String(id)]);
  }

  startRouter(): void {
    this.#spawn("router", ["router", "--config", this.configPath]);
  }

  #spawn(name: string, args: string[]): void {
    if (this.#processes.has(name)) throw new Error(`${name} already running`);
    const child = Bun.spawn([ukvBinary, ...args], { stdout: "ignore", stderr: "pipe", env: { ...process.env, UKV_LOG_LEVEL: "info" } });
    this.#processes.set(name, child);
    void this.#collect(name, child);
  }

  async #collect(name: string, child: Subprocess): Promise<void> {
    const stream = child.stderr as ReadableStream<Uint8Array>;
    const reader = stream.getReader();
    let partial = "";
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      const chunk = decoder.decode(value);
      this.logTails.set(name, ((this.logTails.get(name) ?? "") + chunk).slice(-20_000));
      if (name !== "router") continue;
      const lines = (partial + chunk).split("\n");
      partial = lines.pop() ?? "";
      for (const line of lines) {
        if (line.trim() === "") continue;
        const event = JSON.parse(line) as Record<string, unknown>;
        if (event.event === "shard_unavailable" || event.event === "shard_unavailable_summary" || event.event === "shard_health_changed") this.routerLogEvents.push(event);
        if (event.event === "shard_unavailable") {
          const shardId = event.shard as number;
          this.criticalCountByShard.set(shardId, (this.criticalCountByShard.get(shardId) ?? 0) + 1);
        }
      }
    }
  }

  pid(name: string): number {
    const child = this.#processes.get(name);
    if (child === undefined) throw new Error(`${name} is not running`);
    return child.pid;
  }

  async kill(name: string): Promise<void> {
    const child = this.#processes.get(name);
    if (child === undefined) return;
    this.#clients.get(name)?.close();
    this.#clients.delete(name);
    child.kill("SIGKILL");
    await child.exited;
    this.#processes.delete(name);
  }

  client(address: string): KvClient {
    let client = this.#clients.get(address);
    if (client === undefined) {
      client = new KvClient(address, { timeoutMs: 5000 });
      this.#clients.set(address, client);
    }
    return client;
  }

  router(): KvClient {
    return this.client(this.routerAddress);
  }

  async routerView(): Promise<RouterView | null> {
    const response = await this.router().status();
    return response.code === "OK" ? (JSON.parse(response.statusJson) as RouterView) : null;
  }

  async memberStatus(id: number): Promise<MemberStatus | null> {
    const response = await this.client(this.addressOf(id)).status();
    return response.code === "OK" ? (JSON.parse(response.statusJson) as MemberStatus) : null;
  }

  async leaderOf(shardId: number, timeoutMs = 15_000): Promise<number> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      for (const id of this.memberIds(shardId)) {
        if (!this.#processes.has(`node-${id}`)) continue;
        const status = await this.memberStatus(id);
        if (status?.role === "leader") return id;
      }
      await Bun.sleep(50);
    }
    throw new Error(`No leader in shard ${shardId}\n${this.logTail()}`);
  }

  async waitForShardState(shardId: number, state: string, timeoutMs = 15_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      const view = await this.routerView();
      if (view?.shards.find((shard) => shard.shardId === shardId)?.state === state) return;
      await Bun.sleep(50);
    }
    throw new Error(`Shard ${shardId} not ${state} in the router's view within ${timeoutMs} ms\n${JSON.stringify(await this.routerView())}`);
  }

  logTail(lineCount = 10): string {
    return [...this.logTails.entries()].map(([name, log]) => `--- ${name} ---\n${log.trim().split("\n").slice(-lineCount).join("\n")}`).join("\n");
  }

  async destroy(): Promise<void> {
    for (const client of this.#clients.values()) client.close();
    await Promise.all([...this.#processes.keys()].map((name) => this.kill(name)));
    rmSync(this.dir, { recursive: true, force: true });
  }
}

let cluster: ShardedCluster;
let ring: ReturnType<typeof topologyFromLayout>["ring"];
/** Every write the router acknowledged: key -> value. */
const acked = new Map<string, string>();

function shardOf(key: string): number {
  return ring.shardForKey(bytes(key));
}

function keysOfShard(prefix: string, shardId: number, count: number): string[] {
  const keys: string[] = [];
  for (let index = 0; keys.length < count && index < count * 20; index++) if (shardOf(`${prefix}-${index}`) === shardId) keys.push(`${prefix}-${index}`);
  return keys;
}

async function routerSet(key: string, value: string): Promise<KvResponse> {
  const response = await cluster.router().set(bytes(key), bytes(value));
  if (response.code === "OK") acked.set(key, value);
  return response;
}

beforeAll(async () => {
  cluster = await ShardedCluster.create();
  ring = topologyFromLayout(cluster.config).ring;
  for (const shard of cluster.config.shards) for (const member of shard.members) cluster.startNode(member.id);
  cluster.startRouter();
  await cluster.leaderOf(1);
  await cluster.leaderOf(2);
  await cluster.waitForShardState(1, "available");
  await cluster.waitForShardState(2, "available");
}, 30_000);

afterAll(async () => {
  await cluster.destroy();
});

describe("the router over 2 shards x 3 nodes", () => {
  test("200 keys set through the router land on the shard the ring names and read back through router and smart client", async () => {
    const keys = Array.from({ length: 200 }, (_, index) => `spread-${index}`);
    const responses = await Promise.all(keys.map((key) => routerSet(key, `value-${key}`)));
    expect(responses.filter((response) => response.code !== "OK").map((response) => `${response.code} ${response.message}`)).toEqual([]);
    const perShard = new Map<number, string[]>([[1, []], [2, []]]);
    for (const key of keys) perShard.get(shardOf(key))!.push(key);
    expect(perShard.get(1)!.length).toBeGreaterThan(50);
    expect(perShard.get(2)!.length).toBeGreaterThan(50);
    for (const [shardId, shardKeys] of perShard) {
      const leader = await cluster.leaderOf(shardId);
      const other = cluster.memberIds(3 - shardId)[0]!;
      expect((await cluster.memberStatus(leader))!.keyCount).toBe(shardKeys.length);
      for (const key of shardKeys.slice(0, 20)) {
        const direct = await cluster.client(cluster.addressOf(leader)).get(bytes(key), { linearizable: true });
        expect(text(direct.value)).toBe(`value-${key}`);
        expect((await cluster.client(cluster.addressOf(other)).get(bytes(key))).code).toBe("NOT_FOUND");
      }
    }
    const reads = await Promise.all(keys.map((key) => cluster.router().get(bytes(key), { linearizable: true })));
    reads.forEach((response, index) => expect(text(response.value)).toBe(`value-${keys[index]}`));
    const smart = new ShardedClient({ config: cluster.config });
    try {
      for (const key of keys) expect(text((await smart.get(key, { linearizable: true }))!)).toBe(`value-${key}`);
    } finally {
      smart.close();
    }
  }, 30_000);

  test("follower reads through the router keep answering from the live members while the leader is paused", async () => {
    const leader = await cluster.leaderOf(1);
    const keys = [...acked.keys()].filter((key) => shardOf(key) === 1).slice(0, 30);
    process.kill(cluster.pid(`node-${leader}`), "SIGSTOP");
    try {
      // The health probe marks the paused member failed; reads then go to the two followers.
      await Bun.sleep(1200);
      const startedMs = performance.now();
      for (const key of keys) {
        const response = await cluster.router().get(bytes(key));
        expect(response.code).toBe("OK");
        expect(text(response.value)).toBe(acked.get(key)!);
      }
      expect(performance.now() - startedMs).toBeLessThan(3000);
    } finally {
      process.kill(cluster.pid(`node-${leader}`), "SIGCONT");
    }
    await cluster.leaderOf(1);
  }, 30_000);

  test("after the shard leader is killed, writes through the router resume with no failed request", async () => {
    const leader = await cluster.leaderOf(1);
    const keys = keysOfShard("failover", 1, 40);
    await cluster.kill(`node-${leader}`);
    const failures: string[] = [];
    for (const key of keys) {
      const response = await routerSet(key, `after-${key}`);
      if (response.code !== "OK") failures.push(`${key}: ${response.code} ${response.message}`);
    }
    expect(failures).toEqual([]);
    const newLeader = await cluster.leaderOf(1);
    expect(newLeader).not.toBe(leader);
    cluster.startNode(leader);
    await cluster.waitForShardState(1, "available");
  }, 40_000);

  test("with 2 of 3 members of shard 1 killed, shard-1 requests fail fast with no quorum and a CRITICAL line each; shard 2 serves", async () => {
    const [first, second] = cluster.memberIds(1);
    await cluster.kill(`node-${first}`);
    await cluster.kill(`node-${second}`);
    await cluster.waitForShardState(1, "unavailable");
    const criticalBefore = cluster.criticalCountByShard.get(1) ?? 0;
    const shardOneKeys = keysOfShard("dark", 1, 20);
    const startedMs = performance.now();
    for (const key of shardOneKeys) {
      const write = await cluster.router().set(bytes(key), bytes("lost"));
      expect(write.code).toBe("SHARD_UNAVAILABLE");
      expect(write.message).toBe("shard 1 unavailable: no quorum");
      const read = await cluster.router().get(bytes(key));
      expect(read.code).toBe("SHARD_UNAVAILABLE");
      expect(read.message).toBe("shard 1 unavailable: no quorum");
    }
    expect(performance.now() - startedMs).toBeLessThan(2000);
    for (const key of keysOfShard("lit", 2, 20)) expect((await routerSet(key, `lit-${key}`)).code).toBe("OK");
    const deadline = Date.now() + 5000;
    while ((cluster.criticalCountByShard.get(1) ?? 0) - criticalBefore < shardOneKeys.length * 2 && Date.now() < deadline) await Bun.sleep(50);
    expect((cluster.criticalCountByShard.get(1) ?? 0) - criticalBefore).toBe(shardOneKeys.length * 2);
    const critical = cluster.routerLogEvents.filter((event) => event.event === "shard_unavailable");
    for (const event of critical) {
      expect(event.severity).toBe("CRITICAL");
      expect(event.level).toBe(60);
      expect(event.shard).toBe(1);
      expect(typeof event.keySizeBytes).toBe("number");
    }
    expect(cluster.criticalCountByShard.get(2) ?? 0).toBe(0);
  }, 40_000);

  test("after the restart shard 1 serves again and nothing acknowledged is lost", async () => {
    const [first, second] = cluster.memberIds(1);
    cluster.startNode(first!);
    cluster.startNode(second!);
    await cluster.waitForShardState(1, "available", 20_000);
    expect((await routerSet(keysOfShard("back", 1, 1)[0]!, "back")).code).toBe("OK");
    const lost: string[] = [];
    for (const [key, value] of acked) {
      const response = await cluster.router().get(bytes(key), { linearizable: true });
      if (response.code !== "OK" || text(response.value) !== value) lost.push(`${key}: ${response.code}`);
    }
    expect(lost).toEqual([]);
  }, 40_000);
});
