// Redis comparison benchmark (issues 8 and 20): in one run, redis-server without persistence,
// redis-server with `appendfsync always`, and the default `dist/ukv cluster up` (3 stores, 8 shards
// x 3 replicas; durable: every SET is committed by a majority, each store fdatasyncs its shared
// log) through two paths:
//   - RESP: `redis-benchmark -d 100 -r 100000` against store 1's RESP listener (a store routes
//     each key to its shard's leader: two thirds of the requests take a store-to-store hop);
//   - smart client: the raw client protocol with src/client's ShardedClient in this process
//     (topology from the metadata group, writes straight to the leader's Raft port with
//     writesToRaftPorts, reads round-robin over the replicas' client ports as follower reads), the
//     same key space, value size and concurrency.
// Cases: SET and GET at `-c 1`, `-c 50`, `-c 50 -P 16` (for the smart client: 50 loops, each
// with 16 requests in flight). For every ukv case it also prints CPU time per request (user+sys
// of the 3 store processes, from /proc, divided by the requests) and, for SET, client writes per
// fdatasync (the stores' shared-log syncCount from STATUS), so the next bottleneck is visible.
// Prints the issue's table in markdown (ratios: SET against appendfsync always, GET against no
// persistence) and the machine's load average when it started. With --ceiling, the SET cases
// also run against two bare write chains (write-ceiling-node.ts: three Bun processes making the
// hops and fdatasyncs of a RESP SET and nothing else; one forwards to a leader in another
// process, one leads in the entry process), the ceiling of this shape on this machine, each with
// its ratio to redis and its CPU per request.
// In the main table every target gets the same warm-up first (--warmup-requests, default 200,000; 0 for none):
// pipelined SETs and GETs, then unpipelined SETs, untimed. A fresh Bun process spends its first
// tens of seconds under load compiling (the stores' JIT threads took 20% of their CPU at SET
// `-c 50` right after `cluster up`, 2% after the warm-up), and a server is measured in its steady
// state, as users run it. Installs redis-server/redis-tools
// from Debian if missing.
//
// Usage: bun scripts/bench/redis-compare.ts [--requests-scale 1] [--warmup-requests 200000]
//                                          [--port-base P] [--only resp|smart]
//                                          [--tests set,get] [--binary dist/ukv] [--no-redis]
//                                          [--read-pools 0,1,2] [--read-pool N] [--ceiling]
// --read-pool N: the main table with every store's readPoolSize set to N (default: the config's
// default, cores - 1), to compare the write path with and without the Workers' hop.
// --read-pools: instead of the table above, the read pool's table (FR3.2, issue 20): for each
// size, a fresh default cluster whose stores run that many read-pool Workers (config
// readPoolSize; 0 = every RESP command on the Raft thread), filled by one SET run, then GET -c 50
// and GET -c 50 -P 16 through store 1's RESP port, next to redis-server without persistence.
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join, resolve } from "node:path";
import type { Subprocess } from "bun";
import { MetaTopologySource } from "../../src/client/meta-topology.ts";
import { ShardedClient } from "../../src/client/sharded-client.ts";
import { loadClusterConfig } from "../../src/config/cluster-config.ts";
import { renderLocalClusterConfig } from "../../src/config/local-cluster.ts";
import { layoutFromConfig } from "../../src/meta/meta-service.ts";
import { metaStoreAddresses } from "../../src/store/store-process.ts";
import { KvClient } from "../../src/transport/kv-client.ts";
import { readUntil } from "./child-output.ts";
import { startWriteChain, type WriteChain } from "./write-chain.ts";

interface Target {
  name: string;
  port: number;
}

interface Measure {
  opsPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  /** ukv only: CPU microseconds of all store processes per request. */
  cpuMicrosPerRequest?: number;
  /** ukv SET only: client writes per fdatasync over all stores. */
  writesPerSync?: number;
}

interface Case {
  label: string;
  test: "SET" | "GET";
  clients: number;
  pipeline: number;
  requests: number;
}

