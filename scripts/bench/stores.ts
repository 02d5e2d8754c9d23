// Multi-Raft store benchmark (issue 13): real `dist/ukv node` stores on loopback, config timing
// defaults (50 ms ticks, 20 election ticks = 1 s election timeout).
//   1. many shards: N shards x 3 replicas on 3 stores; once every shard has a leader and the
//      groups went idle (quiescence), each store's CPU (utime+stime from /proc) over a window and
//      its RSS (targets: < 5% of a core, < 300 MB);
//   2. kill -9 of a store: for every shard it led, the time from the kill until a write to that
//      shard (through a surviving store, which routes it) is acknowledged; median and p99 over
//      all such shards of all trials (target: median <= 1x the election timeout);
//   3. recovery: S shards x K keys (100-byte values) on 3 stores; kill -9 of one store, restart,
//      time until it answers and every replica it hosts has applied what it had before.
// Usage: bun run scripts/bench/stores.ts [--shards 1000] [--idle-s 20] [--trials 3]
//                                        [--recovery-shards 100] [--recovery-keys 100000] [--load-parallel 8]
//                                        [--skip many,failover,recovery]
import { readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { LocalStores, bytes, ukvBinary, waitFor } from "../../test/cluster/harness.ts";
import type { KvResponse } from "../../src/transport/kv-protocol.ts";
import { topologyFromLayout } from "../../src/client/topology.ts";
import { layoutFromConfig } from "../../src/meta/meta-service.ts";

const argv = process.argv.slice(2);
const optionValue = (flag: string, fallback: number): number => {
  const index = argv.indexOf(flag);
  return index >= 0 ? Number(argv[index + 1]) : fallback;
};
const skipIndex = argv.indexOf("--skip");
const skipped = new Set(skipIndex >= 0 ? (argv[skipIndex + 1] ?? "").split(",") : []);
const shardCount = optionValue("--shards", 1000);
const idleSeconds = optionValue("--idle-s", 20);
const trialCount = optionValue("--trials", 3);
const recoveryShardCount = optionValue("--recovery-shards", 100);
const recoveryKeysPerShard = optionValue("--recovery-keys", 100_000);
const loadParallel = optionValue("--load-parallel", 8);
const electionTimeoutMs = 1000;
const timing = { tickMs: 50, electionTicks: 20, heartbeatTicks: 2 };

function percentile(sorted: number[], fraction: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * fraction))] ?? Number.NaN;
}

function cpuTicks(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ");
  return Number(fields[11]) + Number(fields[12]); // utime + stime, in clock ticks (100/s)
}

function rssMegabytes(pid: number): number {
  const line = readFileSync(`/proc/${pid}/status`, "utf8").split("\n").find((entry) => entry.startsWith("VmRSS:"));
  return Number(line?.split(/\s+/)[1] ?? 0) / 1024;
}

async function startAndWait(stores: LocalStores, timeoutMs: number): Promise<number> {
  const started = performance.now();
  stores.startAll();
  await stores.waitForLeaders(timeoutMs);
  return performance.now() - started;
}

/** Shards each store leads, from one STATUS per store. */
async function leadersByStore(stores: LocalStores): Promise<Map<number, number[]>> {
  const led = new Map<number, number[]>();
  for (const storeId of stores.runningStoreIds()) {
    const status = await stores.storeStatus(storeId);
    led.set(storeId, (status?.groups ?? []).filter((group) => group.groupId !== 0 && group.role === "leader").map((group) => group.groupId));
  }
  return led;
}

async function manyShards(stores: LocalStores): Promise<void> {
  const readyMs = await startAndWait(stores, 120_000);
  console.log(`many shards: ${shardCount} shards x 3 on 3 stores, every shard led ${(readyMs / 1000).toFixed(1)} s after start`);
  await waitFor(
    "groups quiesced",
    async () => Promise.all(stores.storeIds.map((storeId) => stores.storeStatus(storeId))),
    (statuses) => statuses.every((status) => status !== null && status.groups.filter((group) => (group as { quiesced?: boolean }).quiesced === true).length >= shardCount * 0.99),
    60_000,
  );
  const pids = stores.storeIds.map((storeId) => stores.process(`store-${storeId}`).pid);
  const before = pids.map(cpuTicks);
  await Bun.sleep(idleSeconds * 1000);
  const after = pids.map(cpuTicks);
  stores.storeIds.forEach((storeId, index) => {
    const cpuPercent = ((after[index]! - before[index]!) / 100 / idleSeconds) * 100;
    console.log(`  store ${storeId}: idle CPU ${cpuPercent.toFixed(1)}% of a core over ${idleSeconds} s, RSS ${rssMegabytes(pids[index]!).toFixed(0)} MB`);
  });
}

