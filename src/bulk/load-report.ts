// Text output of `ukv load`: the progress line (no TTY) and the final report (rows read, loaded,
// rejected, rates, and the per-shard table: rows the loader had acknowledged, keys the shard's
// leader holds, and the plan's expected rows when the cluster's layout is the plan's). Pure
// formatting: no IO.
import type { LoadProgress, LoadResult } from "./load.ts";
import { formatCount, formatMegabytes } from "./summary.ts";

export interface ShardCountRow {
  shardId: number;
  /** Rows this load acknowledged for the shard (all runs of a resumed load). */
  loaded: number;
  /** Keys the shard holds now (its leader's count), null when no replica answered. */
  keysInShard: number | null;
  /** The plan's expected rows, when the layouts match. */
  planned: number | null;
}

function table(rows: readonly (readonly string[])[]): string {
  const widths: number[] = [];
  for (const row of rows) row.forEach((cell, column) => (widths[column] = Math.max(widths[column] ?? 0, cell.length)));
  return rows.map((row) => row.map((cell, column) => (column === 0 ? cell.padEnd(widths[column] ?? 0) : cell.padStart(widths[column] ?? 0))).join("  ").trimEnd()).join("\n");
}

export function formatLoadProgressLine(progress: LoadProgress): string {
  const seconds = progress.elapsedMs / 1000;
  const fraction = progress.fileSizeBytes === 0 ? 1 : progress.fileBytesRead / progress.fileSizeBytes;
  const rowsPerSecond = seconds > 0 ? Math.round(progress.rowsLoaded / seconds) : 0;
  return `load: ${(fraction * 100).toFixed(1)}% of ${formatMegabytes(progress.fileSizeBytes)} read, ${formatCount(progress.rowsLoaded)} rows loaded (${formatCount(rowsPerSecond)}/s), ${formatCount(progress.rowsRejected)} rejected, ${progress.inflightCount} batches in flight`;
}

export function formatLoadReport(result: LoadResult, shards: readonly ShardCountRow[], notes: readonly string[]): string {
  const seconds = result.elapsedMs / 1000;
  const keysPerSecond = seconds > 0 ? result.runRowsLoaded / seconds : 0;
  const megabytesPerSecond = seconds > 0 ? result.runDataBytes / 1e6 / seconds : 0;
  const resumed = result.resumedRecordCount > 0 ? ` (${formatCount(result.resumedRecordCount)} of them done before the resume)` : "";
  const lines = [
    ["records read", `${formatCount(result.recordCount)}${resumed}`],
    ["rows loaded", formatCount(result.rowsLoaded)],
    ["rows rejected", formatCount(result.rowsRejected)],
    ["records skipped", formatCount(result.rowsSkipped)],
    ["this run", `${formatCount(result.runRowsLoaded)} rows, ${formatMegabytes(result.runDataBytes)} of keys and values in ${seconds.toFixed(2)} s: ${formatCount(Math.round(keysPerSecond))} keys/s, ${megabytesPerSecond.toFixed(1)} MB/s`],
  ];
  const summary = lines.map(([name, value]) => `${(name as string).padEnd(16)}${value as string}`).join("\n");
  const withPlan = shards.some((shard) => shard.planned !== null);
  const header = ["shard", "rows loaded", "keys in shard", ...(withPlan ? ["planned", "loaded vs plan"] : [])];
  const rows = shards.map((shard) => {
    const base = [String(shard.shardId), formatCount(shard.loaded), shard.keysInShard === null ? "?" : formatCount(shard.keysInShard)];
    if (!withPlan) return base;
    const planned = shard.planned ?? 0;
    const difference = shard.loaded - planned;
    return [...base, formatCount(planned), difference === 0 ? "=" : `${difference > 0 ? "+" : ""}${formatCount(difference)}`];
  });
  const notesText = notes.length === 0 ? "" : `\n${notes.map((note) => `note: ${note}`).join("\n")}`;
  return `${summary}\n\nper shard:\n${table([header, ...rows])}${notesText}\n`;
}
