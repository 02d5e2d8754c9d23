// The coordinator's view of load: writes/s from the leader's applied index, reads/s summed over
// every replica's keysRead, each between two reports, none from a first report, a stale one, or a
// counter that went back.
import { expect, test } from "bun:test";
import { ShardLoad } from "../../../src/client/shard-load.ts";
import type { GroupHealth, Topology } from "../../../src/transport/topology-wire.ts";

function group(shardId: number, appliedIndex: number, keysRead: number | undefined): GroupHealth {
  return { shardId, role: "follower", term: 1, leader: 1, commitIndex: appliedIndex, appliedIndex, lastIndex: appliedIndex, keyCount: 0, ...(keysRead === undefined ? {} : { keysRead }) };
}

/** Shard 1 led by store 1, replicas on stores 1-3; per store [reportedAtMs, appliedIndex, keysRead]. */
function topologyAt(reports: [number, number, number | undefined][]): Topology {
  const health: Topology["health"] = {};
  reports.forEach(([atMs, applied, keysRead], index) => {
    health[String(index + 1)] = { storeId: index + 1, reportedAtMs: atMs, groups: [group(1, applied, keysRead)] };
  });
  return { epoch: 1, layout: null, leaders: { "1": { nodeId: 1, term: 1 } }, health, memberships: {}, draining: [] };
}

test("rates appear from the second report on: writes from the leader, reads summed over the replicas", () => {
  const load = new ShardLoad();
  const first = load.observe(topologyAt([[1000, 100, 0], [1000, 100, 0], [1000, 100, 0]]));
  expect(first.writesPerSec.size).toBe(0);
  expect(first.readsPerSec.size).toBe(0);
  const second = load.observe(topologyAt([[3000, 2100, 400], [3000, 2100, 1000], [3000, 2000, 600]]));
  expect(second.writesPerSec.get(1)).toBe(1000);
  expect(second.readsPerSec.get(1)).toBe(200 + 500 + 300);
});

test("a report seen again gives no rate; a counter that went back (a restart) gives none until the next report", () => {
  const load = new ShardLoad();
  load.observe(topologyAt([[1000, 100, 500], [1000, 100, 500], [1000, 100, 500]]));
  expect(load.observe(topologyAt([[1000, 100, 500], [1000, 100, 500], [1000, 100, 500]])).readsPerSec.size).toBe(0);
  // Store 2 restarted: its count starts again; stores 1 and 3 still count.
  const after = load.observe(topologyAt([[2000, 100, 1500], [2000, 100, 10], [2000, 100, 500]]));
  expect(after.readsPerSec.get(1)).toBe(1000 + 0);
  const next = load.observe(topologyAt([[3000, 100, 1500], [3000, 100, 110], [3000, 100, 500]]));
  expect(next.readsPerSec.get(1)).toBe(100);
});

test("replicas of older stores (no keysRead) are left out", () => {
  const load = new ShardLoad();
  load.observe(topologyAt([[1000, 1, undefined], [1000, 1, 0], [1000, 1, undefined]]));
  expect(load.observe(topologyAt([[2000, 1, undefined], [2000, 1, 50], [2000, 1, undefined]])).readsPerSec.get(1)).toBe(50);
});
