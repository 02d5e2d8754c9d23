// A store's Prometheus metrics (prom-client, one registry per store). Two kinds:
// - events on the hot path (requests, proposals, WAL batches, leader changes, snapshots): counters
//   and histograms (bound-metrics.ts: registered in the prom-client registry, counting into plain
//   numbers) whose labelled children are made once (per replica when it opens, per command and
//   result on first use) and kept, so serving a request is two map lookups, an increment and an
//   observation, never a label set built or hashed per request;
// - state read at scrape time (each replica's term, indexes, lag, keys, bytes; the log's counters;
//   disk use; connections; memory): collect() callbacks, so nothing is kept up to date between
//   scrapes.
// Names follow Prometheus conventions: the ukv_ prefix, base units (_seconds, _bytes), _total on
// counters. docs/operations.md lists every metric.
import { statfs } from "node:fs/promises";
import { Counter, Gauge, Registry } from "prom-client";
import type { GroupRuntime, ReplicaMetricsHooks } from "../node/group-runtime.ts";
import type { KvCode, KvRequest, KvResponse } from "../transport/kv-protocol.ts";
import type { RespReply } from "../router/resp/resp-encoder.ts";
import { ukvVersion } from "../util/version.ts";
import { BoundCounter, BoundHistogram, type CounterChild, type HistogramChild } from "./bound-metrics.ts";
import { diskUsage } from "./disk-usage.ts";

/** What a request's answer says, as the `result` label (a small fixed set: no label explosion). */
export const requestResults = ["ok", "not_leader", "unavailable", "stale_epoch", "bad_input", "error"] as const;
export type RequestResult = (typeof requestResults)[number];

/**
 * The listener a request came in on: resp (Redis clients), client (raw protocol, not tagged with a
 * shard: ukv kv, routers), peer (raw protocol tagged with a shard: the hop of another store's
 * routing, or a smart client that routes itself).
 */
export type RequestListener = "resp" | "client" | "peer";

/** How a coordinator decision's step ended (the `result` label of ukv_coordinator_decisions_total). */
export type DecisionResult = "ok" | "failed";

/** Latency buckets (seconds): 50 us .. 10 s, for requests and proposals on loopback and real disks. */
export const latencyBucketsSeconds = [0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
/** fdatasync buckets: 25 us (NVMe, tmpfs) .. 2.5 s (a stalled disk). */
export const fsyncBucketsSeconds = [0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];
const writesPerSyncBuckets = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024];
/** Event-loop lag buckets: a sampler timer fires late by this much. */
const loopLagBucketsSeconds = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1];
const loopSampleIntervalMs = 100;
/** Disk use walks the store dir: at most this often, whatever the scrape rate. */
const diskUsageCacheMs = 5000;

/** What the metrics read from the store process at scrape time. */
export interface MetricsSource {
  storeId: number;
  dir: string;
  replicas(): { groupId: number; runtime: GroupRuntime }[];
  logStats(): { appendCount: number; syncCount: number; bytesWritten: number; segmentCount: number };
  connectionCounts(): { client: number; resp: number };
}

interface RequestChildren {
  counters: (CounterChild | undefined)[];
  histograms: (HistogramChild | undefined)[];
}

export class StoreMetrics {
  readonly registry = new Registry();
  readonly #source: MetricsSource;
  readonly #store: string;
  readonly #requests: BoundCounter;
  readonly #requestSeconds: BoundHistogram;
  /** listener -> command -> children by result index. */
  readonly #requestChildren = new Map<RequestListener, Map<string, RequestChildren>>();
  readonly #fsyncSeconds: BoundHistogram;
  readonly #writesPerSync: BoundHistogram;
  readonly #loopLag: BoundHistogram;
  readonly #fsyncChild: HistogramChild;
  readonly #writesChild: HistogramChild;
  readonly #leaderChanges: BoundCounter;
  readonly #proposals: BoundCounter;
  readonly #proposalSeconds: BoundHistogram;
  readonly #snapshots: BoundCounter;
  readonly #coordinatorDecisions: Counter<"store" | "kind" | "result">;
  readonly #splitsApplied: Counter<"store">;
  /** Group ids with labelled children in the event metrics (removed once the replica is gone). */
  readonly #replicaLabelled = new Set<number>();
  readonly #loopTimer: ReturnType<typeof setInterval>;
  #diskCache: { atMs: number; reading: Promise<DiskSample> } | null = null;

