// Membership changes of a live shard (FR1.2) with real processes: under continuous writes, add a
// 4th replica (learner -> catch-up -> voter), remove an old one, replace the leader; no client
// request fails beyond transparent retries, no acknowledged write is lost, the metadata group
// registers every change, unsafe requests are refused with their reason, and a member that
// crashed during catch-up can be removed again.
import { afterEach, expect, test } from "bun:test";
import { join } from "node:path";
import type { Subprocess } from "bun";
import { GroupClient } from "../../src/transport/group-client.ts";
import { fetchTopology } from "../../src/transport/meta-api.ts";
import { LocalShard, bytes, findFreePortBase, text, ukvBinary } from "./harness.ts";

let shard: LocalShard | null = null;
const extraProcesses: Subprocess[] = [];
const clients: GroupClient[] = [];

const joiners: Joiner[] = [];

afterEach(async () => {
  const keepDir = process.env.UKV_TEST_KEEP_LOGS;
  if (keepDir !== undefined) for (const joiner of joiners) await Bun.write(`${keepDir}/joiner-${joiner.id}.log`, joiner.log());
  joiners.length = 0;
  for (const client of clients.splice(0)) client.close();
  for (const child of extraProcesses.splice(0)) {
    child.kill("SIGKILL");
    await child.exited;
  }
  await shard?.destroy();
  shard = null;
});

interface Joiner {
  id: number;
  raftAddress: string;
  clientAddress: string;
  process: Subprocess;
  log: () => string;
}

function startJoiner(target: LocalShard, id: number, portBase: number): Joiner {
  const raftAddress = `127.0.0.1:${portBase}`;
  const clientAddress = `127.0.0.1:${portBase + 1}`;
  const metaAddresses = target.config.meta.members.map((member) => member.clientAddress).join(",");
  let logText = "";
  const child = Bun.spawn(
    [ukvBinary, "node", "--config", target.configPath, "--join", metaAddresses, "--id", String(id), "--shard", "1", "--raft-addr", raftAddress, "--client-addr", clientAddress, "--data-dir", join(target.dir, `joined-${id}`)],
    { stdout: "ignore", stderr: "pipe" },
  );
  extraProcesses.push(child);
  void (async () => {
    const reader = (child.stderr as ReadableStream<Uint8Array>).getReader();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      logText = (logText + new TextDecoder().decode(value)).slice(-100_000);
    }
  })();
  const joiner = { id, raftAddress, clientAddress, process: child, log: () => logText };
  joiners.push(joiner);
  return joiner;
}

/** Runs `ukv admin ...` without blocking this process's event loop (the load keeps running). */
async function admin(target: LocalShard, args: string[]): Promise<{ exitCode: number; stdout: string; stderr: string }> {
  const child = Bun.spawn([ukvBinary, "admin", ...args, "--config", target.configPath], { stdout: "pipe", stderr: "pipe" });
  const [stdout, stderr, exitCode] = await Promise.all([new Response(child.stdout).text(), new Response(child.stderr).text(), child.exited]);
  return { exitCode, stdout, stderr };
}

function startRouter(target: LocalShard, address: string): Subprocess {
  const child = Bun.spawn([ukvBinary, "router", "--config", target.configPath, "--listen", address], { stdout: "ignore", stderr: "ignore" });
  extraProcesses.push(child);
  return child;
}

async function routerView(address: string): Promise<{ shards: { shardId: number; members: { id: number }[] }[] } | null> {
  const client = new GroupClient([address], { timeoutMs: 3000 });
  clients.push(client);
  const response = await client.request({ op: "STATUS", key: new Uint8Array(0), value: new Uint8Array(0), linearizable: false }, { anyMember: true });
  return response.code === "OK" ? (JSON.parse(response.statusJson) as { shards: { shardId: number; members: { id: number }[] }[] }) : null;
}

/** Writers of unique keys (each also reading back a recent key) through `addresses`, until stopped. */
function startLoad(addresses: string[], writerCount: number): { stop(): Promise<{ acked: Map<string, string>; failures: string[] }> } {
  const acked = new Map<string, string>();
  const failures: string[] = [];
  let running = true;
  const writers = Array.from({ length: writerCount }, async (_, writerIndex) => {
    const client = new GroupClient(addresses, { timeoutMs: 3000 });
    clients.push(client);
    for (let keyIndex = 0; running && keyIndex < 100_000; keyIndex++) {
      const key = `w${writerIndex}-${keyIndex}`;
      const value = `v${keyIndex}`;
      const response = await client.request({ op: "SET", key: bytes(key), value: bytes(value), linearizable: false });
      if (response.code === "OK") acked.set(key, value);
      else failures.push(`${key}: ${response.code} ${response.message}`);
      const read = await client.request({ op: "GET", key: bytes(key), value: new Uint8Array(0), linearizable: false });
      // A follower read may lag (eventual consistency) but never fails or invents a value.
      if (read.code !== "OK" && read.code !== "NOT_FOUND") failures.push(`GET ${key}: ${read.code} ${read.message}`);
      if (read.code === "OK" && text(read.value) !== value) failures.push(`GET ${key}: phantom ${text(read.value)}`);
      await Bun.sleep(5);
    }
  });
  return {
    stop: async () => {
      running = false;
      await Promise.all(writers);
      return { acked, failures };
    },
  };
}

