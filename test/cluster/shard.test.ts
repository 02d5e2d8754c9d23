// A 3-store cluster of real `ukv node` processes on 127.0.0.1, one data shard with a replica on
// each store (plus the metadata group): election, replication, kill -9 of the leader's store under
// writes, kill -9 of every store, catch-up by snapshot, linearizable and follower reads, garbage
// on every port, SIGTERM drain, the store dir lock, bad configs. Each test makes its own cluster.
import { afterEach, describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { LocalStores, text, ukvBinary, waitFor, type LocalStoresOptions } from "./harness.ts";

const shardId = 1;
let stores: LocalStores | null = null;

afterEach(async () => {
  await stores?.destroy();
  stores = null;
});

async function startStores(options: LocalStoresOptions = {}): Promise<LocalStores> {
  stores = await LocalStores.create(options);
  stores.startAll();
  return stores;
}

/** Writes keys `${prefix}-${i}` one by one through `write`, for at most durationMsMax; returns the acknowledged ones. */
async function writeStream(args: { prefix: string; count: number; durationMsMax: number; write: (key: string, value: string) => Promise<boolean> }): Promise<Map<string, string>> {
  const acked = new Map<string, string>();
  const deadline = performance.now() + args.durationMsMax;
  for (let keyIndex = 0; keyIndex < args.count && performance.now() < deadline; keyIndex++) {
    const key = `${args.prefix}-${keyIndex}`;
    const value = `value-${keyIndex}-${"x".repeat(keyIndex % 50)}`;
    if (await args.write(key, value)) acked.set(key, value);
  }
  return acked;
}

/** Writes through the shard's leader store (shard-tagged, following NOT_LEADER, re-finding it after a failure). */
function leaderWriter(target: LocalStores, firstLeader: number): (key: string, value: string) => Promise<boolean> {
  let leader = firstLeader;
  return async (key, value) => {
    const result = await target.setOnLeader(shardId, key, value, leader);
    leader = result.ok ? result.leader : await target.waitForLeader(shardId).catch(() => leader);
    return result.ok;
  };
}

/** Every acknowledged key, read from each store's own replica (a shard-tagged follower read). */
async function expectAllPresent(target: LocalStores, storeIds: number[], acked: Map<string, string>): Promise<void> {
  for (const storeId of storeIds) {
    for (const [key, value] of acked) {
      const response = await target.request(storeId, { op: "GET", key, shard: shardId });
      if (response.code !== "OK" || text(response.value) !== value) {
        throw new Error(`store ${storeId} lost acknowledged key ${key}: ${response.code} ${text(response.value)}`);
      }
    }
  }
}

describe("a shard replicated on 3 stores", () => {
  test("elects one leader per group and replicates writes to every store's replica", async () => {
    const target = await startStores();
    await target.waitForLeaders();
    // A leader agreed by a majority says nothing of the third store: under load its client port
    // may not listen yet (CI, with a chaos run beside it, saw the first SET through it UNREACHABLE).
    await target.waitForRouting();
    const leader = await target.waitForLeader(shardId);
    const follower = target.storeIds.find((storeId) => storeId !== leader)!;
    // Shard 0: the follower's store routes the write to the leader's store.
    const greeting = await target.request(follower, { op: "SET", key: "greeting", value: "hello" });
    expect(`${greeting.code} ${greeting.message}`).toBe("OK ");
    await target.waitForCaughtUp(shardId);
    for (const storeId of target.storeIds) {
      const read = await target.request(storeId, { op: "GET", key: "greeting", shard: shardId });
      expect(read.code).toBe("OK");
      expect(text(read.value)).toBe("hello");
    }
    // Tagged with the shard, a follower's replica does not forward: it names the leader.
    const redirected = await target.request(follower, { op: "SET", key: "k", value: "v", shard: shardId });
    expect(redirected.code).toBe("NOT_LEADER");
    expect(redirected.leaderAddress).toBe(target.clientAddress(leader));
    expect((await target.request(leader, { op: "GET", key: "absent" })).code).toBe("NOT_FOUND");
    expect((await target.request(follower, { op: "DELETE", key: "greeting" })).code).toBe("OK");
    expect((await target.request(leader, { op: "GET", key: "greeting", linearizable: true })).code).toBe("NOT_FOUND");
    // The store's own STATUS lists its replica of every group it hosts.
    const status = await target.storeStatus(follower);
    expect(status?.role).toBe("store");
    expect(status?.storeId).toBe(follower);
    expect(status?.groups.map((group) => group.groupId).sort()).toEqual([0, shardId]);
  }, 60_000);

  test("kill -9 of the leader's store under writes: a new leader is elected and no acknowledged write is lost", async () => {
    const target = await startStores();
    const firstLeader = await target.waitForLeader(shardId);
    const streaming = writeStream({ prefix: "crash", count: 100_000, durationMsMax: 4000, write: leaderWriter(target, firstLeader) });
    // Kill once the stream is well under way (bounded poll on the leader's applied index).
    await waitFor("writes to flow", () => target.replicaStatus(firstLeader, shardId), (status) => (status?.appliedIndex ?? 0) > 100, 10_000);
    await target.kill(firstLeader, "SIGKILL");
    const acked = await streaming;
    expect(acked.size).toBeGreaterThan(100);
    const newLeader = await target.waitForLeader(shardId);
    expect(newLeader).not.toBe(firstLeader);
    target.start(firstLeader);
    await target.waitForCaughtUp(shardId, { storeIds: target.storeIds });
    await expectAllPresent(target, target.storeIds, acked);
  }, 90_000);

  test("kill -9 of every store then restart: all acknowledged data is back", async () => {
    const target = await startStores();
    const leader = await target.waitForLeader(shardId);
    const acked = await writeStream({ prefix: "all", count: 300, durationMsMax: 15_000, write: leaderWriter(target, leader) });
    expect(acked.size).toBe(300);
    await Promise.all(target.storeIds.map((storeId) => target.kill(storeId, "SIGKILL")));
    target.startAll();
    await target.waitForLeaders();
    await target.waitForCaughtUp(shardId, { storeIds: target.storeIds });
    await expectAllPresent(target, target.storeIds, acked);
  }, 90_000);

  test("a store down while the leader compacted its log catches up by snapshot", async () => {
    const target = await startStores({ snapshotEntriesThreshold: 200 });
    const leader = await target.waitForLeader(shardId);
    const lagging = target.storeIds.find((storeId) => storeId !== leader)!;
    await target.kill(lagging, "SIGKILL");
    const acked = await writeStream({ prefix: "snap", count: 700, durationMsMax: 20_000, write: leaderWriter(target, leader) });
    expect(acked.size).toBe(700);
    const leaderStatus = await target.replicaStatus(leader, shardId);
    expect(leaderStatus!.snapshotIndex).toBeGreaterThan(0);
    target.start(lagging);
    await target.waitForApplied(shardId, leaderStatus!.commitIndex, { storeIds: [lagging] });
    expect(target.log(lagging)).toContain("snapshot_installed");
    await expectAllPresent(target, [lagging], acked);
  }, 90_000);

  test("a linearizable read on a follower's replica sees the write acknowledged just before; a follower read catches up", async () => {
    const target = await startStores();
    // As in the first test: a leader agreed by a majority says nothing of the third store's client port.
    await target.waitForRouting();
    const leader = await target.waitForLeader(shardId);
    const follower = target.storeIds.find((storeId) => storeId !== leader)!;
    for (let roundIndex = 0; roundIndex < 30; roundIndex++) {
      const value = `v${roundIndex}`;
      expect((await target.request(leader, { op: "SET", key: "lin", value, shard: shardId })).code).toBe("OK");
      // Alternately served by the follower's replica (read index) and routed by its store.
      const read = await target.request(follower, { op: "GET", key: "lin", linearizable: true, shard: roundIndex % 2 === 0 ? shardId : 0 });
      expect(read.code).toBe("OK");
      expect(text(read.value)).toBe(value);
    }
    expect((await target.request(leader, { op: "SET", key: "eventual", value: "yes", shard: shardId })).code).toBe("OK");
    const seen = await waitFor(
      "a follower read to see the write",
      async () => {
        const read = await target.request(follower, { op: "GET", key: "eventual", shard: shardId });
        return read.code === "OK" ? text(read.value) : read.code;
      },
      (value) => value === "yes",
      5000,
    );
    expect(seen).toBe("yes");
  }, 60_000);

  test("malformed bytes on the raft, client and RESP ports do not crash the store", async () => {
    const target = await startStores();
    const leader = await target.waitForLeader(shardId);
    const store = target.store(leader);
    const garbage = [
      Buffer.from("GET / HTTP/1.1\r\n\r\n"),
      Buffer.from([0x55, 0x4b, 0x56, 0x31, 0x63, 0x01, 0xff, 0xff, 0xff, 0xff]),
      Buffer.alloc(4096, 0xab),
      Buffer.from([0x55, 0x4b, 0x56, 0x31, 0x01, 0x02, 0, 0, 0, 7, 0xff, 0xff, 0xff, 0x7f, 1, 2, 3]),
      Buffer.from("*99999999999\r\n$-5\r\n"),
    ];
    for (const address of [store.raftAddress, store.clientAddress, store.respAddress!]) {
      for (const payload of garbage) {
        const [host, port] = address.split(":");
        await new Promise<void>((resolvePromise) => {
          const socket = connect(Number(port), host!, () => socket.end(payload));
          const timer = setTimeout(() => socket.destroy(), 1000);
          socket.on("error", () => undefined);
          socket.on("close", () => {
            clearTimeout(timer);
            resolvePromise();
          });
        });
      }
    }
    expect((await target.request(leader, { op: "SET", key: "still", value: "alive" })).code).toBe("OK");
    expect(target.isRunning(leader)).toBe(true);
    expect(target.process(`store-${leader}`).child.exitCode).toBeNull();
  }, 60_000);

  test("SIGTERM drains and exits 0; a second process on the same store dir is refused", async () => {
    const target = await startStores();
    await target.waitForLeaders();
    const storeId = target.storeIds[0]!;
    const second = Bun.spawnSync([ukvBinary, "node", "--config", target.configPath, "--id", String(storeId)], { env: { ...process.env } });
    expect(second.stderr.toString()).toContain("DIR_LOCKED");
    expect(second.exitCode).toBe(5);
    expect(await target.kill(storeId, "SIGTERM")).toBe(0);
    expect(target.log(storeId)).toContain("store_stopped");
    // The lock went with the process: the store starts again on the same dir.
    target.start(storeId);
    await waitFor("the restarted store to serve", () => target.replicaStatus(storeId, shardId), (status) => status !== null, 15_000);
  }, 60_000);
});

describe("ukv node with a bad config", () => {
  const storeLine = "  - {id: 1, raftAddress: 127.0.0.1:1, clientAddress: 127.0.0.1:2}\n";
  const cases: { name: string; body: string | null; expected: string[] }[] = [
    { name: "unknown key", body: `clusterName: x\ndataDir: d\nbogusKey: 1\nstores:\n${storeLine}metaStores: [1]\nallowSmallGroups: true\ninitialShards: 1\nreplication: 1\n`, expected: ["bogusKey"] },
    { name: "yaml syntax", body: "clusterName: [unclosed\n", expected: ["YAML syntax error"] },
    { name: "missing file", body: null, expected: ["does-not-exist", "file not found"] },
    { name: "a shard on an unknown store", body: `clusterName: x\ndataDir: d\nstores:\n${storeLine}metaStores: [1]\nallowSmallGroups: true\nshards:\n  - {id: 1, replicas: [1, 7]}\n`, expected: ["shards[0].replicas", "7"] },
    { name: "an id that is not a store of the config", body: `clusterName: x\ndataDir: d\nstores:\n${storeLine}metaStores: [1]\nallowSmallGroups: true\ninitialShards: 1\nreplication: 1\n`, expected: ["Store id 9 is not in the config's stores"] },
  ];
  for (const { name, body, expected } of cases) {
    test(`is refused with a specific message: ${name}`, () => {
      const dir = mkdtempSync(join(tmpdir(), "ukv-badconfig-"));
      try {
        const path = body === null ? join(dir, "does-not-exist.yaml") : join(dir, "bad.yaml");
        if (body !== null) writeFileSync(path, body);
        const id = name.startsWith("an id") ? "9" : "1";
        const result = Bun.spawnSync([ukvBinary, "node", "--config", path, "--id", id], { env: { ...process.env } });
        const stderr = result.stderr.toString();
        expect(stderr).toContain("CONFIG_INVALID");
        for (const part of expected) expect(stderr).toContain(part);
        expect(result.exitCode).toBe(3);
        // Refused before anything was created.
        expect(existsSync(join(dir, "d"))).toBe(false);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  }
});
