// What one store tells the dashboard and `ukv top` (GET /api/store): its replicas (role, leader,
// indexes, keys, and on a leader how far each member is behind) and its cumulative request and
// fdatasync histograms. Cumulative, like Prometheus counters: a reader turns two snapshots into
// rates and percentiles over the time between them (every reader its own window, no state here).
import type { GroupRuntime } from "../node/group-runtime.ts";
import type { HistogramTotals, StoreMetrics } from "../metrics/store-metrics.ts";
import { ukvVersion } from "../util/version.ts";

const keyOps = new Set(["GET", "SET", "DELETE"]);

export interface ReplicaSnapshot {
  shard: number;
  role: string;
  term: number;
  /** Store id of the leader this replica knows, 0: none. */
  leader: number;
  commitIndex: number;
  appliedIndex: number;
  lastIndex: number;
  keys: number;
  /** Leader only: member store id -> entries behind the leader's last index. */
  lag: Record<string, number> | null;
}

export interface StoreSnapshot {
  storeId: number;
  version: string;
  atMs: number;
  replicas: ReplicaSnapshot[];
  /** Null when metrics are off (metricsEnabled: false). Client requests: RESP commands and untagged raw GET/SET/DELETE. */
  requests: HistogramTotals | null;
  fsync: HistogramTotals | null;
  connections: { client: number; resp: number };
  rssBytes: number;
}

export interface SnapshotSource {
  storeId: number;
  replicas(): { groupId: number; runtime: GroupRuntime }[];
  connectionCounts(): { client: number; resp: number };
}

export async function storeSnapshot(source: SnapshotSource, metrics: StoreMetrics | null): Promise<StoreSnapshot> {
  const replicas: ReplicaSnapshot[] = [];
  for (const { groupId, runtime } of source.replicas()) {
    const summary = runtime.summary();
    if (summary.removed) continue;
    let lag: Record<string, number> | null = null;
    if (summary.role === "leader") {
      lag = {};
      for (const [memberId, peer] of runtime.progress()) lag[String(memberId)] = memberId === source.storeId ? 0 : Math.max(0, summary.lastIndex - peer.match);
    }
    replicas.push({
      shard: groupId,
      role: summary.role,
      term: summary.term,
      leader: summary.leader,
      commitIndex: summary.commitIndex,
      appliedIndex: summary.appliedIndex,
      lastIndex: summary.lastIndex,
      keys: summary.keyCount,
      lag,
    });
  }
  replicas.sort((a, b) => a.shard - b.shard);
  // Client work only: every RESP command, and the raw protocol's key operations not tagged with a
  // shard (a tagged one is usually another store's hop, counted where it entered), not the
  // STATUS/TOPOLOGY/ADMIN traffic stores and tools exchange.
  const external = (labels: Partial<Record<string, string>>): boolean =>
    labels["listener"] === "resp" || (labels["listener"] === "client" && keyOps.has(String(labels["command"])));
  return {
    storeId: source.storeId,
    version: ukvVersion,
    atMs: Date.now(),
    replicas,
    requests: metrics === null ? null : metrics.histogramTotals("requests", external),
    fsync: metrics === null ? null : metrics.histogramTotals("fsync"),
    connections: source.connectionCounts(),
    rssBytes: process.memoryUsage.rss(),
  };
}
