// A real local cluster for chaos runs: the compiled `ukv` binary as 3 meta members and
// shards x replicas data members on 127.0.0.1, every node-to-node Raft link routed through a
// LinkProxy (UKV_PEER_ADDRESS_OVERRIDES tells each node to dial its peers' proxies), node logs
// appended to <runDir>/logs/node-<id>.log across restarts. It knows which exits it caused
// (kill, shutdown), so any other exit is reported as a crash.
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Subprocess } from "bun";
import { generateLocalClusterConfig, nodeDataDir, parseClusterConfig, renderClusterConfig, type ClusterConfig, type MemberConfig } from "../config/cluster-config.ts";
import { KvClient } from "../transport/kv-client.ts";
import { assert } from "../util/assert.ts";
import type { MemberExit } from "./checkers.ts";
import { LinkProxy } from "./link-proxy.ts";

export interface ChaosClusterOptions {
  binaryPath: string;
  runDir: string;
  shards: number;
  replicas: number;
  portBase: number;
  tickMs: number;
  electionTicks: number;
  /** Small, so snapshots and log compaction happen during a run. */
  snapshotEntriesThreshold: number;
  walSegmentSizeBytes: number;
}

export interface GroupLayout {
  /** 0 = the meta group. */
  groupId: number;
  members: MemberConfig[];
}

interface RunningMember {
  child: Subprocess;
  exited: Promise<number>;
  paused: boolean;
}

const logTailBytes = 4000;

/** The fields of a member's STATUS the harness uses. */
export interface GroupStatusLike {
  role?: string;
  leader?: number;
  appliedIndex?: number;
  commitIndex?: number;
}

export class ChaosCluster {
  readonly config: ClusterConfig;
  readonly configPath: string;
  readonly groups: GroupLayout[];
  readonly #options: ChaosClusterOptions;
  readonly #running = new Map<number, RunningMember>();
  /** Exits the harness caused: the pids it killed on purpose. */
  readonly #expectedExitPids = new Set<number>();
  readonly exits: MemberExit[] = [];
  readonly #proxies: LinkProxy[] = [];
  readonly #clients = new Map<number, KvClient>();

  private constructor(options: ChaosClusterOptions, config: ClusterConfig) {
    this.#options = options;
    this.config = config;
    this.configPath = join(options.runDir, "cluster.yaml");
    this.groups = [{ groupId: 0, members: config.meta.members }, ...config.shards.map((shard) => ({ groupId: shard.id, members: shard.members }))];
    mkdirSync(join(options.runDir, "logs"), { recursive: true });
    writeFileSync(this.configPath, renderClusterConfig(config));
  }

  static async create(options: ChaosClusterOptions): Promise<ChaosCluster> {
    assert(existsSync(options.binaryPath), "the ukv binary exists (npm run build:bin)");
    const generated = generateLocalClusterConfig({ dir: join(options.runDir, "data"), shards: options.shards, replicas: options.replicas, portBase: options.portBase });
    const config: ClusterConfig = {
      ...generated,
      tickMs: options.tickMs,
      electionTicks: options.electionTicks,
      snapshotEntriesThreshold: options.snapshotEntriesThreshold,
      walSegmentSizeBytes: options.walSegmentSizeBytes,
    };
    // Checked like a file the nodes will read, so a bad setting fails here and not in six children.
    parseClusterConfig(renderClusterConfig(config), "chaos cluster config", "/");
    const cluster = new ChaosCluster(options, config);
    for (const group of cluster.groups) {
      for (const from of group.members) {
        for (const to of group.members) {
          if (from.id === to.id) continue;
          cluster.#proxies.push(await LinkProxy.start({ fromId: from.id, toId: to.id, target: to.raftAddress }));
        }
      }
    }
    return cluster;
  }

  get dataMemberIds(): number[] {
    return this.config.shards.flatMap((shard) => shard.members.map((member) => member.id));
  }

  get metaMemberIds(): number[] {
    return this.config.meta.members.map((member) => member.id);
  }

  get allMemberIds(): number[] {
    return [...this.metaMemberIds, ...this.dataMemberIds];
  }

  groupOf(nodeId: number): GroupLayout {
    const group = this.groups.find((candidate) => candidate.members.some((member) => member.id === nodeId));
    assert(group !== undefined, "every node id belongs to a group");
    return group;
  }

  member(nodeId: number): MemberConfig {
    const member = this.groupOf(nodeId).members.find((candidate) => candidate.id === nodeId);
    assert(member !== undefined, "groupOf found the member");
    return member;
  }

  dataDirOf(nodeId: number): string {
    return nodeDataDir(this.config, nodeId);
  }

