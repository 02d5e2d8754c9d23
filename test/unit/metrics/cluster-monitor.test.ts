// The dashboard's arithmetic: histogram deltas between two cumulative snapshots (a restarted
// store's counters start again), merging stores, quantiles interpolated inside a bucket as
// Prometheus' histogram_quantile does; the result labels of raw and RESP answers; and the
// monitor's stores x shards view built from snapshots (leader, quorum, follower lag, writes/s).
import { expect, test } from "bun:test";
import { ClusterMonitor, histogramDelta, quantile } from "../../../src/dashboard/cluster-monitor.ts";
import type { StoreSnapshot } from "../../../src/dashboard/store-snapshot.ts";
import { kvResult, respResult, type HistogramTotals } from "../../../src/metrics/store-metrics.ts";

const bounds = [0.001, 0.01, 0.1];

function histogram(counts: number[], count: number): HistogramTotals {
  return { bounds, counts, count, sum: 0 };
}

test("quantile interpolates inside the bucket holding the rank; null without observations", () => {
  // 100 observations: 50 <= 1 ms, 40 in (1 ms, 10 ms], 10 in (10 ms, 100 ms].
  const h = histogram([50, 90, 100], 100);
  expect(quantile(h, 0.5)).toBeCloseTo(0.001, 9);
  expect(quantile(h, 0.7)).toBeCloseTo(0.001 + (0.009 * 20) / 40, 9);
  expect(quantile(h, 0.99)).toBeCloseTo(0.01 + (0.09 * 9) / 10, 9);
  expect(quantile(histogram([0, 0, 0], 0), 0.5)).toBeNull();
  // Observations past the last finite bound: that bound.
  expect(quantile(histogram([0, 0, 0], 5), 0.99)).toBe(0.1);
});

test("histogramDelta subtracts bucket by bucket, and takes a restarted store's counters as new", () => {
  const delta = histogramDelta(histogram([10, 20, 30], 30), histogram([15, 40, 60], 60))!;
  expect(delta.counts).toEqual([5, 20, 30]);
  expect(delta.count).toBe(30);
  const restarted = histogramDelta(histogram([10, 20, 30], 30), histogram([1, 2, 3], 3))!;
  expect(restarted.counts).toEqual([1, 2, 3]);
  expect(histogramDelta(null, histogram([1, 2, 3], 3))).toBeNull();
});

test("answers map to the result label", () => {
  expect(kvResult("OK")).toBe("ok");
  expect(kvResult("NOT_FOUND")).toBe("ok");
  expect(kvResult("NOT_LEADER")).toBe("not_leader");
  expect(kvResult("SHARD_UNAVAILABLE")).toBe("unavailable");
  expect(kvResult("TIMEOUT")).toBe("unavailable");
  expect(kvResult("WRONG_SHARD")).toBe("stale_epoch");
  expect(kvResult("VALUE_TOO_LARGE")).toBe("bad_input");
  expect(kvResult("INTERNAL")).toBe("error");
  expect(respResult({ type: "simple", text: "OK" })).toBe("ok");
  expect(respResult({ type: "error", text: "CLUSTERDOWN shard 1 unavailable: no quorum" })).toBe("unavailable");
  expect(respResult({ type: "error", text: "TRYAGAIN NOT_LEADER: no leader known yet" })).toBe("not_leader");
  expect(respResult({ type: "error", text: "ERR wrong number of arguments for 'get' command" })).toBe("bad_input");
  expect(respResult({ type: "error", text: "ERR internal error: boom" })).toBe("error");
});

function snapshot(storeId: number, atMs: number, requestCount: number, replicas: StoreSnapshot["replicas"]): StoreSnapshot {
  return {
    storeId,
    version: "test",
    atMs,
    replicas,
    requests: { bounds, counts: [requestCount, requestCount, requestCount], count: requestCount, sum: 0 },
    fsync: { bounds, counts: [0, 0, 0], count: 0, sum: 0 },
    connections: { client: 1, resp: 0 },
    rssBytes: 1,
  };
}

test("the monitor builds stores x shards: leader, quorum, lag, writes/s; a store that does not answer is down", async () => {
  let round = 0;
  const commit = (): number => 100 + round * 50;
  const monitor = new ClusterMonitor({
    selfId: 1,
    targets: () => [
      { id: 1, httpAddress: "a:1" },
      { id: 2, httpAddress: "a:2" },
      { id: 3, httpAddress: "a:3" },
    ],
    shards: () => [
      { id: 1, members: [1, 2, 3], learners: [], range: { start: "0", end: "100", version: 2 } },
      { id: 2, members: [2, 3, 1], learners: [3], range: { start: "101", end: "200", version: 2 } },
    ],
    local: () => {
      round++;
      return Promise.resolve(
        snapshot(1, Date.now(), round * 100, [
          { shard: 1, role: "leader", term: 3, leader: 1, commitIndex: commit(), appliedIndex: commit(), lastIndex: commit(), keys: 7, lag: { "1": 0, "2": 0, "3": 12 } },
          { shard: 2, role: "pre-candidate", term: 2, leader: 0, commitIndex: 5, appliedIndex: 5, lastIndex: 5, keys: 1, lag: null },
        ]),
      );
    },
    fetchSnapshot: (address) => {
      if (address === "a:3") return Promise.reject(new Error("connection refused"));
      return Promise.resolve(
        snapshot(2, Date.now(), 0, [
          { shard: 1, role: "follower", term: 3, leader: 1, commitIndex: 100, appliedIndex: 100, lastIndex: 100, keys: 7, lag: null },
          { shard: 2, role: "follower", term: 2, leader: 0, commitIndex: 5, appliedIndex: 5, lastIndex: 5, keys: 1, lag: null },
        ]),
      );
    },
  });
  try {
    const view = await monitor.view();
    expect(view.stores.map((store) => [store.id, store.up])).toEqual([
      [1, true],
      [2, true],
      [3, false],
    ]);
    expect(view.stores[2]!.error).toContain("connection refused");
    const [shard1, shard2] = view.shards;
    expect(shard1).toMatchObject({ id: 1, leader: 1, quorum: true, term: 3, keys: 7 });
    expect(shard1!.replicas["3"]).toBeUndefined();
    expect(shard1!.replicas["2"]).toMatchObject({ role: "follower", lag: 0 });
    expect(shard1!.writesPerSec).toBeGreaterThan(0);
    expect(shard2).toMatchObject({ id: 2, leader: 0, quorum: false });
    // The topology's range and learners (a move in flight) pass through to the view.
    expect(shard1!.range).toEqual({ start: "0", end: "100", version: 2 });
    expect(shard1!.learners).toEqual([]);
    expect(shard2!.learners).toEqual([3]);
    // Two samples exist after the first view: store 1 answered 100 more requests between them.
    expect(view.stores[0]!.opsPerSec).toBeGreaterThan(0);
    expect(view.history.length).toBe(1);
  } finally {
    monitor.close();
  }
});
