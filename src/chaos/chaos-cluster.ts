// A real local cluster for chaos runs: the compiled `ukv` binary as `storeCount` stores (one
// `ukv node` process each, hosting replicas of many Raft groups: the metadata group on the
// config's metaStores, and shardCount shards x replicas placed over the stores) on 127.0.0.1.
// Stores share one Raft connection per store pair, so every directed store-to-store link is
// routed through its own LinkProxy (UKV_PEER_ADDRESS_OVERRIDES tells each store to dial its
// peers' proxies): a partition cuts a link of every group the two stores share. Store logs are
// appended to <runDir>/logs/store-<id>.log across restarts. It knows which exits it caused
// (kill, shutdown), so any other exit is reported as a crash.
// `groups[].replicas` is the CURRENT membership of each group as the harness knows it (store
// ids); the membership and move nemeses move replicas between stores and keep it up to date. A
// removed replica is deleted by its store; the store itself keeps running. The shards and their
// hash ranges follow the metadata group (followTopology): the split nemesis makes new shards, which
// join `groups` with the members the metadata lists, and the range map becomes the metadata's.
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Subprocess } from "bun";
import { parseClusterConfig, renderClusterConfig, storeDataDir, type ClusterConfig, type StoreConfig } from "../config/cluster-config.ts";
import { localStorePortStride, renderLocalClusterConfig } from "../config/local-cluster.ts";
import { GroupClient } from "../client/group-client.ts";
import { topologyFromLayout } from "../client/topology.ts";
import { layoutFromConfig } from "../meta/meta-service.ts";
import type { RangeMap } from "../ring/range-map.ts";
import { KvClient } from "../transport/kv-client.ts";
import { setClientPassword } from "../transport/client-auth.ts";
import { randomBytes } from "node:crypto";
import { fetchTopology } from "../transport/meta-api.ts";
import type { Topology as WireTopology } from "../transport/topology-wire.ts";
import { assert } from "../util/assert.ts";
import type { KeyRangeJson } from "../ring/range-map.ts";
import type { StoreExit } from "./checkers.ts";
import { LinkProxy } from "./link-proxy.ts";

export interface ChaosClusterOptions {
  binaryPath: string;
  runDir: string;
  storeCount: number;
  shardCount: number;
  /** Replicas a shard (at most storeCount). */
  replicas: number;
  /** Store i listens on portBase + localStorePortStride(i-1) + 0..2 (renderLocalClusterConfig). */
  portBase: number;
  tickMs: number;
  electionTicks: number;
  /** Small, so snapshots and log compaction happen during a run. */
  snapshotEntriesThreshold: number;
  walSegmentSizeBytes: number;
}

export interface GroupLayout {
  /** 0 = the metadata group. */
  groupId: number;
  /** Store ids of the current replicas (the config's at first; the membership nemesis changes them). */
  replicas: number[];
}

interface RunningStore {
  child: Subprocess;
  exited: Promise<number>;
  paused: boolean;
}

/** The fields of a replica's STATUS the harness uses. */
export interface GroupStatusLike {
  groupId?: number;
  role?: string;
  leader?: number;
  term?: number;
  appliedIndex?: number;
  commitIndex?: number;
  voters?: number[];
  learners?: number[];
  removed?: boolean;
  /** A data shard's range as the replica owns it (STATUS of one shard only). */
  range?: KeyRangeJson | null;
}

/** A store's STATUS (shard 0): its id and a status per replica it hosts. */
export interface StoreStatusLike {
  role?: string;
  storeId?: number;
  groups?: GroupStatusLike[];
}

const logTailBytes = 4000;
/** Listen ports stay below the kernel's ephemeral range (see findFreePortBase in run.ts). */
const listenPortLimit = 32768;
const statusTimeoutMs = 2000;
/** The harness's TOPOLOGY requests to the metadata stores: per request, and following elections. */
const metaTimeoutMs = 2000;
const metaRetryWindowMs = 3000;
/** Refreshes asked for by failing requests (STALE_EPOCH) run at most this often. */
const topologyRefreshGapMs = 300;
const encoder = new TextEncoder();

/** The ports a cluster of `storeCount` stores takes from portBase on (the local config's router block included). */
export function clusterPortCount(storeCount: number): number {
  return localStorePortStride * storeCount + 2;
}

