// Elastic growth as a user sees it (issue 14 part 5, the small version; scripts/bench/growth.ts is
// the full one): 3 stores with 1 shard and the coordinator on with small thresholds; real Redis
// clients (ioredis) write through every store's RESP port all along. The cluster splits itself to
// >= 8 shards with replica and leader counts balanced; a 4th store joins (`ukv node --join`) and
// the coordinator moves replicas onto it until balanced; `ukv admin drain --store 4` empties it
// again. No client request fails beyond the documented retry (-TRYAGAIN: transient, retry), and
// every acknowledged write reads back at the end.
//
// "Balanced" (replica and leader counts within floor(mean / 1.2)..ceil(1.2 x mean) on every store
// not being drained, no move in flight): test/cluster/balance-check.ts.
import { afterEach, expect, test } from "bun:test";
import Redis from "ioredis";
import { fetchTopology } from "../../src/transport/meta-api.ts";
import { describeBalance as describe, isBalanced as balanced, storeCounts } from "./balance-check.ts";
import { LocalStores, runAdmin, waitFor } from "./harness.ts";

let stores: LocalStores | null = null;
const redisClients: Redis[] = [];

afterEach(async () => {
  for (const client of redisClients.splice(0)) client.disconnect();
  await stores?.destroy();
  stores = null;
});

const shardsTarget = 8;
/** Retries of one request answered -TRYAGAIN (documented transient) before it counts as failed. */
const tryAgainRetriesMax = 50;
const tryAgainDelayMs = 100;
/** New keys (then overwrites) a second, all clients together. */
const writesPerSec = 150;

