// Membership benchmark (issue 7): time to add a replica to a shard holding N keys (snapshot
// transfer + log catch-up + promotion), and the write throughput dip while it happens.
// Four real `dist/ukv node` stores on loopback: the shard on stores 1-3 (with the metadata
// group), store 4 empty until `ukv admin add-replica` places the new replica there. Requests are
// tagged with the shard and follow NOT_LEADER hints to its leader's store. Timing is the config
// defaults (50 ms ticks, 20 election ticks).
// --move (issue 14): `ukv admin move --shard 1 --from 3 --to 4` instead: the same learner add,
// snapshot, catch-up and promotion, then the removal of store 3's replica (a leader hands over
// first if store 3 leads): the time to move a replica of N keys.
// Usage: bun run scripts/bench/membership.ts [--keys 1000000] [--clients 16] [--move]
import { GroupClient } from "../../src/client/group-client.ts";
import { LocalStores, bytes, ukvBinary } from "../../test/cluster/harness.ts";

const argv = process.argv.slice(2);
const optionValue = (flag: string, fallback: number): number => {
  const index = argv.indexOf(flag);
  return index >= 0 ? Number(argv[index + 1]) : fallback;
};
const keyCount = optionValue("--keys", 1_000_000);
const clientCount = optionValue("--clients", 16);
const moving = argv.includes("--move");
const moveFromStoreId = 3;
const windowMs = 250;
const shardId = 1;
const newStoreId = 4;

async function preload(addresses: string[]): Promise<number> {
  // Follows the leader: a busy machine may see an election during a long preload.
  const client = new GroupClient(addresses, { timeoutMs: 30_000 });
  const value = bytes("v".repeat(100));
  const started = performance.now();
  const inFlightMax = 1000;
  let nextIndex = 0;
  const worker = async (): Promise<void> => {
    while (nextIndex < keyCount) {
      const index = nextIndex++;
      const key = bytes(`preload-${index.toString().padStart(8, "0")}`);
      // An election during the preload (busy machine) only delays it: retry, bounded.
      for (let attemptIndex = 0; ; attemptIndex++) {
        const response = await client.request({ op: "SET", key, value, linearizable: false, shard: shardId });
        if (response.code === "OK") break;
        if (attemptIndex >= 20) throw new Error(`preload SET failed: ${response.code} ${response.message}`);
        await Bun.sleep(200);
      }
    }
  };
  await Promise.all(Array.from({ length: inFlightMax }, worker));
  client.close();
  return (performance.now() - started) / 1000;
}

const main = async (): Promise<void> => {
  const stores = await LocalStores.create({
    storeCount: 4,
    shards: [{ id: shardId, replicas: [1, 2, 3] }],
    metaStores: [1, 2, 3],
    snapshotEntriesThreshold: 100_000,
    tickMs: 50,
    electionTicks: 20,
  });
  try {
    stores.startAll();
    await stores.waitForLeaders();
    const shardAddresses = stores.placement(shardId).map((storeId) => stores.clientAddress(storeId));
    const preloadSeconds = await preload(shardAddresses);
    console.log(`preloaded ${keyCount} keys (16-byte keys, 100-byte values) in ${preloadSeconds.toFixed(1)} s`);
    const leaderStatus = await stores.replicaStatus(await stores.waitForLeader(shardId), shardId);
    console.log(`leader: applied ${leaderStatus?.appliedIndex}, snapshot at ${leaderStatus?.snapshotIndex}, keys ${leaderStatus?.keyCount}`);

    // Steady load, counted per window.
    const windows: number[] = [];
    let currentCount = 0;
    const ticker = setInterval(() => {
      windows.push(currentCount);
      currentCount = 0;
    }, windowMs);
    let running = true;
    const clients = Array.from({ length: clientCount }, () => new GroupClient(shardAddresses, { timeoutMs: 10_000 }));
    const load = Promise.all(
      clients.map(async (client, clientIndex) => {
        for (let requestIndex = 0; running; requestIndex++) {
          const response = await client.request({ op: "SET", key: bytes(`load-${clientIndex}-${requestIndex}`), value: bytes("w".repeat(100)), linearizable: false, shard: shardId });
          if (response.code === "OK") currentCount++;
        }
      }),
    );
    await Bun.sleep(3000);
    const baselineWindows = windows.length;

    const addStarted = performance.now();
    const adminArgs = moving
      ? ["move", "--shard", String(shardId), "--from", String(moveFromStoreId), "--to", String(newStoreId)]
      : ["add-replica", "--shard", String(shardId), "--store", String(newStoreId)];
    const admin = Bun.spawn([ukvBinary, "admin", ...adminArgs, "--config", stores.configPath], {
      stdout: "pipe",
      stderr: "pipe",
    });
    const [adminOut, adminErr, adminExit] = await Promise.all([new Response(admin.stdout).text(), new Response(admin.stderr).text(), admin.exited]);
    const addSeconds = (performance.now() - addStarted) / 1000;
    const changeWindows = windows.length;
    await Bun.sleep(2000);
    running = false;
    await load;
    clearInterval(ticker);
    for (const client of clients) client.close();

    if (adminExit !== 0) throw new Error(`${adminArgs[0]} failed: ${adminErr}`);
    const perSecond = (count: number): number => (count * 1000) / windowMs;
    const baseline = windows.slice(1, baselineWindows);
    const during = windows.slice(baselineWindows, changeWindows);
    const baselineMean = baseline.reduce((sum, value) => sum + value, 0) / Math.max(1, baseline.length);
    const duringMean = during.reduce((sum, value) => sum + value, 0) / Math.max(1, during.length);
    const duringMin = Math.min(...during);
    console.log(adminOut.trim().split("\n").slice(-2).join("\n"));
    console.log(
      moving
        ? `move of a ${keyCount}-key replica from store ${moveFromStoreId} to store ${newStoreId}: ${addSeconds.toFixed(2)} s (learner + snapshot + catch-up + promotion + removal)`
        : `add-replica with ${keyCount} keys: ${addSeconds.toFixed(2)} s (learner + snapshot + catch-up + promotion)`,
    );
    console.log(`SET throughput, ${clientCount} clients: before ${perSecond(baselineMean).toFixed(0)}/s; during the change mean ${perSecond(duringMean).toFixed(0)}/s (${((duringMean / baselineMean) * 100).toFixed(0)}%), worst ${windowMs} ms window ${perSecond(duringMin).toFixed(0)}/s (${((duringMin / baselineMean) * 100).toFixed(0)}%)`);
  } finally {
    if (process.env.UKV_BENCH_KEEP_LOGS) for (const storeId of stores.storeIds) await Bun.write(`/tmp/bench-store-${storeId}.log`, stores.log(storeId));
    await stores.destroy();
  }
};

await main();