export class ChaosCluster {
  readonly config: ClusterConfig;
  readonly configPath: string;
  /** The metadata group first, then the shards in config order. */
  readonly groups: GroupLayout[];
  readonly #options: ChaosClusterOptions;
  readonly #running = new Map<number, RunningStore>();
  /** Exits the harness caused: the pids it killed on purpose. */
  readonly #expectedExitPids = new Set<number>();
  readonly exits: StoreExit[] = [];
  readonly #proxies: LinkProxy[] = [];
  readonly #clients = new Map<number, KvClient>();
  /** Key hash -> shard: the config's equal ranges at first, then the metadata group's (followTopology). */
  #ranges: RangeMap;
  #topologyEpoch = 0;
  #meta: GroupClient | null = null;
  #refreshing: Promise<number[]> | null = null;
  #lastRefreshMs = 0;

  private constructor(options: ChaosClusterOptions, config: ClusterConfig) {
    this.#options = options;
    this.config = config;
    this.configPath = join(options.runDir, "cluster.yaml");
    this.groups = [{ groupId: 0, replicas: [...config.metaStores] }, ...config.shards.map((shard) => ({ groupId: shard.id, replicas: [...shard.replicas] }))];
    this.#ranges = topologyFromLayout(layoutFromConfig(config)).ranges;
    mkdirSync(join(options.runDir, "logs"), { recursive: true });
    writeFileSync(this.configPath, renderClusterConfig(config));
  }

  static async create(options: ChaosClusterOptions): Promise<ChaosCluster> {
    assert(existsSync(options.binaryPath), "the ukv binary exists (npm run build:bin)");
    assert(options.portBase + clusterPortCount(options.storeCount) < listenPortLimit, "store ports stay below the ephemeral range");
    const text = renderLocalClusterConfig({ dir: join(options.runDir, "data"), storeCount: options.storeCount, shardCount: options.shardCount, replication: options.replicas, portBase: options.portBase, clusterName: "chaos" });
    const generated = parseClusterConfig(text, "chaos cluster config", "/");
    const config: ClusterConfig = {
      ...generated,
      tickMs: options.tickMs,
      electionTicks: options.electionTicks,
      snapshotEntriesThreshold: options.snapshotEntriesThreshold,
      walSegmentSizeBytes: options.walSegmentSizeBytes,
      router: null,
      // Every chaos run has a password: the harness's clients, the stores' own clients and the
      // `ukv admin` children must all authenticate, or the run fails.
      requirepass: randomBytes(12).toString("hex"),
    };
    setClientPassword(config.requirepass ?? null);
    // Checked like a file the stores will read, so a bad setting fails here and not in every child.
    parseClusterConfig(renderClusterConfig(config), "chaos cluster config", "/");
    const cluster = new ChaosCluster(options, config);
    for (const from of config.stores) {
      for (const to of config.stores) {
        if (from.id === to.id) continue;
        cluster.#proxies.push(await LinkProxy.start({ fromId: from.id, toId: to.id, target: to.raftAddress }));
      }
    }
    return cluster;
  }

  get storeIds(): number[] {
    return this.config.stores.map((store) => store.id);
  }

  /** The current shards (the config's, and every shard a split made since). */
  get shardIds(): number[] {
    return this.shardGroups.map((group) => group.groupId);
  }

  /** The range map the harness routes follower reads by (the metadata group's, as last read). */
  get ranges(): RangeMap {
    return this.#ranges;
  }

