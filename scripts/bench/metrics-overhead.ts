// Metrics overhead benchmark (issue 17): request throughput of two identical local clusters (3
// stores, 4 shards x 3 replicas each, started by `dist/ukv cluster up`), one with metricsEnabled:
// true (every request, proposal and WAL batch counted and observed; every store's /metrics
// scraped before each of its runs) and one with metricsEnabled: false (nothing counted). Both run
// throughout; each round measures both, in alternating order; the figure is the median over
// rounds of `redis-benchmark -t set,get -n N -r 100000 -d 100 -c 50 -P 16` against store 1's RESP
// port. Prints the rounds, the medians, the on/off ratio, and the load average before and after
// (a busy machine makes single runs noisy: compare the medians, and say how busy it was).
//
// Usage: bun scripts/bench/metrics-overhead.ts [--rounds 3] [--requests 100000]
import { mkdtempSync, rmSync, writeFileSync, mkdirSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join, resolve } from "node:path";
import type { Subprocess } from "bun";
import { renderLocalClusterConfig } from "../../src/config/local-cluster.ts";
import { readUntil } from "./child-output.ts";

function option(name: string, fallback: number): number {
  const index = process.argv.indexOf(name);
  const value = index > 0 ? Number(process.argv[index + 1]) : fallback;
  if (!Number.isInteger(value) || value <= 0) throw new Error(`${name} must be a positive integer`);
  return value;
}

const rounds = option("--rounds", 3);
const requests = option("--requests", 100_000);
const ukvBinary = resolve(import.meta.dir, "../../dist/ukv");

interface Result {
  mode: "on" | "off";
  round: number;
  set: number;
  get: number;
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

async function startCluster(dir: string, metricsEnabled: boolean, portBase: number): Promise<Subprocess> {
  mkdirSync(dir, { recursive: true });
  const text = renderLocalClusterConfig({ dir: join(dir, "data"), storeCount: 3, shardCount: 4, replication: 3, portBase });
  writeFileSync(join(dir, "cluster.yaml"), `${text}metricsEnabled: ${metricsEnabled}\n`);
  const child = Bun.spawn([ukvBinary, "cluster", "up", "--dir", dir], { stdout: "pipe", stderr: "inherit" });
  await readUntil(child, "ukv cluster ready", "cluster up");
  await waitForPing(portBase + 2, 10_000);
  return child;
}

function benchmark(port: number): { set: number; get: number } {
  const argv = ["redis-benchmark", "-h", "127.0.0.1", "-p", String(port), "-t", "set,get", "-n", String(requests), "-r", "100000", "-d", "100", "-c", "50", "-P", "16", "--csv"];
  const result = Bun.spawnSync(argv, { stdout: "pipe", stderr: "pipe" });
  if (result.exitCode !== 0) throw new Error(`${argv.join(" ")} failed: ${result.stderr.toString()}`);
  const rates: Record<string, number> = {};
  for (const line of result.stdout.toString().trim().split("\n").slice(1)) {
    const fields = line.split(",").map((field) => field.replaceAll('"', ""));
    rates[fields[0] ?? "?"] = Number(fields[1]);
  }
  return { set: rates["SET"] ?? 0, get: rates["GET"] ?? 0 };
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

/** /metrics of every store of the metrics-on cluster, as a Prometheus would scrape between runs. */
async function scrapeAll(portBase: number): Promise<void> {
  for (const offset of [3, 13, 23]) {
    const response = await fetch(`http://127.0.0.1:${portBase + offset}/metrics`);
    if (!response.ok) throw new Error(`GET /metrics: HTTP ${response.status}`);
    await response.text();
  }
}

async function main(): Promise<void> {
  if (Bun.which("redis-benchmark") === null) throw new Error("redis-benchmark is missing (Debian package redis-tools)");
  const root = mkdtempSync(join(tmpdir(), "ukv-metrics-bench-"));
  const loadBefore = loadavg();
  const results: Result[] = [];
  // Both clusters run for the whole measurement (the one not measured is idle: quiesced shards,
  // no ticks), and the runs alternate, so start-up and the machine's other load fall on both.
  const portBases = { on: 22000 + 300, off: 22000 + 400 };
  const clusters: Subprocess[] = [];
  try {
    clusters.push(await startCluster(join(root, "on"), true, portBases.on));
    clusters.push(await startCluster(join(root, "off"), false, portBases.off));
    for (let round = 1; round <= rounds; round++) {
      const order: ("on" | "off")[] = round % 2 === 1 ? ["on", "off"] : ["off", "on"];
      for (const mode of order) {
        if (mode === "on") await scrapeAll(portBases.on);
        const rates = benchmark(portBases[mode] + 2);
        console.error(`round ${round} metrics ${mode}: SET ${Math.round(rates.set)} ops/s, GET ${Math.round(rates.get)} ops/s`);
        results.push({ mode, round, ...rates });
      }
    }
    await scrapeAll(portBases.on);
  } finally {
    for (const cluster of clusters) cluster.kill("SIGTERM");
    await Promise.all(clusters.map((cluster) => cluster.exited));
    rmSync(root, { recursive: true, force: true });
  }
  const loadAfter = loadavg();
  const medianOf = (mode: "on" | "off", test: "set" | "get"): number => median(results.filter((result) => result.mode === mode).map((result) => result[test]));
  const lines = [
    `metrics overhead: ${rounds} rounds, redis-benchmark -t set,get -n ${requests} -r 100000 -d 100 -c 50 -P 16, 3 stores, 4 shards x 3`,
    `load average (1/5/15 min) before ${loadBefore.map((value) => value.toFixed(2)).join(" ")}, after ${loadAfter.map((value) => value.toFixed(2)).join(" ")}, ${navigator.hardwareConcurrency} cores`,
    "| test | metrics on (median ops/s) | metrics off (median ops/s) | on / off |",
    "|---|---:|---:|---:|",
  ];
  for (const test of ["set", "get"] as const) {
    const on = medianOf("on", test);
    const off = medianOf("off", test);
    lines.push(`| ${test.toUpperCase()} | ${Math.round(on)} | ${Math.round(off)} | ${(on / off).toFixed(3)} |`);
  }
  lines.push("", "rounds:", ...results.map((result) => `  round ${result.round} metrics ${result.mode}: SET ${Math.round(result.set)}, GET ${Math.round(result.get)}`));
  console.log(lines.join("\n"));
}

await main();
