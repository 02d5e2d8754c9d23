// A real local cluster for chaos runs: the compiled `ukv` binary as 3 meta members and
// shards x replicas data members on 127.0.0.1, every node-to-node Raft link routed through a
// LinkProxy (UKV_PEER_ADDRESS_OVERRIDES tells each node to dial its peers' proxies), node logs
// appended to <runDir>/logs/node-<id>.log across restarts. It knows which exits it caused
// (kill, shutdown), so any other exit is reported as a crash.
// Membership (the membership nemesis): each shard may get spare slots (an id past the configured
// ones and two ports below 32768), whose Raft links get proxies up front, so every process is
// started knowing every proxy it may ever need. `groups[].members` is the CURRENT membership as
// the harness knows it: a spare joins it once promoted, a removed member leaves it (retired,
// stopped, never restarted).
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
  /** Spare member slots per shard for the membership nemesis (default 0: none). */
  spareCountPerShard?: number;
}

export interface GroupLayout {
  /** 0 = the meta group. */
  groupId: number;
  /** The current members (a copy of the config's at first; the membership nemesis changes it). */
  members: MemberConfig[];
}

interface KnownMember {
  member: MemberConfig;
  groupId: number;
  /** A spare slot: started with `ukv node --join`, its data dir outside the config's. */
  joiner: boolean;
}

interface RunningMember {
  child: Subprocess;
  exited: Promise<number>;
  paused: boolean;
}

const logTailBytes = 4000;
/** Listen ports stay below the kernel's ephemeral range (see findFreePortBase in run.ts). */
const listenPortLimit = 32768;

/** The fields of a member's STATUS the harness uses. */
export interface GroupStatusLike {
  role?: string;
  leader?: number;
  appliedIndex?: number;
  commitIndex?: number;
  voters?: number[];
  learners?: number[];
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
  /** Every member that is or was or may become one: the configured ones and the spare slots. */
  readonly #known = new Map<number, KnownMember>();
  /** Spare slots not used yet, per shard. */
  readonly #spares = new Map<number, MemberConfig[]>();
  /** Removed members: stopped and never restarted. */
  readonly #retired = new Set<number>();

  private constructor(options: ChaosClusterOptions, config: ClusterConfig) {
    this.#options = options;
    this.config = config;
    this.configPath = join(options.runDir, "cluster.yaml");
    this.groups = [{ groupId: 0, members: [...config.meta.members] }, ...config.shards.map((shard) => ({ groupId: shard.id, members: [...shard.members] }))];
    for (const group of this.groups) for (const member of group.members) this.#known.set(member.id, { member, groupId: group.groupId, joiner: false });
    // Spare slot k of the whole cluster: id past the configured ones, ports past the router's.
    const configuredCount = this.#known.size;
    const spareCount = options.spareCountPerShard ?? 0;
    for (const [shardIndex, shard] of config.shards.entries()) {
      const spares: MemberConfig[] = [];
      for (let spareIndex = 0; spareIndex < spareCount; spareIndex++) {
        const slotIndex = shardIndex * spareCount + spareIndex;
        const port = options.portBase + 2 * configuredCount + 2 + 2 * slotIndex;
        assert(port + 1 < listenPortLimit, "spare ports stay below the ephemeral range");
        const member: MemberConfig = { id: configuredCount + 1 + slotIndex, raftAddress: `127.0.0.1:${port}`, clientAddress: `127.0.0.1:${port + 1}` };
        spares.push(member);
        this.#known.set(member.id, { member, groupId: shard.id, joiner: true });
      }
      this.#spares.set(shard.id, spares);
    }
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
      const everyMember = [...group.members, ...(cluster.#spares.get(group.groupId) ?? [])];
      for (const from of everyMember) {
        for (const to of everyMember) {
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

  /** The current members of every group (meta first). */
  get allMemberIds(): number[] {
    return this.groups.flatMap((group) => group.members.map((member) => member.id));
  }

  /** The group a known member (current, retired or spare) belongs to. */
  groupOf(nodeId: number): GroupLayout {
    const known = this.#known.get(nodeId);
    assert(known !== undefined, "every node id belongs to a group");
    const group = this.groups.find((candidate) => candidate.groupId === known.groupId);
    assert(group !== undefined, "a known member's group exists");
    return group;
  }

  member(nodeId: number): MemberConfig {
    const known = this.#known.get(nodeId);
    assert(known !== undefined, "a member the harness knows");
    return known.member;
  }

  isCurrentMember(nodeId: number): boolean {
    return this.groupOf(nodeId).members.some((member) => member.id === nodeId);
  }

  isRetired(nodeId: number): boolean {
    return this.#retired.has(nodeId);
  }

  dataDirOf(nodeId: number): string {
    return this.#known.get(nodeId)?.joiner === true ? join(this.#options.runDir, "joined", `node-${nodeId}`) : nodeDataDir(this.config, nodeId);
  }

  /** Takes the next unused spare slot of a shard (null when all are used). */
  takeSpare(shardId: number): MemberConfig | null {
    return this.#spares.get(shardId)?.shift() ?? null;
  }

  /** The harness now counts `nodeId` (a started spare) among its shard's members. */
  admitMember(nodeId: number): void {
    assert(this.#known.get(nodeId)?.joiner === true, "only a spare is admitted");
    if (this.isCurrentMember(nodeId)) return;
    this.groupOf(nodeId).members.push(this.member(nodeId));
  }

  /** A removed member: out of the membership, stopped (an expected exit), never restarted. */
  async retire(nodeId: number): Promise<void> {
    const group = this.groupOf(nodeId);
    assert(group.groupId !== 0, "only data members are retired");
    group.members = group.members.filter((member) => member.id !== nodeId);
    this.#retired.add(nodeId);
    this.resume(nodeId);
    await this.kill(nodeId);
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
    assert(!this.#retired.has(nodeId), "a removed member is never restarted");
    const group = this.groupOf(nodeId);
    // Every link this node may dial, spares included: a member added later is dialed through
    // its proxy although this process started before it existed.
    const overrides: Record<string, string> = {};
    for (const proxy of this.#proxies) if (proxy.fromId === nodeId) overrides[String(proxy.toId)] = proxy.address;
    const role = group.groupId === 0 ? "meta" : "node";
    const logFd = openSync(this.logPath(nodeId), "a");
    const child = Bun.spawn([this.#options.binaryPath, role, "--config", this.configPath, "--id", String(nodeId), ...this.#joinArgs(nodeId)], {
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

  /** A spare joins its shard: `--join` the meta group with its own addresses and data dir. */
  #joinArgs(nodeId: number): string[] {
    const known = this.#known.get(nodeId);
    if (known?.joiner !== true) return [];
    const metaAddresses = this.config.meta.members.map((member) => member.clientAddress).join(",");
    return ["--join", metaAddresses, "--shard", String(known.groupId), "--raft-addr", known.member.raftAddress, "--client-addr", known.member.clientAddress, "--data-dir", this.dataDirOf(nodeId)];
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
    for (const id of this.#known.keys()) {
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
