// Store benchmark (issue 5): three real `dist/ukv node` stores on loopback hosting one 3-replica
// shard (and the metadata group), measured in one run next to the disk's raw fdatasync rate.
// Requests are tagged with the shard and sent to its leader's store, so no routing hop is timed:
//   1. GET latency, 1 client, idle system (target p99 < 1 ms, NFR3);
//   2. durable SET throughput with 64 concurrent clients vs raw fdatasync/s (target >= 10x);
//   3. leader failover after kill -9 of the shard leader's store (kill -> first acknowledged
//      write), >= 10 trials, with and without the fast path (campaign when the leader's store
//      connection drops). Timing is the config defaults (50 ms ticks, 20 election ticks).
// Usage: bun run scripts/bench/node.ts [--trials 10] [--seconds 5]
import { join } from "node:path";
import { mkdirSync } from "node:fs";
import { walRawSyncLatencies } from "../../src/storage/wal.ts";
import { KvClient } from "../../src/transport/kv-client.ts";
import type { KvResponse } from "../../src/transport/kv-protocol.ts";
import { LocalStores, bytes } from "../../test/cluster/harness.ts";

const shardId = 1;
const noBytes = new Uint8Array(0);

const argv = process.argv.slice(2);
const optionValue = (flag: string, fallback: number): number => {
  const index = argv.indexOf(flag);
  return index >= 0 ? Number(argv[index + 1]) : fallback;
};
const trialCount = optionValue("--trials", 10);
const loadSeconds = optionValue("--seconds", 5);

function percentile(sorted: number[], fraction: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * fraction))] ?? Number.NaN;
}

function summary(valuesMs: number[]): string {
  const sorted = [...valuesMs].sort((a, b) => a - b);
  return `p50 ${percentile(sorted, 0.5).toFixed(3)} ms, p99 ${percentile(sorted, 0.99).toFixed(3)} ms, max ${sorted.at(-1)?.toFixed(3)} ms (n=${sorted.length})`;
}

/** A SET tagged with the shard: served by this store's replica (its leader), never forwarded. */
function setOnShard(client: KvClient, key: Uint8Array, value: Uint8Array): Promise<KvResponse> {
  return client.request({ op: "SET", key, value, linearizable: false, shard: shardId });
}

async function measureGetLatency(stores: LocalStores, leader: number): Promise<number[]> {
  const client = new KvClient(stores.clientAddress(leader));
  await setOnShard(client, bytes("bench-key"), bytes("x".repeat(100)));
  const latenciesMs: number[] = [];
  for (let requestIndex = 0; requestIndex < 6000; requestIndex++) {
    const started = performance.now();
    const response = await client.request({ op: "GET", key: bytes("bench-key"), value: noBytes, linearizable: false, shard: shardId });
    if (response.code !== "OK") throw new Error(`GET failed: ${response.code}`);
    if (requestIndex >= 1000) latenciesMs.push(performance.now() - started); // after warm-up
  }
  client.close();
  return latenciesMs;
}

async function measureSetThroughput(stores: LocalStores, leader: number, clientCount: number): Promise<{ opsPerSecond: number; latenciesMs: number[] }> {
  const clients = Array.from({ length: clientCount }, () => new KvClient(stores.clientAddress(leader), { timeoutMs: 10_000 }));
  const deadline = performance.now() + loadSeconds * 1000;
  const latenciesMs: number[] = [];
  let okCount = 0;
  const value = bytes("v".repeat(100));
  await Promise.all(
    clients.map(async (client, clientIndex) => {
      for (let requestIndex = 0; performance.now() < deadline; requestIndex++) {
        const started = performance.now();
        const response = await setOnShard(client, bytes(`c${clientIndex}-k${requestIndex}`), value);
        if (response.code !== "OK") throw new Error(`SET failed: ${response.code} ${response.message}`);
        latenciesMs.push(performance.now() - started);
        okCount++;
      }
    }),
  );
  for (const client of clients) client.close();
  return { opsPerSecond: okCount / loadSeconds, latenciesMs };
}

