// Redis comparison benchmark (issue 8): `redis-benchmark -t set,get -r 100000 -d 100` against, in
// one run, redis-server without persistence, redis-server with `appendfsync always`, and the ukv
// router's RESP listener over 2 shards x 3 replicas started by `dist/ukv cluster up` in a temp dir
// (durable: every SET is committed by a majority, each member fsyncing its WAL). Configurations
// `-c 1 -P 1`, `-c 50 -P 1`, `-c 50 -P 16`. Prints a markdown table (ops/s, p50, p99, ratios to
// Redis) for docs/benchmarks/redis.md. Installs redis-server/redis-tools from Debian if missing.
//
// Usage: bun scripts/bench/redis-compare.ts [--requests-scale 1]
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import type { Subprocess } from "bun";

interface Target {
  name: string;
  port: number;
}

interface Row {
  target: string;
  config: string;
  test: string;
  opsPerSecond: number;
  p50Ms: number;
  p99Ms: number;
}

const scaleIndex = process.argv.indexOf("--requests-scale");
const requestsScale = scaleIndex > 0 ? Number(process.argv[scaleIndex + 1]) : 1;
const configs = [
  { label: "-c 1 -P 1", clients: 1, pipeline: 1, requests: 3000 },
  { label: "-c 50 -P 1", clients: 50, pipeline: 1, requests: 20000 },
  { label: "-c 50 -P 16", clients: 50, pipeline: 16, requests: 60000 },
];
const ukvBinary = resolve(import.meta.dir, "../../dist/ukv");
const children: Subprocess[] = [];

function ensureRedisTools(): void {
  if (Bun.which("redis-server") !== null && Bun.which("redis-benchmark") !== null) return;
  console.error("installing redis-server and redis-tools (Debian packages, for this benchmark only)");
  const update = Bun.spawnSync(["apt-get", "update"], { stdout: "ignore", stderr: "inherit" });
  const install = Bun.spawnSync(["apt-get", "install", "-y", "redis-server", "redis-tools"], { stdout: "ignore", stderr: "inherit" });
  if (update.exitCode !== 0 || install.exitCode !== 0) throw new Error("apt-get install redis-server redis-tools failed");
}

async function freePort(): Promise<number> {
  const server = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  const port = server.port;
  server.stop(true);
  return port;
}

async function waitForPing(port: number, timeoutMs: number): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (performance.now() < deadline) {
    const ping = Bun.spawnSync(["redis-cli", "-p", String(port), "ping"], { stdout: "pipe", stderr: "ignore" });
    if (ping.stdout.toString().trim() === "PONG") return;
    await Bun.sleep(100);
  }
  throw new Error(`no PONG on port ${port} within ${timeoutMs} ms`);
}

async function startRedis(name: string, dir: string, extra: string[]): Promise<Target> {
  const port = await freePort();
  const child = Bun.spawn(["redis-server", "--port", String(port), "--bind", "127.0.0.1", "--dir", dir, "--save", "", ...extra], { stdout: "ignore", stderr: "inherit" });
  children.push(child);
  await waitForPing(port, 10_000);
  return { name, port };
}

async function startUkv(dir: string): Promise<{ target: Target; child: Subprocess }> {
  const portBase = 20000 + Math.floor(Math.random() * 20000);
  const child = Bun.spawn([ukvBinary, "cluster", "up", "--dir", dir, "--port-base", String(portBase)], { stdout: "pipe", stderr: "inherit" });
  const reader = (child.stdout as ReadableStream<Uint8Array>).getReader();
  let output = "";
  while (!output.includes("ukv cluster ready")) {
    const { done, value } = await reader.read();
    if (done) throw new Error(`cluster up ended before ready:\n${output}`);
    output += new TextDecoder().decode(value);
  }
  void reader.read().then(function drain(result): unknown {
    return result.done ? null : reader.read().then(drain);
  });
  const match = /redis\s+127\.0\.0\.1:(\d+)/.exec(output);
  if (match === null) throw new Error(`cluster up printed no redis endpoint:\n${output}`);
  const port = Number(match[1]);
  await waitForPing(port, 10_000);
  return { target: { name: "ukv router (2 shards x 3)", port }, child };
}

