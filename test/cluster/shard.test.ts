// A 3-member data shard of real `ukv node` processes on 127.0.0.1: election, replication, crash
// of the leader under writes, crash of everything, catch-up by snapshot, read modes, bad input.
import { afterEach, describe, expect, test } from "bun:test";
import { connect } from "node:net";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { LocalShard, ukvBinary, text, type LocalShardOptions } from "./harness.ts";

let shard: LocalShard | null = null;

afterEach(async () => {
  await shard?.destroy();
  shard = null;
});

async function startShard(options: LocalShardOptions = {}): Promise<LocalShard> {
  shard = await LocalShard.create(options);
  shard.startAll();
  return shard;
}

/** Writes keys `${prefix}-${i}` one by one through the leader; returns the acknowledged ones. */
async function writeStream(target: LocalShard, args: { prefix: string; count: number; leader: number; durationMsMax: number }): Promise<{ acked: Map<string, string>; leader: number }> {
  const acked = new Map<string, string>();
  let leader = args.leader;
  const deadline = Date.now() + args.durationMsMax;
  for (let keyIndex = 0; keyIndex < args.count && Date.now() < deadline; keyIndex++) {
    const key = `${args.prefix}-${keyIndex}`;
    const value = `value-${keyIndex}-${"x".repeat(keyIndex % 50)}`;
    const result = await target.setViaLeader(key, value, leader);
    if (result.ok) acked.set(key, value);
    else leader = await target.waitForLeader().catch(() => leader);
    if (result.ok) leader = result.leader;
  }
  return { acked, leader };
}

async function expectAllPresent(target: LocalShard, ids: number[], acked: Map<string, string>): Promise<void> {
  for (const id of ids) {
    for (const [key, value] of acked) {
      const response = await target.request(id, { op: "GET", key });
      if (response.code !== "OK" || text(response.value) !== value) {
        throw new Error(`member ${id} lost acknowledged key ${key}: ${response.code} ${text(response.value)}`);
      }
    }
  }
}