async function expectMemberHas(address: string, acked: Map<string, string>): Promise<void> {
  const client = new GroupClient([address], { timeoutMs: 5000 });
  clients.push(client);
  for (const [key, value] of acked) {
    const response = await client.request({ op: "GET", key: bytes(key), value: new Uint8Array(0), linearizable: false }, { anyMember: true });
    if (response.code !== "OK" || text(response.value) !== value) throw new Error(`${address} lacks acknowledged ${key}: ${response.code}`);
  }
}

test("add, remove and replace the leader under load: nothing fails, nothing is lost, meta registers it", async () => {
  // A low snapshot threshold: the leader compacts its log, so new members catch up by snapshot.
  shard = await LocalShard.create({ snapshotEntriesThreshold: 200 });
  const target = shard;
  for (const id of target.metaIds) target.start(id);
  target.startAll();
  const leader = await target.waitForLeader();
  const preload = await target.request(leader, { op: "SET", key: "before-0", value: "x" });
  expect(preload.code).toBe("OK");
  await Promise.all(Array.from({ length: 400 }, (_, index) => target.request(leader, { op: "SET", key: `before-${index}`, value: "x" })));
  const portBase = await findFreePortBase(6);
  const joinerA = startJoiner(target, 21, portBase);
  const joinerB = startJoiner(target, 22, portBase + 2);
  const routerAddress = `127.0.0.1:${portBase + 4}`;
  startRouter(target, routerAddress);
  // The router answers once it has probed the shard healthy: warm up before the measured load.
  const warmUp = new GroupClient([routerAddress], { timeoutMs: 3000 });
  clients.push(warmUp);
  for (let attemptIndex = 0; attemptIndex < 150; attemptIndex++) {
    const response = await warmUp.request({ op: "SET", key: bytes("warm-up"), value: bytes("1"), linearizable: false }, { anyMember: true });
    if (response.code === "OK") break;
    await Bun.sleep(100);
  }
  const load = startLoad([routerAddress], 3);
  await Bun.sleep(800);

  const added = await admin(target, ["add-replica", "--shard", "1", "--node", "21", "--raft-addr", joinerA.raftAddress, "--client-addr", joinerA.clientAddress]);
  expect(added.stderr).toBe("");
  expect(added.exitCode).toBe(0);
  expect(added.stdout).toContain("promoted to voter");

  const oldFollower = target.ids.find((id) => id !== leader)!;
  const removed = await admin(target, ["remove-replica", "--shard", "1", "--node", String(oldFollower)]);
  expect(removed.exitCode).toBe(0);

  const addedB = await admin(target, ["add-replica", "--shard", "1", "--node", "22", "--raft-addr", joinerB.raftAddress, "--client-addr", joinerB.clientAddress]);
  expect(addedB.exitCode).toBe(0);
  const replaced = await admin(target, ["remove-replica", "--shard", "1", "--node", String(leader)]);
  expect(replaced.stderr).toBe("");
  expect(replaced.exitCode).toBe(0);

  // Unsafe requests, each refused with its reason.
  const tooFew = await admin(target, ["remove-replica", "--shard", "1", "--node", "21"]);
  expect(tooFew.exitCode).not.toBe(0);
  expect(tooFew.stderr).toContain("would leave 2 voters");
  const unknown = await admin(target, ["remove-replica", "--shard", "1", "--node", "99"]);
  expect(unknown.stderr).toContain("is not a member");
  const duplicate = await admin(target, ["add-replica", "--shard", "1", "--node", "21", "--raft-addr", joinerA.raftAddress, "--client-addr", joinerA.clientAddress]);
  expect(duplicate.stderr).toContain("already a member");

  await Bun.sleep(500);
  const { acked, failures } = await load.stop();
  expect(failures).toEqual([]);
  expect(acked.size).toBeGreaterThan(100);

  const remaining = [target.ids.find((id) => id !== leader && id !== oldFollower)!, 21, 22];
  const addressOf = (id: number): string => (id === 21 ? joinerA.clientAddress : id === 22 ? joinerB.clientAddress : target.clientAddress(id));
  // Every remaining member holds every acknowledged write once it applied the leader's commit.
  await Bun.sleep(1000);
  for (const id of remaining) await expectMemberHas(addressOf(id), acked);
  expect(target.logs.get(oldFollower) ?? "").toContain("removed_from_group");
  expect(joinerA.log()).toContain("snapshot_installed");

  const meta = new GroupClient(target.config.meta.members.map((member) => member.clientAddress));
  clients.push(meta);
  const deadline = Date.now() + 10_000;
  let voters: number[] = [];
  while (Date.now() < deadline) {
    const topology = await fetchTopology(meta);
    voters = (topology.layout?.shards[0]?.members ?? []).map((member) => member.id).sort((a, b) => a - b);
    if (JSON.stringify(voters) === JSON.stringify([...remaining].sort((a, b) => a - b))) break;
    await Bun.sleep(200);
  }
  expect(voters).toEqual([...remaining].sort((a, b) => a - b));
  // The router picked the change up from the metadata group: it routes to the new members only.
  const view = await routerView(routerAddress);
  expect((view?.shards[0]?.members ?? []).map((member) => member.id).sort((a, b) => a - b)).toEqual([...remaining].sort((a, b) => a - b));
}, 120_000);

