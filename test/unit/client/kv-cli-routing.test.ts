// `ukv kv --config FILE` routes by key in-process (the smart client) and `--router HOST:PORT`
// goes through a router; exactly one target is accepted.
import { afterEach, describe, expect, test } from "bun:test";
import { Cli } from "clipanion";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PassThrough } from "node:stream";
import pino from "pino";
import { kvCommands } from "../../../src/cli/kv.ts";
import { generateLocalClusterConfig, renderClusterConfig, type ClusterConfig } from "../../../src/config/cluster-config.ts";
import { RouterServer } from "../../../src/router/router-server.ts";
import { FakeCluster } from "./fake-cluster.ts";

let cluster: FakeCluster | null = null;
let router: RouterServer | null = null;
let dir: string | null = null;

afterEach(async () => {
  await router?.close();
  router = null;
  await cluster?.stop();
  cluster = null;
  if (dir !== null) rmSync(dir, { recursive: true, force: true });
  dir = null;
});

async function runKv(args: string[]): Promise<{ status: number; stdout: string; stderr: string }> {
  const cli = new Cli({ binaryName: "ukv" });
  for (const command of kvCommands) cli.register(command);
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  stdout.on("data", (chunk: Buffer) => out.push(chunk));
  stderr.on("data", (chunk: Buffer) => err.push(chunk));
  const status = await cli.run(args, { stdin: process.stdin, stdout, stderr, env: {}, colorDepth: 1 });
  return { status, stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString() };
}

async function setUp(): Promise<{ cluster: FakeCluster; config: ClusterConfig; configPath: string }> {
  cluster = await FakeCluster.start(2);
  dir = mkdtempSync(join(tmpdir(), "ukv-kv-routing-"));
  // Meta and raft ports below 1100: never listened on here, so they cannot collide with the fakes' ephemeral ports.
  const base = generateLocalClusterConfig({ dir, shards: 1, replicas: 3, portBase: 1024 });
  const shards = cluster.layout().shards.map((shard) => ({
    ...shard,
    members: shard.members.map((member) => ({ ...member, raftAddress: `127.0.0.1:${1050 + member.id}` })),
  }));
  const config: ClusterConfig = { ...base, shards };
  const configPath = join(dir, "cluster.yaml");
  writeFileSync(configPath, renderClusterConfig(config));
  return { cluster, config, configPath };
}

describe("ukv kv routing", () => {
  test("--config routes each key to its shard's leader in-process", async () => {
    const { cluster, configPath } = await setUp();
    for (let index = 0; index < 20; index++) expect((await runKv(["kv", "set", `k${index}`, `v${index}`, "--config", configPath])).status).toBe(0);
    expect(cluster.shard(1).store.size).toBeGreaterThan(0);
    expect(cluster.shard(2).store.size).toBeGreaterThan(0);
    expect(cluster.shard(1).store.size + cluster.shard(2).store.size).toBe(20);
    expect(await runKv(["kv", "get", "k7", "--config", configPath])).toMatchObject({ status: 0, stdout: "v7\n" });
    expect((await runKv(["kv", "del", "k7", "--config", configPath])).status).toBe(0);
    expect((await runKv(["kv", "get", "k7", "--config", configPath])).status).toBe(1);
  });

  test("--router sends the request through the router", async () => {
    const { cluster, config } = await setUp();
    router = await RouterServer.start({ config, host: "127.0.0.1", port: 0, logger: pino({ level: "silent" }) });
    const address = `127.0.0.1:${router.port}`;
    expect(await runKv(["kv", "set", "routed", "yes", "--router", address])).toMatchObject({ status: 0, stdout: "OK\n" });
    expect(cluster.shard(1).store.has("routed") || cluster.shard(2).store.has("routed")).toBe(true);
    expect(await runKv(["kv", "get", "routed", "--router", address])).toMatchObject({ status: 0, stdout: "yes\n" });
  });

  test("exactly one of --node, --router, --config is accepted", async () => {
    const none = await runKv(["kv", "get", "k"]);
    expect(none.status).toBe(4);
    expect(none.stderr).toContain("pass exactly one of --node, --router, --config");
    const two = await runKv(["kv", "get", "k", "--node", "127.0.0.1:1", "--router", "127.0.0.1:2"]);
    expect(two.status).toBe(4);
  });
});
