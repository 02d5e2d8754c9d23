// The table `ukv status` prints: one row per replica (a shard on a store), grouped by shard. Lag is the shard leader's
// commit index minus the member's applied index (entries committed but not yet in its table);
// without a reachable leader it is unknown ("-").
import { metaShardId, type MemberReport } from "../client/cluster-status.ts";

const headers = ["shard", "store", "address", "role", "term", "applied", "lag", "keys", "reachable"] as const;

/** The leader's commit index per shard: the reachable member saying it leads, highest term first. */
function leaderCommitByShard(reports: readonly MemberReport[]): Map<number, number> {
  const best = new Map<number, { term: number; commitIndex: number }>();
  for (const report of reports) {
    const status = report.status;
    if (status === null || status.role !== "leader") continue;
    const current = best.get(report.shardId);
    if (current === undefined || status.term > current.term) best.set(report.shardId, { term: status.term, commitIndex: status.commitIndex });
  }
  return new Map([...best.entries()].map(([shardId, leader]) => [shardId, leader.commitIndex]));
}

export function statusRows(reports: readonly MemberReport[]): string[][] {
  const leaderCommits = leaderCommitByShard(reports);
  return reports.map((report) => {
    const status = report.status;
    const leaderCommit = leaderCommits.get(report.shardId);
    const lag = status === null || leaderCommit === undefined ? "-" : String(Math.max(0, leaderCommit - status.appliedIndex));
    return [
      report.shardId === metaShardId ? "meta" : String(report.shardId),
      String(report.memberId),
      report.address,
      status?.role ?? "-",
      status === null ? "-" : String(status.term),
      status === null ? "-" : String(status.appliedIndex),
      lag,
      status === null ? "-" : String(status.keyCount),
      status === null ? `no (${report.error ?? "no answer"})` : "yes",
    ];
  });
}

/** Left-aligned columns separated by two spaces, with a header line. */
export function formatStatusTable(reports: readonly MemberReport[]): string {
  const rows = [headers.map((header) => header.toUpperCase()), ...statusRows(reports)];
  const widths = headers.map((_, column) => Math.max(...rows.map((row) => (row[column] ?? "").length)));
  const lines = rows.map((row) => row.map((cell, column) => (column === row.length - 1 ? cell : cell.padEnd(widths[column] ?? 0))).join("  "));
  return `${lines.join("\n")}\n`;
}

/** Data-shard leaderships held by each store (store id -> count), from the reachable replicas. */
export function leadersPerStore(reports: readonly MemberReport[]): Map<number, number> {
  const counts = new Map<number, number>();
  for (const report of reports) {
    if (report.shardId === metaShardId || report.status?.role !== "leader") continue;
    counts.set(report.memberId, (counts.get(report.memberId) ?? 0) + 1);
  }
  return new Map([...counts].sort((left, right) => left[0] - right[0]));
}