  constructor(source: MetricsSource) {
    this.#source = source;
    this.#store = String(source.storeId);
    const registers = [this.registry];
    const store = this.#store;
    new Gauge({ name: "ukv_store_info", help: "1, labelled with the store id and the program version", labelNames: ["store", "version"], registers }).set({ store, version: ukvVersion }, 1);
    const registry = this.registry;
    this.#requests = new BoundCounter(registry, { name: "ukv_requests_total", help: "Requests answered, by listener, command and result", labelNames: ["store", "listener", "command", "result"] });
    this.#requestSeconds = new BoundHistogram(registry, {
      name: "ukv_request_duration_seconds",
      help: "Time from a request's arrival to its answer, by listener, command and result",
      labelNames: ["store", "listener", "command", "result"],
      buckets: latencyBucketsSeconds,
    });
    this.#fsyncSeconds = new BoundHistogram(registry, {
      name: "ukv_wal_fdatasync_duration_seconds",
      help: "Store log: time from handing a batch to the writer thread until it is durable (pwrite + fdatasync)",
      labelNames: ["store"],
      buckets: fsyncBucketsSeconds,
    });
    this.#writesPerSync = new BoundHistogram(registry, {
      name: "ukv_wal_writes_per_fdatasync",
      help: "Store log: appends (of any groups) made durable by one batch",
      labelNames: ["store"],
      buckets: writesPerSyncBuckets,
    });
    this.#fsyncChild = this.#fsyncSeconds.labels(store);
    this.#writesChild = this.#writesPerSync.labels(store);
    this.#loopLag = new BoundHistogram(registry, { name: "ukv_event_loop_lag_seconds", help: "How late a 100 ms timer fired: time the event loop was busy", labelNames: ["store"], buckets: loopLagBucketsSeconds });
    this.#leaderChanges = new BoundCounter(registry, { name: "ukv_replica_leader_changes_total", help: "Times a replica learned of a new leader of its shard", labelNames: ["shard", "store"] });
    this.#proposals = new BoundCounter(registry, { name: "ukv_replica_proposals_total", help: "Writes proposed by a leader replica, by result (committed, failed)", labelNames: ["shard", "store", "result"] });
    this.#proposalSeconds = new BoundHistogram(registry, {
      name: "ukv_replica_proposal_duration_seconds",
      help: "Time from a write's proposal to its commit and apply on the leader",
      labelNames: ["shard", "store"],
      buckets: latencyBucketsSeconds,
    });
    this.#snapshots = new BoundCounter(registry, { name: "ukv_replica_snapshots_total", help: "Snapshots taken, sent to a follower, or received from the leader", labelNames: ["shard", "store", "event"] });
    // Not on the hot path (a decision every few seconds at most, a split now and then): plain prom-client counters.
    this.#coordinatorDecisions = new Counter({ name: "ukv_coordinator_decisions_total", help: "Coordinator decisions run by this store (while it leads the metadata group), by kind and result", labelNames: ["store", "kind", "result"], registers });
    this.#splitsApplied = new Counter({ name: "ukv_store_splits_applied_total", help: "Split children this store created from a split its replica applied", labelNames: ["store"], registers });
    this.#splitsApplied.inc({ store }, 0);
    this.#defineScrapeTimeMetrics(registers);
    let expectedMs = performance.now() + loopSampleIntervalMs;
    const loopChild = this.#loopLag.labels(store);
    this.#loopTimer = setInterval(() => {
      const nowMs = performance.now();
      loopChild.observe(Math.max(0, nowMs - expectedMs) / 1000);
      expectedMs = nowMs + loopSampleIntervalMs;
    }, loopSampleIntervalMs);
    this.#loopTimer.unref?.();
  }

  /** The hooks of one replica: its labelled children, made now, once. */
  replicaHooks(groupId: number): ReplicaMetricsHooks {
    const shard = String(groupId);
    const store = this.#store;
    this.#replicaLabelled.add(groupId);
    const leaderChanges = this.#leaderChanges.labels(shard, store);
    const committed = this.#proposals.labels(shard, store, "committed");
    const failed = this.#proposals.labels(shard, store, "failed");
    const proposalSeconds = this.#proposalSeconds.labels(shard, store);
    const taken = this.#snapshots.labels(shard, store, "taken");
    const sent = this.#snapshots.labels(shard, store, "sent");
    const received = this.#snapshots.labels(shard, store, "received");
    return {
      leaderChanged: () => leaderChanges.inc(),
      proposalCommitted: (seconds) => {
        committed.inc();
        proposalSeconds.observe(seconds);
      },
      proposalFailed: () => failed.inc(),
      snapshotTaken: () => taken.inc(),
      snapshotSent: () => sent.inc(),
      snapshotInstalled: () => received.inc(),
    };
  }

  /** The coordinator's decision counter: every kind and result exists at 0 from the start, so rate() and alerts see it before the first decision. */
  coordinatorDecisionCounter(kinds: readonly string[]): (kind: string, result: DecisionResult) => void {
    const store = this.#store;
    for (const kind of kinds) for (const result of ["ok", "failed"]) this.#coordinatorDecisions.inc({ store, kind, result }, 0);
    return (kind, result) => this.#coordinatorDecisions.inc({ store, kind, result });
  }

  /** A split child created by this store (Store's onSplitApplied). */
  readonly splitApplied = (): void => {
    this.#splitsApplied.inc({ store: this.#store });
  };

  /** The shared log's batch observer (Store.observeLogBatches). */
  readonly logBatchDurable = (seconds: number, appendCount: number): void => {
    this.#fsyncChild.observe(seconds);
    this.#writesChild.observe(appendCount);
  };

  /** The raw protocol's handler, timed: each answer counted by listener, op and result. */
  timedKvHandler(handler: (request: KvRequest) => Promise<KvResponse>): (request: KvRequest) => Promise<KvResponse> {
    return (request) => {
      const startedMs = performance.now();
      return handler(request).then((response) => {
        const listener = request.shard === undefined || request.shard === 0 ? "client" : "peer";
        this.#observeRequest(listener, request.op, kvResult(response.code), (performance.now() - startedMs) / 1000);
        return response;
      });
    };
  }

  /** One RESP command answered (name null: unknown command or wrong arity). */
  readonly observeRespCommand = (name: string | null, reply: RespReply, seconds: number): void => {
    this.#observeRequest("resp", name ?? "unknown", respResult(reply), seconds);
  };

  /**
   * `count` RESP reads the read pool's Workers answered themselves (store/read-pool.ts), reported
   * in bulk: counted in ukv_requests_total like any command, but not timed (a Worker's reads take
   * microseconds; timing each on this thread would cost more than answering it).
   */
  readonly countPoolReads = (listener: RequestListener, command: string, count: number): void => {
    this.#requests.labels(this.#store, listener, command, "ok").inc(count);
  };

  #observeRequest(listener: RequestListener, command: string, result: RequestResult, seconds: number): void {
    let byCommand = this.#requestChildren.get(listener);
    if (byCommand === undefined) {
      byCommand = new Map();
      this.#requestChildren.set(listener, byCommand);
    }
    let children = byCommand.get(command);
    if (children === undefined) {
      // A command name comes from the command table or the protocol's op enum: a bounded set.
      children = { counters: [], histograms: [] };
      byCommand.set(command, children);
    }
    const index = requestResults.indexOf(result);
    let counter = children.counters[index];
    let histogram = children.histograms[index];
    if (counter === undefined || histogram === undefined) {
      counter = this.#requests.labels(this.#store, listener, command, result);
      histogram = this.#requestSeconds.labels(this.#store, listener, command, result);
      children.counters[index] = counter;
      children.histograms[index] = histogram;
    }
    counter.inc();
    histogram.observe(seconds);
  }

  /** Prometheus text of every metric. */
  async text(): Promise<string> {
    this.#pruneRemovedReplicas();
    return await this.registry.metrics();
  }

  /** Cumulative bucket counts of a histogram, summed over the label sets `keep` accepts. */
  histogramTotals(name: "requests" | "fsync" | "proposals", keep: (labels: Partial<Record<string, string>>) => boolean = () => true): HistogramTotals {
    const metric = name === "requests" ? this.#requestSeconds : name === "fsync" ? this.#fsyncSeconds : this.#proposalSeconds;
    let totals: number[] | null = null;
    let bounds: number[] = [];
    let count = 0;
    let sum = 0;
    for (const child of metric.children()) {
      if (!keep(child.labels)) continue;
      const cumulative = child.cumulative();
      bounds = [...child.bounds];
      totals = totals === null ? cumulative : totals.map((value, index) => value + (cumulative[index] ?? 0));
      count += child.count;
      sum += child.sum;
    }
    if (totals === null) {
      const any = metric.children().next();
      bounds = any.done === true ? [] : [...any.value.bounds];
      totals = bounds.map(() => 0);
    }
    return { bounds, counts: totals, count, sum };
  }

  close(): void {
    clearInterval(this.#loopTimer);
  }

  /** Disk use and free space, read at most once every diskUsageCacheMs (the three disk gauges share it). */
  #readDisk(): Promise<DiskSample> {
    const nowMs = Date.now();
    if (this.#diskCache !== null && nowMs - this.#diskCache.atMs <= diskUsageCacheMs) return this.#diskCache.reading;
    const dir = this.#source.dir;
    const reading = Promise.all([diskUsage(`${dir}/log`), diskUsage(`${dir}/groups`), statfs(dir).catch(() => null)]).then(([wal, snapshots, fs]) => ({
      wal,
      snapshots,
      freeBytes: fs === null ? null : fs.bavail * fs.bsize,
      sizeBytes: fs === null ? null : fs.blocks * fs.bsize,
    }));
    this.#diskCache = { atMs: nowMs, reading };
    return reading;
  }

  /** Replicas deleted from this store: their series go too. */
  #pruneRemovedReplicas(): void {
    const hosted = new Set(this.#source.replicas().map(({ groupId }) => groupId));
    for (const groupId of this.#replicaLabelled) {
      if (hosted.has(groupId)) continue;
      this.#replicaLabelled.delete(groupId);
      const shard = String(groupId);
      this.#leaderChanges.remove(shard, this.#store);
      for (const result of ["committed", "failed"]) this.#proposals.remove(shard, this.#store, result);
      this.#proposalSeconds.remove(shard, this.#store);
      for (const event of ["taken", "sent", "received"]) this.#snapshots.remove(shard, this.#store, event);
    }
  }

  #defineScrapeTimeMetrics(registers: Registry[]): void {
    const source = this.#source;
    const store = this.#store;
    const replicaLabels = ["shard", "store", "role"];
    const commit = new Gauge({ name: "ukv_replica_commit_index", help: "Highest log index the replica knows committed", labelNames: replicaLabels, registers: [] });
    const applied = new Gauge({ name: "ukv_replica_applied_index", help: "Highest log index applied to the replica's table", labelNames: replicaLabels, registers: [] });
    const last = new Gauge({ name: "ukv_replica_last_index", help: "Last index in the replica's log", labelNames: replicaLabels, registers: [] });
    const applyLag = new Gauge({ name: "ukv_replica_apply_lag_entries", help: "Committed entries the replica has not applied yet", labelNames: replicaLabels, registers: [] });
    const keys = new Gauge({ name: "ukv_replica_keys", help: "Keys in the replica's table", labelNames: replicaLabels, registers: [] });
    const bytes = new Gauge({ name: "ukv_replica_bytes", help: "Bytes used by the replica's table (keys, values, index)", labelNames: replicaLabels, registers: [] });
    const hasLeader = new Gauge({
      name: "ukv_replica_has_leader",
      help: "1 when the replica knows a leader of its shard, else 0 (0 on every replica: the shard has no quorum)",
      labelNames: replicaLabels,
      registers: [],
    });
    const followerLag = new Gauge({
      name: "ukv_replica_follower_lag_entries",
      help: "On a leader: entries each member's log is behind the leader's last index",
      labelNames: ["shard", "store", "follower"],
      registers: [],
    });
    // One pass over the replicas fills every replica gauge: the term gauge's collect does it. The
    // registry starts collecting metrics in registration order (a synchronous collect runs before
    // the next metric is read), so the term gauge is registered before the gauges it fills.
    const term = new Gauge({
      name: "ukv_replica_term",
      help: "Raft term of the replica",
      labelNames: replicaLabels,
      registers: [],
      collect() {
        for (const gauge of [this, commit, applied, last, applyLag, keys, bytes, hasLeader, followerLag]) gauge.reset();
        for (const { groupId, runtime } of source.replicas()) {
          const summary = runtime.summary();
          if (summary.removed) continue;
          const labels = { shard: String(groupId), store, role: summary.role };
          this.set(labels, summary.term);
          commit.set(labels, summary.commitIndex);
          applied.set(labels, summary.appliedIndex);
          last.set(labels, summary.lastIndex);
          applyLag.set(labels, Math.max(0, summary.commitIndex - summary.appliedIndex));
          keys.set(labels, summary.keyCount);
          bytes.set(labels, runtime.table.bytesUsed());
          hasLeader.set(labels, summary.leader === 0 ? 0 : 1);
          if (summary.role !== "leader") continue;
          for (const [memberId, peer] of runtime.progress()) {
            if (memberId === source.storeId) continue;
            followerLag.set({ shard: String(groupId), store, follower: String(memberId) }, Math.max(0, summary.lastIndex - peer.match));
          }
        }
      },
    });
    for (const metric of [term, commit, applied, last, applyLag, keys, bytes, hasLeader, followerLag]) this.registry.registerMetric(metric);
    const written = new Counter({ name: "ukv_wal_written_bytes_total", help: "Bytes written to the store log, padding included", labelNames: ["store"], registers: [] });
    const segments = new Gauge({ name: "ukv_wal_segments", help: "Preallocated store log segment files", labelNames: ["store"], registers: [] });
    const syncs = new Counter({ name: "ukv_wal_fdatasyncs_total", help: "Store log fdatasync calls (appends / fdatasyncs = writes per fdatasync)", labelNames: ["store"], registers: [] });
    const appends = new Counter({
      name: "ukv_wal_appends_total",
      help: "Store log appends (one per group write batch)",
      labelNames: ["store"],
      registers: [],
      collect() {
        const stats = source.logStats();
        for (const metric of [this, syncs, written]) metric.reset();
        this.inc({ store }, stats.appendCount);
        syncs.inc({ store }, stats.syncCount);
        written.inc({ store }, stats.bytesWritten);
        segments.set({ store }, stats.segmentCount);
      },
    });
    for (const metric of [appends, syncs, written, segments]) this.registry.registerMetric(metric);
    const metrics = this;
    new Gauge({
      name: "ukv_disk_used_bytes",
      help: "Disk used by the store, by kind (wal: the shared log; snapshots: the replicas' snapshot files)",
      labelNames: ["store", "kind"],
      registers,
      async collect() {
        const disk = await metrics.#readDisk();
        this.set({ store, kind: "wal" }, disk.wal);
        this.set({ store, kind: "snapshots" }, disk.snapshots);
      },
    });
    new Gauge({
      name: "ukv_disk_free_bytes",
      help: "Bytes available to the store on the file system of its data dir",
      labelNames: ["store"],
      registers,
      async collect() {
        const disk = await metrics.#readDisk();
        this.reset();
        if (disk.freeBytes !== null) this.set({ store }, disk.freeBytes);
      },
    });
    new Gauge({
      name: "ukv_disk_size_bytes",
      help: "Size of the file system of the store's data dir",
      labelNames: ["store"],
      registers,
      async collect() {
        const disk = await metrics.#readDisk();
        this.reset();
        if (disk.sizeBytes !== null) this.set({ store }, disk.sizeBytes);
      },
    });
    new Gauge({
      name: "ukv_connections",
      help: "Open client connections, by listener (client: raw protocol, resp: Redis)",
      labelNames: ["store", "listener"],
      registers,
      collect() {
        const counts = source.connectionCounts();
        this.set({ store, listener: "client" }, counts.client);
        this.set({ store, listener: "resp" }, counts.resp);
      },
    });
    new Gauge({
      name: "ukv_process_resident_memory_bytes",
      help: "Resident set size of the store process",
      labelNames: ["store"],
      registers,
      collect() {
        this.set({ store }, process.memoryUsage.rss());
      },
    });
    new Gauge({
      name: "ukv_store_replicas",
      help: "Replicas (shards and the metadata group) the store hosts",
      labelNames: ["store"],
      registers,
      collect() {
        this.set({ store }, source.replicas().length);
      },
    });
  }
}