const argv = process.argv.slice(2);
const option = (flag: string): string | undefined => {
  const index = argv.indexOf(flag);
  return index >= 0 ? argv[index + 1] : undefined;
};
const requestsScale = Number(option("--requests-scale") ?? 1);
const warmupRequests = Number(option("--warmup-requests") ?? 200_000);
if (!Number.isInteger(warmupRequests) || warmupRequests < 0) throw new Error(`--warmup-requests takes a count like 200000 or 0, got ${option("--warmup-requests")}`);
const portBaseOption = option("--port-base");
const only = option("--only");
const tests = (option("--tests") ?? "set,get").toUpperCase().split(",");
const withRedis = !argv.includes("--no-redis");
const withCeiling = argv.includes("--ceiling");
const readPoolsOption = option("--read-pools");
const mainReadPoolOption = option("--read-pool");
const mainReadPoolSize = mainReadPoolOption === undefined ? null : Number(mainReadPoolOption);
if (mainReadPoolSize !== null && (!Number.isInteger(mainReadPoolSize) || mainReadPoolSize < 0)) throw new Error(`--read-pool takes a size like 0 or 1, got ${mainReadPoolOption}`);
const readPoolSizes = readPoolsOption === undefined ? null : readPoolsOption.split(",").map(Number);
if (readPoolSizes !== null && readPoolSizes.some((size) => !Number.isInteger(size) || size < 0)) throw new Error(`--read-pools takes sizes like 0,1,2, got ${readPoolsOption}`);
const cases: Case[] = [];
for (const test of (["SET", "GET"] as const).filter((name) => tests.includes(name))) {
  const getFactor = test === "GET" ? 2 : 1;
  cases.push({ label: `${test} -c 1`, test, clients: 1, pipeline: 1, requests: 3000 * getFactor });
  cases.push({ label: `${test} -c 50`, test, clients: 50, pipeline: 1, requests: 20_000 * getFactor });
  cases.push({ label: `${test} -c 50 -P 16`, test, clients: 50, pipeline: 16, requests: 100_000 * getFactor });
}
const ukvBinary = resolve(option("--binary") ?? resolve(import.meta.dir, "../../dist/ukv"));
const children: Subprocess[] = [];
const keySpace = 100_000;
const valueBytes = new Uint8Array(100).fill(0x78);

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

interface Ukv {
  child: Subprocess;
  respPort: number;
  clientAddresses: string[];
  configPath: string;
  storePids: number[];
}

/** `readPoolSize`: written into the config `cluster up` then reuses (null: the config default). */
async function startUkv(dir: string, readPoolSize: number | null = null): Promise<Ukv> {
  const portBase = portBaseOption === undefined ? 20000 + Math.floor(Math.random() * 20000) : Number(portBaseOption);
  if (readPoolSize !== null) {
    mkdirSync(dir, { recursive: true });
    const text = renderLocalClusterConfig({ dir: join(dir, "data"), storeCount: 3, shardCount: 8, replication: 3, portBase });
    writeFileSync(join(dir, "cluster.yaml"), `${text}readPoolSize: ${readPoolSize}\n`);
  }
  const child = Bun.spawn([ukvBinary, "cluster", "up", "--dir", dir, "--port-base", String(portBase)], { stdout: "pipe", stderr: "inherit" });
  const output = await readUntil(child, "ukv cluster ready", "cluster up");
  const match = /redis\s+127\.0\.0\.1:(\d+)/.exec(output);
  if (match === null) throw new Error(`cluster up printed no redis endpoint:\n${output}`);
  const clientAddresses = [...output.matchAll(/client\s+(127\.0\.0\.1:\d+)/g)].map((found) => found[1]!);
  const respPort = Number(match[1]);
  await waitForPing(respPort, 10_000);
  return { child, respPort, clientAddresses, configPath: join(dir, "cluster.yaml"), storePids: childPids(child.pid) };
}

function childPids(parentPid: number): number[] {
  const pids: number[] = [];
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, "utf8");
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      if (Number(fields[1]) === parentPid) pids.push(Number(name));
    } catch {
      // gone meanwhile
    }
  }
  return pids;
}

/** utime + stime of the processes, in microseconds (clock ticks of 10 ms). */
function cpuMicros(pids: readonly number[]): number {
  let ticks = 0;
  for (const pid of pids) {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    ticks += Number(fields[11]) + Number(fields[12]);
  }
  return ticks * 10_000;
}

