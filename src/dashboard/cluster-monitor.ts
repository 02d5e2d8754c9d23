// The cluster as one store sees it for the dashboard and `ukv top` (GET /api/cluster): every
// store's snapshot (GET /api/store, this store's own without a hop), merged into a stores x shards
// view, with rates and percentiles from the difference of consecutive cumulative snapshots (like
// Prometheus' rate() and histogram_quantile()), and the last minutes of cluster-wide samples.
// Sampling runs only while someone watches: a timer samples once a second, and stops when no view
// was asked for during watchWindowMs.
import type { HistogramTotals } from "../metrics/store-metrics.ts";
import type { StoreSnapshot } from "./store-snapshot.ts";

export interface MonitorTarget {
  id: number;
  /** host:port of its HTTP listener, null: it has none (shown as unknown). */
  httpAddress: string | null;
}

/** A shard's hash range as the topology records it (decimal strings: bigints do not survive JSON); version > 1: split since creation. */
export interface ShardRangeView {
  start: string;
  end: string;
  version: number;
}

export interface MonitorShard {
  id: number;
  /** Store ids of its replicas (voters and learners). */
  members: number[];
  /** Store ids of its learners: replicas catching up, a move (or add) in flight. */
  learners: number[];
  /** Null for the metadata group. */
  range: ShardRangeView | null;
}

export interface MonitorOptions {
  selfId: number;
  targets: () => MonitorTarget[];
  shards: () => MonitorShard[];
  local: () => Promise<StoreSnapshot>;
  /** Default: GET http://address/api/store. */
  fetchSnapshot?: (address: string, timeoutMs: number) => Promise<StoreSnapshot>;
}

export interface StoreView {
  id: number;
  httpAddress: string | null;
  up: boolean;
  error: string | null;
  version: string | null;
  leaders: number;
  replicas: number;
  /** Null until two snapshots exist, or with metrics off. */
  opsPerSec: number | null;
  p50Seconds: number | null;
  p99Seconds: number | null;
  fsyncP99Seconds: number | null;
  connections: number | null;
  rssBytes: number | null;
}

export interface ReplicaView {
  role: string;
  keys: number;
  appliedIndex: number;
  /** Entries behind the leader (from the leader's progress), null when no leader answered. */
  lag: number | null;
}

export interface ShardView {
  id: number;
  members: number[];
  /** Store id of the replica that answered as leader, 0: none answered. */
  leader: number;
  /** A leader answered: the shard can commit. False: no quorum (or every member unreachable). */
  quorum: boolean;
  term: number;
  /** Entries committed per second (the leader's commit index over the last interval). */
  writesPerSec: number | null;
  keys: number;
  replicas: Record<string, ReplicaView>;
  learners: number[];
  range: ShardRangeView | null;
}

export interface ClusterSample {
  atMs: number;
  opsPerSec: number | null;
  p50Seconds: number | null;
  p99Seconds: number | null;
  fsyncP50Seconds: number | null;
  fsyncP99Seconds: number | null;
}

export interface ClusterView {
  atMs: number;
  servedBy: number;
  stores: StoreView[];
  shards: ShardView[];
  /** Oldest first, one a second while watched, at most historyLength. */
  history: ClusterSample[];
}

export const sampleIntervalMs = 1000;
export const historyLength = 300;
const watchWindowMs = 5 * 60_000;
const fetchTimeoutMs = 800;
/** A view asked for within this of the last sample reuses it (many tabs, one sampling rate). */
const sampleReuseMs = 250;
/** Between the two samples of the first view. */
const firstIntervalMs = 300;

interface Sampled {
  atMs: number;
  snapshots: Map<number, StoreSnapshot | { error: string }>;
}

export class ClusterMonitor {
  readonly #options: MonitorOptions;
  readonly #history: ClusterSample[] = [];
  #previous: Sampled | null = null;
  #latest: Sampled | null = null;
  #sampling: Promise<void> | null = null;
  #timer: ReturnType<typeof setInterval> | null = null;
  #lastViewMs = 0;
  #closed = false;

  constructor(options: MonitorOptions) {
    this.#options = options;
  }