  logPath(nodeId: number): string {
    return join(this.#options.runDir, "logs", `node-${nodeId}.log`);
  }

  proxy(fromId: number, toId: number): LinkProxy {
    const proxy = this.#proxies.find((candidate) => candidate.fromId === fromId && candidate.toId === toId);
    assert(proxy !== undefined, "every directed link of a group has a proxy");
    return proxy;
  }

  get proxies(): readonly LinkProxy[] {
    return this.#proxies;
  }

  isRunning(nodeId: number): boolean {
    return this.#running.has(nodeId);
  }

  isPaused(nodeId: number): boolean {
    return this.#running.get(nodeId)?.paused ?? false;
  }

  start(nodeId: number): void {
    assert(!this.#running.has(nodeId), "start() of a member that is not running");
    const group = this.groupOf(nodeId);
    const overrides: Record<string, string> = {};
    for (const peer of group.members) if (peer.id !== nodeId) overrides[String(peer.id)] = this.proxy(nodeId, peer.id).address;
    const role = group.groupId === 0 ? "meta" : "node";
    const logFd = openSync(this.logPath(nodeId), "a");
    const child = Bun.spawn([this.#options.binaryPath, role, "--config", this.configPath, "--id", String(nodeId)], {
      stdout: logFd,
      stderr: logFd,
      env: { ...process.env, UKV_LOG_LEVEL: "info", UKV_PEER_ADDRESS_OVERRIDES: JSON.stringify(overrides) },
    });
    closeSync(logFd);
    const exited = child.exited.then((exitCode) => {
      this.exits.push({
        nodeId,
        exitCode,
        signalCode: child.signalCode === null || child.signalCode === undefined ? null : String(child.signalCode),
        expected: this.#expectedExitPids.has(child.pid),
        logTail: this.logTail(nodeId),
      });
      if (this.#running.get(nodeId)?.child === child) this.#running.delete(nodeId);
      return exitCode;
    });
    this.#running.set(nodeId, { child, exited, paused: false });
  }

  startAll(): void {
    for (const id of this.allMemberIds) this.start(id);
  }

  /** kill -9 (or another signal the harness sends on purpose) and wait for the exit. */
  async kill(nodeId: number, signal: NodeJS.Signals = "SIGKILL"): Promise<void> {
    const member = this.#running.get(nodeId);
    if (member === undefined) return;
    this.#expectedExitPids.add(member.child.pid);
    this.#clients.get(nodeId)?.close();
    this.#clients.delete(nodeId);
    member.child.kill(signal);
    if (member.paused && signal !== "SIGKILL") member.child.kill("SIGCONT");
    await member.exited;
  }

  pause(nodeId: number): void {
    const member = this.#running.get(nodeId);
    if (member === undefined || member.paused) return;
    member.child.kill("SIGSTOP");
    member.paused = true;
  }

  resume(nodeId: number): void {
    const member = this.#running.get(nodeId);
    if (member === undefined || !member.paused) return;
    member.child.kill("SIGCONT");
    member.paused = false;
  }

  /** A client for the member's client port (the harness's own: STATUS, follower reads). */
  client(nodeId: number): KvClient {
    let client = this.#clients.get(nodeId);
    if (client === undefined) {
      client = new KvClient(this.member(nodeId).clientAddress, { timeoutMs: 2000, connectTimeoutMs: 1000 });
      this.#clients.set(nodeId, client);
    }
    return client;
  }

  /** The member's group status (a meta member wraps it as `group` next to the topology); null = no answer. */
  async groupStatus(nodeId: number): Promise<GroupStatusLike | null> {
    if (!this.isRunning(nodeId) || this.isPaused(nodeId)) return null;
    const response = await this.client(nodeId).status().catch(() => null);
    if (response?.code !== "OK") return null;
    const parsed = JSON.parse(response.statusJson) as GroupStatusLike & { group?: GroupStatusLike };
    return parsed.group ?? parsed;
  }

  logTail(nodeId: number): string {
    try {
      const text = readFileSync(this.logPath(nodeId), "utf8");
      return text.slice(-logTailBytes);
    } catch {
      return "";
    }
  }

  /** Log lines at pino level fatal (60): a member that logged one hit a bug, even if it lived on. */
  fatalLogLines(): string[] {
    const lines: string[] = [];
    for (const id of this.allMemberIds) {
      let text = "";
      try {
        text = readFileSync(this.logPath(id), "utf8");
      } catch {
        continue;
      }
      for (const line of text.split("\n")) if (line.includes('"level":60') || line.includes("AssertionError")) lines.push(`node ${id}: ${line}`);
    }
    return lines;
  }

  healAllLinks(): void {
    for (const proxy of this.#proxies) proxy.heal();
  }

  /** Stops everything: SIGCONT paused members, SIGKILL all (expected), close proxies and clients. */
  async destroy(): Promise<void> {
    for (const client of this.#clients.values()) client.close();
    this.#clients.clear();
    for (const id of [...this.#running.keys()]) this.resume(id);
    await Promise.all([...this.#running.keys()].map((id) => this.kill(id, "SIGKILL")));
    await Promise.all(this.#proxies.map((proxy) => proxy.close()));
  }
}