async function syncCount(ukv: Ukv): Promise<number> {
  let total = 0;
  for (const address of ukv.clientAddresses) {
    const client = new KvClient(address, { timeoutMs: 5000 });
    try {
      const response = await client.status();
      if (response.code !== "OK") throw new Error(`STATUS of ${address}: ${response.code} ${response.message}`);
      total += (JSON.parse(response.statusJson) as { log: { syncCount: number } }).log.syncCount;
    } finally {
      client.close();
    }
  }
  return total;
}

/** The requests a case makes, scaled by --requests-scale. */
function requestsOf(benchCase: Case): number {
  return Math.max(100, Math.round(benchCase.requests * requestsScale));
}

function runRedisBenchmark(port: number, benchCase: Case): Measure {
  const requests = requestsOf(benchCase);
  const argv = ["redis-benchmark", "-h", "127.0.0.1", "-p", String(port), "-t", benchCase.test.toLowerCase(), "-n", String(requests), "-r", String(keySpace), "-d", "100", "-c", String(benchCase.clients), "-P", String(benchCase.pipeline), "--csv"];
  const result = Bun.spawnSync(argv, { stdout: "pipe", stderr: "pipe" });
  if (result.exitCode !== 0) throw new Error(`${argv.join(" ")} failed: ${result.stderr.toString()}`);
  // CSV: "test","rps","avg_latency_ms","min_latency_ms","p50_latency_ms","p95_latency_ms","p99_latency_ms","max_latency_ms"
  const line = result.stdout.toString().trim().split("\n").at(-1) ?? "";
  const fields = line.split(",").map((field) => field.replaceAll('"', ""));
  return { opsPerSecond: Number(fields[1]), p50Ms: Number(fields[4]), p99Ms: Number(fields[6]) };
}

/** `clients` loops, each keeping `pipeline` requests in flight, over the smart client. */
async function runSmartClient(client: ShardedClient, benchCase: Case): Promise<Measure> {
  const requests = requestsOf(benchCase);
  const latencies = new Float64Array(requests);
  let issued = 0;
  let failed = 0;
  const keyOf = (): string => `key:${String(Math.floor(Math.random() * keySpace)).padStart(12, "0")}`;
  const one = async (): Promise<void> => {
    while (issued < requests) {
      const position = issued++;
      const startedMs = performance.now();
      try {
        if (benchCase.test === "SET") await client.set(keyOf(), valueBytes);
        else await client.get(keyOf());
      } catch {
        failed++;
      }
      latencies[position] = performance.now() - startedMs;
    }
  };
  const startedMs = performance.now();
  await Promise.all(Array.from({ length: benchCase.clients * benchCase.pipeline }, () => one()));
  const elapsedMs = performance.now() - startedMs;
  if (failed > 0) console.error(`smart client ${benchCase.label}: ${failed} requests failed`);
  const sorted = latencies.sort();
  return { opsPerSecond: (requests / elapsedMs) * 1000, p50Ms: sorted[Math.floor(requests * 0.5)]!, p99Ms: sorted[Math.floor(requests * 0.99)]! };
}

/** A run, with the CPU time of `pids` per request. */
async function measureWithCpu(pids: readonly number[], benchCase: Case, run: () => Promise<Measure> | Measure): Promise<Measure> {
  const cpuBefore = cpuMicros(pids);
  const measure = await run();
  measure.cpuMicrosPerRequest = (cpuMicros(pids) - cpuBefore) / requestsOf(benchCase);
  return measure;
}

async function measureUkv(ukv: Ukv, benchCase: Case, run: () => Promise<Measure> | Measure): Promise<Measure> {
  const syncsBefore = benchCase.test === "SET" ? await syncCount(ukv) : 0;
  const measure = await measureWithCpu(ukv.storePids, benchCase, run);
  const syncsAfter = benchCase.test === "SET" ? await syncCount(ukv) : 0;
  if (benchCase.test === "SET") measure.writesPerSync = requestsOf(benchCase) / Math.max(1, syncsAfter - syncsBefore);
  return measure;
}

