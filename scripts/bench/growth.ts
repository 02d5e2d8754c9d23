// Elastic growth benchmark (issue 14 part 5, the full version of test/cluster/growth.test.ts):
// 3 real `dist/ukv node` stores on loopback start with ONE shard and the coordinator on; Redis
// clients (ioredis) write N keys through the stores' RESP ports, and the cluster splits itself as
// shards pass splitKeys. Once the keys are written the clients keep overwriting them while a 4th
// store joins (`ukv node --join`), the coordinator fills it until balanced, and `ukv admin drain
// --store 4` empties it again. Throughput (acknowledged SETs) is sampled every second with the
// shard count and what store 4 holds; events (splits, load done, balance reached, join, filled,
// drain done) are recorded. At the end every key is read back (MGET) against the last value
// acknowledged for it, and the run fails on any failed request (a -TRYAGAIN answer, the documented
// transient error, is retried) or lost write.
//
// Output: a section of docs/benchmarks.md (replaced on a rerun; between the growth markers), the
// per-second samples in docs/benchmarks/growth-samples.csv, and docs/growth.png: the chart drawn
// by uPlot in Debian's chromium through playwright-core (skipped with a SKIP line without chromium).
// "Balanced" is test/cluster/balance-check.ts: max <= ceil(1.2 x mean) of replica and leader counts.
//
// Usage: bun run scripts/bench/growth.ts [--keys 5000000] [--clients 16] [--inflight 64]
//          [--value-bytes 32] [--split-keys KEYS/10] [--interval-ms 1000] [--moves-per-store 1]
//          [--no-docs] (print only; write nothing under docs/)
import Redis from "ioredis";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { chromium } from "playwright-core";
import { fetchTopology } from "../../src/transport/meta-api.ts";
import type { Topology } from "../../src/transport/topology-wire.ts";
import { describeBalance, isBalanced, storeCounts } from "../../test/cluster/balance-check.ts";
import { LocalStores, ukvBinary } from "../../test/cluster/harness.ts";

const argv = process.argv.slice(2);
function option(flag: string, fallback: number): number {
  const index = argv.indexOf(flag);
  if (index < 0) return fallback;
  const value = Number(argv[index + 1]);
  if (!Number.isSafeInteger(value) || value < 1) {
    console.error(`${flag} needs a positive integer, got ${JSON.stringify(argv[index + 1])}`);
    process.exit(2);
  }
  return value;
}
const keyCount = option("--keys", 5_000_000);
const clientCount = option("--clients", 16);
const inflightPerClient = option("--inflight", 64);
const valueBytes = option("--value-bytes", 32);
const splitKeys = option("--split-keys", Math.ceil(keyCount / 10));
const intervalMs = option("--interval-ms", 1000);
const movesPerStoreMax = option("--moves-per-store", 1);
const writeDocs = !argv.includes("--no-docs");
const shardsTarget = 8;
const joinedStoreId = 4;
const tryAgainRetriesMax = 100;
const tryAgainDelayMs = 100;
const phaseWaitMsMax = 30 * 60_000;

const repoRoot = resolve(import.meta.dir, "../..");
const chromiumPath = "/usr/bin/chromium";

interface Sample {
  second: number;
  opsPerSec: number;
  retries: number;
  shards: number;
  store4Replicas: number;
  replicas: string;
  leaders: string;
}
interface Event {
  atMs: number;
  what: string;
}

const startMs = performance.now();
const elapsedMs = (): number => performance.now() - startMs;
const events: Event[] = [];
function event(what: string): void {
  events.push({ atMs: elapsedMs(), what });
  console.log(`[${(elapsedMs() / 1000).toFixed(1)} s] ${what}`);
}

// Last acknowledged generation of each key (0: none yet); key i is written only by client i % C.
const ackedGen = new Uint8Array(keyCount);
const failedKeys = new Set<number>();
const failures: string[] = [];
let acksThisSecond = 0;
let acksTotal = 0;
let retriesThisSecond = 0;
let retriesTotal = 0;
let phase: "load" | "rewrite" | "stop" = "load";

