// The config `ukv cluster up` writes: it loads with the ordinary loader, ports follow the
// documented layout, small clusters opt into small groups, bad options name the option.
import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadClusterConfig, parseClusterConfig, type ClusterConfig } from "../../../src/config/cluster-config.ts";
import { renderLocalClusterConfig, type LocalClusterOptions } from "../../../src/config/local-cluster.ts";
import { walSegmentSizeBytesMin } from "../../../src/config/schema.ts";

const repoRoot = join(import.meta.dir, "../../..");
const tempDir = mkdtempSync(join(tmpdir(), "ukv-local-cluster-test-"));
afterAll(() => rmSync(tempDir, { recursive: true, force: true }));

/** Renders, writes and loads the file as `ukv cluster up` would. */
function renderAndLoad(options: LocalClusterOptions): ClusterConfig {
  const path = join(tempDir, "cluster.yaml");
  writeFileSync(path, renderLocalClusterConfig(options));
  return loadClusterConfig(path);
}

describe("renderLocalClusterConfig", () => {
  test("5 stores, 8 shards of 3: ports portBase + 10(i-1) + 0/1/2, meta on stores 1..3, computed shards, router after the stores", () => {
    const config = renderAndLoad({ dir: join(tempDir, "data"), storeCount: 5, shardCount: 8, replication: 3, portBase: 20000 });
    expect(config.clusterName).toBe("local");
    expect(config.dataDir).toBe(join(tempDir, "data"));
    expect(config.stores.map((store) => [store.id, store.raftAddress, store.clientAddress, store.respAddress])).toEqual([
      [1, "127.0.0.1:20000", "127.0.0.1:20001", "127.0.0.1:20002"],
      [2, "127.0.0.1:20010", "127.0.0.1:20011", "127.0.0.1:20012"],
      [3, "127.0.0.1:20020", "127.0.0.1:20021", "127.0.0.1:20022"],
      [4, "127.0.0.1:20030", "127.0.0.1:20031", "127.0.0.1:20032"],
      [5, "127.0.0.1:20040", "127.0.0.1:20041", "127.0.0.1:20042"],
    ]);
    expect(config.stores.every((store) => store.advertised.raftAddress === store.raftAddress)).toBe(true);
    expect(config.metaStores).toEqual([1, 2, 3]);
    expect(config.allowSmallGroups).toBe(false);
    expect(config.shards.length).toBe(8);
    expect(config.shards.every((shard) => shard.replicas.length === 3)).toBe(true);
    expect(config.router).toEqual({ clientAddress: "127.0.0.1:20050", respAddress: "127.0.0.1:20051" });
  });

  test("the WAL segment is the smallest the schema allows, to bound a local cluster's disk use", () => {
    const config = renderAndLoad({ dir: tempDir, storeCount: 3, shardCount: 1, replication: 3, portBase: 21000 });
    expect(config.walSegmentSizeBytes).toBe(walSegmentSizeBytesMin);
  });

  test("fewer than 3 stores, or replication below 3, sets allowSmallGroups; meta takes min(3, storeCount) stores", () => {
    const single = renderAndLoad({ dir: tempDir, storeCount: 1, shardCount: 4, replication: 1, portBase: 22000 });
    expect(single.allowSmallGroups).toBe(true);
    expect(single.metaStores).toEqual([1]);
    expect(single.shards.every((shard) => shard.replicas.length === 1 && shard.replicas[0] === 1)).toBe(true);
    const two = renderAndLoad({ dir: tempDir, storeCount: 2, shardCount: 2, replication: 2, portBase: 22000 });
    expect(two.metaStores).toEqual([1, 2]);
    expect(two.allowSmallGroups).toBe(true);
    const thin = renderAndLoad({ dir: tempDir, storeCount: 4, shardCount: 2, replication: 2, portBase: 22000 });
    expect(thin.metaStores).toEqual([1, 2, 3]);
    expect(thin.allowSmallGroups).toBe(true);
  });

  test("1000 shards of 3 on 3 stores (the benchmark) render and load", () => {
    const config = renderAndLoad({ dir: tempDir, storeCount: 3, shardCount: 1000, replication: 3, portBase: 23000, clusterName: "bench" });
    expect(config.clusterName).toBe("bench");
    expect(config.shards.length).toBe(1000);
  });

  test("a relative dir is written as an absolute path", () => {
    const text = renderLocalClusterConfig({ dir: "relative/data", storeCount: 1, shardCount: 1, replication: 1, portBase: 24000 });
    expect(parseClusterConfig(text, "local", "/elsewhere").dataDir).toBe(join(process.cwd(), "relative/data"));
  });

  test("options out of range are CONFIG_INVALID naming the option", () => {
    const base: LocalClusterOptions = { dir: tempDir, storeCount: 3, shardCount: 1, replication: 3, portBase: 7000 };
    const expectOption = (override: Partial<LocalClusterOptions>, message: RegExp): void => {
      expect(() => renderLocalClusterConfig({ ...base, ...override })).toThrow(message);
    };
    expectOption({ storeCount: 0 }, /generated local cluster: storeCount: must be an integer in 1\.\.256, got 0/);
    expectOption({ shardCount: 4097 }, /shardCount: must be an integer in 1\.\.4096, got 4097/);
    expectOption({ replication: 4 }, /replication: must be an integer in 1\.\.3 \(at most storeCount and 9\), got 4/);
    expectOption({ portBase: 65510 }, /portBase: must be an integer such that ports 65510\.\.65541 lie in 1\.\.65535/);
    expectOption({ dir: "" }, /dir: must not be empty/);
    expectOption({ clusterName: "no spaces" }, /clusterName: must be 1\.\.64 letters/);
  });

  test("configs/local-3stores.yaml is the rendered local cluster of 3 stores, 4 shards of 3, at port 7100", () => {
    const config = loadClusterConfig(join(repoRoot, "configs/local-3stores.yaml"));
    const text = renderLocalClusterConfig({ dir: join(repoRoot, "data/local-3stores"), storeCount: 3, shardCount: 4, replication: 3, portBase: 7100 });
    expect(config).toEqual(parseClusterConfig(text, "rendered", "/"));
  });
});