/** The untimed warm-up every target gets before its first measured case (none when warmupRequests is 0). */
const warmupCases: Case[] = [
  { label: "warm-up SET -P 16", test: "SET", clients: 50, pipeline: 16, requests: warmupRequests },
  { label: "warm-up GET -P 16", test: "GET", clients: 50, pipeline: 16, requests: warmupRequests },
  { label: "warm-up SET", test: "SET", clients: 50, pipeline: 1, requests: Math.round(warmupRequests / 5) },
];

async function warmUp(name: string, run: (benchCase: Case) => Promise<unknown> | unknown): Promise<void> {
  if (warmupRequests === 0) return;
  const startedMs = performance.now();
  // Warm-up sizes are not scaled: requestsOf multiplies by the scale this divides by.
  for (const benchCase of warmupCases) await run({ ...benchCase, requests: benchCase.requests / requestsScale });
  console.error(`${name}: warmed up in ${((performance.now() - startedMs) / 1000).toFixed(1)} s`);
}

function measureChain(chain: WriteChain, benchCase: Case): Promise<Measure> {
  return measureWithCpu(
    chain.children.map((child) => child.pid),
    benchCase,
    () => runRedisBenchmark(chain.respPort, benchCase),
  );
}

function describe(measure: Measure | undefined): string {
  if (measure === undefined) return "-";
  return `${Math.round(measure.opsPerSecond).toLocaleString("en-US")}/s (p50 ${measure.p50Ms.toFixed(2)}, p99 ${measure.p99Ms.toFixed(2)} ms)`;
}

function ratio(ours: Measure | undefined, theirs: Measure | undefined): string {
  return ours === undefined || theirs === undefined ? "-" : `${(ours.opsPerSecond / theirs.opsPerSecond).toFixed(2)}x`;
}

function formatTable(results: Map<string, Map<string, Measure>>, loadAtStart: string): string {
  const get = (target: string, label: string): Measure | undefined => results.get(target)?.get(label);
  const lines = [
    `machine load average at start: ${loadAtStart} (${navigator.hardwareConcurrency} cores); warm-up ${warmupRequests.toLocaleString("en-US")} requests per target`,
    "",
    "| case | redis appendfsync always | redis no persistence | ukv RESP | ratio | ukv smart client | ratio | CPU us/req RESP / smart | writes per fdatasync RESP / smart |",
    "|---|---|---|---|---:|---|---:|---:|---:|",
  ];
  for (const benchCase of cases) {
    const reference = benchCase.test === "SET" ? get("redis-fsync", benchCase.label) : get("redis-plain", benchCase.label);
    const resp = get("ukv-resp", benchCase.label);
    const smart = get("ukv-smart", benchCase.label);
    const cpu = `${resp?.cpuMicrosPerRequest?.toFixed(0) ?? "-"} / ${smart?.cpuMicrosPerRequest?.toFixed(0) ?? "-"}`;
    const perSync = benchCase.test === "SET" ? `${resp?.writesPerSync?.toFixed(1) ?? "-"} / ${smart?.writesPerSync?.toFixed(1) ?? "-"}` : "";
    lines.push(
      `| ${benchCase.label} | ${describe(get("redis-fsync", benchCase.label))} | ${describe(get("redis-plain", benchCase.label))} | ${describe(resp)} | ${ratio(resp, reference)} | ${describe(smart)} | ${ratio(smart, reference)} | ${cpu} | ${perSync} |`,
    );
  }
  lines.push("", "ratio: SET against redis appendfsync always, GET against redis without persistence.");
  if (results.has("chain-forward")) {
    lines.push(
      "",
      "The bare write chain (write-ceiling-node.ts: the hops and fdatasyncs of a RESP SET in 3 Bun processes, nothing else), forwarded",
      "to a leader in another process as two thirds of ukv's RESP SETs are, and led by the entry process itself as the other third:",
      "",
      "| case | chain, forwarded | ratio to redis appendfsync always | CPU us/req | chain, entry leads | ratio | CPU us/req | ukv RESP / forwarded chain |",
      "|---|---|---:|---:|---|---:|---:|---:|",
    );
    for (const benchCase of cases.filter((candidate) => candidate.test === "SET")) {
      const forward = get("chain-forward", benchCase.label);
      const local = get("chain-local", benchCase.label);
      const redis = get("redis-fsync", benchCase.label);
      const cpu = (measure: Measure | undefined): string => measure?.cpuMicrosPerRequest?.toFixed(0) ?? "-";
      lines.push(
        `| ${benchCase.label} | ${describe(forward)} | ${ratio(forward, redis)} | ${cpu(forward)} | ${describe(local)} | ${ratio(local, redis)} | ${cpu(local)} | ${ratio(get("ukv-resp", benchCase.label), forward)} |`,
      );
    }
  }
  return lines.join("\n");
}