  async view(): Promise<ClusterView> {
    this.#lastViewMs = Date.now();
    if (this.#timer === null && !this.#closed) {
      this.#timer = setInterval(() => void this.#tick(), sampleIntervalMs);
      this.#timer.unref?.();
    }
    if (this.#latest === null || Date.now() - this.#latest.atMs > sampleReuseMs) await this.#sample();
    if (this.#previous === null) {
      // The first view: rates need two samples, so take the second one now rather than answer "-".
      await new Promise((resolve) => setTimeout(resolve, firstIntervalMs));
      await this.#sample();
    }
    return this.#build();
  }

  close(): void {
    this.#closed = true;
    if (this.#timer !== null) clearInterval(this.#timer);
    this.#timer = null;
  }

  async #tick(): Promise<void> {
    if (Date.now() - this.#lastViewMs > watchWindowMs) {
      if (this.#timer !== null) clearInterval(this.#timer);
      this.#timer = null;
      return;
    }
    await this.#sample();
  }

  #sample(): Promise<void> {
    this.#sampling ??= this.#sampleOnce().finally(() => {
      this.#sampling = null;
    });
    return this.#sampling;
  }

  async #sampleOnce(): Promise<void> {
    const fetchSnapshot = this.#options.fetchSnapshot ?? fetchStoreSnapshot;
    const snapshots = new Map<number, StoreSnapshot | { error: string }>();
    await Promise.all(
      this.#options.targets().map(async (target) => {
        try {
          if (target.id === this.#options.selfId) snapshots.set(target.id, await this.#options.local());
          else if (target.httpAddress === null) snapshots.set(target.id, { error: "no HTTP listener configured" });
          else snapshots.set(target.id, await fetchSnapshot(target.httpAddress, fetchTimeoutMs));
        } catch (error) {
          snapshots.set(target.id, { error: error instanceof Error ? error.message : String(error) });
        }
      }),
    );
    const sampled: Sampled = { atMs: Date.now(), snapshots };
    this.#previous = this.#latest;
    this.#latest = sampled;
    if (this.#previous !== null) {
      const seconds = (sampled.atMs - this.#previous.atMs) / 1000;
      const merged = mergedDelta(this.#previous, sampled);
      this.#history.push({
        atMs: sampled.atMs,
        opsPerSec: merged.requests === null ? null : merged.requests.count / seconds,
        p50Seconds: merged.requests === null ? null : quantile(merged.requests, 0.5),
        p99Seconds: merged.requests === null ? null : quantile(merged.requests, 0.99),
        fsyncP50Seconds: merged.fsync === null ? null : quantile(merged.fsync, 0.5),
        fsyncP99Seconds: merged.fsync === null ? null : quantile(merged.fsync, 0.99),
      });
      if (this.#history.length > historyLength) this.#history.splice(0, this.#history.length - historyLength);
    }
  }

  #build(): ClusterView {
    const latest = this.#latest;
    const previous = this.#previous;
    const stores: StoreView[] = [];
    const targets = this.#options.targets();
    const seconds = latest !== null && previous !== null ? (latest.atMs - previous.atMs) / 1000 : 0;
    for (const target of targets) {
      const now = latest?.snapshots.get(target.id);
      const before = previous?.snapshots.get(target.id);
      if (now === undefined || "error" in now) {
        stores.push({
          id: target.id,
          httpAddress: target.httpAddress,
          up: false,
          error: now === undefined ? "not sampled yet" : now.error,
          version: null,
          leaders: 0,
          replicas: 0,
          opsPerSec: null,
          p50Seconds: null,
          p99Seconds: null,
          fsyncP99Seconds: null,
          connections: null,
          rssBytes: null,
        });
        continue;
      }
      const old = before !== undefined && !("error" in before) ? before : null;
      const requests = old === null ? null : histogramDelta(old.requests, now.requests);
      const fsync = old === null ? null : histogramDelta(old.fsync, now.fsync);
      stores.push({
        id: target.id,
        httpAddress: target.httpAddress,
        up: true,
        error: null,
        version: now.version,
        leaders: now.replicas.filter((replica) => replica.role === "leader").length,
        replicas: now.replicas.length,
        opsPerSec: requests === null || seconds <= 0 ? null : requests.count / seconds,
        p50Seconds: requests === null ? null : quantile(requests, 0.5),
        p99Seconds: requests === null ? null : quantile(requests, 0.99),
        fsyncP99Seconds: fsync === null ? null : quantile(fsync, 0.99),
        connections: now.connections.client + now.connections.resp,
        rssBytes: now.rssBytes,
      });
    }
    const shards = this.#options.shards().map((shard) => buildShard(shard, latest, previous, seconds));
    return { atMs: latest?.atMs ?? Date.now(), servedBy: this.#options.selfId, stores, shards, history: [...this.#history] };
  }
}