function keyOf(index: number): string {
  return `growth:${index}`;
}
function valueOf(index: number, gen: number): string {
  const head = `${index}:${gen}:`;
  return head + "x".repeat(Math.max(0, valueBytes - head.length));
}

async function setWithRetries(redis: Redis, index: number, gen: number): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    const outcome = await redis.set(keyOf(index), valueOf(index, gen)).then(
      (reply) => (reply === "OK" ? "ok" : `reply ${String(reply)}`),
      (error: unknown) => (error instanceof Error ? error.message : String(error)),
    );
    if (outcome === "ok") {
      ackedGen[index] = gen;
      acksThisSecond++;
      acksTotal++;
      return;
    }
    if (outcome.startsWith("TRYAGAIN") && attempt < tryAgainRetriesMax) {
      retriesThisSecond++;
      retriesTotal++;
      await Bun.sleep(tryAgainDelayMs);
      continue;
    }
    failedKeys.add(index);
    if (failures.length < 20) failures.push(`SET ${keyOf(index)}: ${outcome}`);
    return;
  }
}

/** Client `clientIndex`: its keys once (load), then overwrites of them in order until stopped. */
async function writer(redis: Redis, clientIndex: number, loaded: () => void): Promise<void> {
  let next = clientIndex;
  const loadLane = async (): Promise<void> => {
    while (next < keyCount) {
      const index = next;
      next += clientCount;
      await setWithRetries(redis, index, 1);
    }
  };
  await Promise.all(Array.from({ length: inflightPerClient }, loadLane));
  loaded();
  const own = Math.ceil((keyCount - clientIndex) / clientCount);
  if (own <= 0) return;
  let cursor = 0;
  const rewriteLane = async (): Promise<void> => {
    while (phase !== "stop") {
      const index = clientIndex + (cursor % own) * clientCount;
      cursor++;
      if (index >= keyCount) continue;
      // 1..255: 0 means "never acknowledged".
      await setWithRetries(redis, index, (ackedGen[index]! % 255) + 1);
    }
  };
  // Distinct keys in flight: a lane takes the next key of the cycle, which no other lane holds
  // while the cycle is longer than the lanes.
  await Promise.all(Array.from({ length: Math.min(inflightPerClient, own) }, rewriteLane));
}

async function waitUntil(what: string, check: () => boolean, timeoutMs = phaseWaitMsMax): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!check()) {
    if (performance.now() > deadline) throw new Error(`Timed out waiting for ${what}`);
    await Bun.sleep(200);
  }
}

async function runAdmin(stores: LocalStores, args: string[]): Promise<{ exitCode: number; stdout: string; stderr: string }> {
  const child = Bun.spawn([ukvBinary, "admin", ...args, "--config", stores.configPath], { stdout: "pipe", stderr: "pipe" });
  const [stdout, stderr, exitCode] = await Promise.all([new Response(child.stdout).text(), new Response(child.stderr).text(), child.exited]);
  return { exitCode, stdout, stderr };
}

