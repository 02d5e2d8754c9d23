// /metrics of a live 3-store cluster (2 shards x 3 replicas): every store serves valid Prometheus
// text (promtool check metrics when installed) with a replica series per shard, one leader per
// shard across the stores; RESP writes move the request counters (per command and result), the
// proposal and fdatasync histograms, the WAL counters and the key gauges; a bad command counts as
// bad_input. A cluster with metricsEnabled: false answers /metrics with 404 and still serves.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import Redis from "ioredis";
import { LocalStores, waitFor } from "./harness.ts";
import { scrape, sumOf, type Sample } from "./prom-text.ts";

let stores: LocalStores;

beforeAll(async () => {
  stores = await LocalStores.create({ storeCount: 3, shardCount: 2 });
  stores.startAll();
  await stores.waitForLeaders();
  await stores.waitForRouting();
}, 60_000);

afterAll(async () => {
  await stores.destroy();
}, 30_000);

async function scrapeAll(): Promise<Sample[]> {
  const all: Sample[] = [];
  for (const storeId of stores.storeIds) all.push(...(await scrape(stores.httpAddress(storeId))).samples);
  return all;
}

describe("/metrics", () => {
  test("every store serves Prometheus text that promtool accepts, with a replica series per shard and one leader per shard", async () => {
    const promtool = Bun.which("promtool");
    if (promtool === null) console.log("SKIP: promtool not installed (Debian package prometheus): the text format is only parsed here");
    for (const storeId of stores.storeIds) {
      const { text, samples } = await scrape(stores.httpAddress(storeId));
      expect(sumOf(samples, "ukv_store_info", { store: String(storeId) })).toBe(1);
      for (const shard of ["0", "1", "2"]) expect(samples.some((sample) => sample.name === "ukv_replica_term" && sample.labels["shard"] === shard)).toBe(true);
      for (const name of ["ukv_process_resident_memory_bytes", "ukv_wal_segments", "ukv_event_loop_lag_seconds_count"]) expect(sumOf(samples, name)).toBeGreaterThan(0);
      expect(sumOf(samples, "ukv_disk_used_bytes", { kind: "wal" })).toBeGreaterThan(0);
      if (promtool !== null) {
        const check = Bun.spawnSync([promtool, "check", "metrics"], { stdin: new TextEncoder().encode(text) });
        // promtool check metrics exits 0 for valid text (lint remarks would print but not fail).
        expect({ exitCode: check.exitCode, stderr: check.stderr.toString() }).toEqual({ exitCode: 0, stderr: "" });
      }
    }
    // One leader per shard once elections settle (a loaded machine re-elects now and then, and a
    // scrape in the middle of an election shows none, or an old and a new leader of two terms).
    const settled = (all: Sample[]): boolean =>
      ["0", "1", "2"].every((shard) => all.filter((sample) => sample.name === "ukv_replica_term" && sample.labels["shard"] === shard && sample.labels["role"] === "leader").length === 1 && sumOf(all, "ukv_replica_has_leader", { shard }) === 3);
    await waitFor("one leader per shard in the stores' metrics", scrapeAll, settled, 15_000);
  });

  test("RESP writes move the request, proposal, fdatasync, WAL and key metrics", async () => {
    const before = await scrapeAll();
    const writeCount = 200;
    const redis = new Redis({ host: "127.0.0.1", port: stores.respPort(1), maxRetriesPerRequest: 0 });
    redis.on("error", () => undefined);
    try {
      for (let index = 0; index < writeCount; index++) expect(await redis.set(`metrics-${index}`, `value-${index}`)).toBe("OK");
      expect(await redis.get("metrics-7")).toBe("value-7");
      await expect(redis.call("NOSUCHCOMMAND")).rejects.toThrow("unknown command");
    } finally {
      redis.disconnect();
    }
    // Followers apply the last writes a heartbeat later: wait for the key gauges, not just the leader.
    // A read answered by the read pool's Worker is counted when the Worker reports (within 100 ms).
    const readCounted = (samples: Awaited<ReturnType<typeof scrapeAll>>): boolean => sumOf(samples, "ukv_requests_total", { listener: "resp", command: "get", result: "ok" }) > sumOf(before, "ukv_requests_total", { listener: "resp", command: "get", result: "ok" });
    const after = await waitFor("every replica to hold the writes", scrapeAll, (samples) => readCounted(samples) && sumOf(samples, "ukv_replica_keys", { shard: "1" }) + sumOf(samples, "ukv_replica_keys", { shard: "2" }) >= 3 * writeCount);
    const delta = (name: string, match: Record<string, string> = {}): number => sumOf(after, name, match) - sumOf(before, name, match);
    expect(delta("ukv_requests_total", { listener: "resp", command: "set", result: "ok" })).toBe(writeCount);
    expect(delta("ukv_requests_total", { listener: "resp", command: "get", result: "ok" })).toBe(1);
    expect(delta("ukv_requests_total", { listener: "resp", command: "unknown", result: "bad_input" })).toBe(1);
    expect(delta("ukv_request_duration_seconds_count", { listener: "resp", command: "set" })).toBe(writeCount);
    expect(delta("ukv_request_duration_seconds_sum", { listener: "resp", command: "set" })).toBeGreaterThan(0);
    // Store 1 forwards the writes of shards it does not lead to their leaders: counted there as peer.
    const forwarded = delta("ukv_requests_total", { listener: "peer", command: "SET", result: "ok" });
    const dataProposals = delta("ukv_replica_proposals_total", { shard: "1", result: "committed" }) + delta("ukv_replica_proposals_total", { shard: "2", result: "committed" });
    expect(dataProposals).toBe(writeCount);
    expect(forwarded).toBeLessThanOrEqual(writeCount);
    expect(delta("ukv_replica_proposal_duration_seconds_count")).toBeGreaterThanOrEqual(writeCount);
    expect(delta("ukv_wal_fdatasync_duration_seconds_count")).toBeGreaterThan(0);
    expect(delta("ukv_wal_writes_per_fdatasync_sum")).toBeGreaterThanOrEqual(delta("ukv_wal_writes_per_fdatasync_count"));
    expect(delta("ukv_wal_appends_total")).toBeGreaterThan(0);
    expect(delta("ukv_wal_fdatasyncs_total")).toBeGreaterThan(0);
    expect(delta("ukv_wal_written_bytes_total")).toBeGreaterThan(writeCount * 10);
    for (const shard of ["1", "2"]) {
      const leaderCommit = after.find((sample) => sample.name === "ukv_replica_commit_index" && sample.labels["shard"] === shard && sample.labels["role"] === "leader");
      const leaderCommitBefore = before.find((sample) => sample.name === "ukv_replica_commit_index" && sample.labels["shard"] === shard && sample.labels["role"] === "leader");
      expect(leaderCommit!.value).toBeGreaterThan(leaderCommitBefore!.value);
    }
  }, 60_000);

  test("connections are counted per listener", async () => {
    const redis = new Redis({ host: "127.0.0.1", port: stores.respPort(2), maxRetriesPerRequest: 0 });
    redis.on("error", () => undefined);
    try {
      await redis.ping();
      const { samples } = await scrape(stores.httpAddress(2));
      expect(sumOf(samples, "ukv_connections", { listener: "resp" })).toBeGreaterThanOrEqual(1);
    } finally {
      redis.disconnect();
    }
  });
});

describe("metricsEnabled: false", () => {
  test("/metrics answers 404, the store still serves and its dashboard API still answers", async () => {
    const off = await LocalStores.create({ storeCount: 1, shardCount: 1, metricsEnabled: false });
    try {
      off.startAll();
      await off.waitForLeaders();
      const response = await fetch(`http://${off.httpAddress(1)}/metrics`);
      expect(response.status).toBe(404);
      expect(await response.text()).toContain("metricsEnabled: false");
      const snapshot = (await (await fetch(`http://${off.httpAddress(1)}/api/store`)).json()) as { requests: unknown; replicas: unknown[] };
      expect(snapshot.requests).toBeNull();
      expect(snapshot.replicas.length).toBe(2);
    } finally {
      await off.destroy();
    }
  }, 60_000);
});
