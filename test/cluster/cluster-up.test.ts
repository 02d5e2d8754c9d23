// `dist/ukv cluster up` end to end: it starts one store per simulated server, prints every store's
// client and RESP address and the ready line, serves through every store, `ukv status` shows a
// leader for every group, SIGINT stops every child (no process left), a second run on the same dir
// has the data, a second `cluster up` on a dir in use is refused at once and leaves the first
// alone, and when the supervisor is killed with SIGKILL its children stop by themselves (parent
// watch). Each test makes its own cluster in its own dir.
import { afterEach, expect, test } from "bun:test";
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Subprocess } from "bun";
import { loadClusterConfig } from "../../src/config/cluster-config.ts";
import { KvClient } from "../../src/transport/kv-client.ts";
import { bytes, findFreePortBase, text, ukvBinary, waitFor } from "./harness.ts";

const decoder = new TextDecoder();
const storeCount = 3;
let dir: string | null = null;

afterEach(() => {
  if (dir === null) return;
  // Whatever a failed test left behind: the command lines name the unique dir.
  for (const pid of processesMentioning(dir)) process.kill(pid, "SIGKILL");
  rmSync(dir, { recursive: true, force: true });
  dir = null;
});

/** A fresh dir and port base for one test's cluster. */
async function freshCluster(): Promise<{ dir: string; portBase: number }> {
  dir = mkdtempSync(join(tmpdir(), "ukv-cluster-up-"));
  return { dir, portBase: await findFreePortBase(10 * (storeCount + 1)) };
}

/** Pids of live processes whose command line mentions `needle` (the unique temp dir). */
function processesMentioning(needle: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^[0-9]+$/.test(entry)) continue;
    let cmdline: string;
    try {
      cmdline = readFileSync(`/proc/${entry}/cmdline`, "utf8");
      const state = /^State:\s+(\S)/m.exec(readFileSync(`/proc/${entry}/status`, "utf8"))?.[1];
      if (state === "Z") continue; // exited, waiting to be reaped by its parent
    } catch {
      continue; // exited while we looked
    }
    if (cmdline.includes(needle) && Number(entry) !== process.pid) pids.push(Number(entry));
  }
  return pids.sort((a, b) => a - b);
}

function waitUntilNoProcess(needle: string, timeoutMs: number): Promise<number[]> {
  return waitFor(`no process mentioning ${needle}`, () => Promise.resolve(processesMentioning(needle)), (left) => left.length === 0, timeoutMs).catch(() => processesMentioning(needle));
}

interface RunningUp {
  child: Subprocess;
  output(): string;
}

/** Starts `ukv cluster up` and resolves once it printed the ready line. */
async function clusterUp(clusterDir: string, portBase: number): Promise<RunningUp> {
  const child = Bun.spawn([ukvBinary, "cluster", "up", "--dir", clusterDir, "--stores", String(storeCount), "--shards", "2", "--replicas", "3", "--port-base", String(portBase)], {
    stdout: "pipe",
    stderr: "pipe",
  });
  let output = "";
  const collect = async (stream: ReadableStream<Uint8Array>): Promise<void> => {
    const reader = stream.getReader();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return;
      output += decoder.decode(value);
    }
  };
  void collect(child.stdout as ReadableStream<Uint8Array>);
  void collect(child.stderr as ReadableStream<Uint8Array>);
  try {
    await waitFor("the ready line", () => Promise.resolve(output), (current) => current.includes("ukv cluster ready") || child.exitCode !== null, 30_000);
  } catch (error) {
    child.kill("SIGKILL");
    throw new Error(`cluster up did not get ready:\n${output}`, { cause: error });
  }
  if (child.exitCode !== null) throw new Error(`cluster up exited with ${child.exitCode}:\n${output}`);
  return { child, output: () => output };
}

/** A client of each store of the cluster in `clusterDir`. */
function storeClients(clusterDir: string): KvClient[] {
  const config = loadClusterConfig(join(clusterDir, "cluster.yaml"));
  return config.stores.map((store) => new KvClient(store.clientAddress, { timeoutMs: 5000 }));
}

