// What a new user hits first (issue 18), each case through the real binary: the exit status, one
// clear line on stderr and no stack trace, and that nothing else was harmed (the running cluster
// still answers, its logs were not written to by the refused command, the metadata is unchanged).
// One `ukv cluster up` (4 stores, 2 shards of 3 replicas: every shard misses one store, so a
// replica can be added at run time) serves most cases; the Ctrl-C cases run their own clusters.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Subprocess } from "bun";
import Redis from "ioredis";
import { GroupClient } from "../../src/client/group-client.ts";
import { loadClusterConfig, type ClusterConfig } from "../../src/config/cluster-config.ts";
import { walSegmentSizeBytesMin } from "../../src/config/schema.ts";
import { KvClient } from "../../src/transport/kv-client.ts";
import { fetchTopology } from "../../src/transport/meta-api.ts";
import { bytes, findFreePortBase, text, ukvBinary, waitFor } from "./harness.ts";

const decoder = new TextDecoder();
const storeCount = 4;
const exitStatus = { ok: 0, notFound: 1, valueTooLarge: 11, wrongShard: 13, dirLocked: 5, unavailable: 12, addressInUse: 14, addonUnavailable: 15, interrupted: 130 } as const;
/** The issue's bound for a refused start: one line and an exit. */
const refusedExitMsMax = 1000;

let root: string;
let dir: string;
let portBase: number;
let config: ClusterConfig;
let supervisor: Subprocess<"ignore", "pipe", "pipe">;

function configPath(): string {
  return join(dir, "cluster.yaml");
}

function storeClient(storeId: number): string {
  return `127.0.0.1:${portBase + 10 * (storeId - 1) + 1}`;
}

interface Ran {
  exitCode: number;
  stdout: string;
  stderr: string;
  elapsedMs: number;
}

function run(args: string[], options: { stdin?: Uint8Array; env?: Record<string, string> } = {}): Ran {
  const startedMs = performance.now();
  const result = Bun.spawnSync([ukvBinary, ...args], {
    stdin: options.stdin ?? "ignore",
    stdout: "pipe",
    stderr: "pipe",
    env: { ...process.env, ...options.env },
  });
  return { exitCode: result.exitCode ?? -1, stdout: result.stdout.toString(), stderr: result.stderr.toString(), elapsedMs: performance.now() - startedMs };
}

/** One line on stderr, no stack frame, no bundled source. */
function expectOneLine(stderr: string, pattern: RegExp): void {
  const lines = stderr.trimEnd().split("\n");
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatch(pattern);
  expect(stderr).not.toMatch(/\n\s+at |\$bunfs|node_modules/);
}

/** Pids of live processes whose command line mentions `needle` (a unique temp dir). */
function processesMentioning(needle: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^[0-9]+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      if (readFileSync(`/proc/${entry}/cmdline`, "utf8").includes(needle)) pids.push(Number(entry));
    } catch {
      // Exited while we looked.
    }
  }
  return pids;
}

/** Sizes of the cluster's log files: a refused command must not append to them. */
function logSizes(clusterDir: string): Map<string, number> {
  const logDir = join(clusterDir, "logs");
  return new Map(readdirSync(logDir).map((name) => [name, statSync(join(logDir, name)).size]));
}

/**
 * What the cluster's logs gained since `before` shows no sign of the refused command: no new log
 * file, no failed start (DIR_LOCKED, a port in use) and no process starting (recovery, serving).
 * The running stores themselves keep logging, so the sizes alone cannot tell.
 */
function expectLogsUntouched(clusterDir: string, before: Map<string, number>): void {
  const after = logSizes(clusterDir);
  expect([...after.keys()].sort()).toEqual([...before.keys()].sort());
  for (const [name, sizeBefore] of before) {
    const appended = readFileSync(join(clusterDir, "logs", name)).subarray(sizeBefore).toString();
    expect(appended).not.toMatch(/DIR_LOCKED|ADDRESS_IN_USE|EADDRINUSE|"event":"(group_recovered|store_serving)"/);
  }
}

function logText(clusterDir: string): string {
  const logDir = join(clusterDir, "logs");
  return readdirSync(logDir)
    .map((name) => readFileSync(join(logDir, name), "utf8"))
    .join("");
}