/** One key owned by each of `shardIds` (one ring, scanned once). */
function keysForShards(stores: LocalStores, prefix: string, shardIds: number[]): Map<number, string> {
  const ring = topologyFromLayout(layoutFromConfig(stores.config)).ranges;
  const wanted = new Set(shardIds);
  const keys = new Map<number, string>();
  for (let index = 0; keys.size < wanted.size; index++) {
    if (index > 10_000_000) throw new Error("no key found for some shards");
    const key = `${prefix}${index}`;
    const shardId = ring.shardForKey(bytes(key));
    if (wanted.has(shardId) && !keys.has(shardId)) keys.set(shardId, key);
  }
  return keys;
}

/** Writes to `shardId` through `viaStore` until one is acknowledged; ms since `killedMs`. */
async function firstAcknowledgedWrite(stores: LocalStores, viaStore: number, shardId: number, key: string, killedMs: number): Promise<number> {
  for (;;) {
    const response: KvResponse = await stores.request(viaStore, { op: "SET", key, value: "after-failover" });
    if (response.code === "OK") return performance.now() - killedMs;
    if (performance.now() - killedMs > 30_000) throw new Error(`shard ${shardId} took no write within 30 s: ${response.code} ${response.message}`);
  }
}

/**
 * When `shardId` got a new leader after `sinceWallMs` (wall clock), from the survivors' logs
 * (role_changed lines); null when none is logged.
 */
function electionWallMs(stores: LocalStores, survivors: number[], shardId: number, sinceWallMs: number): number | null {
  let earliest: number | null = null;
  for (const storeId of survivors) {
    for (const line of stores.log(storeId).split("\n")) {
      if (!line.includes('"event":"role_changed"') || !line.includes('"role":"leader"') || !line.includes(`"shard":${shardId},`)) continue;
      const parsed = JSON.parse(line) as { time: string };
      const atMs = Date.parse(parsed.time);
      if (atMs >= sinceWallMs && (earliest === null || atMs < earliest)) earliest = atMs;
    }
  }
  return earliest;
}

async function failover(stores: LocalStores): Promise<void> {
  const recoveriesMs: number[] = [];
  const electionsMs: number[] = [];
  const routingMs: number[] = [];
  for (let trialIndex = 0; trialIndex < trialCount; trialIndex++) {
    const victim = stores.storeIds[trialIndex % stores.storeIds.length]!;
    // Steady state first: leadership back on the preferred stores (each leads about a third).
    const balanced = await waitFor(
      "leadership balanced",
      () => leadersByStore(stores),
      (byStore) => [...byStore.values()].every((shards) => shards.length >= Math.floor(shardCount / 3) * 0.9),
      60_000,
    ).catch(() => null);
    const byStore = balanced ?? (await leadersByStore(stores));
    console.log(`  leaders per store before trial ${trialIndex + 1}: ${[...byStore].map(([storeId, shards]) => `${storeId}:${shards.length}`).join(" ")}${balanced === null ? " (not balanced within 60 s)" : ""}`);
    const led = byStore.get(victim) ?? [];
    const survivor = stores.storeIds.find((storeId) => storeId !== victim)!;
    const keys = keysForShards(stores, `failover-${trialIndex}-`, led);
    const killedWallMs = Date.now();
    const killedMs = performance.now();
    await stores.kill(victim);
    const trialMs = await Promise.all(led.map((shardId) => firstAcknowledgedWrite(stores, survivor, shardId, keys.get(shardId)!, killedMs)));
    // Election: kill -> new leader logged; routing: new leader -> the first write through a surviving store acknowledged.
    const survivors = stores.storeIds.filter((storeId) => storeId !== victim);
    led.forEach((shardId, index) => {
      const electedWallMs = electionWallMs(stores, survivors, shardId, killedWallMs);
      if (electedWallMs === null) return;
      electionsMs.push(electedWallMs - killedWallMs);
      routingMs.push(killedWallMs + trialMs[index]! - electedWallMs);
    });
    trialMs.sort((left, right) => left - right);
    recoveriesMs.push(...trialMs);
    console.log(
      `  trial ${trialIndex + 1}: kill -9 of store ${victim} (led ${led.length} shards): writes accepted again after median ${percentile(trialMs, 0.5).toFixed(0)} ms, p99 ${percentile(trialMs, 0.99).toFixed(0)} ms, max ${trialMs.at(-1)?.toFixed(0)} ms`,
    );
    stores.start(victim);
    await stores.waitForLeaders(120_000);
  }
  recoveriesMs.sort((left, right) => left - right);
  electionsMs.sort((left, right) => left - right);
  routingMs.sort((left, right) => left - right);
  const median = percentile(recoveriesMs, 0.5);
  const p99 = percentile(recoveriesMs, 0.99);
  console.log(
    `failover: ${recoveriesMs.length} shard recoveries over ${trialCount} trials: median ${median.toFixed(0)} ms (${(median / electionTimeoutMs).toFixed(2)}x the election timeout), p99 ${p99.toFixed(0)} ms (${(p99 / electionTimeoutMs).toFixed(2)}x)`,
  );
  console.log(
    `  of which: kill -> new leader elected median ${percentile(electionsMs, 0.5).toFixed(0)} ms, p99 ${percentile(electionsMs, 0.99).toFixed(0)} ms; new leader -> first write acknowledged through a surviving store median ${percentile(routingMs, 0.5).toFixed(0)} ms, p99 ${percentile(routingMs, 0.99).toFixed(0)} ms (${electionsMs.length} elections found in the logs)`,
  );
}

