// `ukv analyze` throughput: generates a csv of N rows (16-byte keys, 100-byte values, as in issue
// 16's load benchmark), plus its gzip, and runs the real binary on each `--repeat` times; prints
// rows/s, MB/s (csv bytes, 10^6 bytes) and the binary's peak RSS (from /usr/bin/time, where the
// machine has it: a child's own rusage would count the pages of this process it was forked from).
// Run: `npm run build:bin && bun run scripts/bench/analyze.ts [--rows 1000000] [--repeat 3] [--shards 8]`.
// Files go to a temporary directory, removed at the end; docs/benchmarks.md records a run.
import { createReadStream, createWriteStream, existsSync, mkdtempSync, rmSync, statSync } from "node:fs";
import { pipeline } from "node:stream/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { createGzip } from "node:zlib";
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

/** Written in blocks of 64k rows, so this process stays small whatever the row count. */
async function generateCsv(path: string): Promise<void> {
  const prng = new Prng(16);
  const value = (): string => Array.from({ length: valueSizeBytes }, () => alphabet[prng.nextInt(alphabet.length)]).join("");
  const values = Array.from({ length: 1024 }, value); // varied, compressible like real text
  const writer = Bun.file(path).writer();
  writer.write("key,value\n");
  const blockRowCount = 65536;
  for (let blockStart = 0; blockStart < rowCount; blockStart += blockRowCount) {
    const parts: string[] = [];
    for (let index = blockStart; index < Math.min(rowCount, blockStart + blockRowCount); index += 1) {
      parts.push(`k${index.toString(16).padStart(keySizeBytes - 1, "0")},${values[index % values.length]}\n`);
    }
    writer.write(parts.join(""));
    await writer.flush();
  }
  await writer.end();
}

interface RunResult {
  seconds: number;
  maxRssBytes: number;
}

const timePath = "/usr/bin/time";
const hasTime = existsSync(timePath);

function runAnalyze(inputPath: string, outPath: string): RunResult {
  const command = [binaryPath, "analyze", "--input", inputPath, "--shards", String(shardCount), "--out", outPath];
  const started = performance.now();
  const result = Bun.spawnSync(hasTime ? [timePath, "-f", "maxrss-kb %M", ...command] : command);
  const seconds = (performance.now() - started) / 1000;
  const stderr = result.stderr.toString();
  if (result.exitCode !== 0) throw new Error(`ukv analyze failed (${result.exitCode}): ${stderr}`);
  if (!result.stdout.toString().includes(`rows            ${rowCount.toLocaleString("en-US")}`)) throw new Error(`unexpected summary:\n${result.stdout.toString()}`);
  const rss = /^maxrss-kb (\d+)$/m.exec(stderr);
  return { seconds, maxRssBytes: rss === null ? Number.NaN : Number(rss[1]) * 1024 };
}

const dir = mkdtempSync(join(tmpdir(), "ukv-bench-analyze-"));
try {
  const csvPath = join(dir, "bench.csv");
  await generateCsv(csvPath);
  const inputs = [csvPath];
  if (!values["no-gzip"]) {
    const gzipPath = `${csvPath}.gz`;
    await pipeline(createReadStream(csvPath), createGzip({ level: 6 }), createWriteStream(gzipPath));
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
