// `ukv analyze` throughput: generates a csv of N rows (16-byte keys, 100-byte values, as in issue
// 16's load benchmark), plus its gzip, and runs the real binary on each `--repeat` times; prints
// rows/s, MB/s (file bytes read, 10^6 bytes) and the binary's peak RSS, best and all runs.
// Run: `npm run build:bin && bun run scripts/bench/analyze.ts [--rows 1000000] [--repeat 3] [--shards 8]`.
// Files go to a temporary directory, removed at the end; docs/benchmarks.md records a run.
import { mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { gzipSync } from "node:zlib";
import { Prng } from "../../src/util/prng.ts";

const { values } = parseArgs({
  options: { rows: { type: "string", default: "1000000" }, repeat: { type: "string", default: "3" }, shards: { type: "string", default: "8" }, "no-gzip": { type: "boolean", default: false } },
});
const rowCount = Number(values.rows);
const repeatCount = Number(values.repeat);
const shardCount = Number(values.shards);
const binaryPath = resolve(import.meta.dir, "../../dist/ukv");
const keySizeBytes = 16;
const valueSizeBytes = 100;
const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789";

function generateCsv(path: string): void {
  const prng = new Prng(16);
  const value = (): string => Array.from({ length: valueSizeBytes }, () => alphabet[prng.nextInt(alphabet.length)]).join("");
  const values = Array.from({ length: 1024 }, value); // varied, compressible like real text
  const parts: string[] = ["key,value\n"];
  for (let index = 0; index < rowCount; index += 1) {
    parts.push(`k${index.toString(16).padStart(keySizeBytes - 1, "0")},${values[index % values.length]}\n`);
  }
  writeFileSync(path, parts.join(""));
}

interface RunResult {
  seconds: number;
  maxRssBytes: number;
}

function runAnalyze(inputPath: string, outPath: string): RunResult {
  const started = performance.now();
  const result = Bun.spawnSync([binaryPath, "analyze", "--input", inputPath, "--shards", String(shardCount), "--out", outPath]);
  const seconds = (performance.now() - started) / 1000;
  if (result.exitCode !== 0) throw new Error(`ukv analyze failed (${result.exitCode}): ${result.stderr.toString()}`);
  if (!result.stdout.toString().includes(`rows            ${rowCount.toLocaleString("en-US")}`)) throw new Error(`unexpected summary:\n${result.stdout.toString()}`);
  return { seconds, maxRssBytes: (result.resourceUsage?.maxRSS ?? 0) * 1024 };
}

const dir = mkdtempSync(join(tmpdir(), "ukv-bench-analyze-"));
try {
  const csvPath = join(dir, "bench.csv");
  generateCsv(csvPath);
  const inputs = [csvPath];
  if (!values["no-gzip"]) {
    const gzipPath = `${csvPath}.gz`;
    writeFileSync(gzipPath, gzipSync(Bun.file(csvPath).size > 0 ? new Uint8Array(await Bun.file(csvPath).arrayBuffer()) : new Uint8Array(0), { level: 6 }));
    inputs.push(gzipPath);
  }
  const csvBytes = statSync(csvPath).size;
  console.log(`# ukv analyze: ${rowCount.toLocaleString("en-US")} rows, ${keySizeBytes}-byte keys, ${valueSizeBytes}-byte values, ${shardCount} shards, best of ${repeatCount}`);
  console.log("");
  console.log("| input | file MB | rows/s (best) | csv MB/s (best) | seconds (all runs) | peak RSS MB |");
  console.log("|---|---|---|---|---|---|");
  for (const inputPath of inputs) {
    const runs = Array.from({ length: repeatCount }, () => runAnalyze(inputPath, join(dir, "plan.json")));
    const best = Math.min(...runs.map((run) => run.seconds));
    const fileBytes = statSync(inputPath).size;
    const label = inputPath.endsWith(".gz") ? "csv.gz" : "csv";
    console.log(
      `| ${label} | ${(fileBytes / 1e6).toFixed(1)} | ${Math.round(rowCount / best).toLocaleString("en-US")} | ${(csvBytes / 1e6 / best).toFixed(1)} | ${runs.map((run) => run.seconds.toFixed(2)).join(", ")} | ${(Math.max(...runs.map((run) => run.maxRssBytes)) / 1e6).toFixed(0)} |`,
    );
  }
  console.log("");
  console.log("Times are wall clock of the whole process (start-up, fingerprint, parse, plan); MB/s counts the uncompressed csv bytes.");
} finally {
  rmSync(dir, { recursive: true, force: true });
}
