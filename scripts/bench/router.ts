// Router benchmark: 3 stores of the real binary hosting 2 shards x 3 replicas, plus `ukv router`,
// on 127.0.0.1. Measures GET and SET ops/s and p50/p99 latency at 1 and 64 clients (each client
// its own connection, one request at a time) three ways: tagged with shard 1 and sent to its
// leader's store (served there, no routing), untagged to that store (its own routing: the local
// fast path), and through the router, for the router's added latency (target: <= 30% at 1
// client over the direct path).
// Usage: bun run scripts/bench/router.ts [--binary dist/ukv] [--seconds 3]
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { topologyFromLayout } from "../../src/client/topology.ts";
import { loadClusterConfig } from "../../src/config/cluster-config.ts";
import { renderLocalClusterConfig } from "../../src/config/local-cluster.ts";
import { layoutFromConfig } from "../../src/meta/meta-service.ts";
import { KvClient } from "../../src/transport/kv-client.ts";
import type { KvResponse } from "../../src/transport/kv-protocol.ts";

const { values } = parseArgs({ options: { binary: { type: "string", default: "dist/ukv" }, seconds: { type: "string", default: "3" }, "port-base": { type: "string", default: "36100" } } });
const binary = resolve(values.binary);
const phaseMs = Number(values.seconds) * 1000;
const encoder = new TextEncoder();
const valueBytes = encoder.encode("v".repeat(100));

const dir = mkdtempSync(join(tmpdir(), "ukv-bench-router-"));
const configPath = join(dir, "cluster.yaml");
writeFileSync(configPath, renderLocalClusterConfig({ dir: join(dir, "data"), storeCount: 3, shardCount: 2, replication: 3, portBase: Number(values["port-base"]) }));
const config = loadClusterConfig(configPath);
const shardOneId = config.shards[0]!.id;
// The range map every store, router and client routes by (client/topology.ts).
const ring = topologyFromLayout(layoutFromConfig(config)).ranges;
const children = [
  ...config.stores.map((store) => Bun.spawn([binary, "node", "--config", configPath, "--id", String(store.id)], { stdout: "ignore", stderr: "ignore" })),
  Bun.spawn([binary, "router", "--config", configPath], { stdout: "ignore", stderr: "ignore" }),
];

function percentile(sorted: number[], fraction: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * fraction))] ?? Number.NaN;
}

/** The client address of the store leading shard 1 (asked for its replica's STATUS). */
async function shardOneLeader(): Promise<string> {
  const addresses = config.shards[0]!.replicas.map((storeId) => config.stores.find((store) => store.id === storeId)!.advertised.clientAddress);
  for (let attemptIndex = 0; attemptIndex < 300; attemptIndex++) {
    for (const address of addresses) {
      const client = new KvClient(address, { timeoutMs: 500 });
      const response = await client.request({ op: "STATUS", key: new Uint8Array(0), value: new Uint8Array(0), linearizable: false, shard: shardOneId });
      client.close();
      if (response.code === "OK" && (JSON.parse(response.statusJson) as { role: string }).role === "leader") return address;
    }
    await Bun.sleep(100);
  }
  throw new Error("shard 1 has no leader");
}

/** Keys of shard 1 only, so direct and routed runs do the same work. */
const shardOneKeys: Uint8Array[] = [];
for (let index = 0; shardOneKeys.length < 1000; index++) {
  const key = encoder.encode(`bench-${index}`);
  if (ring.shardForKey(key) === shardOneId) shardOneKeys.push(key);
}
const allKeys = Array.from({ length: 1000 }, (_, index) => encoder.encode(`bench-${index}`));

/** `shard`: tag each request with it (the store serves it from its replica); 0 lets the receiver route. */
async function run(label: string, address: string, clientCount: number, op: "GET" | "SET", keys: Uint8Array[], shard = 0): Promise<string> {
  const latenciesMs: number[] = [];
  let failures = 0;
  const deadline = performance.now() + phaseMs;
  const worker = async (workerIndex: number): Promise<void> => {
    const client = new KvClient(address, { timeoutMs: 5000 });
    for (let opIndex = workerIndex; performance.now() < deadline; opIndex += clientCount) {
      const key = keys[opIndex % keys.length]!;
      const startedMs = performance.now();
      const response: KvResponse = await client.request({ op, key, value: op === "SET" ? valueBytes : new Uint8Array(0), linearizable: false, shard });
      latenciesMs.push(performance.now() - startedMs);
      if (response.code !== "OK") failures++;
    }
    client.close();
  };
  const startedMs = performance.now();
  await Promise.all(Array.from({ length: clientCount }, (_, index) => worker(index)));
  const elapsedS = (performance.now() - startedMs) / 1000;
  latenciesMs.sort((a, b) => a - b);
  const opsPerSecond = Math.round(latenciesMs.length / elapsedS);
  return `| ${label} | ${op} | ${clientCount} | ${opsPerSecond} | ${percentile(latenciesMs, 0.5).toFixed(3)} | ${percentile(latenciesMs, 0.99).toFixed(3)} | ${failures} |`;
}

try {
  const leader = await shardOneLeader();
  const router = config.router!.clientAddress;
  await Bun.sleep(1500); // the router's first probes, and the other shard's election
  // Preload every key read later, so a GET answers OK (a NOT_FOUND would count as failed).
  const loader = new KvClient(router, { timeoutMs: 10_000 });
  const preload = await Promise.all([...shardOneKeys, ...allKeys].map((key) => loader.set(key, valueBytes)));
  loader.close();
  const preloadFailures = preload.filter((response) => response.code !== "OK").length;
  if (preloadFailures > 0) throw new Error(`${preloadFailures} preload writes failed`);
  const rows = [
    "| path | op | clients | ops/s | p50 ms | p99 ms | failed |",
    "|---|---|---|---|---|---|---|",
    await run("direct: shard-tagged to shard-1 leader store", leader, 1, "SET", shardOneKeys, shardOneId),
    await run("shard-1 leader store routes (untagged)", leader, 1, "SET", shardOneKeys),
    await run("router (shard-1 keys)", router, 1, "SET", shardOneKeys),
    await run("direct: shard-tagged to shard-1 leader store", leader, 1, "GET", shardOneKeys, shardOneId),
    await run("shard-1 leader store routes (untagged)", leader, 1, "GET", shardOneKeys),
    await run("router (shard-1 keys)", router, 1, "GET", shardOneKeys),
    await run("router (all keys)", router, 64, "SET", allKeys),
    await run("router (all keys)", router, 64, "GET", allKeys),
  ];
  console.log(rows.join("\n"));
} finally {
  for (const child of children) child.kill("SIGKILL");
  await Promise.all(children.map((child) => child.exited));
  rmSync(dir, { recursive: true, force: true });
}