describe("a 3-member shard", () => {
  test("elects one leader and replicates writes to every member", async () => {
    const target = await startShard();
    const leader = await target.waitForLeader();
    const response = await target.request(leader, { op: "SET", key: "greeting", value: "hello" });
    expect(response.code).toBe("OK");
    const leaderStatus = await target.status(leader);
    await target.waitForApplied(leaderStatus!.appliedIndex);
    for (const id of target.ids) {
      const read = await target.request(id, { op: "GET", key: "greeting" });
      expect(read.code).toBe("OK");
      expect(text(read.value)).toBe("hello");
    }
    const follower = target.ids.find((id) => id !== leader)!;
    const redirected = await target.request(follower, { op: "SET", key: "k", value: "v" });
    expect(redirected.code).toBe("NOT_LEADER");
    expect(redirected.leaderAddress).toBe(target.clientAddress(leader));
    const missing = await target.request(leader, { op: "GET", key: "absent" });
    expect(missing.code).toBe("NOT_FOUND");
    const deleted = await target.request(leader, { op: "DELETE", key: "greeting" });
    expect(deleted.code).toBe("OK");
    expect((await target.request(leader, { op: "GET", key: "greeting" })).code).toBe("NOT_FOUND");
  }, 60_000);

  test("kill -9 of the leader under writes: a new leader is elected and no acknowledged write is lost", async () => {
    const target = await startShard();
    const firstLeader = await target.waitForLeader();
    const streaming = writeStream(target, { prefix: "crash", count: 100_000, leader: firstLeader, durationMsMax: 4000 });
    await Bun.sleep(1500);
    await target.kill(firstLeader, "SIGKILL");
    const { acked } = await streaming;
    expect(acked.size).toBeGreaterThan(50);
    const newLeader = await target.waitForLeader();
    expect(newLeader).not.toBe(firstLeader);
    target.start(firstLeader);
    await target.waitForLeader();
    const status = await target.status(newLeader);
    await target.waitForApplied(status!.commitIndex, 20_000);
    await expectAllPresent(target, target.ids, acked);
  }, 90_000);

  test("kill -9 of every member then restart: all acknowledged data is back", async () => {
    const target = await startShard();
    const leader = await target.waitForLeader();
    const { acked } = await writeStream(target, { prefix: "all", count: 300, leader, durationMsMax: 10_000 });
    expect(acked.size).toBe(300);
    await Promise.all(target.ids.map((id) => target.kill(id, "SIGKILL")));
    target.startAll();
    const newLeader = await target.waitForLeader();
    const status = await target.status(newLeader);
    await target.waitForApplied(status!.commitIndex, 20_000);
    await expectAllPresent(target, target.ids, acked);
  }, 90_000);

  test("a member down while the leader compacted its log catches up by snapshot", async () => {
    const target = await startShard({ snapshotEntriesThreshold: 200 });
    const leader = await target.waitForLeader();
    const lagging = target.ids.find((id) => id !== leader)!;
    await target.kill(lagging, "SIGKILL");
    const { acked } = await writeStream(target, { prefix: "snap", count: 700, leader, durationMsMax: 20_000 });
    expect(acked.size).toBe(700);
    const leaderStatus = await target.status(leader);
    expect(leaderStatus!.snapshotIndex).toBeGreaterThan(0);
    target.start(lagging);
    await target.waitForApplied(leaderStatus!.commitIndex, 20_000);
    expect(target.logs.get(lagging) ?? "").toContain("snapshot_installed");
    await expectAllPresent(target, [lagging], acked);
  }, 90_000);

  test("a linearizable read on a follower sees the write acknowledged just before; a follower read catches up", async () => {
    const target = await startShard();
    const leader = await target.waitForLeader();
    const follower = target.ids.find((id) => id !== leader)!;
    for (let roundIndex = 0; roundIndex < 30; roundIndex++) {
      const value = `v${roundIndex}`;
      expect((await target.request(leader, { op: "SET", key: "lin", value })).code).toBe("OK");
      const read = await target.request(follower, { op: "GET", key: "lin", linearizable: true });
      expect(read.code).toBe("OK");
      expect(text(read.value)).toBe(value);
    }
    expect((await target.request(leader, { op: "SET", key: "eventual", value: "yes" })).code).toBe("OK");
    const deadline = Date.now() + 5000;
    let seen = "";
    while (Date.now() < deadline && seen !== "yes") {
      const read = await target.request(follower, { op: "GET", key: "eventual" });
      seen = read.code === "OK" ? text(read.value) : "";
      await Bun.sleep(10);
    }
    expect(seen).toBe("yes");
  }, 60_000);

  test("malformed bytes on the raft and client ports do not crash the node", async () => {
    const target = await startShard();
    const leader = await target.waitForLeader();
    const member = target.members.find((candidate) => candidate.id === leader)!;
    const garbage = [
      Buffer.from("GET / HTTP/1.1\r\n\r\n"),
      Buffer.from([0x55, 0x4b, 0x56, 0x31, 0x63, 0x01, 0xff, 0xff, 0xff, 0xff]),
      Buffer.alloc(4096, 0xab),
      Buffer.from([0x55, 0x4b, 0x56, 0x31, 0x01, 0x02, 0, 0, 0, 7, 0xff, 0xff, 0xff, 0x7f, 1, 2, 3]),
    ];
    for (const address of [member.raftAddress, member.clientAddress]) {
      for (const payload of garbage) {
        const [host, port] = address.split(":");
        await new Promise<void>((resolve) => {
          const socket = connect(Number(port), host!, () => socket.end(payload));
          socket.on("error", () => resolve());
          socket.on("close", () => resolve());
          setTimeout(() => {
            socket.destroy();
            resolve();
          }, 1000);
        });
      }
    }
    const response = await target.request(leader, { op: "SET", key: "still", value: "alive" });
    expect(response.code).toBe("OK");
    expect(target.isRunning(leader)).toBe(true);
  }, 60_000);

  test("SIGTERM drains and exits 0; a second process on the same data dir is refused", async () => {
    const target = await startShard();
    await target.waitForLeader();
    const id = target.ids[0]!;
    const second = Bun.spawnSync([ukvBinary, "node", "--config", target.configPath, "--id", String(id)], {
      env: { ...process.env },
    });
    expect(second.exitCode).toBe(5);
    expect(second.stderr.toString()).toContain("DIR_LOCKED");
    expect(await target.kill(id, "SIGTERM")).toBe(0);
    expect(target.logs.get(id) ?? "").toContain("node_stopped");
  }, 60_000);
});

describe("ukv node with a bad config", () => {
  const cases: [string, string, string][] = [
    ["unknown key", "clusterName: x\nbogusKey: 1\nmeta: {members: []}\nshards: []\n", "bogusKey"],
    ["yaml syntax", "clusterName: [unclosed\n", "YAML syntax error"],
    ["missing file", "", "does-not-exist"],
  ];
  for (const [name, body, expected] of cases) {
    test(`is refused with a specific message: ${name}`, async () => {
      const dir = mkdtempSync(join(tmpdir(), "ukv-badconfig-"));
      const path = name === "missing file" ? join(dir, "does-not-exist.yaml") : join(dir, "bad.yaml");
      if (name !== "missing file") writeFileSync(path, body);
      const result = Bun.spawnSync([ukvBinary, "node", "--config", path, "--id", "1"], { env: { ...process.env } });
      expect(result.exitCode).toBe(3);
      expect(result.stderr.toString()).toContain("CONFIG_INVALID");
      expect(result.stderr.toString()).toContain(expected);
      rmSync(dir, { recursive: true, force: true });
    });
  }
});