interface DiskSample {
  wal: number;
  snapshots: number;
  freeBytes: number | null;
  sizeBytes: number | null;
}

export interface HistogramTotals {
  /** Finite upper bounds, ascending. */
  bounds: number[];
  /** Cumulative counts per bound. */
  counts: number[];
  count: number;
  sum: number;
}

export function kvResult(code: KvCode): RequestResult {
  switch (code) {
    case "OK":
    case "NOT_FOUND":
      return "ok";
    case "NOT_LEADER":
      return "not_leader";
    case "SHARD_UNAVAILABLE":
    case "UNAVAILABLE":
    case "TIMEOUT":
    case "UNREACHABLE":
      return "unavailable";
    case "WRONG_SHARD":
      return "stale_epoch";
    case "BAD_REQUEST":
    case "KEY_TOO_LARGE":
    case "VALUE_TOO_LARGE":
      return "bad_input";
    default:
      return "error";
  }
}

/** A RESP reply's result: its error code (see resp-context.ts for how codes map to RESP errors). */
export function respResult(reply: RespReply): RequestResult {
  if (reply.type !== "error") return "ok";
  const text = reply.text;
  if (text.startsWith("TRYAGAIN NOT_LEADER")) return "not_leader";
  if (text.startsWith("TRYAGAIN") || text.startsWith("CLUSTERDOWN")) return "unavailable";
  if (text.startsWith("MOVED") || text.startsWith("ASK") || text.includes("WRONG_SHARD") || text.includes("STALE_EPOCH")) return "stale_epoch";
  if (text.startsWith("ERR internal") || text.startsWith("ERR INTERNAL")) return "error";
  return "bad_input";
}