/** Time from kill -9 of the shard leader's store to the first acknowledged write on a survivor. */
async function measureFailover(stores: LocalStores, fastFailover: boolean): Promise<number[]> {
  const failoverMs: number[] = [];
  for (let trialIndex = 0; trialIndex < trialCount; trialIndex++) {
    const leader = await stores.waitForLeader(shardId, 20_000);
    await Bun.sleep(500);
    const survivors = stores.storeIds.filter((id) => id !== leader);
    const killedAt = performance.now();
    await stores.kill(leader, "SIGKILL");
    let recovered = false;
    while (!recovered && performance.now() - killedAt < 20_000) {
      for (const id of survivors) {
        const response = await stores.request(id, { op: "SET", key: `failover-${trialIndex}`, value: "1", shard: shardId }).catch(() => null);
        if (response?.code === "OK") {
          recovered = true;
          break;
        }
      }
      if (!recovered) await Bun.sleep(5);
    }
    if (!recovered) throw new Error(`trial ${trialIndex}: no write succeeded within 20 s`);
    failoverMs.push(performance.now() - killedAt);
    startStore(stores, leader, fastFailover);
    await Bun.sleep(1500);
  }
  return failoverMs;
}

/** `ukv node` for `storeId`, under the harness's process name for it (so kill and isRunning find it). */
function startStore(stores: LocalStores, storeId: number, fastFailover: boolean): void {
  if (fastFailover) stores.start(storeId);
  else stores.spawn(`store-${storeId}`, ["node", "--config", stores.configPath, "--id", String(storeId), "--no-fast-failover"]);
}

async function runStores(fastFailover: boolean): Promise<LocalStores> {
  const stores = await LocalStores.create({ storeCount: 3, shards: [{ id: shardId, replicas: [1, 2, 3] }], metaStores: [1, 2, 3], tickMs: 50, electionTicks: 20 });
  for (const storeId of stores.storeIds) startStore(stores, storeId, fastFailover);
  await stores.waitForLeaders();
  return stores;
}

const main = async (): Promise<void> => {
  const first = await runStores(true);
  try {
    const electionTimeoutMs = first.config.tickMs * first.config.electionTicks;
    console.log(`machine: ${navigator.hardwareConcurrency} cores; data dir ${first.dir}`);
    console.log(`config: tick ${first.config.tickMs} ms, election timeout ${electionTimeoutMs} ms (randomized up to 2x)`);
    const rawDir = join(first.dir, "raw");
    mkdirSync(rawDir, { recursive: true });
    const raw = walRawSyncLatencies(join(rawDir, "raw.bin"), 400, { sameBlock: false });
    const rawMeanMs = raw.latenciesNs.reduce((sum, value) => sum + value, 0) / raw.latenciesNs.length / 1e6;
    const rawPerSecond = 1000 / rawMeanMs;
    console.log(`raw 4 KiB pwrite+fdatasync: ${rawPerSecond.toFixed(0)}/s (mean ${rawMeanMs.toFixed(3)} ms, O_DIRECT ${raw.directIo})`);
    const leader = await first.waitForLeader(shardId);
    const getLatencies = await measureGetLatency(first, leader);
    console.log(`GET, 1 client, idle: ${summary(getLatencies)} (target p99 < 1 ms)`);
    const sets = await measureSetThroughput(first, leader, 64);
    console.log(`SET, 64 clients, durable on 3 replicas: ${sets.opsPerSecond.toFixed(0)} ops/s, ${summary(sets.latenciesMs)}`);
    console.log(`SET ops/s / raw fdatasync/s = ${(sets.opsPerSecond / rawPerSecond).toFixed(1)} (target >= 10)`);
    const fast = await measureFailover(first, true);
    console.log(`failover with fast path: ${summary(fast)} = ${(percentile([...fast].sort((a, b) => a - b), 0.5) / electionTimeoutMs).toFixed(2)}x election timeout (target <= 0.3x)`);
  } finally {
    await first.destroy();
  }
  const second = await runStores(false);
  try {
    const electionTimeoutMs = second.config.tickMs * second.config.electionTicks;
    const slow = await measureFailover(second, false);
    console.log(`failover without fast path: ${summary(slow)} = ${(percentile([...slow].sort((a, b) => a - b), 0.5) / electionTimeoutMs).toFixed(2)}x election timeout (target <= 2x)`);
  } finally {
    await second.destroy();
  }
};

await main();