test("3 stores grow from 1 shard to 8+ under RESP writes, fill a joined store and drain it: no failed request, no lost write", async () => {
  stores = await LocalStores.create({ spareStoreCount: 1, coordinator: { enabled: true, intervalMs: 300, splitKeys: 200, movesPerStoreMax: 2 } });
  const target = stores;
  target.startAll();
  await target.waitForLeader(1);
  await target.waitForRouting();
  const meta = target.groupClient(target.metaAddresses);
  const topology = () => fetchTopology(meta);

  // Two ioredis clients per store, four requests in flight on each, every client owning its keys
  // (so the last acknowledged value of a key is known, and no key has two writes in flight): new
  // keys until the cluster has 8 shards, then overwrites of its own keys (the shards stop growing,
  // so the balance has a fixed target) until the drain is done. Paced to writesPerSec in all,
  // whatever the machine's speed: the stores report key counts every few seconds, so a faster
  // writer would overshoot 8 shards by far before the coordinator sees the counts.
  const acked = new Map<string, string>();
  const failures: string[] = [];
  let tryAgains = 0;
  let phase: "grow" | "rewrite" | "stop" = "grow";
  let nextSlotMs = performance.now();
  const pace = async (): Promise<void> => {
    nextSlotMs = Math.max(nextSlotMs + 1000 / writesPerSec, performance.now() - 1000);
    await Bun.sleep(Math.max(0, nextSlotMs - performance.now()));
  };
  const writers = [1, 2, 3, 1, 2, 3].map(async (storeId, writerIndex) => {
    const redis = new Redis({ host: "127.0.0.1", port: target.respPort(storeId), maxRetriesPerRequest: 0, enableOfflineQueue: true });
    redisClients.push(redis);
    const own: string[] = [];
    const inFlight = new Set<string>();
    let created = 0;
    let cursor = 0;
    const nextKey = (): string | null => {
      if (phase === "grow" || own.length === 0) return `w${writerIndex}-k${created++}`;
      for (let tried = 0; tried < own.length; tried++) {
        const key = own[cursor++ % own.length]!;
        if (!inFlight.has(key)) return key;
      }
      return null;
    };
    const lane = async (): Promise<void> => {
      for (let sequence = 0; phase !== "stop"; sequence++) {
        await pace();
        const key = nextKey();
        if (key === null) continue;
        const value = `v${writerIndex}-${sequence}-${created}`;
        inFlight.add(key);
        for (let attempt = 0; ; attempt++) {
          const outcome = await redis.set(key, value).then(
            (reply) => (reply === "OK" ? "ok" : `reply ${String(reply)}`),
            (error: unknown) => (error instanceof Error ? error.message : String(error)),
          );
          if (outcome === "ok") {
            if (!acked.has(key)) own.push(key);
            acked.set(key, value);
            break;
          }
          if (outcome.startsWith("TRYAGAIN") && attempt < tryAgainRetriesMax) {
            tryAgains++;
            await Bun.sleep(tryAgainDelayMs);
            continue;
          }
          failures.push(`SET ${key} via store ${storeId}: ${outcome}`);
          break;
        }
        inFlight.delete(key);
      }
    };
    await Promise.all([lane(), lane(), lane(), lane()]);
  });

  const startedMs = performance.now();
  await waitFor("the coordinator to split the shard into 8 or more", topology, (topology) => (topology.layout?.shards.length ?? 0) >= shardsTarget, 120_000);
  phase = "rewrite";
  const grown = await waitFor("the coordinator to split the shard into 8 or more, balanced", topology, (topology) => balanced(topology, shardsTarget), 60_000);
  const shardCount = grown.layout!.shards.length;
  console.log(`growth: ${describe(grown)} after ${Math.round((performance.now() - startedMs) / 1000)} s, ${acked.size} keys`);
  const metaLeader = await target.waitForLeader(0);
  expect(target.log(metaLeader)).toMatch(/split shard \d+: [\d,]+ keys > splitKeys 200/);

  const joinedMs = performance.now();
  target.joinStore(4, 0);
  const filled = await waitFor(
    "store 4 to be filled until balanced",
    topology,
    (topology) => (storeCounts(topology).replicas.get(4) ?? 0) > 0 && balanced(topology, shardCount),
    150_000,
  );
  console.log(`join: ${describe(filled)} ${Math.round((performance.now() - joinedMs) / 1000)} s after store 4 started`);
  expect(storeCounts(filled).replicas.get(4)).toBeGreaterThanOrEqual(Math.floor((3 * shardCount) / 4) - 1);
  const coordinatorLog = [1, 2, 3].map((storeId) => target.log(storeId)).join("");
  expect(coordinatorLog).toMatch(/move shard \d+ from store \d to store 4: store \d holds \d+ replicas, store 4/);

  const drainedMs = performance.now();
  const drained = await runAdmin(target, ["drain", "--store", "4"]);
  expect(drained.stderr).toBe("");
  expect(drained.exitCode).toBe(0);
  expect(drained.stdout).toContain("store 4 holds no replica");
  const empty = await waitFor("store 4 to hold nothing and the rest to be balanced", topology, (topology) => balanced(topology, shardCount), 60_000);
  console.log(`drain: ${describe(empty)} ${Math.round((performance.now() - drainedMs) / 1000)} s after ukv admin drain started`);
  for (const shard of empty.layout!.shards) expect([...shard.members, ...(shard.learners ?? [])].map((member) => member.id)).not.toContain(4);
  expect(empty.draining).toEqual([4]);
  // Store 4 itself holds no replica of a shard any more (its metadata replica aside: it has none).
  const store4 = await target.storeStatus(4);
  expect((store4?.groups ?? []).filter((group) => group.groupId !== 0 && !group.removed)).toEqual([]);

  phase = "stop";
  await Promise.all(writers);
  console.log(`growth test: ${acked.size} keys acknowledged, ${tryAgains} -TRYAGAIN answers retried, ${failures.length} failures`);
  expect(failures).toEqual([]);
  // Every acknowledged write, read back through one store's RESP port.
  const reader = new Redis({ host: "127.0.0.1", port: target.respPort(1), maxRetriesPerRequest: 0 });
  redisClients.push(reader);
  const keys = [...acked.keys()];
  for (let start = 0; start < keys.length; start += 500) {
    const batch = keys.slice(start, start + 500);
    const values = await reader.mget(...batch);
    batch.forEach((key, index) => {
      if (values[index] !== acked.get(key)) throw new Error(`acknowledged ${key}=${acked.get(key)} reads ${String(values[index])}`);
    });
  }
}, 420_000);