function runBenchmark(target: Target, config: (typeof configs)[number]): Row[] {
  const requests = Math.max(100, Math.round(config.requests * requestsScale));
  const argv = ["redis-benchmark", "-h", "127.0.0.1", "-p", String(target.port), "-t", "set,get", "-n", String(requests), "-r", "100000", "-d", "100", "-c", String(config.clients), "-P", String(config.pipeline), "--csv"];
  const result = Bun.spawnSync(argv, { stdout: "pipe", stderr: "pipe" });
  if (result.exitCode !== 0) throw new Error(`${argv.join(" ")} failed: ${result.stderr.toString()}`);
  const rows: Row[] = [];
  // CSV: "test","rps","avg_latency_ms","min_latency_ms","p50_latency_ms","p95_latency_ms","p99_latency_ms","max_latency_ms"
  for (const line of result.stdout.toString().trim().split("\n").slice(1)) {
    const fields = line.split(",").map((field) => field.replaceAll('"', ""));
    rows.push({ target: target.name, config: config.label, test: fields[0] ?? "?", opsPerSecond: Number(fields[1]), p50Ms: Number(fields[4]), p99Ms: Number(fields[6]) });
  }
  console.error(`${target.name} ${config.label}: ${rows.map((row) => `${row.test} ${Math.round(row.opsPerSecond)} ops/s p50 ${row.p50Ms} p99 ${row.p99Ms}`).join("; ")}`);
  return rows;
}

function formatTable(rows: readonly Row[]): string {
  const find = (target: string, config: string, test: string): Row | undefined => rows.find((row) => row.target === target && row.config === config && row.test === test);
  const lines = ["| config | test | target | ops/s | p50 ms | p99 ms | ukv / this |", "|---|---|---|---:|---:|---:|---:|"];
  for (const config of configs) {
    for (const test of ["SET", "GET"]) {
      const ours = find("ukv router (2 shards x 3)", config.label, test);
      for (const row of rows.filter((candidate) => candidate.config === config.label && candidate.test === test)) {
        const ratio = ours === undefined || row === ours ? "" : (ours.opsPerSecond / row.opsPerSecond).toFixed(2);
        lines.push(`| \`${config.label}\` | ${test} | ${row.target} | ${Math.round(row.opsPerSecond)} | ${row.p50Ms.toFixed(3)} | ${row.p99Ms.toFixed(3)} | ${ratio} |`);
      }
    }
  }
  return lines.join("\n");
}

async function main(): Promise<void> {
  ensureRedisTools();
  const dir = mkdtempSync(join(tmpdir(), "ukv-redis-compare-"));
  let ukv: Subprocess | null = null;
  try {
    const plainDir = join(dir, "redis-plain");
    const fsyncDir = join(dir, "redis-fsync");
    Bun.spawnSync(["mkdir", "-p", plainDir, fsyncDir]);
    const targets: Target[] = [
      await startRedis("redis-server (no persistence)", plainDir, ["--appendonly", "no"]),
      await startRedis("redis-server (appendfsync always)", fsyncDir, ["--appendonly", "yes", "--appendfsync", "always"]),
    ];
    const started = await startUkv(join(dir, "ukv"));
    ukv = started.child;
    targets.push(started.target);
    const rows: Row[] = [];
    for (const config of configs) for (const target of targets) rows.push(...runBenchmark(target, config));
    console.log(formatTable(rows));
  } finally {
    for (const child of children) child.kill("SIGTERM");
    if (ukv !== null) {
      ukv.kill("SIGINT");
      await Promise.race([ukv.exited, Bun.sleep(15_000)]);
    }
    await Promise.all(children.map((child) => child.exited));
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
