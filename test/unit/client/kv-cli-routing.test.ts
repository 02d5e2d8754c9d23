// `ukv kv` targets against fake stores: --config routes by key in-process (the smart client, its
// topology from the config's metadata stores, or the config's own placement when they do not
// answer), --meta reads the topology from metadata stores alone, --router goes through a router,
// --node hands the request to one store (it routes); exactly one target is accepted.
import { afterEach, describe, expect, test } from "bun:test";
import { Cli } from "clipanion";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PassThrough } from "node:stream";
import pino from "pino";
import { kvCommands } from "../../../src/cli/kv.ts";
import { StaticTopologySource } from "../../../src/client/topology.ts";
import { parseClusterConfig, renderClusterConfig, type ClusterConfig } from "../../../src/config/cluster-config.ts";
import { renderLocalClusterConfig } from "../../../src/config/local-cluster.ts";
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

/**
 * Two shards on three fake stores (shard 1 led by store 1, shard 2 by store 2), and a config file
 * naming them. `metaAnswers`: whether the metadata stores (1..3) answer TOPOLOGY.
 */
async function setUp(options: { metaAnswers: boolean }): Promise<{ cluster: FakeCluster; config: ClusterConfig; configPath: string }> {
  cluster = await FakeCluster.start([[1, 2, 3], [2, 3, 1]], { metaStores: options.metaAnswers ? [1, 2, 3] : [] });
  dir = mkdtempSync(join(tmpdir(), "ukv-kv-routing-"));
  // Raft ports below 1100: never listened on here, so they cannot collide with the fakes' ephemeral ports.
  const base = parseClusterConfig(renderLocalClusterConfig({ dir, storeCount: 3, shardCount: 2, replication: 3, portBase: 1024 }), "generated", "/");
  const layout = cluster.layout();
  const config: ClusterConfig = {
    ...base,
    stores: layout.stores.map((store) => {
      const addresses = { raftAddress: store.raftAddress, clientAddress: store.clientAddress, respAddress: null };
      return { id: store.id, ...addresses, advertised: addresses, httpAddress: null, advertisedHttpAddress: null };
    }),
    metaStores: [1, 2, 3],
    shards: layout.shards.map((shard) => ({ id: shard.id, replicas: shard.members.map((member) => member.id) })),
  };
  const configPath = join(dir, "cluster.yaml");
  writeFileSync(configPath, renderClusterConfig(config));
  return { cluster, config, configPath };
}

describe("ukv kv routing", () => {
  test("--config routes each key to its shard's leader in-process, the topology read from the metadata stores", async () => {
    const { cluster, configPath } = await setUp({ metaAnswers: true });
    for (let index = 0; index < 20; index++) expect((await runKv(["kv", "set", `k${index}`, `v${index}`, "--config", configPath])).status).toBe(0);
    expect(cluster.shard(1).store.size).toBeGreaterThan(0);
    expect(cluster.shard(2).store.size).toBeGreaterThan(0);
    expect(cluster.shard(1).store.size + cluster.shard(2).store.size).toBe(20);
    expect(cluster.shard(1).member(1).countOf("SET") + cluster.shard(2).member(2).countOf("SET")).toBe(20);
    expect(cluster.store(1).received.some((request) => request.op === "TOPOLOGY")).toBe(true);
    expect(await runKv(["kv", "get", "k7", "--config", configPath])).toMatchObject({ status: 0, stdout: "v7\n" });
    expect((await runKv(["kv", "del", "k7", "--config", configPath])).status).toBe(0);
    expect((await runKv(["kv", "get", "k7", "--config", configPath])).status).toBe(1);
  });

  test("--config falls back to the config's placement when no metadata store answers TOPOLOGY", async () => {
    const { cluster, configPath } = await setUp({ metaAnswers: false });
    for (let index = 0; index < 10; index++) expect((await runKv(["kv", "set", `f${index}`, "v", "--config", configPath])).status).toBe(0);
    expect(cluster.shard(1).store.size + cluster.shard(2).store.size).toBe(10);
  });

  test("--meta reads the topology from the metadata stores alone", async () => {
    const { cluster } = await setUp({ metaAnswers: true });
    const meta = [1, 2, 3].map((storeId) => cluster.store(storeId).address).join(",");
    expect(await runKv(["kv", "set", "m", "1", "--meta", meta])).toMatchObject({ status: 0, stdout: "OK\n" });
    expect(await runKv(["kv", "get", "m", "--meta", meta])).toMatchObject({ status: 0, stdout: "1\n" });
    expect(cluster.shard(1).store.has("m") || cluster.shard(2).store.has("m")).toBe(true);
  });

  test("--config refuses STATUS: it names one store", async () => {
    const { configPath } = await setUp({ metaAnswers: true });
    const result = await runKv(["kv", "status", "--config", configPath]);
    expect(result.status).toBe(4);
    expect(result.stderr).toContain("STATUS names one store");
  });

  test("--router sends the request through the router", async () => {
    const { cluster } = await setUp({ metaAnswers: false });
    router = await RouterServer.start({
      electionTimeoutMs: 1000,
      topologySource: new StaticTopologySource(cluster.layout()),
      listen: { host: "127.0.0.1", port: 0 },
      logger: pino({ level: "silent" }),
    });
    const address = `127.0.0.1:${router.port}`;
    expect(await runKv(["kv", "set", "routed", "yes", "--router", address])).toMatchObject({ status: 0, stdout: "OK\n" });
    expect(cluster.shard(1).store.has("routed") || cluster.shard(2).store.has("routed")).toBe(true);
    expect(await runKv(["kv", "get", "routed", "--router", address])).toMatchObject({ status: 0, stdout: "yes\n" });
  });

  test("--node sends one untagged request to that store and prints its answer", async () => {
    const { cluster } = await setUp({ metaAnswers: false });
    // A fake store does not route: its answer to an untagged request shows the request went as is.
    const result = await runKv(["kv", "set", "k", "v", "--node", cluster.store(2).address]);
    expect(result.status).toBe(4);
    expect(result.stderr).toContain("A fake store does not route");
    expect(cluster.store(2).received.map((request) => [request.op, request.shard])).toEqual([["SET", 0]]);
    const status = await runKv(["kv", "status", "--node", cluster.store(2).address]);
    expect(status.status).toBe(0);
    expect(JSON.parse(status.stdout)).toMatchObject({ role: "store", storeId: 2 });
  });

  test("exactly one of --node, --router, --config, --meta is accepted", async () => {
    const none = await runKv(["kv", "get", "k"]);
    expect(none.status).toBe(4);
    expect(none.stderr).toContain("pass exactly one of --node, --router, --config, --meta");
    const two = await runKv(["kv", "get", "k", "--node", "127.0.0.1:1", "--router", "127.0.0.1:2"]);
    expect(two.status).toBe(4);
    const three = await runKv(["kv", "get", "k", "--config", "x.yaml", "--meta", "127.0.0.1:1"]);
    expect(three.status).toBe(4);
  });
});
