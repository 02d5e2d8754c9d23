// Split stall benchmark (issue 14): 3 stores of the real binary, 1 shard x 3 replicas, preloaded
// with --keys keys (default 1,000,000; 16-byte keys, 100-byte values, pipelined SETs to the
// leader), then --writers writers (default 16, one request at a time each, every store routing)
// write for --seconds before, during and after `ukv admin split --shard 1`. Reports the longest
// window without an acknowledged write (target: < 250 ms), p50/p99 latency before the split and
// in the 5 s from its start (moonshot: p99 during < 2x before), failed requests, and how long the
// split command took. Prints a Markdown table; writes nothing else.
// With --keep the cluster's dir (store logs included) stays; its path is printed.
// Usage: bun run scripts/bench/split-stall.ts [--binary dist/ukv] [--keys 1000000] [--writers 16] [--seconds 5] [--port-base 36400] [--dir-prefix /tmp/ukv-bench-split-] [--keep]
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { loadClusterConfig } from "../../src/config/cluster-config.ts";
import { renderLocalClusterConfig } from "../../src/config/local-cluster.ts";
import { KvClient } from "../../src/transport/kv-client.ts";

const { values } = parseArgs({
  options: {
    binary: { type: "string", default: "dist/ukv" },
    keys: { type: "string", default: "1000000" },
    writers: { type: "string", default: "16" },
    seconds: { type: "string", default: "5" },
    "port-base": { type: "string", default: "36400" },
    "dir-prefix": { type: "string", default: join(tmpdir(), "ukv-bench-split-") },
    keep: { type: "boolean", default: false },
  },
});
const binary = resolve(values.binary);
const keyCount = Number(values.keys);
const writerCount = Number(values.writers);
const phaseMs = Number(values.seconds) * 1000;
const encoder = new TextEncoder();
const value = encoder.encode("v".repeat(100));

const dir = mkdtempSync(values["dir-prefix"]);
const configPath = join(dir, "cluster.yaml");
writeFileSync(configPath, renderLocalClusterConfig({ dir: join(dir, "data"), storeCount: 3, shardCount: 1, replication: 3, portBase: Number(values["port-base"]) }));
const config = loadClusterConfig(configPath);
const addresses = config.stores.map((store) => store.advertised.clientAddress);
const logPath = (storeId: number): string => join(dir, `store-${storeId}.log`);
const children = config.stores.map((store) => Bun.spawn([binary, "node", "--config", configPath, "--id", String(store.id)], { stdout: "ignore", stderr: Bun.file(logPath(store.id)) }));

function percentile(sorted: number[], fraction: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * fraction))] ?? Number.NaN;
}

async function leaderAddress(): Promise<string> {
  for (let attemptIndex = 0; attemptIndex < 600; attemptIndex++) {
    for (const address of addresses) {
      const client = new KvClient(address, { timeoutMs: 500 });
      const response = await client.request({ op: "STATUS", key: new Uint8Array(0), value: new Uint8Array(0), linearizable: false, shard: 1 });
      client.close();
      if (response.code === "OK" && (JSON.parse(response.statusJson) as { role: string }).role === "leader") return address;
    }
    await Bun.sleep(100);
  }
  throw new Error("shard 1 has no leader");
}

async function preload(address: string): Promise<number> {
  const startedMs = performance.now();
  const client = new KvClient(address, { timeoutMs: 30_000 });
  const inflightMax = 256;
  let next = 0;
  const lanes = Array.from({ length: inflightMax }, async () => {
    while (next < keyCount) {
      const index = next++;
      const response = await client.request({ op: "SET", key: encoder.encode(`pre-${String(index).padStart(10, "0")}`), value, linearizable: false, shard: 1 });
      if (response.code !== "OK") throw new Error(`preload SET ${index}: ${response.code} ${response.message}`);
    }
  });
  await Promise.all(lanes);
  client.close();
  return performance.now() - startedMs;
}

