// Text output of `ukv analyze`: the summary table, the per-shard table with a histogram of keys
// per shard, and the progress line. Pure formatting: no IO.
import type { Analysis, AnalysisProgress } from "./analysis.ts";
import type { ShardPlan } from "./plan.ts";

const barWidthMax = 40;
const numberFormat = new Intl.NumberFormat("en-US");

export function formatCount(value: number): string {
  return numberFormat.format(value);
}

/** Decimal megabytes (10^6 bytes), as in MB/s. */
export function formatMegabytes(bytes: number): string {
  return `${(bytes / 1e6).toFixed(bytes >= 1e8 ? 0 : 1)} MB`;
}

function formatPercentOff(value: number, mean: number): string {
  if (mean === 0) return "-";
  const percent = ((value - mean) / mean) * 100;
  return `${percent >= 0 ? "+" : ""}${percent.toFixed(2)}%`;
}

function hex64(decimal: string): string {
  const value = BigInt(decimal);
  return value === 1n << 64n ? "2^64" : `0x${value.toString(16).padStart(16, "0")}`;
}

function table(rows: readonly (readonly string[])[], rightAligned: ReadonlySet<number>): string {
  const widths: number[] = [];
  for (const row of rows) row.forEach((cell, column) => (widths[column] = Math.max(widths[column] ?? 0, cell.length)));
  return rows
    .map((row) => row.map((cell, column) => (rightAligned.has(column) ? cell.padStart(widths[column] ?? 0) : cell.padEnd(widths[column] ?? 0))).join("  ").trimEnd())
    .join("\n");
}

export function formatSummary(analysis: Analysis, plan: ShardPlan): string {
  const { stats } = analysis;
  const seconds = analysis.elapsedMs / 1000;
  const rowsPerSecond = seconds > 0 ? (stats.rowCount + stats.badRowCount + stats.skippedRowCount) / seconds : 0;
  const source = plan.source;
  const totals = plan.totals;
  const distinct = totals.distinctKeys;
  const distinctText = distinct.method === "exact"
    ? `${formatCount(distinct.count)} (exact, by 64-bit hash)`
    : `~${formatCount(distinct.count)} (HyperLogLog, +-${(distinct.relativeStandardError * 100).toFixed(2)}% one sigma)`;
  const sizeText = (summary: ShardPlan["keySizeBytes"]): string =>
    `min ${summary.min}  p50 ${summary.p50}  p99 ${summary.p99}  max ${summary.max}  (total ${formatMegabytes(summary.sumBytes)})`;
  const lines: string[][] = [
    ["input", `${source.path} (${source.format}${source.gzip ? ", gzip" : ""}, ${formatMegabytes(source.fingerprint.sizeBytes)})`],
    ["rows", formatCount(totals.rows)],
    ["bad rows", formatCount(totals.badRows)],
    ["skipped", formatCount(totals.skippedRows)],
    ["distinct keys", distinctText],
    ["duplicate keys", `${distinct.method === "exact" ? "" : "~"}${formatCount(totals.duplicateKeys)}`],
    ["key size (B)", sizeText(plan.keySizeBytes)],
    ["value size (B)", sizeText(plan.valueSizeBytes)],
    ["read", `${formatMegabytes(analysis.dataBytes)} in ${seconds.toFixed(2)} s: ${formatCount(Math.round(rowsPerSecond))} rows/s, ${(seconds > 0 ? analysis.dataBytes / 1e6 / seconds : 0).toFixed(1)} MB/s`],
  ];
  const out = [table(lines, new Set())];
  if (stats.badRowSamples.length > 0) {
    out.push(`first bad rows:\n${stats.badRowSamples.map((sample) => `  line ${sample.lineNumber}: ${sample.reason}`).join("\n")}`);
  }
  if (stats.skippedByReason.size > 0) {
    const skipped = [...stats.skippedByReason].sort((a, b) => b[1] - a[1]).map(([reason, count]) => `  ${reason}: ${formatCount(count)}`);
    out.push(`skipped records:\n${skipped.join("\n")}`);
  }
  out.push(formatShardTable(plan), formatShardHistogram(plan));
  return `${out.join("\n\n")}\n`;
}

export function formatShardTable(plan: ShardPlan): string {
  const meanKeys = plan.totals.rows / plan.shardCount;
  const meanBytes = (plan.totals.keyBytes + plan.totals.valueBytes) / plan.shardCount;
  const rows: string[][] = [["shard", "hash start", "hash end", "keys", "vs mean", "bytes", "vs mean"]];
  plan.shards.forEach((shard, index) => {
    rows.push([String(index), hex64(shard.start), hex64(shard.end), formatCount(shard.keys), formatPercentOff(shard.keys, meanKeys), formatCount(shard.bytes), formatPercentOff(shard.bytes, meanBytes)]);
  });
  return `plan: ${plan.shardCount} shard(s), balanced by ${plan.balance === "both" ? "keys and bytes" : plan.balance}\n${table(rows, new Set([3, 4, 5, 6]))}`;
}

/** One bar per shard, its length proportional to the shard's keys (the largest shard fills the width). */
export function formatShardHistogram(plan: ShardPlan): string {
  const largest = Math.max(...plan.shards.map((shard) => shard.keys));
  const labelWidth = String(plan.shardCount - 1).length;
  const lines = plan.shards.map((shard, index) => {
    const width = largest === 0 ? 0 : Math.round((shard.keys / largest) * barWidthMax);
    return `shard ${String(index).padStart(labelWidth)} |${"#".repeat(width).padEnd(barWidthMax)}| ${formatCount(shard.keys)}`;
  });
  return `keys per shard:\n${lines.join("\n")}`;
}

/** The plain progress line (no TTY): percent of the file, rows, rate, ETA. */
export function formatProgressLine(progress: AnalysisProgress): string {
  const seconds = progress.elapsedMs / 1000;
  const fraction = progress.fileSizeBytes === 0 ? 1 : progress.fileBytesRead / progress.fileSizeBytes;
  const bytesPerSecond = seconds > 0 ? progress.fileBytesRead / seconds : 0;
  const etaSeconds = bytesPerSecond > 0 ? (progress.fileSizeBytes - progress.fileBytesRead) / bytesPerSecond : Number.NaN;
  const eta = Number.isFinite(etaSeconds) ? `${Math.ceil(etaSeconds)} s` : "?";
  const rowsPerSecond = seconds > 0 ? Math.round(progress.rowCount / seconds) : 0;
  return `analyze: ${(fraction * 100).toFixed(1)}% of ${formatMegabytes(progress.fileSizeBytes)}, ${formatCount(progress.rowCount)} rows, ${formatCount(rowsPerSecond)} rows/s, ${(bytesPerSecond / 1e6).toFixed(1)} MB/s, ETA ${eta}`;
}