  /** The metadata group's topology (any metadata replica answers); null when none answered. */
  async metaTopology(): Promise<WireTopology | null> {
    if (this.#meta === null) {
      const addresses = this.config.metaStores.map((id) => this.store(id).clientAddress);
      this.#meta = new GroupClient(addresses, { timeoutMs: metaTimeoutMs, retryWindowMs: metaRetryWindowMs });
    }
    return fetchTopology(this.#meta).catch(() => null);
  }

  /**
   * Follows the metadata group: a shard it lists that the harness does not know (a split's new
   * shard) joins `groups` with the members and learners the metadata names, and the range map
   * becomes the metadata's when it is newer and whole. Returns the shards added. Membership of
   * known shards is left alone: the nemeses track it from the leaders, which the metadata trails.
   */
  async followTopology(): Promise<number[]> {
    this.#refreshing ??= this.#followTopology().finally(() => {
      this.#refreshing = null;
      this.#lastRefreshMs = Date.now();
    });
    return this.#refreshing;
  }

  /** followTopology, at most every topologyRefreshGapMs, not awaited: a request found the ranges stale. */
  requestTopologyRefresh(): void {
    if (this.#refreshing !== null || Date.now() - this.#lastRefreshMs < topologyRefreshGapMs) return;
    void this.followTopology();
  }

  async #followTopology(): Promise<number[]> {
    const topology = await this.metaTopology();
    const layout = topology?.layout ?? null;
    if (topology === null || layout === null) return [];
    const added: number[] = [];
    for (const shard of layout.shards) {
      if (this.groups.some((group) => group.groupId === shard.id)) continue;
      const replicas = [...shard.members, ...(shard.learners ?? [])].map((member) => member.id);
      if (replicas.length === 0) continue;
      this.groups.push({ groupId: shard.id, replicas });
      added.push(shard.id);
    }
    if (topology.epoch >= this.#topologyEpoch) {
      try {
        // Only shards the harness knows (all of them, after the loop above) may own a range.
        this.#ranges = topologyFromLayout(layout, topology.epoch).ranges;
        this.#topologyEpoch = topology.epoch;
      } catch {
        // A layout that does not tile the hash space: the final topology check reports it; keep routing by the last whole one.
      }
    }
    return added;
  }

  get shardGroups(): GroupLayout[] {
    return this.groups.filter((group) => group.groupId !== 0);
  }

  group(groupId: number): GroupLayout {
    const group = this.groups.find((candidate) => candidate.groupId === groupId);
    assert(group !== undefined, "a group the cluster has");
    return group;
  }

  store(storeId: number): StoreConfig {
    const store = this.config.stores.find((candidate) => candidate.id === storeId);
    assert(store !== undefined, "a store of the config");
    return store;
  }

  /** The harness now counts `storeId` among the replicas of `shardId` (added, or found by reconciling). */
  admitReplica(shardId: number, storeId: number): void {
    assert(shardId !== 0, "the metadata group's replicas are fixed");
    const group = this.group(shardId);
    if (!group.replicas.includes(storeId)) group.replicas.push(storeId);
  }

  /** `storeId` holds no replica of `shardId` any more (its store deletes it). */
  dropReplica(shardId: number, storeId: number): void {
    assert(shardId !== 0, "the metadata group's replicas are fixed");
    const group = this.group(shardId);
    group.replicas = group.replicas.filter((id) => id !== storeId);
  }

  dataDirOf(storeId: number): string {
    return storeDataDir(this.config, storeId);
  }

  /** The store's shared log: a Wal of store-level records (src/storage/store-log.ts). */
  logDirOf(storeId: number): string {
    return join(this.dataDirOf(storeId), "log");
  }

  logPath(storeId: number): string {
    return join(this.#options.runDir, "logs", `store-${storeId}.log`);
  }

  proxy(fromId: number, toId: number): LinkProxy {
    const proxy = this.#proxies.find((candidate) => candidate.fromId === fromId && candidate.toId === toId);
    assert(proxy !== undefined, "every directed store-to-store link has a proxy");
    return proxy;
  }

  get proxies(): readonly LinkProxy[] {
    return this.#proxies;
  }

  isRunning(storeId: number): boolean {
    return this.#running.has(storeId);
  }

  isPaused(storeId: number): boolean {
    return this.#running.get(storeId)?.paused ?? false;
  }

  /** Running and not paused: it may answer. */
  isServing(storeId: number): boolean {
    return this.isRunning(storeId) && !this.isPaused(storeId);
  }

  start(storeId: number): void {
    assert(!this.#running.has(storeId), "start() of a store that is not running");
    const overrides: Record<string, string> = {};
    for (const proxy of this.#proxies) if (proxy.fromId === storeId) overrides[String(proxy.toId)] = proxy.address;
    const logFd = openSync(this.logPath(storeId), "a");
    const child = Bun.spawn([this.#options.binaryPath, "node", "--config", this.configPath, "--id", String(storeId)], {
      stdout: logFd,
      stderr: logFd,
      env: { ...process.env, UKV_LOG_LEVEL: "info", UKV_PEER_ADDRESS_OVERRIDES: JSON.stringify(overrides) },
    });
    closeSync(logFd);
    const exited = child.exited.then((exitCode) => {
      this.exits.push({
        storeId,
        exitCode,
        signalCode: child.signalCode === null || child.signalCode === undefined ? null : String(child.signalCode),
        expected: this.#expectedExitPids.has(child.pid),
        logTail: this.logTail(storeId),
      });
      if (this.#running.get(storeId)?.child === child) this.#running.delete(storeId);
      return exitCode;
    });
    this.#running.set(storeId, { child, exited, paused: false });
  }

  startAll(): void {
    for (const id of this.storeIds) this.start(id);
  }

  /** kill -9 (or another signal the harness sends on purpose) and wait for the exit. */
  async kill(storeId: number, signal: NodeJS.Signals = "SIGKILL"): Promise<void> {
    const running = this.#running.get(storeId);
    if (running === undefined) return;
    this.#expectedExitPids.add(running.child.pid);
    this.#clients.get(storeId)?.close();
    this.#clients.delete(storeId);
    running.child.kill(signal);
    if (running.paused && signal !== "SIGKILL") running.child.kill("SIGCONT");
    await running.exited;
  }

  pause(storeId: number): void {
    const running = this.#running.get(storeId);
    if (running === undefined || running.paused) return;
    running.child.kill("SIGSTOP");
    running.paused = true;
  }

  resume(storeId: number): void {
    const running = this.#running.get(storeId);
    if (running === undefined || !running.paused) return;
    running.child.kill("SIGCONT");
    running.paused = false;
  }

  /** The harness's own client of a store's client port (STATUS, admin look-ups). */
  client(storeId: number): KvClient {
    let client = this.#clients.get(storeId);
    if (client === undefined) {
      client = new KvClient(this.store(storeId).clientAddress, { timeoutMs: statusTimeoutMs, connectTimeoutMs: 1000 });
      this.#clients.set(storeId, client);
    }
    return client;
  }

  async #status(storeId: number, shardId: number): Promise<unknown> {
    if (!this.isServing(storeId)) return null;
    const response = await this.client(storeId).request({ op: "STATUS", key: encoder.encode(""), value: new Uint8Array(0), linearizable: false, shard: shardId });
    if (response.code !== "OK") return null;
    return JSON.parse(response.statusJson) as unknown;
  }

  /** The status of the store's replica of `groupId`; null = no answer or no such replica. */
  async groupStatus(storeId: number, groupId: number): Promise<GroupStatusLike | null> {
    // STATUS shard 0 is the store's own; a group id of 0 means the metadata replica, found in it.
    if (groupId === 0) return (await this.storeStatus(storeId))?.groups?.find((group) => group.groupId === 0) ?? null;
    return (await this.#status(storeId, groupId)) as GroupStatusLike | null;
  }

  /** The store's STATUS (every replica it hosts); null = no answer. */
  async storeStatus(storeId: number): Promise<StoreStatusLike | null> {
    return (await this.#status(storeId, 0)) as StoreStatusLike | null;
  }

  logTail(storeId: number): string {
    try {
      const text = readFileSync(this.logPath(storeId), "utf8");
      return text.slice(-logTailBytes);
    } catch {
      return "";
    }
  }

  /**
   * Log lines at pino level fatal (60): a store that logged one hit a bug, even if it lived on.
   * Except the routing's availability alerts: every store routes, and its router logs a shard it
   * finds without quorum at level 60 with severity CRITICAL (FR1.3), which faults cause on
   * purpose; those are counted apart (`alertLineCount`).
   */
  fatalLogLines(): { lines: string[]; alertLineCount: number } {
    const lines: string[] = [];
    let alertLineCount = 0;
    for (const id of this.storeIds) {
      let text = "";
      try {
        text = readFileSync(this.logPath(id), "utf8");
      } catch {
        continue;
      }
      for (const line of text.split("\n")) {
        if (!line.includes('"level":60') && !line.includes("AssertionError")) continue;
        if (isAvailabilityAlert(line)) alertLineCount++;
        else lines.push(`store ${id}: ${line}`);
      }
    }
    return { lines, alertLineCount };
  }

  healAllLinks(): void {
    for (const proxy of this.#proxies) proxy.heal();
  }

  /**
   * SIGKILL every running store at once, without waiting (the harness is being interrupted: a
   * store left running would outlive it, holding its ports and the small file system's mount).
   */
  killAllNow(): void {
    for (const running of this.#running.values()) {
      this.#expectedExitPids.add(running.child.pid);
      running.child.kill("SIGKILL");
    }
  }

  /** Stops everything: SIGCONT paused stores, SIGKILL all (expected), close proxies and clients. */
  async destroy(): Promise<void> {
    for (const client of this.#clients.values()) client.close();
    this.#clients.clear();
    this.#meta?.close();
    this.#meta = null;
    for (const id of [...this.#running.keys()]) this.resume(id);
    await Promise.all([...this.#running.keys()].map((id) => this.kill(id, "SIGKILL")));
    await Promise.all(this.#proxies.map((proxy) => proxy.close()));
  }
}

/** A router's CRITICAL "shard unavailable" line (src/router/unavailable-log.ts, router-server.ts): an alert, not a bug. */
export function isAvailabilityAlert(line: string): boolean {
  if (line.includes("AssertionError")) return false;
  try {
    const parsed = JSON.parse(line) as { level?: unknown; component?: unknown; severity?: unknown; event?: unknown };
    return parsed.level === 60 && parsed.component === "router" && parsed.severity === "CRITICAL" && (parsed.event === "shard_health_changed" || parsed.event === "shard_unavailable" || parsed.event === "shard_unavailable_summary");
  } catch {
    return false;
  }
}
