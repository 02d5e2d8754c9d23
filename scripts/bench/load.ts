// `ukv load` throughput through the Raft path: generates a csv of N rows (16-byte keys, 100-byte
// values: issue 16's benchmark), plans it with `ukv analyze`, starts a local cluster with `ukv
// cluster up` (3 stores by default), loads the csv with the real binary and prints keys/s, MB/s
// and the loader's peak RSS (from /usr/bin/time, where the machine has it). Then checks a sample
// of keys through a store (`ukv kv get`), stops the cluster and removes everything.
// Run: `npm run build:bin && bun run scripts/bench/load.ts [--rows 10000000] [--stores 3]
// [--shards 8] [--parallel 8] [--batch-keys 4096] [--batch-bytes 1048576] [--port-base 25100]`.
// docs/benchmarks.md records runs.
import { existsSync, mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { Prng } from "../../src/util/prng.ts";

const { values: flags } = parseArgs({
  options: {
    rows: { type: "string", default: "10000000" },
    stores: { type: "string", default: "3" },
    shards: { type: "string", default: "8" },
    parallel: { type: "string", default: "8" },
    "batch-keys": { type: "string", default: "4096" },
    "batch-bytes": { type: "string", default: String(1024 * 1024) },
    "port-base": { type: "string", default: "25100" },
    keep: { type: "boolean", default: false },
  },
});
const rowCount = Number(flags.rows);
const binaryPath = resolve(import.meta.dir, "../../dist/ukv");
const keySizeBytes = 16;
const valueSizeBytes = 100;
const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789";
const timePath = "/usr/bin/time";

/** Written in blocks of 64k rows, so this process stays small whatever the row count. */
async function generateCsv(path: string): Promise<void> {
  const prng = new Prng(16);
  const value = (): string => Array.from({ length: valueSizeBytes }, () => alphabet[prng.nextInt(alphabet.length)]).join("");
  const values = Array.from({ length: 1024 }, value);
  const writer = Bun.file(path).writer();
  writer.write("key,value\n");
  const blockRowCount = 65536;
  for (let blockStart = 0; blockStart < rowCount; blockStart += blockRowCount) {
    const parts: string[] = [];
    for (let index = blockStart; index < Math.min(rowCount, blockStart + blockRowCount); index += 1) {
      parts.push(`${keyOf(index)},${values[index % values.length]}\n`);
    }
    writer.write(parts.join(""));
    await writer.flush();
  }
  await writer.end();
}

function keyOf(index: number): string {
  return `k${index.toString(16).padStart(keySizeBytes - 1, "0")}`;
}

function run(command: string[], what: string): { stdout: string; stderr: string } {
  const result = Bun.spawnSync(command);
  const stdout = result.stdout.toString();
  const stderr = result.stderr.toString();
  if (result.exitCode !== 0) throw new Error(`${what} failed (${result.exitCode}): ${stderr.trim().split("\n").slice(-3).join(" | ")}`);
  return { stdout, stderr };
}

async function waitForReady(cluster: ReturnType<typeof Bun.spawn>): Promise<void> {
  const reader = (cluster.stdout as ReadableStream<Uint8Array>).getReader();
  const decoder = new TextDecoder();
  let text = "";
  const deadline = performance.now() + 120_000;
  while (!text.includes("ukv cluster ready")) {
    if (performance.now() > deadline) throw new Error(`cluster not ready in 120 s:\n${text}`);
    const { done, value } = await reader.read();
    if (done) throw new Error(`cluster up exited:\n${text}`);
    text += decoder.decode(value, { stream: true });
  }
  reader.releaseLock();
}

const dir = mkdtempSync(join(tmpdir(), "ukv-bench-load-"));
let cluster: ReturnType<typeof Bun.spawn> | null = null;
try {
  const csvPath = join(dir, "bench.csv");
  const planPath = join(dir, "plan.json");
  let startedMs = performance.now();
  await generateCsv(csvPath);
  console.log(`# generated ${rowCount.toLocaleString("en-US")} rows (${(statSync(csvPath).size / 1e6).toFixed(0)} MB) in ${((performance.now() - startedMs) / 1000).toFixed(1)} s`);
  run([binaryPath, "analyze", "--input", csvPath, "--shards", flags.shards as string, "--out", planPath], "ukv analyze");
  const portBase = Number(flags["port-base"]);
  cluster = Bun.spawn([binaryPath, "cluster", "up", "--dir", join(dir, "cluster"), "--stores", flags.stores as string, "--shards", flags.shards as string, "--replicas", "3", "--port-base", String(portBase)], { stdout: "pipe", stderr: "ignore" });
  await waitForReady(cluster);
  const addresses = Array.from({ length: Number(flags.stores) }, (_, index) => `127.0.0.1:${portBase + 10 * index + 1}`).join(",");
  const loadCommand = [binaryPath, "load", "--plan", planPath, "--input", csvPath, "--cluster", addresses, "--parallel", flags.parallel as string, "--batch-keys", flags["batch-keys"] as string, "--batch-bytes", flags["batch-bytes"] as string];
  const hasTime = existsSync(timePath);
  startedMs = performance.now();
  const load = run(hasTime ? [timePath, "-f", "maxrss-kb %M", ...loadCommand] : loadCommand, "ukv load");
  const seconds = (performance.now() - startedMs) / 1000;
  const rss = /^maxrss-kb (\d+)$/m.exec(load.stderr);
  const loaded = /^rows loaded\s+([0-9,]+)/m.exec(load.stdout);
  if (loaded === null || Number((loaded[1] as string).replaceAll(",", "")) !== rowCount) throw new Error(`unexpected report:\n${load.stdout}`);
  // A sample of keys read back through a store (it routes each to its shard).
  const prng = new Prng(7);
  for (let sample = 0; sample < 20; sample++) {
    const index = prng.nextInt(rowCount);
    const answer = run([binaryPath, "kv", "get", keyOf(index), "--node", `127.0.0.1:${portBase + 1}`], "ukv kv get").stdout.trim();
    if (answer.length !== valueSizeBytes) throw new Error(`key ${keyOf(index)}: unexpected value ${JSON.stringify(answer)}`);
  }
  console.log(`# ukv load: ${rowCount.toLocaleString("en-US")} rows, ${keySizeBytes}-byte keys, ${valueSizeBytes}-byte values, ${flags.stores} stores, ${flags.shards} shards x 3 replicas, --parallel ${flags.parallel} --batch-keys ${flags["batch-keys"]} --batch-bytes ${flags["batch-bytes"]}`);
  console.log("");
  console.log("| rows | wall s (loader process) | keys/s (wall) | loader peak RSS MB |");
  console.log("|---|---|---|---|");
  console.log(`| ${rowCount.toLocaleString("en-US")} | ${seconds.toFixed(1)} | ${Math.round(rowCount / seconds).toLocaleString("en-US")} | ${rss === null ? "n/a" : (Number(rss[1]) * 1024 / 1e6).toFixed(0)} |`);
  console.log("");
  console.log("The loader's own report:");
  console.log(load.stdout.trim());
} finally {
  if (cluster !== null) {
    cluster.kill("SIGINT");
    await cluster.exited;
  }
  if (flags.keep) console.log(`kept ${dir}`);
  else rmSync(dir, { recursive: true, force: true });
}
