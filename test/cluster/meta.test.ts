// The metadata group as real `ukv meta` processes next to a shard: it bootstraps the layout from
// the config, learns each shard leader from the nodes' reports, raises the epoch when a leader
// changes, answers a long-poll as soon as the topology moves, and survives losing a member.
import { afterEach, expect, test } from "bun:test";
import { GroupClient } from "../../src/transport/group-client.ts";
import type { Topology } from "../../src/transport/topology-wire.ts";
import { LocalShard, bytes, ukvBinary } from "./harness.ts";

let shard: LocalShard | null = null;
let client: GroupClient | null = null;
const clients: GroupClient[] = [];

afterEach(async () => {
  client?.close();
  client = null;
  for (const other of clients.splice(0)) other.close();
  await shard?.destroy();
  shard = null;
});

async function readTopology(meta: GroupClient, knownEpoch?: number): Promise<Topology | null> {
  const response = await meta.request({
    op: "STATUS",
    key: new Uint8Array(0),
    value: knownEpoch === undefined ? new Uint8Array(0) : bytes(String(knownEpoch)),
    linearizable: false,
  });
  if (response.code !== "OK") return null;
  return (JSON.parse(response.statusJson) as { topology: Topology }).topology;
}

async function waitForTopology(meta: GroupClient, predicate: (topology: Topology) => boolean, timeoutMs = 15_000): Promise<Topology> {
  const deadline = Date.now() + timeoutMs;
  let last: Topology | null = null;
  while (Date.now() < deadline) {
    last = await readTopology(meta);
    if (last !== null && predicate(last)) return last;
    await Bun.sleep(100);
  }
  throw new Error(`Topology condition not met in ${timeoutMs} ms; last: ${JSON.stringify(last)}`);
}

test("the meta group holds the layout and each shard's reported leader, with a rising epoch", async () => {
  shard = await LocalShard.create();
  const target = shard;
  for (const id of target.metaIds) target.start(id);
  target.startAll();
  client = new GroupClient(target.config.meta.members.map((member) => member.clientAddress), { timeoutMs: 12_000 });
  const meta = client;
  const leader = await target.waitForLeader();
  const first = await waitForTopology(
    meta,
    (topology) => topology.layout !== null && topology.leaders["1"]?.nodeId === leader && topology.health[String(leader)]?.role === "leader",
  );
  expect(first.layout!.shards.map((entry) => entry.id)).toEqual([1]);
  expect(first.layout!.shards[0]!.members.map((member) => member.id)).toEqual(target.ids);
  expect(first.health[String(leader)]?.role).toBe("leader");

  // The smart client of `ukv kv --meta` routes by the topology it reads from the meta group.
  const metaList = target.config.meta.members.map((member) => member.clientAddress).join(",");
  const set = Bun.spawnSync([ukvBinary, "kv", "set", "via-meta", "routed", "--meta", metaList]);
  expect(set.stderr.toString()).toBe("");
  expect(set.exitCode).toBe(0);
  const get = Bun.spawnSync([ukvBinary, "kv", "get", "via-meta", "--meta", metaList]);
  expect(get.stdout.toString().trim()).toBe("routed");

  // A long-poll on the current epoch returns once the leader changes.
  const watching = readTopology(meta, first.epoch);
  await Bun.sleep(300);
  await target.kill(leader, "SIGKILL");
  const changed = await watching;
  expect(changed).not.toBeNull();
  expect(changed!.epoch).toBeGreaterThan(first.epoch);
  const newLeader = await target.waitForLeader();
  const second = await waitForTopology(meta, (topology) => topology.leaders["1"]?.nodeId === newLeader);
  expect(second.leaders["1"]!.term).toBeGreaterThan(first.leaders["1"]!.term);

  // Losing one meta member leaves the topology served by the other two.
  await target.kill(target.metaIds[0]!, "SIGKILL");
  target.start(leader);
  await waitForTopology(meta, (topology) => topology.health[String(leader)] !== undefined && topology.epoch >= second.epoch);
}, 90_000);

test("killing the meta leader: routing continues from the cached topology and meta elects a new leader", async () => {
  shard = await LocalShard.create();
  const target = shard;
  for (const id of target.metaIds) target.start(id);
  target.startAll();
  await target.waitForLeader();
  const routerAddress = target.config.router!.clientAddress;
  const router = Bun.spawn([ukvBinary, "router", "--config", target.configPath, "--listen", routerAddress], { stdout: "ignore", stderr: "ignore" });
  try {
    const viaRouter = new GroupClient([routerAddress], { timeoutMs: 5000 });
    clients.push(viaRouter);
    const set = async (key: string): Promise<string> =>
      (await viaRouter.request({ op: "SET", key: bytes(key), value: bytes("v"), linearizable: false }, { anyMember: true })).code;
    const deadline = Date.now() + 15_000;
    while (Date.now() < deadline && (await set("warm-up")) !== "OK") await Bun.sleep(100);
    expect(await set("before")).toBe("OK");
    const metaStatuses = await Promise.all(target.metaIds.map(async (id) => ({ id, status: await target.request(id, { op: "STATUS" }) })));
    const metaLeader = metaStatuses.find(({ status }) => (JSON.parse(status.statusJson) as { group: { role: string } }).group.role === "leader");
    expect(metaLeader).toBeDefined();
    await target.kill(metaLeader!.id, "SIGKILL");
    for (let keyIndex = 0; keyIndex < 20; keyIndex++) expect(await set(`after-${keyIndex}`)).toBe("OK");
    client = new GroupClient(target.config.meta.members.filter((member) => member.id !== metaLeader!.id).map((member) => member.clientAddress), { timeoutMs: 5000 });
    const meta = client;
    await waitForTopology(meta, (topology) => topology.layout !== null);
    const survivors = await Promise.all(target.metaIds.filter((id) => id !== metaLeader!.id).map((id) => target.request(id, { op: "STATUS" })));
    const deadlineLeader = Date.now() + 10_000;
    let roles = survivors.map((status) => (JSON.parse(status.statusJson) as { group: { role: string } }).group.role);
    while (!roles.includes("leader") && Date.now() < deadlineLeader) {
      await Bun.sleep(200);
      const again = await Promise.all(target.metaIds.filter((id) => id !== metaLeader!.id).map((id) => target.request(id, { op: "STATUS" })));
      roles = again.map((status) => (JSON.parse(status.statusJson) as { group: { role: string } }).group.role);
    }
    expect(roles).toContain("leader");
  } finally {
    router.kill("SIGKILL");
    await router.exited;
  }
}, 90_000);