async function main(): Promise<void> {
  ensureRedisTools();
  const loadAtStart = loadavg()
    .map((value) => value.toFixed(2))
    .join(" ");
  const dir = mkdtempSync(join(tmpdir(), "ukv-redis-compare-"));
  let ukv: Ukv | null = null;
  let smartClient: ShardedClient | null = null;
  let source: MetaTopologySource | null = null;
  const results = new Map<string, Map<string, Measure>>();
  const record = (target: string, label: string, measure: Measure): void => {
    if (!results.has(target)) results.set(target, new Map());
    results.get(target)!.set(label, measure);
    const extra = measure.cpuMicrosPerRequest === undefined ? "" : `, ${measure.cpuMicrosPerRequest.toFixed(0)} us CPU/req${measure.writesPerSync === undefined ? "" : `, ${measure.writesPerSync.toFixed(1)} writes/fdatasync`}`;
    console.error(`${target} ${label}: ${describe(measure)}${extra}`);
  };
  try {
    const plainDir = join(dir, "redis-plain");
    const fsyncDir = join(dir, "redis-fsync");
    Bun.spawnSync(["mkdir", "-p", plainDir, fsyncDir]);
    const plain = await startRedis("redis-plain", plainDir, ["--appendonly", "no"]);
    const fsync = await startRedis("redis-fsync", fsyncDir, ["--appendonly", "yes", "--appendfsync", "always"]);
    ukv = await startUkv(join(dir, "ukv"), mainReadPoolSize);
    const started = ukv;
    const chainPortBase = portBaseOption === undefined ? 20000 + Math.floor(Math.random() * 20000) : Number(portBaseOption) + 80;
    const startChain = async (name: string, portBase: number, mode: "forward" | "local"): Promise<WriteChain> => {
      const chain = await startWriteChain(join(dir, name), portBase, mode);
      children.push(...chain.children);
      return chain;
    };
    const chains = withCeiling ? { forward: await startChain("chain-forward", chainPortBase, "forward"), local: await startChain("chain-local", chainPortBase + 10, "local") } : null;
    const config = loadClusterConfig(started.configPath);
    source = new MetaTopologySource({ metaAddresses: metaStoreAddresses(config), fallback: layoutFromConfig(config) });
    await source.start({ firstWaitMs: 5000 });
    // Inside the cluster's network, as the stores' own routing: writes to the members' Raft ports.
    smartClient = new ShardedClient({ topologySource: source, requestTimeoutMs: 5000, writesToRaftPorts: true });
    const client = smartClient;
    if (withRedis) await warmUp("redis-fsync", (benchCase) => runRedisBenchmark(fsync.port, benchCase));
    if (withRedis) await warmUp("redis-plain", (benchCase) => runRedisBenchmark(plain.port, benchCase));
    await warmUp("ukv RESP", (benchCase) => runRedisBenchmark(started.respPort, benchCase));
    if (only !== "resp") await warmUp("ukv smart client", (benchCase) => runSmartClient(client, benchCase));
    for (const [name, chain] of Object.entries(chains ?? {})) {
      await warmUp(`bare chain (${name})`, (benchCase) => (benchCase.test === "SET" ? runRedisBenchmark(chain.respPort, benchCase) : null));
    }
    for (const benchCase of cases) {
      if (withRedis) record("redis-fsync", benchCase.label, runRedisBenchmark(fsync.port, benchCase));
      if (withRedis) record("redis-plain", benchCase.label, runRedisBenchmark(plain.port, benchCase));
      if (only !== "smart") record("ukv-resp", benchCase.label, await measureUkv(started, benchCase, () => runRedisBenchmark(started.respPort, benchCase)));
      if (only !== "resp") record("ukv-smart", benchCase.label, await measureUkv(started, benchCase, () => runSmartClient(client, benchCase)));
      if (chains !== null && benchCase.test === "SET") {
        record("chain-forward", benchCase.label, await measureChain(chains.forward, benchCase));
        record("chain-local", benchCase.label, await measureChain(chains.local, benchCase));
      }
    }
    console.log(formatTable(results, loadAtStart));
  } finally {
    smartClient?.close();
    await source?.close();
    for (const child of children) child.kill("SIGTERM");
    if (ukv !== null) {
      ukv.child.kill("SIGINT");
      await Promise.race([ukv.child.exited, Bun.sleep(15_000)]);
    }
    await Promise.all(children.map((child) => child.exited));
    rmSync(dir, { recursive: true, force: true });
  }
}