async function readAll(stream: ReadableStream<Uint8Array>, onLine: (line: string) => void): Promise<void> {
  let pending = "";
  for await (const chunk of stream) {
    pending += decoder.decode(chunk);
    let newline = pending.indexOf("\n");
    while (newline >= 0) {
      onLine(pending.slice(0, newline));
      pending = pending.slice(newline + 1);
      newline = pending.indexOf("\n");
    }
  }
}

/** `ukv cluster up` as the leader of its own process group (as a terminal runs it); resolves at the ready line. */
async function clusterUp(clusterDir: string, base: number, args: string[]): Promise<{ child: Subprocess<"ignore", "pipe", "pipe">; lines: string[] }> {
  const child = Bun.spawn([ukvBinary, "cluster", "up", "--dir", clusterDir, "--port-base", String(base), ...args], { stdin: "ignore", stdout: "pipe", stderr: "pipe", detached: true });
  const lines: string[] = [];
  void readAll(child.stdout, (line) => lines.push(line));
  void readAll(child.stderr, (line) => lines.push(`stderr: ${line}`));
  await waitFor("ukv cluster ready", () => Promise.resolve(lines.includes("ukv cluster ready") || child.exitCode !== null), (done) => done, 60_000);
  if (!lines.includes("ukv cluster ready")) throw new Error(`cluster up failed: ${lines.join("\n")}`);
  return { child, lines };
}

function metaClient(): GroupClient {
  return new GroupClient(config.metaStores.map((id) => storeClient(id)), { timeoutMs: 2000 });
}

async function metaLayoutJson(): Promise<string> {
  const meta = metaClient();
  try {
    const topology = await fetchTopology(meta);
    return JSON.stringify(topology.layout);
  } finally {
    meta.close();
  }
}

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), "ukv-bad-input-"));
  dir = join(root, "cluster");
  portBase = await findFreePortBase(10 * (storeCount + 1));
  supervisor = (await clusterUp(dir, portBase, ["--stores", String(storeCount), "--shards", "2", "--replicas", "3"])).child;
  config = loadClusterConfig(configPath());
}, 90_000);

afterAll(async () => {
  supervisor.kill("SIGINT");
  await Promise.race([supervisor.exited, Bun.sleep(20_000)]);
  for (const pid of processesMentioning(root)) process.kill(pid, "SIGKILL");
  rmSync(root, { recursive: true, force: true });
}, 40_000);

