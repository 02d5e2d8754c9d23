// `dist/ukv cluster up` end to end: it starts meta, shards and router, prints the ready line, serves a set/get through its router,
// stops every child on SIGINT (no process left), a second run on the same dir has the data, and
// when the supervisor is killed with SIGKILL its children stop by themselves (parent watch).
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Subprocess } from "bun";
import { loadClusterConfig } from "../../src/config/cluster-config.ts";
import { KvClient } from "../../src/transport/kv-client.ts";
import { bytes, findFreePortBase, text, ukvBinary } from "./harness.ts";

const decoder = new TextDecoder();
let dir: string;
let portBase: number;

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
  return pids;
}

async function waitUntilNoProcess(needle: string, timeoutMs: number): Promise<number[]> {
  const deadline = Date.now() + timeoutMs;
  let left = processesMentioning(needle);
  while (left.length > 0 && Date.now() < deadline) {
    await Bun.sleep(100);
    left = processesMentioning(needle);
  }
  return left;
}

interface RunningUp {
  child: Subprocess;
  output(): string;
}

/** Starts `ukv cluster up` and resolves once it printed the ready line. */
async function clusterUp(): Promise<RunningUp> {
  const child = Bun.spawn([ukvBinary, "cluster", "up", "--dir", dir, "--shards", "2", "--replicas", "3", "--port-base", String(portBase)], {
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
  const deadline = Date.now() + 30_000;
  while (!output.includes("ukv cluster ready")) {
    if (Date.now() > deadline || child.exitCode !== null) {
      child.kill("SIGKILL");
      throw new Error(`cluster up did not get ready:\n${output}`);
    }
    await Bun.sleep(50);
  }
  return { child, output: () => output };
}

function routerClient(): KvClient {
  const config = loadClusterConfig(join(dir, "cluster.yaml"));
  return new KvClient(config.router!.clientAddress, { timeoutMs: 5000 });
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "ukv-cluster-up-"));
  portBase = await findFreePortBase(2 * (3 + 6) + 2);
});

afterAll(() => {
  // Whatever a failed test left behind: the command lines name the unique dir.
  for (const pid of processesMentioning(dir)) process.kill(pid, "SIGKILL");
  rmSync(dir, { recursive: true, force: true });
});

describe("ukv cluster up", () => {
  test("prints the endpoints and the ready line, serves through its router, ukv status shows every group's leader, and SIGINT leaves no process", async () => {
    const up = await clusterUp();
    expect(up.output()).toContain("router   127.0.0.1:");
    expect(up.output()).toContain("shard 2  node 7");
    expect(up.output()).toContain("meta     node 1 127.0.0.1:");
    // 3 meta members, 6 shard members and the router, besides the supervisor itself.
    expect(processesMentioning(dir).length).toBe(11);
    const client = routerClient();
    try {
      expect((await client.set(bytes("greeting"), bytes("hello"))).code).toBe("OK");
      const read = await client.get(bytes("greeting"), { linearizable: true });
      expect(text(read.value)).toBe("hello");
    } finally {
      client.close();
    }
    const status = Bun.spawnSync([ukvBinary, "status", "--dir", dir]);
    const table = decoder.decode(status.stdout);
    expect(status.exitCode).toBe(0);
    expect(table.split("\n")[0]).toMatch(/^SHARD\s+MEMBER\s+ADDRESS\s+ROLE\s+TERM\s+APPLIED\s+LAG\s+KEYS\s+REACHABLE$/);
    for (const shard of ["meta", "1", "2"]) expect(table).toMatch(new RegExp(`^${shard}\\s+\\d+\\s+\\S+\\s+leader\\s`, "m"));
    expect(table.split("\n").filter((line) => line.endsWith("yes")).length).toBe(9);
    up.child.kill("SIGINT");
    expect(await up.child.exited).toBe(0);
    expect(up.output()).toContain("ukv cluster stopped");
    expect(await waitUntilNoProcess(dir, 2000)).toEqual([]);
    // Every node stopped by its clean path.
    for (const id of [4, 5, 6, 7, 8, 9]) expect(readFileSync(join(dir, "logs", `node-${id}.log`), "utf8")).toContain("node_stopped");
  }, 60_000);

  test("a second run on the same dir restarts the same cluster with its data", async () => {
    const up = await clusterUp();
    expect(up.output()).toContain("Reusing");
    const client = routerClient();
    try {
      const read = await client.get(bytes("greeting"), { linearizable: true });
      expect(read.code).toBe("OK");
      expect(text(read.value)).toBe("hello");
    } finally {
      client.close();
    }
    up.child.kill("SIGTERM");
    expect(await up.child.exited).toBe(0);
    expect(await waitUntilNoProcess(dir, 2000)).toEqual([]);
  }, 60_000);

  test("children stop by themselves when the supervisor is killed with SIGKILL", async () => {
    const up = await clusterUp();
    up.child.kill("SIGKILL");
    await up.child.exited;
    expect(await waitUntilNoProcess(dir, 15_000)).toEqual([]);
  }, 60_000);
});
