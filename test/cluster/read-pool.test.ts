// The read pool (FR3.2) with real stores: two Workers per store own the RESP port and answer GETs
// from the shared tables while writes go through the Raft thread. Every key is written (and
// visible on every store) before the readers start, so a GET answered by a Worker must hold a
// value that was written, never nil: a Worker reading a parent table after a split moved the key
// out would answer nil. Checked under continuous writes, across a split, and after kill -9 and
// restart of a store; INFO's ukv_pool_reads shows the Workers answered the reads themselves, and
// raw-protocol GETs (the Workers own the client port too) read the same values.
import { afterEach, expect, test } from "bun:test";
import Redis from "ioredis";
import { LocalStores, ukvBinary, waitFor } from "./harness.ts";

let stores: LocalStores | null = null;
const connections: Redis[] = [];

afterEach(async () => {
  for (const connection of connections.splice(0)) connection.disconnect();
  await stores?.destroy();
  stores = null;
});

function connect(target: LocalStores, storeId: number): Redis {
  const redis = new Redis({ host: "127.0.0.1", port: target.respPort(storeId), maxRetriesPerRequest: 0, lazyConnect: false });
  redis.on("error", () => undefined);
  connections.push(redis);
  return redis;
}

async function poolReads(redis: Redis): Promise<number> {
  const info = await redis.info("stats");
  const match = /ukv_pool_reads:(\d+)/.exec(info);
  if (match === null) throw new Error(`INFO stats has no ukv_pool_reads: ${info}`);
  return Number(match[1]);
}

async function admin(target: LocalStores, args: string[]): Promise<{ exitCode: number; stdout: string; stderr: string }> {
  const child = Bun.spawn([ukvBinary, "admin", ...args, "--config", target.configPath], { stdout: "pipe", stderr: "pipe" });
  const [stdout, stderr, exitCode] = await Promise.all([new Response(child.stdout).text(), new Response(child.stderr).text(), child.exited]);
  return { exitCode, stdout, stderr };
}

const keyCount = 200;
const keys = Array.from({ length: keyCount }, (_, index) => `pool-${index}`);

