// Multi-process test harness: runs the real compiled `dist/ukv` binary as shard members on
// 127.0.0.1 with a generated config in a unique temp dir, and kills, pauses and restarts them.
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import type { Subprocess } from "bun";
import { generateLocalClusterConfig, renderClusterConfig, type ClusterConfig, type MemberConfig } from "../../src/config/cluster-config.ts";
import { KvClient } from "../../src/transport/kv-client.ts";
import type { KvResponse } from "../../src/transport/kv-protocol.ts";

export const ukvBinary = resolve(import.meta.dir, "../../dist/ukv");
const encoder = new TextEncoder();
const decoder = new TextDecoder();

export function bytes(text: string): Uint8Array {
  return encoder.encode(text);
}

export function text(value: Uint8Array): string {
  return decoder.decode(value);
}

async function isPortFree(port: number): Promise<boolean> {
  return new Promise((resolvePromise) => {
    const server = createServer();
    server.once("error", () => resolvePromise(false));
    server.listen(port, "127.0.0.1", () => server.close(() => resolvePromise(true)));
  });
}

/** A base port with `count` consecutive free ports after it (random start, so parallel tests differ). */
export async function findFreePortBase(count: number): Promise<number> {
  for (let attemptIndex = 0; attemptIndex < 50; attemptIndex++) {
    // Below the kernel's ephemeral range (32768+): a port chosen here must not be taken later by
    // the source port of some outgoing connection while its process is down or not started yet.
    const base = 20000 + Math.floor(Math.random() * 600) * 20;
    let allFree = true;
    for (let offset = 0; offset < count && allFree; offset++) allFree = await isPortFree(base + offset);
    if (allFree) return base;
  }
  throw new Error(`No ${count} consecutive free ports found`);
}

export interface LocalShardOptions {
  replicas?: number;
  tickMs?: number;
  electionTicks?: number;
  heartbeatTicks?: number;
  snapshotEntriesThreshold?: number;
  extraArgs?: string[];
}

export interface MemberStatus {
  nodeId: number;
  role: string;
  term: number;
  leader: number;
  commitIndex: number;
  appliedIndex: number;
  lastIndex: number;
  snapshotIndex: number;
  keyCount: number;
}

/** One data shard of `replicas` members (shard 1 of a generated local cluster). */
export class LocalShard {
  readonly dir: string;
  readonly configPath: string;
  readonly config: ClusterConfig;
  readonly members: MemberConfig[];
  readonly #processes = new Map<number, Subprocess>();
  readonly #clients = new Map<number, KvClient>();
  readonly #options: LocalShardOptions;
  readonly logs = new Map<number, string>();

  private constructor(dir: string, config: ClusterConfig, options: LocalShardOptions) {
    this.dir = dir;
    this.config = config;
    this.configPath = join(dir, "cluster.yaml");
    this.members = config.shards[0]!.members;
    this.#options = options;
    writeFileSync(this.configPath, renderClusterConfig(config));
  }

  static async create(options: LocalShardOptions = {}): Promise<LocalShard> {
    if (!existsSync(ukvBinary)) throw new Error(`${ukvBinary} is missing: run npm run build first`);
    const replicas = options.replicas ?? 3;
    const dir = mkdtempSync(join(tmpdir(), "ukv-shard-"));
    const portCount = 2 * (3 + replicas) + 2;
    const portBase = await findFreePortBase(portCount);
    const generated = generateLocalClusterConfig({ dir: join(dir, "data"), shards: 1, replicas, portBase });
    const config: ClusterConfig = {
      ...generated,
      tickMs: options.tickMs ?? 50,
      electionTicks: options.electionTicks ?? 20,
      heartbeatTicks: options.heartbeatTicks ?? 2,
      snapshotEntriesThreshold: options.snapshotEntriesThreshold ?? generated.snapshotEntriesThreshold,
      walSegmentSizeBytes: 8 * 1024 * 1024,
    };
    return new LocalShard(dir, config, options);
  }

  get ids(): number[] {
    return this.members.map((member) => member.id);
  }

  clientAddress(id: number): string {
    const member = [...this.members, ...this.config.meta.members].find((candidate) => candidate.id === id);
    if (member === undefined) throw new Error(`No member ${id}`);
    return member.clientAddress;
  }

  get metaIds(): number[] {
    return this.config.meta.members.map((member) => member.id);
  }