function fmt(value: number): string {
  return Math.round(value).toLocaleString("en-US");
}

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)} s`;
}

/** Rows of `rowSeconds` seconds: mean/min/max of the per-second throughput, the shards at the row's end, events in it. */
function throughputTable(samples: Sample[], rowSeconds: number): string {
  const lines = ["| t (s) | SET/s mean | min | max | shards | replicas on store 4 | events |", "|---|---:|---:|---:|---:|---:|---|"];
  for (let start = 0; start < samples.length; start += rowSeconds) {
    const rows = samples.slice(start, start + rowSeconds);
    const ops = rows.map((row) => row.opsPerSec);
    const last = rows[rows.length - 1]!;
    const fromMs = rows[0]!.second * 1000 - 1000;
    const toMs = last.second * 1000;
    const inside = events.filter((entry) => entry.atMs >= fromMs && entry.atMs < toMs).map((entry) => entry.what);
    const mean = ops.reduce((sum, value) => sum + value, 0) / ops.length;
    lines.push(`| ${rows[0]!.second - 1}-${last.second} | ${fmt(mean)} | ${fmt(Math.min(...ops))} | ${fmt(Math.max(...ops))} | ${last.shards} | ${last.store4Replicas} | ${inside.join("; ")} |`);
  }
  return lines.join("\n");
}

/** The chart as a self-contained page: uPlot inlined, events as labelled vertical lines. */
function chartPage(samples: Sample[]): string {
  const uplotJs = readFileSync(join(repoRoot, "node_modules/uplot/dist/uPlot.iife.min.js"), "utf8");
  const uplotCss = readFileSync(join(repoRoot, "node_modules/uplot/dist/uPlot.min.css"), "utf8");
  const data = [samples.map((sample) => sample.second), samples.map((sample) => sample.opsPerSec), samples.map((sample) => sample.shards), samples.map((sample) => sample.store4Replicas)];
  const marks = events.map((entry) => ({ x: entry.atMs / 1000, label: entry.what }));
  const title = `universeKV elastic growth: ${fmt(keyCount)} keys through RESP, 3 stores + 1 joined and drained`;
  return `<!doctype html><html><head><meta charset="utf-8"><style>${uplotCss} body{margin:0;background:#fff;font:13px sans-serif} #chart{padding:8px;width:1300px}</style></head>
<body><div id="chart"></div><script>${uplotJs}</script><script>
const data = ${JSON.stringify(data)};
const marks = ${JSON.stringify(marks)};
const eventLines = (u) => {
  const ctx = u.ctx;
  ctx.save();
  ctx.font = (11 * devicePixelRatio) + "px sans-serif";
  marks.forEach((mark, index) => {
    const x = Math.round(u.valToPos(mark.x, "x", true));
    ctx.strokeStyle = "#888";
    ctx.setLineDash([4, 4]);
    ctx.beginPath(); ctx.moveTo(x, u.bbox.top); ctx.lineTo(x, u.bbox.top + u.bbox.height); ctx.stroke();
    ctx.fillStyle = "#444";
    ctx.fillText(mark.label, x + 3, u.bbox.top + 14 * devicePixelRatio * (1 + (index % 8)));
  });
  ctx.restore();
};
new uPlot({
  title: ${JSON.stringify(title)},
  width: 1280, height: 560,
  scales: { x: { time: false }, shards: { range: (u, min, max) => [0, Math.max(8, max + 2)] } },
  axes: [{ label: "seconds since start" }, { label: "acknowledged SET/s", size: 70 }, { scale: "shards", side: 1, label: "shards / replicas on store 4", grid: { show: false } }],
  series: [{}, { label: "SET/s", stroke: "#1f77b4", width: 1.5 }, { label: "shards", scale: "shards", stroke: "#d62728", width: 2 }, { label: "replicas on store 4", scale: "shards", stroke: "#2ca02c", width: 2 }],
  hooks: { draw: [eventLines] },
}, data, document.getElementById("chart"));
globalThis.chartDone = true;
</script></body></html>`;
}

async function renderChart(samples: Sample[], path: string): Promise<string> {
  if (!existsSync(chromiumPath)) {
    const line = `SKIP: ${chromiumPath} not installed (Debian package chromium): no PNG chart`;
    console.log(line);
    return line;
  }
  const profileDir = mkdtempSync(join(tmpdir(), "ukv-growth-chromium-"));
  const context = await chromium.launchPersistentContext(profileDir, {
    executablePath: chromiumPath,
    headless: true,
    args: ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
    viewport: { width: 1320, height: 620 },
  });
  try {
    const page = await context.newPage();
    await page.setContent(chartPage(samples));
    await page.waitForFunction(() => (globalThis as unknown as { chartDone?: boolean }).chartDone === true);
    await page.locator("#chart").screenshot({ path });
    return `chart: ${path}`;
  } finally {
    await context.close();
    rmSync(profileDir, { recursive: true, force: true });
  }
}

const sectionBegin = "<!-- growth-benchmark:begin -->";
const sectionEnd = "<!-- growth-benchmark:end -->";

function writeSection(markdown: string): void {
  const path = join(repoRoot, "docs/benchmarks.md");
  const current = readFileSync(path, "utf8");
  const section = `${sectionBegin}\n${markdown.trim()}\n${sectionEnd}`;
  const begin = current.indexOf(sectionBegin);
  const end = current.indexOf(sectionEnd);
  const next = begin >= 0 && end > begin ? current.slice(0, begin) + section + current.slice(end + sectionEnd.length) : `${current.trimEnd()}\n\n${section}\n`;
  writeFileSync(path, next);
}

const main = async (): Promise<number> => {
  const loadAtStart = loadavg().map((value) => value.toFixed(1)).join(", ");
  console.log(`growth benchmark: ${fmt(keyCount)} keys of ${valueBytes}-byte values, ${clientCount} RESP clients x ${inflightPerClient} in flight, splitKeys ${fmt(splitKeys)}; load average ${loadAtStart}`);
  const stores = await LocalStores.create({
    spareStoreCount: 1,
    tickMs: 50,
    electionTicks: 20,
    heartbeatTicks: 2,
    coordinator: { enabled: true, intervalMs, splitKeys, movesPerStoreMax },
  });
  const clients: Redis[] = [];
  let sampler: ReturnType<typeof setInterval> | null = null;
  let watching = true;
  try {
    stores.startAll();
    await stores.waitForLeaders(60_000);
    await stores.waitForRouting(60_000);
    const meta = stores.groupClient(stores.metaAddresses, 10_000);
    let topology: Topology = await fetchTopology(meta);
    let lastShardCount = 1;
    let balancedDuringLoadMs: number | null = null;
    // The topology, once a second, in the background (the sampler reads the newest).
    const watcher = (async () => {
      while (watching) {
        topology = await fetchTopology(meta).catch(() => topology);
        const shardCount = topology.layout?.shards.length ?? 0;
        if (shardCount !== lastShardCount) {
          event(`${shardCount} shards`);
          lastShardCount = shardCount;
        }
        if (balancedDuringLoadMs === null && phase === "load" && isBalanced(topology, shardsTarget)) {
          balancedDuringLoadMs = elapsedMs();
          event(`balanced during the load (${describeBalance(topology)})`);
        }
        await Bun.sleep(1000);
      }
    })();

    const samples: Sample[] = [];
    let second = 0;
    sampler = setInterval(() => {
      second++;
      const counts = storeCounts(topology);
      samples.push({
        second,
        opsPerSec: acksThisSecond,
        retries: retriesThisSecond,
        shards: topology.layout?.shards.length ?? 0,
        store4Replicas: (topology.layout?.shards ?? []).filter((shard) => [...shard.members, ...(shard.learners ?? [])].some((member) => member.id === joinedStoreId)).length,
        replicas: [...counts.replicas].map(([id, count]) => `${id}:${count}`).join(" "),
        leaders: [...counts.leaders].map(([id, count]) => `${id}:${count}`).join(" "),
      });
      if (second % 10 === 0) console.log(`[${second} s] ${fmt(acksThisSecond)} SET/s, ${fmt(acksTotal)} acknowledged, ${describeBalance(topology)}`);
      acksThisSecond = 0;
      retriesThisSecond = 0;
    }, 1000);

    event("load started");
    let loadedClients = 0;
    const storeIds = stores.storeIds;
    const writers = Array.from({ length: clientCount }, (_, clientIndex) => {
      const redis = new Redis({ host: "127.0.0.1", port: stores.respPort(storeIds[clientIndex % storeIds.length]!), maxRetriesPerRequest: 0, enableOfflineQueue: true });
      clients.push(redis);
      return writer(redis, clientIndex, () => {
        loadedClients++;
      });
    });
    await waitUntil("every client to write its keys", () => loadedClients === clientCount);
    phase = "rewrite";
    const loadDoneMs = elapsedMs();
    const shardsAtLoadDone = topology.layout?.shards.length ?? 0;
    event(`load done: ${fmt(keyCount)} keys (${fmt((keyCount * 1000) / loadDoneMs)} SET/s on average)`);
    await waitUntil(">= 8 shards, balanced", () => isBalanced(topology, shardsTarget));
    const balancedMs = elapsedMs();
    event(`balanced: ${describeBalance(topology)}`);
    const shardCount = topology.layout!.shards.length;

    stores.joinStore(joinedStoreId, 0);
    const joinedMs = elapsedMs();
    event(`store ${joinedStoreId} joined`);
    await waitUntil(`store ${joinedStoreId} filled, balanced`, () => (storeCounts(topology).replicas.get(joinedStoreId) ?? 0) > 0 && isBalanced(topology, shardCount));
    const filledMs = elapsedMs();
    const filledBalance = describeBalance(topology);
    event(`store ${joinedStoreId} filled: ${filledBalance}`);

    const drainStartMs = elapsedMs();
    event(`drain of store ${joinedStoreId} started`);
    const drained = await runAdmin(stores, ["drain", "--store", String(joinedStoreId)]);
    if (drained.exitCode !== 0) throw new Error(`ukv admin drain exited ${drained.exitCode}: ${drained.stderr.trim()}`);
    await waitUntil("the drained cluster balanced", () => isBalanced(topology, shardCount) && storeCounts(topology).replicas.get(joinedStoreId) === undefined);
    const drainDoneMs = elapsedMs();
    event(`drain done: ${describeBalance(topology)}`);
    await Bun.sleep(3000); // a few seconds of writes after the drain, on the chart
    phase = "stop";
    await Promise.all(writers);
    clearInterval(sampler);
    sampler = null;
    watching = false;
    await watcher;
    event("writes stopped");

    // Every key against its last acknowledged value.
    let lost = 0;
    const lostExamples: string[] = [];
    let checked = 0;
    const batchKeys = 1000;
    let nextBatch = 0;
    const verifyLane = async (redis: Redis): Promise<void> => {
      for (;;) {
        const start = nextBatch;
        nextBatch += batchKeys;
        if (start >= keyCount) return;
        const indexes = Array.from({ length: Math.min(batchKeys, keyCount - start) }, (_, offset) => start + offset);
        const values = await redis.mget(...indexes.map(keyOf));
        indexes.forEach((index, offset) => {
          const gen = ackedGen[index]!;
          if (gen === 0) return;
          checked++;
          const value = values[offset] ?? null;
          const ok = value === valueOf(index, gen) || (failedKeys.has(index) && value !== null && value.startsWith(`${index}:`));
          if (!ok) {
            lost++;
            if (lostExamples.length < 10) lostExamples.push(`${keyOf(index)} acknowledged gen ${gen}, reads ${String(value)}`);
          }
        });
      }
    };
    await Promise.all(clients.map(verifyLane));
    event(`verified ${fmt(checked)} keys: ${lost} lost`);

    const summary = [
      `- Keys: ${fmt(keyCount)} (${valueBytes}-byte values) through RESP by ${clientCount} ioredis clients x ${inflightPerClient} requests in flight, spread over stores 1-3; afterwards the same clients overwrite their keys until the drain is done.`,
      `- Coordinator: \`enabled: true, intervalMs: ${intervalMs}, splitKeys: ${fmt(splitKeys)}, movesPerStoreMax: ${movesPerStoreMax}\`; timing 50 ms ticks, 20 election ticks.`,
      `- Load: ${seconds(loadDoneMs)} (${fmt((keyCount * 1000) / loadDoneMs)} SET/s on average), ${shardsAtLoadDone} shards when the last key was acknowledged.`,
      `- **Time to reach balance** (>= 8 shards, replica and leader counts within floor(mean / 1.2)..ceil(1.2 x mean) on each of stores 1-3, no move in flight): ${seconds(balancedMs)} after the load started${balancedDuringLoadMs === null ? "" : ` (first balanced during the load at ${seconds(balancedDuringLoadMs)})`}.`,
      `- Store 4 joined at ${seconds(joinedMs)}; filled and balanced over 4 stores **${seconds(filledMs - joinedMs)}** later (${filledBalance}).`,
      `- \`ukv admin drain --store 4\`: ${seconds(drainDoneMs - drainStartMs)} until store 4 held nothing and stores 1-3 were balanced.`,
      `- Requests: ${fmt(acksTotal)} SETs acknowledged, ${fmt(retriesTotal)} -TRYAGAIN answers retried (the documented transient error), **${failures.length === 0 ? 0 : failedKeys.size} failed**; **${lost} lost** of ${fmt(checked)} acknowledged keys read back.`,
    ];
    const eventTable = ["| t (s) | event |", "|---:|---|", ...events.map((entry) => `| ${(entry.atMs / 1000).toFixed(1)} | ${entry.what} |`)].join("\n");
    const rowSeconds = samples.length > 400 ? 10 : samples.length > 120 ? 5 : 1;
    console.log(summary.join("\n"));
    if (failures.length > 0) console.log(`failures (first ${failures.length}):\n${failures.join("\n")}`);
    if (lostExamples.length > 0) console.log(`lost (first ${lostExamples.length}):\n${lostExamples.join("\n")}`);

    if (writeDocs) {
      mkdirSync(join(repoRoot, "docs/benchmarks"), { recursive: true });
      const csv = ["second,set_per_sec,tryagain_retries,shards,store4_replicas,replicas,leaders", ...samples.map((sample) => `${sample.second},${sample.opsPerSec},${sample.retries},${sample.shards},${sample.store4Replicas},${sample.replicas},${sample.leaders}`)];
      writeFileSync(join(repoRoot, "docs/benchmarks/growth-samples.csv"), `${csv.join("\n")}\n`);
      const chartLine = await renderChart(samples, join(repoRoot, "docs/growth.png"));
      const when = new Date().toISOString().slice(0, 16).replace("T", " ");
      writeSection(
        [
          "## Elastic growth (issue 14 part 5)",
          "",
          `\`${["bun run scripts/bench/growth.ts", ...argv].join(" ")}\`, run ${when} UTC on the shared 2-core machine (load average ${loadAtStart} at the start): 3 stores, 1 shard, the coordinator on; a 4th store joins with \`ukv node --join\` once the cluster is balanced, and \`ukv admin drain --store 4\` empties it again.`,
          "",
          ...summary,
          "",
          chartLine.startsWith("SKIP") ? chartLine : "![growth: SET/s, shards and store 4's replicas over time](growth.png)",
          "",
          "Events:",
          "",
          eventTable,
          "",
          `Throughput over time (${rowSeconds}-second rows of the per-second samples; every second in docs/benchmarks/growth-samples.csv):`,
          "",
          throughputTable(samples, rowSeconds),
        ].join("\n"),
      );
      console.log("wrote docs/benchmarks.md (growth section), docs/benchmarks/growth-samples.csv");
    }
    return failures.length === 0 && lost === 0 ? 0 : 1;
  } finally {
    watching = false;
    if (sampler !== null) clearInterval(sampler);
    for (const client of clients) client.disconnect();
    await stores.destroy();
  }
};

process.exit(await main());
