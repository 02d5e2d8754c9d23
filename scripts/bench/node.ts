// Shard node benchmark (issue 5): one 3-member shard of real `dist/ukv node` processes on
// loopback, measured in one run next to the disk's raw fdatasync rate:
//   1. GET latency, 1 client, idle system (target p99 < 1 ms, NFR3);
//   2. durable SET throughput with 64 concurrent clients vs raw fdatasync/s (target >= 10x);
//   3. leader failover after kill -9 (kill -> first acknowledged write), >= 10 trials, with and
//      without the fast path (campaign when the leader's connection drops).
// Usage: bun run scripts/bench/node.ts [--trials 10] [--seconds 5]
import { join } from "node:path";
import { mkdirSync } from "node:fs";
import { walRawSyncLatencies } from "../../src/storage/wal.ts";
import { KvClient } from "../../src/transport/kv-client.ts";
import { LocalShard, bytes } from "../../test/cluster/harness.ts";

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

async function measureGetLatency(shard: LocalShard, leader: number): Promise<number[]> {
  const client = new KvClient(shard.clientAddress(leader));
  await client.set(bytes("bench-key"), bytes("x".repeat(100)));
  const latenciesMs: number[] = [];
  for (let requestIndex = 0; requestIndex < 6000; requestIndex++) {
    const started = performance.now();
    const response = await client.get(bytes("bench-key"));
    if (response.code !== "OK") throw new Error(`GET failed: ${response.code}`);
    if (requestIndex >= 1000) latenciesMs.push(performance.now() - started); // after warm-up
  }
  client.close();
  return latenciesMs;
}

async function measureSetThroughput(shard: LocalShard, leader: number, clientCount: number): Promise<{ opsPerSecond: number; latenciesMs: number[] }> {
  const clients = Array.from({ length: clientCount }, () => new KvClient(shard.clientAddress(leader), { timeoutMs: 10_000 }));
  const deadline = performance.now() + loadSeconds * 1000;
  const latenciesMs: number[] = [];
  let okCount = 0;
  const value = bytes("v".repeat(100));
  await Promise.all(
    clients.map(async (client, clientIndex) => {
      for (let requestIndex = 0; performance.now() < deadline; requestIndex++) {
        const started = performance.now();
        const response = await client.set(bytes(`c${clientIndex}-k${requestIndex}`), value);
        if (response.code !== "OK") throw new Error(`SET failed: ${response.code} ${response.message}`);
        latenciesMs.push(performance.now() - started);
        okCount++;
      }
    }),
  );
  for (const client of clients) client.close();
  return { opsPerSecond: okCount / loadSeconds, latenciesMs };
}

/** Time from kill -9 of the leader to the first acknowledged write on a survivor. */
async function measureFailover(shard: LocalShard): Promise<number[]> {
  const failoverMs: number[] = [];
  for (let trialIndex = 0; trialIndex < trialCount; trialIndex++) {
    const leader = await shard.waitForLeader(20_000);
    await Bun.sleep(500);
    const survivors = shard.ids.filter((id) => id !== leader);
    const killedAt = performance.now();
    await shard.kill(leader, "SIGKILL");
    let recovered = false;
    while (!recovered && performance.now() - killedAt < 20_000) {
      for (const id of survivors) {
        const response = await shard.request(id, { op: "SET", key: `failover-${trialIndex}`, value: "1" }).catch(() => null);
        if (response?.code === "OK") {
          recovered = true;
          break;
        }
      }
      if (!recovered) await Bun.sleep(5);
    }
    if (!recovered) throw new Error(`trial ${trialIndex}: no write succeeded within 20 s`);
    failoverMs.push(performance.now() - killedAt);
    shard.start(leader);
    await Bun.sleep(1500);
  }
  return failoverMs;
}

async function runShard(fastFailover: boolean): Promise<LocalShard> {
  const shard = await LocalShard.create({ extraArgs: fastFailover ? [] : ["--no-fast-failover"] });
  shard.startAll();
  return shard;
}

const main = async (): Promise<void> => {
  const first = await runShard(true);
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
    const leader = await first.waitForLeader();
    const getLatencies = await measureGetLatency(first, leader);
    console.log(`GET, 1 client, idle: ${summary(getLatencies)} (target p99 < 1 ms)`);
    const sets = await measureSetThroughput(first, leader, 64);
    console.log(`SET, 64 clients, durable on 3 members: ${sets.opsPerSecond.toFixed(0)} ops/s, ${summary(sets.latenciesMs)}`);
    console.log(`SET ops/s / raw fdatasync/s = ${(sets.opsPerSecond / rawPerSecond).toFixed(1)} (target >= 10)`);
    const fast = await measureFailover(first);
    console.log(`failover with fast path: ${summary(fast)} = ${(percentile([...fast].sort((a, b) => a - b), 0.5) / electionTimeoutMs).toFixed(2)}x election timeout (target <= 0.3x)`);
  } finally {
    await first.destroy();
  }
  const second = await runShard(false);
  try {
    const electionTimeoutMs = second.config.tickMs * second.config.electionTicks;
    const slow = await measureFailover(second);
    console.log(`failover without fast path: ${summary(slow)} = ${(percentile([...slow].sort((a, b) => a - b), 0.5) / electionTimeoutMs).toFixed(2)}x election timeout (target <= 2x)`);
  } finally {
    await second.destroy();
  }
};

await main();
