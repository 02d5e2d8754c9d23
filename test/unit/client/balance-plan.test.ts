// The coordinator's plan: splits above the key and load thresholds, every replica off a drained
// store, replica counts and leader counts evened out one step at a time, at most movesPerStoreMax
// moves per store, never a replica onto a store holding the shard, each decision with its reason.
import { describe, expect, test } from "bun:test";
import { coordinatorDefaults, coordinatorSettings, formatDecision, planBalance, type CoordinatorSettings } from "../../../src/client/balance-plan.ts";
import { equalRanges, rangeToJson } from "../../../src/ring/range-map.ts";
import type { Topology } from "../../../src/transport/topology-wire.ts";

/** Stores 1..storeCount; shard i on the stores `placement[i - 1]`, led by the first; key counts per shard. */
function topologyOf(storeCount: number, placement: number[][], options: { keyCounts?: number[]; draining?: number[]; leaders?: number[] } = {}): Topology {
  const stores = Array.from({ length: storeCount }, (_, index) => ({ id: index + 1, raftAddress: `r${index + 1}`, clientAddress: `c${index + 1}`, respAddress: null }));
  const ranges = equalRanges(placement.map((_, index) => index + 1));
  const member = (id: number) => ({ id, raftAddress: `r${id}`, clientAddress: `c${id}` });
  const shards = placement.map((members, index) => ({ id: index + 1, members: members.map(member), range: rangeToJson(ranges[index]!) }));
  const leaders: Topology["leaders"] = {};
  const health: Topology["health"] = {};
  placement.forEach((members, index) => {
    const leader = options.leaders?.[index] ?? members[0]!;
    leaders[String(index + 1)] = { nodeId: leader, term: 1 };
    health[String(leader)] ??= { storeId: leader, reportedAtMs: 1, groups: [] };
    health[String(leader)]!.groups.push({ shardId: index + 1, role: "leader", term: 1, leader, commitIndex: 1, appliedIndex: 1, lastIndex: 1, keyCount: options.keyCounts?.[index] ?? 10 });
  });
  return { epoch: 1, layout: { stores, shards }, leaders, health, memberships: {}, draining: options.draining ?? [] };
}

const settings: CoordinatorSettings = { ...coordinatorDefaults, splitKeys: 1000 };

