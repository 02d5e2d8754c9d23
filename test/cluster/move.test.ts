// `ukv admin move` with real stores (issue 14): a replica moves from one store to a store that
// joined at run time by learner add, snapshot catch-up, promotion and removal from the source,
// under writes through the stores, with nothing failed and nothing lost; the source deletes its
// data. A move whose admin process is killed (kill -9) mid-way continues when rerun.
import { afterEach, expect, test } from "bun:test";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { KvClient } from "../../src/transport/kv-client.ts";
import { LocalStores, runAdmin, spawnAdmin, bytes, text, waitFor } from "./harness.ts";

let stores: LocalStores | null = null;
const clients: KvClient[] = [];

afterEach(async () => {
  for (const client of clients.splice(0)) client.close();
  await stores?.destroy();
  stores = null;
});

function startLoad(target: LocalStores, storeIds: number[]): { ackedCount(): number; stop(): Promise<{ acked: Map<string, string>; failures: string[] }> } {
  const acked = new Map<string, string>();
  const failures: string[] = [];
  let running = true;
  const writers = storeIds.map(async (storeId) => {
    const client = new KvClient(target.clientAddress(storeId), { timeoutMs: 5000 });
    clients.push(client);
    for (let keyIndex = 0; running && keyIndex < 100_000; keyIndex++) {
      const key = `w${storeId}-${keyIndex}`;
      const response = await client.set(bytes(key), bytes(`v${keyIndex}`));
      if (response.code === "OK") acked.set(key, `v${keyIndex}`);
      else failures.push(`SET ${key} via store ${storeId}: ${response.code} ${response.message}`);
      await Bun.sleep(3);
    }
  });
  return {
    ackedCount: () => acked.size,
    stop: async () => {
      running = false;
      await Promise.all(writers);
      return { acked, failures };
    },
  };
}

async function voters(target: LocalStores): Promise<number[]> {
  const leader = await target.waitForLeader(1);
  return [...(await target.replicaStatus(leader, 1))!.voters].sort((a, b) => a - b);
}

async function setUp(): Promise<LocalStores> {
  // A low snapshot threshold: the new replica catches up by snapshot, not by replaying the log.
  stores = await LocalStores.create({ snapshotEntriesThreshold: 200, spareStoreCount: 1 });
  const target = stores;
  target.startAll();
  await target.waitForLeader(1);
  target.joinStore(4, 0);
  await waitFor("store 4 to register", () => target.topology().catch(() => null), (topology) => topology?.layout?.stores.some((store) => store.id === 4) === true);
  await target.waitForRouting();
  return target;
}

test("move the leader's replica to a joined store under writes: nothing fails or is lost, the source deletes its data", async () => {
  const target = await setUp();
  const source = await target.waitForLeader(1);
  const load = startLoad(target, target.storeIds.filter((storeId) => storeId !== source));
  await waitFor("the load to run", async () => load.ackedCount(), (count) => count >= 300);
  const moved = await runAdmin(target, ["move", "--shard", "1", "--from", String(source), "--to", "4"]);
  expect(moved.stderr).toBe("");
  expect(moved.exitCode).toBe(0);
  expect(moved.stdout).toContain("promoted to voter");
  expect(moved.stdout).toContain(`moved from store ${source} to store 4`);
  await waitFor("writes after the move", async () => load.ackedCount(), (count) => count >= 600);
  const { acked, failures } = await load.stop();
  expect(failures).toEqual([]);
  expect(await voters(target)).toEqual([...target.storeIds.filter((storeId) => storeId !== source), 4].sort((a, b) => a - b));
  await waitFor(`store ${source} to delete its replica`, async () => target.replicaStatus(source, 1), (status) => status === null);
  expect(existsSync(join(target.storeDir(source), "groups", "1"))).toBe(false);
  await target.waitForCaughtUp(1, { storeIds: [4] });
  for (const [key, value] of acked) {
    const response = await target.request(4, { op: "GET", key, shard: 1 });
    if (response.code !== "OK" || text(response.value) !== value) throw new Error(`store 4's replica lacks acknowledged ${key}: ${response.code}`);
  }
  // A rerun of a finished move changes nothing; a move of a replica the store does not hold is refused.
  const again = await runAdmin(target, ["move", "--shard", "1", "--from", String(source), "--to", "4"]);
  expect(again.exitCode).toBe(0);
  expect(again.stdout).toContain("the move is complete");
  const bogus = await runAdmin(target, ["move", "--shard", "1", "--from", String(source), "--to", String(source)]);
  expect(bogus.exitCode).not.toBe(0);
  expect(bogus.stderr).toContain("the same store");
}, 180_000);

test("a move whose admin process is killed after the learner add continues when rerun", async () => {
  const target = await setUp();
  const leader = await target.waitForLeader(1);
  const source = target.storeIds.find((storeId) => storeId !== leader)!;
  for (let index = 0; index < 300; index++) expect((await target.request(1, { op: "SET", key: `k${index}`, value: "x" })).code).toBe("OK");
  const child = spawnAdmin(target, ["move", "--shard", "1", "--from", String(source), "--to", "4"]);
  const reader = child.stdout.getReader();
  let seen = "";
  while (!seen.includes("as a learner")) {
    const { value, done } = await reader.read();
    if (done) break;
    seen += new TextDecoder().decode(value);
  }
  child.kill("SIGKILL");
  await child.exited;
  expect(seen).toContain("as a learner");
  const rerun = await runAdmin(target, ["move", "--shard", "1", "--from", String(source), "--to", "4"]);
  expect(rerun.stderr).toBe("");
  expect(rerun.exitCode).toBe(0);
  expect(rerun.stdout).toContain("is a member of shard 1 already");
  expect(await voters(target)).toEqual([...target.storeIds.filter((storeId) => storeId !== source), 4].sort((a, b) => a - b));
}, 180_000);