/**
 * S x K keys of 100-byte values, loaded the way a user would: a csv planned by `ukv analyze` and
 * sent by `ukv load` (many keys per Raft entry, to every shard's leader in parallel).
 */
async function load(stores: LocalStores, keysPerShard: number): Promise<void> {
  const rowCount = keysPerShard * stores.config.shards.length;
  const csvPath = join(stores.dir, "recovery.csv");
  const planPath = join(stores.dir, "recovery-plan.json");
  const value = "v".repeat(100);
  const writer = Bun.file(csvPath).writer();
  writer.write("key,value\n");
  for (let blockStart = 0; blockStart < rowCount; blockStart += 65_536) {
    const parts: string[] = [];
    for (let index = blockStart; index < Math.min(rowCount, blockStart + 65_536); index++) parts.push(`key-${index},${value}\n`);
    writer.write(parts.join(""));
    await writer.flush();
  }
  await writer.end();
  const run = (args: string[]): string => {
    const result = Bun.spawnSync([ukvBinary, ...args]);
    if (result.exitCode !== 0) throw new Error(`ukv ${args[0]} failed (${result.exitCode}): ${result.stderr.toString().trim()}`);
    return result.stdout.toString();
  };
  const started = performance.now();
  run(["analyze", "--input", csvPath, "--shards", String(stores.config.shards.length), "--out", planPath]);
  const cluster = stores.config.metaStores.map((storeId) => stores.clientAddress(storeId)).join(",");
  const report = run(["load", "--plan", planPath, "--input", csvPath, "--cluster", cluster, "--parallel", String(loadParallel), "--into-existing"]);
  const loaded = /^rows loaded\s+([0-9,]+)/m.exec(report);
  if (loaded === null || Number((loaded[1] as string).replaceAll(",", "")) !== rowCount) throw new Error(`unexpected load report:\n${report}`);
  const seconds = (performance.now() - started) / 1000;
  console.log(`  loaded ${rowCount} keys with ukv analyze + ukv load in ${seconds.toFixed(1)} s (${(rowCount / seconds).toFixed(0)} keys/s)`);
  rmSync(csvPath, { force: true });
}

async function recovery(stores: LocalStores): Promise<void> {
  await startAndWait(stores, 120_000);
  await load(stores, recoveryKeysPerShard);
  const victim = stores.storeIds[0]!;
  const before = await stores.storeStatus(victim);
  const appliedBefore = new Map((before?.groups ?? []).map((group) => [group.groupId, group.appliedIndex]));
  const keysBefore = (before?.groups ?? []).reduce((sum, group) => sum + group.keyCount, 0);
  await stores.kill(victim);
  const restartedMs = performance.now();
  stores.start(victim);
  const answeredMs = await waitFor("store answers", () => stores.storeStatus(victim), (status) => status !== null, 600_000).then(() => performance.now() - restartedMs);
  await waitFor(
    "replicas caught up",
    () => stores.storeStatus(victim),
    (status) => status !== null && status.groups.every((group) => group.appliedIndex >= (appliedBefore.get(group.groupId) ?? 0)),
    600_000,
  );
  const caughtUpMs = performance.now() - restartedMs;
  console.log(
    `recovery: store ${victim} with ${appliedBefore.size} replicas and ${keysBefore} keys: answering ${(answeredMs / 1000).toFixed(1)} s after restart, every replica back to its applied index after ${(caughtUpMs / 1000).toFixed(1)} s`,
  );
}

if (!skipped.has("many")) {
  const stores = await LocalStores.create({ storeCount: 3, shardCount, replication: 3, ...timing });
  try {
    await manyShards(stores);
    if (!skipped.has("failover")) await failover(stores);
  } finally {
    await stores.destroy();
  }
}
if (!skipped.has("recovery")) {
  const stores = await LocalStores.create({ storeCount: 3, shardCount: recoveryShardCount, replication: 3, ...timing });
  try {
    await recovery(stores);
  } finally {
    await stores.destroy();
  }
}