async function stopUkv(ukv: Ukv): Promise<void> {
  ukv.child.kill("SIGINT");
  await Promise.race([ukv.child.exited, Bun.sleep(15_000)]);
}

/** The read-pool table: GET through 0, 1, 2... Workers per store, next to redis-server in the same run. */
async function comparePools(sizes: readonly number[]): Promise<void> {
  ensureRedisTools();
  const loadAtStart = loadavg()
    .map((value) => value.toFixed(2))
    .join(" ");
  const dir = mkdtempSync(join(tmpdir(), "ukv-read-pool-"));
  const poolCases = cases.filter((benchCase) => benchCase.test === "GET" && benchCase.clients === 50);
  const fill: Case = { label: "fill", test: "SET", clients: 50, pipeline: 16, requests: 100_000 };
  const results = new Map<string, Measure>();
  try {
    const plainDir = join(dir, "redis-plain");
    mkdirSync(plainDir, { recursive: true });
    const plain = await startRedis("redis-plain", plainDir, ["--appendonly", "no"]);
    runRedisBenchmark(plain.port, fill);
    for (const size of sizes) {
      const ukv = await startUkv(join(dir, `ukv-pool-${size}`), size);
      try {
        runRedisBenchmark(ukv.respPort, fill);
        for (const benchCase of poolCases) {
          // redis-server measured right before each ukv run: the machine's load drifts.
          const reference = runRedisBenchmark(plain.port, benchCase);
          const measure = await measureUkv(ukv, benchCase, () => runRedisBenchmark(ukv.respPort, benchCase));
          results.set(`redis ${size} ${benchCase.label}`, reference);
          results.set(`ukv ${size} ${benchCase.label}`, measure);
          console.error(`pool ${size} ${benchCase.label}: ukv ${describe(measure)}, ${measure.cpuMicrosPerRequest?.toFixed(0)} us CPU/req; redis ${describe(reference)}`);
        }
      } finally {
        await stopUkv(ukv);
      }
    }
    const lines = [
      `machine load average at start: ${loadAtStart} (${navigator.hardwareConcurrency} cores); requests scale ${requestsScale}`,
      "",
      "| case | read-pool Workers per store | ukv RESP (store 1) | redis no persistence (same run) | ratio | CPU us/req (3 stores) |",
      "|---|---:|---|---|---:|---:|",
    ];
    for (const benchCase of poolCases) {
      for (const size of sizes) {
        const ours = results.get(`ukv ${size} ${benchCase.label}`);
        const theirs = results.get(`redis ${size} ${benchCase.label}`);
        lines.push(`| ${benchCase.label} | ${size} | ${describe(ours)} | ${describe(theirs)} | ${ratio(ours, theirs)} | ${ours?.cpuMicrosPerRequest?.toFixed(0) ?? "-"} |`);
      }
    }
    console.log(lines.join("\n"));
  } finally {
    for (const child of children) child.kill("SIGTERM");
    await Promise.all(children.map((child) => child.exited));
    rmSync(dir, { recursive: true, force: true });
  }
}

if (readPoolSizes === null) await main();
else await comparePools(readPoolSizes);
