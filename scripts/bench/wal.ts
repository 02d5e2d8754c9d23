// WAL benchmark (issue 3): the raw device figure first (4 KiB pwrite + fdatasync at the next
// offset of a preallocated file, O_DIRECT like the WAL; and the same rewriting one block), then the WAL itself with 1, 16 and 64
// concurrent appenders of one 128-byte entry each: durable records/s and append latency
// (call to resolved promise). Same run, same directory, same file system.
//
//   bun scripts/bench/wal.ts [dir]     # default: a fresh dir under build/ (~40 s)
//
// Targets: 1 appender p50 <= 1.3x raw fdatasync p50; 64 appenders >= 20x the raw records/s.
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { join, resolve } from "node:path";
import { Wal, walRawSyncLatencies } from "../../src/storage/wal.ts";

const rawBlockCount = 800;
const recordDataBytes = 128;
const appenderCounts = [1, 16, 64];
const runDurationMs = 6000;

interface Figures {
  label: string;
  recordsPerSecond: number;
  p50Us: number;
  p99Us: number;
  syncCount?: number;
  appendBatchCount?: number;
}

function percentile(sortedNs: Float64Array, fraction: number): number {
  return sortedNs[Math.min(sortedNs.length - 1, Math.floor(sortedNs.length * fraction))]! / 1000;
}

function summarize(label: string, latenciesNs: number[] | Float64Array, elapsedNs: number): Figures {
  const sorted = Float64Array.from(latenciesNs).sort();
  return {
    label,
    recordsPerSecond: sorted.length / (elapsedNs / 1e9),
    p50Us: percentile(sorted, 0.5),
    p99Us: percentile(sorted, 0.99),
  };
}

function runRaw(dir: string, sameBlock: boolean): { figures: Figures; directIo: boolean } {
  const path = join(dir, "raw-sync.bin");
  const start = Bun.nanoseconds();
  const { latenciesNs, directIo } = walRawSyncLatencies(path, rawBlockCount, { sameBlock });
  const elapsedNs = Bun.nanoseconds() - start;
  rmSync(path, { force: true });
  const label = sameBlock ? "raw 4 KiB pwrite, same block + fdatasync" : "raw 4 KiB pwrite, next block + fdatasync";
  return { figures: summarize(label, latenciesNs, elapsedNs), directIo };
}

async function runWal(dir: string, appenderCount: number): Promise<{ figures: Figures; directIo: boolean }> {
  const walDir = join(dir, `wal-${appenderCount}`);
  const { wal } = await Wal.open(walDir);
  const data = new Uint8Array(recordDataBytes).fill(0x5a);
  const latenciesNs: number[] = [];
  let nextIndex = 1;
  const start = Bun.nanoseconds();
  const deadlineNs = start + runDurationMs * 1e6;
  // Each appender: append one entry, wait until durable, repeat. Indexes are taken when the
  // append is issued, which is the order the WAL sees them in.
  const appender = async (): Promise<void> => {
    while (Bun.nanoseconds() < deadlineNs) {
      const issuedNs = Bun.nanoseconds();
      await wal.append({ entries: [{ term: 1, index: nextIndex++, data }] });
      latenciesNs.push(Bun.nanoseconds() - issuedNs);
    }
  };
  await Promise.all(Array.from({ length: appenderCount }, appender));
  const elapsedNs = Bun.nanoseconds() - start;
  const stats = wal.stats();
  await wal.close();
  rmSync(walDir, { recursive: true, force: true });
  const figures = summarize(`WAL, ${appenderCount} appender${appenderCount === 1 ? "" : "s"}`, latenciesNs, elapsedNs);
  return { figures: { ...figures, syncCount: stats.syncCount, appendBatchCount: stats.appendBatchCount }, directIo: stats.directIo };
}

/** The file system type of the mount holding `dir`, from /proc/mounts (longest mount point). */
function fileSystemType(dir: string): string {
  let best = { mountPoint: "", type: "unknown" };
  for (const line of readFileSync("/proc/mounts", "utf8").split("\n")) {
    const [, mountPoint, type] = line.split(" ");
    if (mountPoint === undefined || type === undefined) continue;
    const covers = dir === mountPoint || dir.startsWith(mountPoint.endsWith("/") ? mountPoint : `${mountPoint}/`);
    if (covers && mountPoint.length > best.mountPoint.length) best = { mountPoint, type };
  }
  return best.type;
}

function format(value: number, digits = 0): string {
  return value.toLocaleString("en-US", { maximumFractionDigits: digits, minimumFractionDigits: digits });
}

async function main(): Promise<void> {
  const parent = process.argv[2] ?? resolve(import.meta.dir, "../../build");
  const dir = mkdtempSync(join(parent, "bench-wal-"));
  try {
    const nproc = navigator.hardwareConcurrency;
    console.log(`dir ${dir} (fs ${fileSystemType(dir)}), nproc ${nproc}, bun ${Bun.version}`);
    // The target's baseline: a fresh block per sync. The same-block figure is for reading the
    // 1-appender result: 128-byte appends mostly rewrite the same tail block.
    const raw = runRaw(dir, false);
    const rawSameBlock = runRaw(dir, true);
    const rows: Figures[] = [raw.figures, rawSameBlock.figures];
    let walDirectIo = true;
    for (const appenderCount of appenderCounts) {
      const run = await runWal(dir, appenderCount);
      walDirectIo &&= run.directIo;
      rows.push(run.figures);
    }
    console.log(`O_DIRECT: raw ${raw.directIo}, WAL ${walDirectIo}`);
    console.log("| run | durable records/s | p50 latency (us) | p99 latency (us) | appends per fdatasync |");
    console.log("|---|---:|---:|---:|---:|");
    for (const row of rows) {
      const perSync = row.syncCount === undefined || row.syncCount === 0 ? "1" : format(row.appendBatchCount! / row.syncCount, 1);
      console.log(`| ${row.label} | ${format(row.recordsPerSecond)} | ${format(row.p50Us)} | ${format(row.p99Us)} | ${perSync} |`);
    }
    const one = rows[2]!;
    const sixtyFour = rows[4]!;
    const latencyRatio = one.p50Us / raw.figures.p50Us;
    const rateRatio = sixtyFour.recordsPerSecond / raw.figures.recordsPerSecond;
    console.log(`1 appender p50 / raw p50 = ${format(latencyRatio, 2)} (target <= 1.3): ${latencyRatio <= 1.3 ? "met" : "not met"}`);
    console.log(`64 appenders records/s / raw records/s = ${format(rateRatio, 1)} (target >= 20): ${rateRatio >= 20 ? "met" : "not met"}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