test("a new member that crashed during catch-up can be removed again", async () => {
  shard = await LocalShard.create();
  const target = shard;
  for (const id of target.metaIds) target.start(id);
  target.startAll();
  await target.waitForLeader();
  const portBase = await findFreePortBase(2);
  const joiner = startJoiner(target, 31, portBase);
  const added = await admin(target, ["add-replica", "--shard", "1", "--node", "31", "--raft-addr", joiner.raftAddress, "--client-addr", joiner.clientAddress, "--no-wait"]);
  expect(added.exitCode).toBe(0);
  expect(added.stdout).toContain("as a learner");
  joiner.process.kill("SIGKILL");
  await joiner.process.exited;
  const removed = await admin(target, ["remove-replica", "--shard", "1", "--node", "31"]);
  expect(removed.stderr).toBe("");
  expect(removed.exitCode).toBe(0);
  const leader = await target.waitForLeader();
  const status = await target.status(leader);
  expect(status).not.toBeNull();
  const response = await target.request(leader, { op: "SET", key: "after", value: "removal" });
  expect(response.code).toBe("OK");
}, 90_000);

// Regression (chaos seed 31338): a member restarted after a membership change knew the current
// members from its snapshot but dialled only the members of its bootstrap file (group.json), so
// messages to members added later were dropped; with enough members restarted the shard never
// elected a leader again.
test("members restarted after a change reach the members added since they bootstrapped", async () => {
  // A low threshold: every member snapshots after the change, so the membership comes from a snapshot.
  shard = await LocalShard.create({ snapshotEntriesThreshold: 50 });
  const target = shard;
  for (const id of target.metaIds) target.start(id);
  target.startAll();
  const leader = await target.waitForLeader();
  const portBase = await findFreePortBase(2);
  let joiner = startJoiner(target, 41, portBase);
  const added = await admin(target, ["add-replica", "--shard", "1", "--node", "41", "--raft-addr", joiner.raftAddress, "--client-addr", joiner.clientAddress]);
  expect(added.exitCode).toBe(0);
  const removedId = target.ids.find((id) => id !== leader)!;
  const removed = await admin(target, ["remove-replica", "--shard", "1", "--node", String(removedId)]);
  expect(removed.exitCode).toBe(0);
  await target.kill(removedId);
  const originals = target.ids.filter((id) => id !== removedId);
  let writer = originals[0]!;
  for (let index = 0; index < 150; index++) {
    const result = await target.setViaLeader(`before-${index}`, "x", writer);
    expect(result.ok).toBe(true);
    writer = result.leader;
  }
  for (const id of originals) expect((await target.status(id))?.snapshotIndex ?? 0).toBeGreaterThan(0);

  // kill -9 of every member, then restart: the two originals bootstrapped with [1,2,3], the joiner without them.
  for (const id of originals) await target.kill(id);
  joiner.process.kill("SIGKILL");
  await joiner.process.exited;
  for (const id of originals) target.start(id);
  joiner = startJoiner(target, 41, portBase);

  // Each member must receive new writes: the originals from each other, the joiner from the leader.
  let acknowledged = false;
  for (let attemptIndex = 0; attemptIndex < 100 && !acknowledged; attemptIndex++) {
    for (const id of originals) {
      const response = await target.request(id, { op: "SET", key: "after-restart", value: "y" }).catch(() => null);
      if (response?.code === "OK") acknowledged = true;
    }
    if (!acknowledged) await Bun.sleep(100);
  }
  expect(acknowledged).toBe(true);
  const joinerClient = new GroupClient([joiner.clientAddress], { timeoutMs: 2000 });
  clients.push(joinerClient);
  let seen = "";
  for (let attemptIndex = 0; attemptIndex < 100 && seen !== "y"; attemptIndex++) {
    const response = await joinerClient.request({ op: "GET", key: bytes("after-restart"), value: new Uint8Array(0), linearizable: false }, { anyMember: true });
    seen = response.code === "OK" ? text(response.value) : response.code;
    if (seen !== "y") await Bun.sleep(100);
  }
  expect(seen).toBe("y");
}, 90_000);