test("prints every store's endpoints and the ready line, serves through every store, ukv status shows every group's leader, and SIGINT leaves no process", async () => {
  const { dir: clusterDir, portBase } = await freshCluster();
  const up = await clusterUp(clusterDir, portBase);
  for (let storeIndex = 0; storeIndex < storeCount; storeIndex++) {
    const port = portBase + 10 * storeIndex;
    expect(up.output()).toContain(`store ${storeIndex + 1}  client 127.0.0.1:${port + 1}  redis 127.0.0.1:${port + 2}  http http://127.0.0.1:${port + 3}/  (metadata store)`);
  }
  expect(up.output()).toContain("shards   2 x 3 replicas");
  // One process per store, besides the supervisor itself.
  expect(processesMentioning(clusterDir).length).toBe(storeCount + 1);
  // The data lives in DIR/data (regression: it went to the working directory's ./data).
  for (let storeId = 1; storeId <= storeCount; storeId++) expect(existsSync(join(clusterDir, "data", `store-${storeId}`))).toBe(true);
  const clients = storeClients(clusterDir);
  try {
    for (const [index, client] of clients.entries()) {
      expect((await client.set(bytes(`greeting-${index}`), bytes("hello"))).code).toBe("OK");
      const next = clients[(index + 1) % clients.length]!;
      expect(text((await next.get(bytes(`greeting-${index}`), { linearizable: true })).value)).toBe("hello");
    }
  } finally {
    for (const client of clients) client.close();
  }
  const status = Bun.spawnSync([ukvBinary, "status", "--dir", clusterDir]);
  const table = decoder.decode(status.stdout);
  expect(decoder.decode(status.stderr)).toBe("");
  expect(status.exitCode).toBe(0);
  expect(table).toMatch(/^SHARD\s+STORE\s+ADDRESS\s+ROLE\s+TERM\s+APPLIED\s+LAG\s+KEYS\s+REACHABLE$/m);
  for (const shard of ["meta", "1", "2"]) expect(table).toMatch(new RegExp(`^${shard}\\s+\\d+\\s+\\S+\\s+leader\\s`, "m"));
  expect(table.split("\n").filter((line) => line.endsWith("yes")).length).toBe(9);
  const json = JSON.parse(decoder.decode(Bun.spawnSync([ukvBinary, "status", "--dir", clusterDir, "--json"]).stdout)) as { shardsWithoutLeader: number[]; replicas: unknown[] };
  expect(json.shardsWithoutLeader).toEqual([]);
  expect(json.replicas.length).toBe(9);

  up.child.kill("SIGINT");
  expect(await up.child.exited).toBe(0);
  expect(up.output()).toContain("ukv cluster stopped");
  expect(await waitUntilNoProcess(clusterDir, 2000)).toEqual([]);
  // Every store stopped by its clean path.
  for (let storeId = 1; storeId <= storeCount; storeId++) expect(readFileSync(join(clusterDir, "logs", `store-${storeId}.log`), "utf8")).toContain("store_stopped");
}, 60_000);

test("a second run on the same dir restarts the same cluster with its data", async () => {
  const { dir: clusterDir, portBase } = await freshCluster();
  const first = await clusterUp(clusterDir, portBase);
  expect(first.output()).toContain("Wrote");
  let clients = storeClients(clusterDir);
  try {
    expect((await clients[0]!.set(bytes("kept"), bytes("across runs"))).code).toBe("OK");
  } finally {
    for (const client of clients) client.close();
  }
  first.child.kill("SIGTERM");
  expect(await first.child.exited).toBe(0);
  expect(await waitUntilNoProcess(clusterDir, 2000)).toEqual([]);

  // Other flags on the rerun: the dir's config wins.
  const second = await clusterUp(clusterDir, portBase + 1);
  expect(second.output()).toContain("Reusing");
  clients = storeClients(clusterDir);
  try {
    for (const client of clients) {
      const read = await client.get(bytes("kept"), { linearizable: true });
      expect(read.code).toBe("OK");
      expect(text(read.value)).toBe("across runs");
    }
  } finally {
    for (const client of clients) client.close();
  }
  second.child.kill("SIGTERM");
  expect(await second.child.exited).toBe(0);
  expect(await waitUntilNoProcess(clusterDir, 2000)).toEqual([]);
}, 60_000);

test("a second cluster up on a dir in use is refused at once, and the first cluster is untouched", async () => {
  const { dir: clusterDir, portBase } = await freshCluster();
  const first = await clusterUp(clusterDir, portBase);
  const pidsBefore = processesMentioning(clusterDir);
  const configBefore = readFileSync(join(clusterDir, "cluster.yaml"), "utf8");
  const startedMs = performance.now();
  const second = Bun.spawnSync([ukvBinary, "cluster", "up", "--dir", clusterDir, "--stores", "4", "--port-base", String(portBase + 1)], { timeout: 20_000 });
  expect(performance.now() - startedMs).toBeLessThan(5000);
  expect(second.exitCode).not.toBe(0);
  expect(second.exitCode).not.toBeNull();
  expect(decoder.decode(second.stderr)).toContain("DIR_LOCKED");
  expect(decoder.decode(second.stdout)).not.toContain("ukv cluster ready");
  // The first cluster: same processes, same config, still serving.
  expect(processesMentioning(clusterDir)).toEqual(pidsBefore);
  expect(readFileSync(join(clusterDir, "cluster.yaml"), "utf8")).toBe(configBefore);
  expect(first.child.exitCode).toBeNull();
  const clients = storeClients(clusterDir);
  try {
    expect((await clients[1]!.set(bytes("still"), bytes("here"))).code).toBe("OK");
    expect(text((await clients[2]!.get(bytes("still"), { linearizable: true })).value)).toBe("here");
  } finally {
    for (const client of clients) client.close();
  }
  first.child.kill("SIGTERM");
  expect(await first.child.exited).toBe(0);
}, 60_000);

test("children stop by themselves when the supervisor is killed with SIGKILL", async () => {
  const { dir: clusterDir, portBase } = await freshCluster();
  const up = await clusterUp(clusterDir, portBase);
  up.child.kill("SIGKILL");
  await up.child.exited;
  expect(await waitUntilNoProcess(clusterDir, 15_000)).toEqual([]);
}, 60_000);
