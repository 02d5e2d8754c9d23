// What "balanced" means for the elastic-growth test and benchmark (issue 14 part 5: replica and
// leader counts within 1.2x across stores): over the stores not being drained, every count within
// 1.2x of the mean both ways, rounded outwards: floor(mean / 1.2) <= count <= ceil(1.2 x mean), for
// replica counts (members and learners in the metadata layout) and leader counts (the leaders the
// shards reported). The rounding is needed for small counts: 8 leaders on 3 stores are at best
// 3/3/2 (mean 2.67: 2..4), and on 4 stores the coordinator stops at a difference of one, e.g.
// 3/2/2/1 (mean 2: 1..3). The lower bound matters: 8/8/8/1 replicas (a store just joined) are
// within ceil(1.2 x 6.25) = 8 at the top. Every shard must also have a reported leader among its
// voters and no learner (no move in flight).
import type { Topology } from "../../src/transport/topology-wire.ts";

export interface StoreCounts {
  replicas: Map<number, number>;
  leaders: Map<number, number>;
}

/** Replica and leader counts per store not being drained (a store holding nothing counts 0). */
export function storeCounts(topology: Topology): StoreCounts {
  const draining = new Set(topology.draining ?? []);
  const live = (topology.layout?.stores ?? []).map((store) => store.id).filter((id) => !draining.has(id));
  const replicas = new Map(live.map((id) => [id, 0]));
  const leaders = new Map(live.map((id) => [id, 0]));
  for (const shard of topology.layout?.shards ?? []) {
    for (const member of [...shard.members, ...(shard.learners ?? [])]) if (replicas.has(member.id)) replicas.set(member.id, replicas.get(member.id)! + 1);
    const leader = topology.leaders[String(shard.id)]?.nodeId;
    if (leader !== undefined && leaders.has(leader)) leaders.set(leader, leaders.get(leader)! + 1);
  }
  return { replicas, leaders };
}

/** floor(mean / 1.2) <= every count <= ceil(1.2 x mean) (false for no stores). */
export function withinFactor(counts: ReadonlyMap<number, number>): boolean {
  const values = [...counts.values()];
  if (values.length === 0) return false;
  const mean = values.reduce((sum, value) => sum + value, 0) / values.length;
  return Math.max(...values) <= Math.ceil(1.2 * mean) && Math.min(...values) >= Math.floor(mean / 1.2);
}

/** At least `shardCountMin` shards, none moving, each with a reported leader, counts within the factor. */
export function isBalanced(topology: Topology, shardCountMin: number): boolean {
  const shards = topology.layout?.shards ?? [];
  const settled = shards.every((shard) => (shard.learners ?? []).length === 0 && shard.members.some((member) => member.id === topology.leaders[String(shard.id)]?.nodeId));
  const counts = storeCounts(topology);
  return shards.length >= shardCountMin && settled && withinFactor(counts.replicas) && withinFactor(counts.leaders);
}

/** "8 shards, replicas 1:8 2:8 3:8, leaders 1:3 2:3 3:2". */
export function describeBalance(topology: Topology): string {
  const counts = storeCounts(topology);
  const list = (map: Map<number, number>): string => [...map].map(([id, value]) => `${id}:${value}`).join(" ");
  return `${topology.layout?.shards.length ?? 0} shards, replicas ${list(counts.replicas)}, leaders ${list(counts.leaders)}`;
}