describe("1. a port in use", () => {
  test("ukv node: one line naming the address and the role, exit 14 within a second, no data dir made, the store it collided with keeps serving", () => {
    const dataDir = join(root, "node-data");
    const before = logSizes(dir);
    const ran = run(["node", "--config", configPath(), "--id", "2", "--data-dir", dataDir]);
    expect(ran.exitCode).toBe(exitStatus.addressInUse);
    expectOneLine(ran.stderr, new RegExp(`^error \\(ADDRESS_IN_USE\\): store 2's Raft address 127\\.0\\.0\\.1:${portBase + 10} is in use by another process`));
    expect(ran.elapsedMs).toBeLessThan(refusedExitMsMax);
    expect(existsSync(dataDir)).toBe(false);
    expectLogsUntouched(dir, before);
    expect(run(["kv", "status", "--node", storeClient(2)]).exitCode).toBe(0);
  });

  test("the same store started twice: its data dir is named (DIR_LOCKED, exit 5), one line, the running store untouched", () => {
    const before = logSizes(dir);
    const ran = run(["node", "--config", configPath(), "--id", "1"]);
    expect(ran.exitCode).toBe(exitStatus.dirLocked);
    expectOneLine(ran.stderr, /^error \(DIR_LOCKED\): Data directory is in use by another process: .*store-1$/);
    expect(ran.elapsedMs).toBeLessThan(refusedExitMsMax);
    expectLogsUntouched(dir, before);
    expect(run(["kv", "status", "--node", storeClient(1)]).exitCode).toBe(0);
  });

  test("ukv node --join: the role of the --client-addr that is taken", () => {
    const ran = run(["node", "--config", configPath(), "--id", "9", "--join", "--raft-addr", `127.0.0.1:${portBase + 10 * storeCount}`, "--client-addr", storeClient(1), "--data-dir", join(root, "join-data")]);
    expect(ran.exitCode).toBe(exitStatus.addressInUse);
    expectOneLine(ran.stderr, new RegExp(`^error \\(ADDRESS_IN_USE\\): store 9's client address ${storeClient(1).replaceAll(".", "\\.")} is in use`));
    expect(ran.elapsedMs).toBeLessThan(refusedExitMsMax);
  });

  test("ukv router: its client or RESP address taken is one line and an exit 14 within a second (it used to log and never exit)", () => {
    const client = run(["router", "--config", configPath(), "--listen", storeClient(1)]);
    expect(client.exitCode).toBe(exitStatus.addressInUse);
    expectOneLine(client.stderr, /^error \(ADDRESS_IN_USE\): router's client address 127\.0\.0\.1:\d+ is in use by another process/);
    expect(client.elapsedMs).toBeLessThan(refusedExitMsMax);
    const resp = run(["router", "--config", configPath(), "--listen", `127.0.0.1:${portBase + 10 * storeCount + 1}`, "--resp-listen", `127.0.0.1:${portBase + 2}`]);
    expect(resp.exitCode).toBe(exitStatus.addressInUse);
    expectOneLine(resp.stderr, new RegExp(`^error \\(ADDRESS_IN_USE\\): router's RESP address 127\\.0\\.0\\.1:${portBase + 2} is in use`));
    expect(resp.elapsedMs).toBeLessThan(refusedExitMsMax);
  });

  test("cluster up checks every port before it starts anything: no config written, no store started, names the port's role", async () => {
    // A free block but one port in its middle taken: store 2's RESP port.
    const base = await findFreePortBase(40);
    const blocker: Server = createServer();
    await new Promise<void>((resolve) => blocker.listen(base + 12, "127.0.0.1", () => resolve()));
    try {
      const otherDir = join(root, "busy-port");
      const ran = run(["cluster", "up", "--dir", otherDir, "--stores", "3", "--shards", "1", "--port-base", String(base)]);
      expect(ran.exitCode).toBe(exitStatus.addressInUse);
      expectOneLine(ran.stderr, new RegExp(`^error \\(ADDRESS_IN_USE\\): store 2's RESP address 127\\.0\\.0\\.1:${base + 12} is in use by another process`));
      expect(ran.stdout).not.toContain("ukv cluster ready");
      expect(ran.elapsedMs).toBeLessThan(refusedExitMsMax);
      expect(existsSync(join(otherDir, "cluster.yaml"))).toBe(false);
      expect(existsSync(join(otherDir, "logs"))).toBe(false);
      expect(processesMentioning(otherDir)).toEqual([]);
    } finally {
      blocker.close();
    }
  });

  test("cluster up on the running cluster's port base (another dir): refused, the running cluster untouched", () => {
    const before = logSizes(dir);
    const otherDir = join(root, "same-ports");
    const ran = run(["cluster", "up", "--dir", otherDir, "--port-base", String(portBase)]);
    expect(ran.exitCode).toBe(exitStatus.addressInUse);
    expectOneLine(ran.stderr, new RegExp(`^error \\(ADDRESS_IN_USE\\): store 1's Raft address 127\\.0\\.0\\.1:${portBase} is in use`));
    expect(processesMentioning(otherDir)).toEqual([]);
    expectLogsUntouched(dir, before);
  });
});

test("2. cluster up on a dir in use is refused at once: exit 5, one line, the running cluster answers and its logs were not appended to", () => {
  const before = logSizes(dir);
  const ran = run(["cluster", "up", "--dir", dir, "--port-base", String(portBase)]);
  expect(ran.exitCode).toBe(exitStatus.dirLocked);
  expectOneLine(ran.stderr, /^error \(DIR_LOCKED\): .*in use by another process/);
  expect(ran.stdout).not.toContain("ukv cluster ready");
  expect(ran.elapsedMs).toBeLessThan(refusedExitMsMax);
  expectLogsUntouched(dir, before);
  expect(logText(dir)).not.toContain("DIR_LOCKED");
  expect(run(["kv", "set", "after-refusal", "v", "--node", storeClient(1)]).exitCode).toBe(0);
});

describe("3. nobody writes where they must not", () => {
  test("a raw set of the key `layout` through a metadata store is an ordinary key of a data shard: the metadata layout is unchanged and admin still works", async () => {
    const layoutBefore = await metaLayoutJson();
    const ran = run(["kv", "set", "layout", '{"shards":[]}', "--node", storeClient(config.metaStores[0] ?? 1)]);
    expect(ran.exitCode).toBe(0);
    expect(run(["kv", "get", "layout", "--node", storeClient(2)]).stdout).toBe('{"shards":[]}\n');
    expect(await metaLayoutJson()).toBe(layoutBefore);
    const status = run(["status", "--config", configPath(), "--json"]);
    expect(status.exitCode).toBe(0);
    expect(JSON.parse(status.stdout).source).toMatch(/^metadata group/);
  });

  test("a shard-tagged request for a key of another shard is answered STALE_EPOCH naming the shard's range, and the key is stored nowhere", async () => {
    const holder = config.shards.find((shard) => shard.id === 1)?.replicas[0] ?? 1;
    const client = new KvClient(storeClient(holder), { timeoutMs: 5000 });
    try {
      const misplaced: string[] = [];
      for (let index = 0; index < 40 && misplaced.length < 3; index++) {
        const key = `wrong-shard-${index}`;
        const response = await client.request({ op: "SET", key: bytes(key), value: bytes("v"), linearizable: false, shard: 1 });
        if (response.code === "OK") continue;
        expect(response.code).toBe("STALE_EPOCH");
        expect(response.message).toMatch(/^Shard 1 no longer owns the key: key hash 0x[0-9a-f]{16} is outside its range \[0x0000000000000000, 0x7fffffffffffffff\] v1/);
        misplaced.push(key);
      }
      expect(misplaced.length).toBeGreaterThan(0);
      for (const key of misplaced) {
        const ran = run(["kv", "get", key, "--linearizable", "--node", storeClient(holder)]);
        expect(ran.exitCode).toBe(exitStatus.notFound);
        expectOneLine(ran.stderr, /^error \(NOT_FOUND\): Key not found/);
      }
    } finally {
      client.close();
    }
  });
});

describe("4. help pages", () => {
  const groups = { kv: ["get", "set", "del", "status"], admin: ["add-replica", "remove-replica", "transfer-leader"], cluster: ["up"] } as const;

  for (const [group, subcommands] of Object.entries(groups)) {
    test(`ukv ${group} --help: rc 0, each command once, no #0 placeholder`, () => {
      for (const args of [[group, "--help"], [group, "-h"], [group]]) {
        const ran = run(args);
        expect(ran.exitCode).toBe(0);
        expect(ran.stderr).toBe("");
        expect(ran.stdout).not.toContain("#0");
        for (const subcommand of subcommands) {
          expect(ran.stdout.split("\n").filter((line) => line.trimStart().startsWith(`ukv ${group} ${subcommand} `) || line.trim() === `ukv ${group} ${subcommand}`)).toHaveLength(1);
        }
      }
    });
  }

  test("every command's page: rc 0, no #0, every flag in the Options list with a description", () => {
    const commands = [["node"], ["router"], ["status"], ["version"], ["analyze"], ...Object.entries(groups).flatMap(([group, subcommands]) => subcommands.map((subcommand) => [group, subcommand]))];
    for (const command of commands) {
      const ran = run([...command, "--help"]);
      expect(ran.exitCode).toBe(0);
      expect(ran.stdout).not.toContain("#0");
      // An option without a description stays inline in the usage line instead of in the list.
      const usageLine = ran.stdout.split("\n").find((line) => line.startsWith(`$ ukv ${command.join(" ")}`)) ?? "";
      expect(usageLine).not.toMatch(/[[<]-/);
    }
  });

  test("a command missing a required option names what it needs (not clipanion's 'Command not found'), shows its usage, exit 1", () => {
    const cases: [string[], string][] = [
      [["admin", "add-replica"], "ukv admin add-replica needs --shard N and --store N"],
      [["admin", "move", "--shard=2", "--to", "4"], "ukv admin move needs --from N"],
      [["node", "--id", "1"], "ukv node needs --config FILE"],
    ];
    for (const [args, line] of cases) {
      const ran = run(args);
      expect(ran.exitCode).toBe(1);
      expect(ran.stdout + ran.stderr).toContain(line);
      expect(ran.stdout + ran.stderr).toContain(`$ ukv ${args[0] === "node" ? "node" : `admin ${args[1]}`} `);
      expect(ran.stdout + ran.stderr).not.toContain("Command not found");
    }
    // A misspelt command still gets clipanion's own answer.
    expect(run(["admin", "add-replca"]).exitCode).toBe(1);
  });

  test("the kv examples work against cluster up's default ports (store 1's client port is port base + 1)", () => {
    const page = run(["kv", "--help"]).stdout + run(["kv", "get", "--help"]).stdout + run(["kv", "set", "--help"]).stdout;
    const examplePorts = [...page.matchAll(/--node 127\.0\.0\.1:(\d+)/g)].map((match) => Number(match[1]));
    expect(examplePorts.length).toBeGreaterThan(0);
    // cluster up's default --port-base is 7100 (its own help says so).
    expect(run(["cluster", "up", "--help"]).stdout).toContain("(default 7100)");
    for (const port of examplePorts) expect(port).toBe(7100 + 1);
    // Run the first example on this cluster: the same store, this test's port base.
    const example = page.match(/\$ (ukv kv set greeting hello --node 127\.0\.0\.1:7101) && (ukv kv get greeting --node 127\.0\.0\.1:7101)/);
    expect(example).not.toBeNull();
    for (const command of [example?.[1] ?? "", example?.[2] ?? ""]) {
      const args = command.split(" ").slice(1).map((arg) => arg.replace("127.0.0.1:7101", storeClient(1)));
      const ran = run(args);
      expect(ran.exitCode).toBe(0);
    }
    expect(run(["kv", "get", "greeting", "--node", storeClient(1)]).stdout).toBe("hello\n");
  });
});

describe("5. output and environment", () => {
  test("ukv status | head -1: the closed pipe ends it quietly, no EPIPE stack", () => {
    const shell = Bun.spawnSync(["bash", "-c", `'${ukvBinary}' status --config '${configPath()}' | true; echo "rc=\${PIPESTATUS[0]}" >&2`], { stdout: "pipe", stderr: "pipe" });
    const stderr = shell.stderr.toString();
    expect(stderr).not.toContain("EPIPE");
    expect(stderr.trim()).toBe("rc=0");
    const head = Bun.spawnSync(["bash", "-c", `'${ukvBinary}' status --config '${configPath()}' | head -1`], { stdout: "pipe", stderr: "pipe" });
    expect(head.stdout.toString()).toMatch(/^placement from metadata group/);
    expect(head.stderr.toString()).toBe("");
  });

  test("TMPDIR=/nonexistent ukv version: one line saying the addon cannot be unpacked and how to fix it, exit 15", () => {
    const ran = run(["version"], { env: { TMPDIR: "/nonexistent-ukv-tmpdir" } });
    expect(ran.exitCode).toBe(exitStatus.addonUnavailable);
    expectOneLine(ran.stderr, /^error \(ADDON_UNAVAILABLE\): .*\/nonexistent-ukv-tmpdir, which does not exist: set TMPDIR to a writable directory/);
    expect(ran.stdout).toBe("");
  });
});

describe("6 and 9. membership changes at run time", () => {
  test("add-replica on the store without one: ukv status shows the new replica and every shard's leader; remove-replica of the leading replica prints no error, rc 0, and the store drops the replica", async () => {
    const shard = config.shards.find((candidate) => candidate.id === 2);
    const spare = config.stores.map((store) => store.id).find((id) => !(shard?.replicas ?? []).includes(id)) ?? 0;
    expect(spare).toBeGreaterThan(0);
    const added = run(["admin", "add-replica", "--config", configPath(), "--shard", "2", "--store", String(spare)]);
    expect(added.stderr).toBe("");
    expect(added.exitCode).toBe(0);
    expect(added.stdout).toContain(`store ${spare} promoted to voter of shard 2`);
    type Row = { shardId: number; memberId: number; status: { role: string } | null; error: string | null };
    const rows = async (): Promise<Row[]> => JSON.parse(run(["status", "--config", configPath(), "--json"]).stdout).replicas as Row[];
    await waitFor(`store ${spare}'s replica of shard 2 in ukv status`, rows, (all) => all.some((row) => row.shardId === 2 && row.memberId === spare && row.status?.role === "follower"));
    const status = JSON.parse(run(["status", "--config", configPath(), "--json"]).stdout) as { replicas: Row[]; shardsWithoutLeader: number[] };
    expect(status.shardsWithoutLeader).toEqual([]);
    for (const shardId of [1, 2]) expect(status.replicas.filter((row) => row.shardId === shardId && row.status?.role === "leader")).toHaveLength(1);

    // Remove the leader's replica: it hands leadership over first and the command follows the
    // lead (where a false "No reachable leader" error used to be printed before the success).
    const transferred = run(["admin", "transfer-leader", "--config", configPath(), "--shard", "2", "--to", String(spare)]);
    expect(transferred.stderr).toBe("");
    expect(transferred.exitCode).toBe(0);
    await waitFor(`store ${spare} leads shard 2`, rows, (all) => all.some((row) => row.shardId === 2 && row.memberId === spare && row.status?.role === "leader"));
    const removed = run(["admin", "remove-replica", "--config", configPath(), "--shard", "2", "--store", String(spare)]);
    expect(removed.stderr).toBe("");
    expect(removed.exitCode).toBe(0);
    expect(removed.stdout).not.toMatch(/error/i);
    expect(removed.stdout).toContain(`store ${spare} removed from shard 2`);
    await waitFor(`a leader of shard 2 other than store ${spare}`, rows, (all) => all.some((row) => row.shardId === 2 && row.memberId !== spare && row.status?.role === "leader"));
    await waitFor(
      `store ${spare} without a replica of shard 2`,
      () => Promise.resolve(JSON.parse(run(["kv", "status", "--node", storeClient(spare)]).stdout) as { groups: { groupId: number }[] }),
      (storeStatus) => !storeStatus.groups.some((group) => group.groupId === 2),
    );
    // ukv status lists the members the metadata records; the stores' reports update it, a report after the store's own drop.
    await waitFor(`ukv status without store ${spare} in shard 2`, rows, (all) => !all.some((row) => row.shardId === 2 && row.memberId === spare));
  }, 60_000);
});

describe("7. ukv kv set KEY -", () => {
  test("reads the value from stdin: binary, larger than an argument may be, exactly", () => {
    const value = new Uint8Array(900 * 1024);
    for (let index = 0; index < value.length; index++) value[index] = (index * 131 + 7) % 256;
    const set = run(["kv", "set", "stdin-key", "-", "--node", storeClient(1)], { stdin: value });
    expect(set.exitCode).toBe(0);
    const got = Bun.spawnSync([ukvBinary, "kv", "get", "stdin-key", "--linearizable", "--node", storeClient(3)], { stdout: "pipe" }).stdout;
    // kv get prints the value and a newline.
    expect(got.subarray(0, value.length).equals(value)).toBe(true);
    expect(got.length).toBe(value.length + 1);
  });

  test("over the value limit on stdin: VALUE_TOO_LARGE (exit 11), one line, nothing stored", () => {
    const ran = run(["kv", "set", "too-large", "-", "--node", storeClient(1)], { stdin: new Uint8Array(1024 * 1024 + 1) });
    expect(ran.exitCode).toBe(exitStatus.valueTooLarge);
    expectOneLine(ran.stderr, /^error \(VALUE_TOO_LARGE\): The value on stdin is over 1048576 bytes/);
    expect(run(["kv", "get", "too-large", "--linearizable", "--node", storeClient(1)]).exitCode).toBe(exitStatus.notFound);
  });
});

test("8. the local cluster's WAL segment is the schema's minimum, and its disk use stays near a segment per store", () => {
  expect(config.walSegmentSizeBytes).toBe(walSegmentSizeBytesMin);
  const du = Bun.spawnSync(["du", "-sb", join(dir, "data")], { stdout: "pipe" });
  const usedBytes = Number(du.stdout.toString().split("\t")[0]);
  // One preallocated segment per store's shared log, plus snapshots and manifests (small here).
  expect(usedBytes).toBeLessThan(storeCount * (config.walSegmentSizeBytes + 4 * 1024 * 1024));
});

test("10. RESP INFO: memory from the tables' bytes, instantaneous ops, keyspace hits and misses", async () => {
  const redis = new Redis({ port: portBase + 2, host: "127.0.0.1", lazyConnect: true, maxRetriesPerRequest: 1 });
  await redis.connect();
  try {
    // Read-your-writes on this connection (default reads are follower reads).
    expect(await redis.call("client", "readmode", "linearizable")).toBe("OK");
    await redis.set("info-key", "x".repeat(10_000));
    expect(await redis.get("info-key")).toHaveLength(10_000);
    expect(await redis.get("info-missing")).toBeNull();
    const pipeline = redis.pipeline();
    for (let index = 0; index < 500; index++) pipeline.get("info-key");
    await pipeline.exec();
    const info = await redis.info();
    const field = (name: string): number => Number(info.match(new RegExp(`^${name}:(\\d+)\\r?$`, "m"))?.[1] ?? Number.NaN);
    expect(info).not.toContain("-9223372036854775808");
    expect(field("used_memory")).toBeGreaterThan(10_000);
    expect(info).toMatch(/^used_memory_human:\d+\.\d\d[KMG]\r?$/m);
    expect(field("instantaneous_ops_per_sec")).toBeGreaterThan(0);
    expect(field("keyspace_hits")).toBeGreaterThanOrEqual(501);
    expect(field("keyspace_misses")).toBeGreaterThanOrEqual(1);
    expect(field("connected_clients")).toBeGreaterThanOrEqual(1);
  } finally {
    redis.disconnect();
  }
});

describe("11. Ctrl-C and dying children: every child stopped, the supervisor exits", () => {
  async function ownCluster(name: string): Promise<{ clusterDir: string; base: number }> {
    return { clusterDir: join(root, name), base: await findFreePortBase(40) };
  }

  function childPids(clusterDir: string, supervisorPid: number): number[] {
    return processesMentioning(clusterDir).filter((pid) => pid !== supervisorPid);
  }

  async function expectGone(clusterDir: string): Promise<void> {
    await waitFor(`no process of ${clusterDir}`, () => Promise.resolve(processesMentioning(clusterDir)), (left) => left.length === 0, 15_000);
  }

  test("SIGINT to the whole process group, and to every child too, in one burst: exit 0, nothing left", async () => {
    const { clusterDir, base } = await ownCluster("sigint-group");
    const { child, lines } = await clusterUp(clusterDir, base, ["--stores", "3", "--shards", "1"]);
    const children = childPids(clusterDir, child.pid);
    expect(children).toHaveLength(3);
    // What a terminal does on Ctrl-C, and worse: every process of the cluster gets SIGINT at once.
    process.kill(-child.pid, "SIGINT");
    for (const pid of children) process.kill(pid, "SIGINT");
    const code = await Promise.race([child.exited, Bun.sleep(20_000).then(() => "hung")]);
    expect(code).not.toBe("hung");
    await expectGone(clusterDir);
    expect(lines).toContain("SIGINT: stopping the cluster");
    expect(code).toBe(0);
  }, 60_000);

  test("every child exits on its own (SIGINT to each store only): the supervisor stops and exits non-zero", async () => {
    const { clusterDir, base } = await ownCluster("children-die");
    const { child, lines } = await clusterUp(clusterDir, base, ["--stores", "3", "--shards", "1"]);
    for (const pid of childPids(clusterDir, child.pid)) process.kill(pid, "SIGINT");
    const code = await Promise.race([child.exited, Bun.sleep(20_000).then(() => "hung")]);
    expect(code).toBe(exitStatus.unavailable);
    expect(lines.some((line) => /^stderr: error \(UNAVAILABLE\): Every store exited/.test(line))).toBe(true);
    await expectGone(clusterDir);
  }, 60_000);

  test("SIGINT during start-up: start-up stops, every started store stopped, exit 130", async () => {
    const { clusterDir, base } = await ownCluster("sigint-startup");
    const child = Bun.spawn([ukvBinary, "cluster", "up", "--dir", clusterDir, "--port-base", String(base), "--stores", "3", "--shards", "1"], { stdin: "ignore", stdout: "pipe", stderr: "pipe", detached: true });
    await waitFor("the first store started", () => Promise.resolve(childPids(clusterDir, child.pid).length), (count) => count > 0, 20_000);
    process.kill(-child.pid, "SIGINT");
    const code = await Promise.race([child.exited, Bun.sleep(20_000).then(() => "hung")]);
    expect(code).toBe(exitStatus.interrupted);
    expect(text(new Uint8Array(await new Response(child.stdout).arrayBuffer()))).toContain("SIGINT: start-up stopped");
    await expectGone(clusterDir);
  }, 60_000);
});