function buildShard(shard: MonitorShard, latest: Sampled | null, previous: Sampled | null, seconds: number): ShardView {
  const replicas: Record<string, ReplicaView> = {};
  let leader = 0;
  let term = 0;
  let leaderLag: Record<string, number> | null = null;
  let keys = 0;
  let leaderCommit: number | null = null;
  const storeIds = new Set(shard.members);
  for (const [storeId, snapshot] of latest?.snapshots ?? []) {
    if ("error" in snapshot) continue;
    const replica = snapshot.replicas.find((candidate) => candidate.shard === shard.id);
    if (replica === undefined) continue;
    storeIds.add(storeId);
    replicas[String(storeId)] = { role: replica.role, keys: replica.keys, appliedIndex: replica.appliedIndex, lag: null };
    term = Math.max(term, replica.term);
    if (replica.role === "leader" && replica.term >= term) {
      leader = storeId;
      leaderLag = replica.lag;
      keys = replica.keys;
      leaderCommit = replica.commitIndex;
    }
  }
  if (leaderLag !== null) for (const [storeId, view] of Object.entries(replicas)) view.lag = leaderLag[storeId] ?? null;
  let writesPerSec: number | null = null;
  const before = previous?.snapshots.get(leader);
  if (leaderCommit !== null && before !== undefined && !("error" in before) && seconds > 0) {
    const old = before.replicas.find((candidate) => candidate.shard === shard.id);
    if (old !== undefined) writesPerSec = Math.max(0, leaderCommit - old.commitIndex) / seconds;
  }
  return { id: shard.id, members: [...storeIds].sort((a, b) => a - b), leader, quorum: leader !== 0, term, writesPerSec, keys, replicas, learners: [...shard.learners], range: shard.range };
}

/** The requests and fdatasyncs of every store between two samples (stores up in both). */
function mergedDelta(previous: Sampled, latest: Sampled): { requests: HistogramTotals | null; fsync: HistogramTotals | null } {
  let requests: HistogramTotals | null = null;
  let fsync: HistogramTotals | null = null;
  for (const [storeId, now] of latest.snapshots) {
    const before = previous.snapshots.get(storeId);
    if ("error" in now || before === undefined || "error" in before) continue;
    requests = addHistograms(requests, histogramDelta(before.requests, now.requests));
    fsync = addHistograms(fsync, histogramDelta(before.fsync, now.fsync));
  }
  return { requests, fsync };
}

/** now - before, bucket by bucket (same bounds: every store uses the same buckets); null if either is. */
export function histogramDelta(before: HistogramTotals | null, now: HistogramTotals | null): HistogramTotals | null {
  if (before === null || now === null) return null;
  const counts = now.bounds.map((bound, index) => {
    const beforeIndex = before.bounds.indexOf(bound);
    return Math.max(0, (now.counts[index] ?? 0) - (beforeIndex < 0 ? 0 : (before.counts[beforeIndex] ?? 0)));
  });
  // A restarted store's counters start again from 0: treat its whole history as new.
  const reset = now.count < before.count;
  return reset ? now : { bounds: now.bounds, counts, count: Math.max(0, now.count - before.count), sum: Math.max(0, now.sum - before.sum) };
}

function addHistograms(total: HistogramTotals | null, part: HistogramTotals | null): HistogramTotals | null {
  if (part === null) return total;
  if (total === null) return { bounds: [...part.bounds], counts: [...part.counts], count: part.count, sum: part.sum };
  const bounds = [...new Set([...total.bounds, ...part.bounds])].sort((a, b) => a - b);
  const at = (h: HistogramTotals, bound: number): number => {
    // Cumulative: the count at the largest bound <= this one.
    let value = 0;
    for (let index = 0; index < h.bounds.length && h.bounds[index]! <= bound; index++) value = h.counts[index] ?? value;
    return value;
  };
  return { bounds, counts: bounds.map((bound) => at(total, bound) + at(part, bound)), count: total.count + part.count, sum: total.sum + part.sum };
}

/**
 * The q-quantile of a cumulative histogram, interpolated linearly inside its bucket (as
 * Prometheus' histogram_quantile); null when it holds no observation. Past the last finite bound:
 * that bound.
 */
export function quantile(histogram: HistogramTotals, q: number): number | null {
  if (histogram.count <= 0) return null;
  const rank = q * histogram.count;
  let lowerBound = 0;
  let lowerCount = 0;
  for (let index = 0; index < histogram.bounds.length; index++) {
    const bound = histogram.bounds[index]!;
    const count = histogram.counts[index] ?? 0;
    if (count >= rank) {
      const inBucket = count - lowerCount;
      return inBucket <= 0 ? bound : lowerBound + ((bound - lowerBound) * (rank - lowerCount)) / inBucket;
    }
    lowerBound = bound;
    lowerCount = count;
  }
  return histogram.bounds.at(-1) ?? null;
}

export async function fetchStoreSnapshot(address: string, timeoutMs: number): Promise<StoreSnapshot> {
  const response = await fetch(`http://${address}/api/store`, { signal: AbortSignal.timeout(timeoutMs) });
  if (!response.ok) throw new Error(`HTTP ${response.status} from ${address}`);
  return (await response.json()) as StoreSnapshot;
}