try {
  const leader = await leaderAddress();
  const preloadMs = await preload(leader);
  const acks: { atMs: number; latencyMs: number }[] = [];
  let failures = 0;
  const failureCodes = new Map<string, number>();
  let running = true;
  const writers = Array.from({ length: writerCount }, async (_, writerIndex) => {
    const client = new KvClient(addresses[writerIndex % addresses.length]!, { timeoutMs: 10_000 });
    for (let index = 0; running; index++) {
      const sentMs = performance.now();
      const response = await client.set(encoder.encode(`w${writerIndex}-${index}`), value);
      if (response.code === "OK") acks.push({ atMs: performance.now(), latencyMs: performance.now() - sentMs });
      else {
        failures++;
        failureCodes.set(`${response.code} (${response.message})`, (failureCodes.get(`${response.code} (${response.message})`) ?? 0) + 1);
      }
    }
    client.close();
  });
  await Bun.sleep(phaseMs);
  const splitStartMs = performance.now();
  const splitStartWallMs = Date.now();
  const split = Bun.spawn([binary, "admin", "split", "--shard", "1", "--config", configPath], { stdout: "pipe", stderr: "pipe" });
  const splitExit = await split.exited;
  const splitMs = performance.now() - splitStartMs;
  const splitErr = await new Response(split.stderr).text();
  await Bun.sleep(phaseMs);
  running = false;
  await Promise.all(writers);
  const sortedAt = acks.map((ack) => ack.atMs).sort((a, b) => a - b);
  let longestGapMs = 0;
  let longestGapFromMs = 0;
  let gapStartMs = splitStartMs;
  for (const atMs of sortedAt) {
    if (atMs < splitStartMs - phaseMs / 2) continue;
    if (atMs - gapStartMs > longestGapMs) {
      longestGapMs = atMs - gapStartMs;
      longestGapFromMs = gapStartMs - splitStartMs;
    }
    gapStartMs = Math.max(gapStartMs, atMs);
  }
  const before = acks.filter((ack) => ack.atMs < splitStartMs).map((ack) => ack.latencyMs).sort((a, b) => a - b);
  const during = acks.filter((ack) => ack.atMs >= splitStartMs && ack.atMs < splitStartMs + 5000).map((ack) => ack.latencyMs).sort((a, b) => a - b);
  console.log(`| keys | writers | preload | split command | longest window without an ack | p50 / p99 before | p50 / p99 during (5 s) | failed |`);
  console.log(`|---|---|---|---|---|---|---|---|`);
  console.log(
    `| ${keyCount.toLocaleString("en-US")} | ${writerCount} | ${(preloadMs / 1000).toFixed(1)} s | ${(splitMs / 1000).toFixed(2)} s (exit ${splitExit}${splitErr === "" ? "" : `: ${splitErr.trim()}`}) | ${longestGapMs.toFixed(0)} ms | ${percentile(before, 0.5).toFixed(1)} / ${percentile(before, 0.99).toFixed(1)} ms | ${percentile(during, 0.5).toFixed(1)} / ${percentile(during, 0.99).toFixed(1)} ms | ${failures} |`,
  );
  if (failures > 0) console.log(`failed: ${[...failureCodes].map(([code, count]) => `${count} ${code}`).join(", ")}`);
  console.log(`longest window: from +${longestGapFromMs.toFixed(0)} ms after the split command started`);
  // Where the stall comes from: each store's split, child creation and the child's election, from its log.
  for (const store of config.stores) {
    const lines = (await Bun.file(logPath(store.id)).text()).split("\n");
    for (const line of lines) {
      if (!/"event":"(split_proposed|split_applied|split_child_created|split_child_base_durable|snapshot_taken|role_changed)"/.test(line)) continue;
      const event = JSON.parse(line) as { time: string; event: string; shard?: number; role?: string | number; leader?: number; durationMs?: number; medianMs?: number; takeMs?: number };
      const atMs = Date.parse(event.time) - splitStartWallMs;
      if (atMs < -phaseMs / 2) continue;
      const what = event.event === "role_changed" ? `shard ${event.shard} role ${event.role} leader ${event.leader}` : event.event === "snapshot_taken" ? `shard ${event.shard} snapshot_taken` : event.event;
      console.log(`store ${store.id}: ${what} at +${atMs} ms${event.durationMs === undefined ? "" : `, took ${event.durationMs} ms`}${event.medianMs === undefined ? "" : `, median ${event.medianMs} ms`}${event.takeMs === undefined ? "" : `, moving the keys ${event.takeMs} ms`}`);
    }
  }
} finally {
  for (const child of children) child.kill("SIGKILL");
  await Promise.all(children.map((child) => child.exited));
  if (values.keep) console.log(`kept ${dir}`);
  else rmSync(dir, { recursive: true, force: true });
}