  /** Starts a data member (`ukv node`), or a meta member (`ukv meta`) when `id` is in the meta group. */
  start(id: number): void {
    if (this.#processes.has(id)) throw new Error(`Member ${id} already running`);
    const isMeta = this.metaIds.includes(id);
    const roleArgs = isMeta ? ["meta"] : ["node", ...(this.#options.extraArgs ?? [])];
    const child = Bun.spawn([ukvBinary, ...roleArgs, "--config", this.configPath, "--id", String(id)], {
      stdout: "ignore",
      stderr: "pipe",
      env: { ...process.env, TMPDIR: process.env.TMPDIR ?? tmpdir(), UKV_LOG_LEVEL: "info" },
    });
    this.#processes.set(id, child);
    void this.#collectLog(id, child);
  }

  async #collectLog(id: number, child: Subprocess): Promise<void> {
    const stream = child.stderr;
    if (stream === undefined || typeof stream === "number" || stream === null) return;
    const reader = (stream as ReadableStream<Uint8Array>).getReader();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      const previous = this.logs.get(id) ?? "";
      // Keep the tail only: a long test must not grow memory without bound.
      this.logs.set(id, (previous + decoder.decode(value)).slice(-200_000));
    }
  }

  startAll(): void {
    for (const id of this.ids) this.start(id);
  }

  isRunning(id: number): boolean {
    return this.#processes.has(id);
  }

  /** kill -9 (or another signal) and wait for the process to exit. */
  async kill(id: number, signal: NodeJS.Signals = "SIGKILL"): Promise<number | null> {
    const child = this.#processes.get(id);
    if (child === undefined) return null;
    this.#clients.get(id)?.close();
    this.#clients.delete(id);
    child.kill(signal);
    const exitCode = await child.exited;
    this.#processes.delete(id);
    return exitCode;
  }

  pause(id: number): void {
    this.#processes.get(id)?.kill("SIGSTOP");
  }

  resume(id: number): void {
    this.#processes.get(id)?.kill("SIGCONT");
  }

  client(id: number): KvClient {
    let client = this.#clients.get(id);
    if (client === undefined) {
      client = new KvClient(this.clientAddress(id), { timeoutMs: 3000 });
      this.#clients.set(id, client);
    }
    return client;
  }

  async request(id: number, request: { op: "GET" | "SET" | "DELETE" | "STATUS"; key?: string; value?: string; linearizable?: boolean }): Promise<KvResponse> {
    return this.client(id).request({
      op: request.op,
      key: bytes(request.key ?? ""),
      value: bytes(request.value ?? ""),
      linearizable: request.linearizable ?? false,
    });
  }

  async status(id: number): Promise<MemberStatus | null> {
    const response = await this.request(id, { op: "STATUS" });
    if (response.code !== "OK") return null;
    return JSON.parse(response.statusJson) as MemberStatus;
  }

  /** Waits until the running members agree on one leader; returns its id. */
  async waitForLeader(timeoutMs = 15000): Promise<number> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      const statuses = await Promise.all(
        [...this.#processes.keys()].filter((id) => !this.metaIds.includes(id)).map((id) => this.status(id).catch(() => null)),
      );
      const leaderStatus = statuses.find((status) => status?.role === "leader");
      if (leaderStatus !== undefined && leaderStatus !== null) {
        const agreeing = statuses.filter((status) => status?.leader === leaderStatus.nodeId).length;
        if (agreeing >= Math.floor(this.ids.length / 2) + 1) return leaderStatus.nodeId;
      }
      await Bun.sleep(50);
    }
    throw new Error(`No leader within ${timeoutMs} ms\n${this.logTail()}`);
  }

  /** Waits until every running member has applied at least `index`. */
  async waitForApplied(index: number, timeoutMs = 15000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      const statuses = await Promise.all(
        [...this.#processes.keys()].filter((id) => !this.metaIds.includes(id)).map((id) => this.status(id).catch(() => null)),
      );
      if (statuses.every((status) => status !== null && status.appliedIndex >= index)) return;
      await Bun.sleep(50);
    }
    throw new Error(`Members did not apply index ${index} within ${timeoutMs} ms`);
  }

  /** SET through whoever is leader, following NOT_LEADER; true when acknowledged. */
  async setViaLeader(key: string, value: string, leaderHint: number): Promise<{ ok: boolean; leader: number }> {
    let leader = leaderHint;
    for (let hopIndex = 0; hopIndex < 3; hopIndex++) {
      if (!this.isRunning(leader)) return { ok: false, leader };
      const response = await this.request(leader, { op: "SET", key, value }).catch(() => null);
      if (response === null) return { ok: false, leader };
      if (response.code === "OK") return { ok: true, leader };
      if (response.code !== "NOT_LEADER" || response.leaderAddress === "") return { ok: false, leader };
      const next = this.members.find((member) => member.clientAddress === response.leaderAddress);
      if (next === undefined) return { ok: false, leader };
      leader = next.id;
    }
    return { ok: false, leader };
  }

  logTail(lineCount = 15): string {
    return [...this.logs.entries()]
      .map(([id, log]) => `--- node ${id} ---\n${log.trim().split("\n").slice(-lineCount).join("\n")}`)
      .join("\n");
  }

  async destroy(): Promise<void> {
    // UKV_TEST_KEEP_LOGS=DIR keeps every member's log tail for a post-mortem.
    const keepDir = process.env.UKV_TEST_KEEP_LOGS;
    if (keepDir !== undefined) {
      mkdirSync(keepDir, { recursive: true });
      for (const [id, log] of this.logs) writeFileSync(join(keepDir, `${this.dir.split("/").pop()}-node-${id}.log`), log);
    }
    for (const client of this.#clients.values()) client.close();
    this.#clients.clear();
    await Promise.all([...this.#processes.keys()].map((id) => this.kill(id, "SIGKILL")));
    rmSync(this.dir, { recursive: true, force: true });
  }
}