test("GETs through the read pool return written values under writes, across a split, and after kill -9 and restart", async () => {
  stores = await LocalStores.create({ readPoolSize: 2, snapshotEntriesThreshold: 400 });
  const target = stores;
  target.startAll();
  await target.waitForLeader(1);
  await target.waitForRouting();
  const writer = connect(target, 1);
  // Round 0 of every key, visible on every store (follower reads) before anyone reads.
  await writer.mset(...keys.flatMap((key) => [key, "0"]));
  const readers = target.storeIds.map((storeId) => connect(target, storeId));
  for (const reader of readers) await waitFor("round 0 on every store", () => reader.mget(...keys), (values) => values.every((value) => value !== null));
  // A hash read by GET through any store's pool is Redis's WRONGTYPE, and nil within an MGET (the
  // Workers once answered the hash's stored bytes as a string).
  await writer.hset("pool-hash", "field", "value");
  for (const reader of readers) {
    await waitFor("the hash on every store", () => reader.type("pool-hash"), (type) => type === "hash");
    expect(await reader.get("pool-hash").then((value) => `value ${value}`, (error: Error) => error.message)).toStartWith("WRONGTYPE");
    expect(await reader.mget("pool-hash", keys[0] as string)).toEqual([null, "0"]);
  }

  const issued = new Map(keys.map((key) => [key, 0]));
  const acked = new Map(keys.map((key) => [key, 0]));
  const problems: string[] = [];
  // Refusals while a leader changes (a loaded machine elects now and then): allowed, never a wrong value.
  const unavailable: string[] = [];
  const isUnavailable = (text: string): boolean => /TRYAGAIN|CLUSTERDOWN/.test(text);
  let running = true;
  let writeCount = 0;
  const writing = (async () => {
    for (let round = 1; running; round++) {
      const key = keys[round % keyCount] as string;
      const value = Math.floor(round / keyCount) + 1;
      issued.set(key, value);
      const reply = await writer.set(key, String(value)).catch((error: Error) => `error ${error.message}`);
      if (reply === "OK") acked.set(key, value);
      else if (isUnavailable(reply ?? "")) unavailable.push(`SET ${key} ${value}: ${reply}`);
      else problems.push(`SET ${key} ${value}: ${reply}`);
      writeCount++;
    }
  })();
  let readCount = 0;
  const readerStopped = target.storeIds.map(() => false);
  const reading = readers.map(async (reader, readerIndex) => {
    for (let round = 0; running && !readerStopped[readerIndex]; round++) {
      const batch = [keys[(round * 7 + readerIndex) % keyCount] as string, keys[(round * 13 + 5) % keyCount] as string];
      let values: (string | null)[];
      try {
        values = round % 2 === 0 ? [await reader.get(batch[0] as string)] : await reader.mget(...batch);
      } catch (error) {
        if (readerStopped[readerIndex]) break;
        (isUnavailable((error as Error).message) ? unavailable : problems).push(`store ${readerIndex + 1}: ${(error as Error).message}`);
        await Bun.sleep(10);
        continue;
      }
      values.forEach((value, index) => {
        const key = batch[index] as string;
        const number = Number(value);
        if (value === null || !Number.isInteger(number) || number < 0 || number > (issued.get(key) ?? 0)) problems.push(`store ${readerIndex + 1} read ${key} = ${value} (issued ${issued.get(key)})`);
      });
      readCount++;
    }
  });
  const stop = async (): Promise<void> => {
    running = false;
    await Promise.all([writing, ...reading]);
  };
  try {
    await waitFor("reads and writes to run", async () => readCount, (count) => count >= 300);
    const before = await Promise.all(readers.map(poolReads));

    const split = await admin(target, ["split", "--shard", "1"]);
    expect(split.stderr).toBe("");
    expect(split.exitCode).toBe(0);
    const readsAtSplit = readCount;
    await waitFor("reads after the split", async () => readCount, (count) => count >= readsAtSplit + 600, 60_000);
    const after = await Promise.all(readers.map(poolReads));
    // Every store's Workers answered reads themselves, before and after the split.
    after.forEach((count, index) => expect(count).toBeGreaterThan(before[index] as number));

    // kill -9 of store 3 while the load runs; its readers' connection drops with it.
    const victim = readers[2] as Redis;
    readerStopped[2] = true;
    await target.kill(3);
    connections.splice(connections.indexOf(victim), 1);
    victim.disconnect();
    readers.splice(2, 1);
    target.start(3);
    await target.waitForRouting();
    const restarted = connect(target, 3);
    await waitFor("store 3 to answer through its pool", () => restarted.get(keys[0] as string).catch(() => null), (value) => value !== null, 30_000);
    const readsAtRestart = readCount;
    await waitFor("reads after the restart", async () => readCount, (count) => count >= readsAtRestart + 300, 60_000);
    await stop();
    expect(problems).toEqual([]);
    if (unavailable.length > 0) console.log(`${unavailable.length} requests refused during leader changes, e.g. ${unavailable[0]}`);
    expect(writeCount).toBeGreaterThan(0);

    // Once the writes stop, every store's pool reads the last acknowledged value of every key (or
    // the last issued one, when that write was refused with an unknown outcome and applied after all).
    const settled = (value: string | null, key: string): boolean => Number(value) === acked.get(key) || Number(value) === issued.get(key);
    for (const reader of [...readers, restarted]) {
      await waitFor("the last writes on every store", () => reader.mget(...keys), (values) => values.every((value, index) => settled(value, keys[index] as string)), 30_000);
    }
    // Reads while polling: the reads above may all have reached store 3 while its Workers' routing
    // left a shard out (a replica still catching up lists no range yet), and were answered by the
    // Raft thread; the Workers must take over once the routing lists every replica.
    await waitFor("store 3's Workers to answer reads", async () => (await restarted.mget(...keys), await poolReads(restarted)), (count) => count > 0);
    // The raw client protocol's follower GETs (answered by the Workers on the client port) agree.
    for (const storeId of target.storeIds) {
      for (const key of keys.slice(0, 50)) {
        const response = await target.request(storeId, { op: "GET", key });
        if (response.code !== "OK" || !settled(new TextDecoder().decode(response.value), key)) throw new Error(`raw GET ${key} via store ${storeId}: ${response.code} ${new TextDecoder().decode(response.value)}`);
      }
    }
  } finally {
    running = false;
  }
}, 240_000);