describe("planBalance", () => {
  test("a balanced cluster needs nothing", () => {
    expect(planBalance({ topology: topologyOf(3, [[1, 2, 3], [2, 3, 1], [3, 1, 2]]), settings })).toEqual([]);
  });

  test("a shard above splitKeys is split, with the count and threshold as its reason", () => {
    const plan = planBalance({ topology: topologyOf(3, [[1, 2, 3], [2, 3, 1], [3, 1, 2]], { keyCounts: [10, 1500, 1000] }), settings });
    expect(plan).toEqual([{ kind: "split", shardId: 2, reason: "1,500 keys > splitKeys 1,000" }]);
    expect(formatDecision(plan[0]!)).toBe("split shard 2: 1,500 keys > splitKeys 1,000");
  });

  test("load-based splits only when splitWritesPerSec is set", () => {
    const topology = topologyOf(3, [[1, 2, 3]]);
    const writesPerSec = new Map([[1, 5000]]);
    expect(planBalance({ topology, settings, writesPerSec })).toEqual([]);
    expect(planBalance({ topology, settings: { ...settings, splitWritesPerSec: 2000 }, writesPerSec })).toEqual([{ kind: "split", shardId: 1, reason: "5,000 writes/s > splitWritesPerSec 2,000", byLoad: true }]);
  });

  test("read-load splits only when splitReadsPerSec is set", () => {
    const topology = topologyOf(3, [[1, 2, 3], [2, 3, 1]]);
    const readsPerSec = new Map([[1, 900], [2, 12_000]]);
    expect(planBalance({ topology, settings, readsPerSec })).toEqual([]);
    expect(planBalance({ topology, settings: { ...settings, splitReadsPerSec: 10_000 }, readsPerSec })).toEqual([{ kind: "split", shardId: 2, reason: "12,000 reads/s > splitReadsPerSec 10,000", byLoad: true }]);
  });

  test("a shard held from load splits (its last one failed) is not split for load, but still for size", () => {
    const topology = topologyOf(3, [[1, 2, 3], [2, 3, 1]], { keyCounts: [10, 1500] });
    const readsPerSec = new Map([[1, 50_000], [2, 50_000]]);
    const loadSettings = { ...settings, splitReadsPerSec: 10_000 };
    expect(planBalance({ topology, settings: loadSettings, readsPerSec, loadSplitsHeld: new Set([1, 2]) })).toEqual([{ kind: "split", shardId: 2, reason: "1,500 keys > splitKeys 1,000" }]);
    expect(planBalance({ topology, settings: loadSettings, readsPerSec, loadSplitsHeld: new Set([2]) }).map((decision) => decision.shardId)).toEqual([1, 2]);
  });

  test("a shard whose leader's table is above splitBytes is split, whatever its key count", () => {
    const topology = topologyOf(3, [[1, 2, 3], [2, 3, 1]]);
    topology.health["2"]!.groups[0]!.bytes = 2_000_000;
    topology.health["1"]!.groups[0]!.bytes = 900_000;
    expect(planBalance({ topology, settings: { ...settings, splitBytes: 1_000_000 } })).toEqual([{ kind: "split", shardId: 2, reason: "2,000,000 bytes > splitBytes 1,000,000" }]);
    expect(planBalance({ topology, settings })).toEqual([]);
  });

  test("a new empty store is filled one move per store per plan, from the most loaded store (ties: the highest id)", () => {
    const placement = [[1, 2, 3], [2, 3, 1], [3, 1, 2], [1, 2, 3]];
    const plan = planBalance({ topology: topologyOf(4, placement), settings });
    expect(plan.filter((decision) => decision.kind === "move")).toEqual([{ kind: "move", shardId: 1, from: 3, to: 4, reason: "store 3 holds 4 replicas, store 4 0" }]);
    // Two moves a store allowed: store 4 takes two replicas, from different stores.
    const wider = planBalance({ topology: topologyOf(4, placement), settings: { ...settings, movesPerStoreMax: 2 } });
    const moves = wider.filter((decision) => decision.kind === "move");
    expect(moves.length).toBe(2);
    expect(moves.every((decision) => decision.kind === "move" && decision.to === 4)).toBe(true);
    expect(new Set(moves.map((decision) => (decision.kind === "move" ? decision.from : 0))).size).toBe(2);
  });

  test("a drained store loses every replica (to stores without the shard), before any balancing", () => {
    const plan = planBalance({ topology: topologyOf(4, [[1, 2, 4], [2, 3, 4], [3, 1, 2]], { draining: [4] }), settings: { ...settings, movesPerStoreMax: 8 } });
    const moves = plan.filter((decision) => decision.kind === "move");
    expect(moves).toEqual([
      { kind: "move", shardId: 1, from: 4, to: 3, reason: "store 4 is being drained" },
      { kind: "move", shardId: 2, from: 4, to: 1, reason: "store 4 is being drained" },
    ]);
    // A shard on every other store already (a move onto the drained store finished) just loses it.
    const full = planBalance({ topology: topologyOf(4, [[1, 2, 3, 4]], { draining: [4] }), settings });
    expect(full.filter((decision) => decision.kind !== "transfer-leader")).toEqual([{ kind: "remove", shardId: 1, storeId: 4, reason: "store 4 is being drained and the shard has 4 replicas" }]);
    expect(planBalance({ topology: topologyOf(3, [[1, 2, 3]], { draining: [3] }), settings }).filter((decision) => decision.kind === "remove")).toEqual([]);
    // Nothing is ever moved onto a drained store.
    const filling = planBalance({ topology: topologyOf(4, [[1, 2, 3], [1, 2, 3]], { draining: [4] }), settings });
    expect(filling.filter((decision) => decision.kind === "move")).toEqual([]);
  });

  test("leaders are evened out by transfers to member stores", () => {
    const plan = planBalance({ topology: topologyOf(3, [[1, 2, 3], [1, 2, 3], [1, 2, 3]], { leaders: [1, 1, 1] }), settings });
    expect(plan).toEqual([
      { kind: "transfer-leader", shardId: 1, to: 2, reason: "store 1 leads 3 shards, store 2 0" },
      { kind: "transfer-leader", shardId: 2, to: 3, reason: "store 1 leads 2 shards, store 3 0" },
    ]);
  });

  test("settings: the config's subset over the defaults", () => {
    expect(coordinatorSettings(undefined)).toEqual(coordinatorDefaults);
    expect(coordinatorSettings({ splitKeys: 5 })).toEqual({ ...coordinatorDefaults, splitKeys: 5 });
    expect(coordinatorDefaults).toEqual({ enabled: false, intervalMs: 10_000, splitKeys: 1_000_000, splitBytes: 536_870_912, splitWritesPerSec: 0, splitReadsPerSec: 0, movesPerStoreMax: 1 });
  });
});
