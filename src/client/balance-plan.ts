// The coordinator's decisions, as a pure function of the topology the metadata group holds (the
// layout with every shard's members, the stores' reports, the leaders, the stores being drained):
//   split            a shard whose leader reports more than splitKeys keys or a table of more
//                    than splitBytes, or (when the load thresholds are > 0) more applied entries
//                    a second than splitWritesPerSec or more keys read a second over all its
//                    replicas than splitReadsPerSec
//   move             every replica off a store being drained (a shard that has a replica on
//                    every other store already, after a move onto the drained store, just loses
//                    the drained one: "remove"); then, while the most loaded store
//                    holds more than one replica more than the least loaded, one replica from the
//                    most to the least loaded store (never onto a store that holds the shard)
//   transfer-leader  while a store leads more than one shard more than another member store
// Each store takes part in at most movesPerStoreMax moves of one plan (moves are throttled: the
// next plan is made after these ran). Every decision carries the reason it was made, which the
// coordinator logs and `ukv admin rebalance --dry-run` prints. Thresholds and their defaults:
// coordinatorDefaults below and docs/design.md ("Coordinator").
import type { GroupHealth, Topology } from "../transport/topology-wire.ts";

export interface CoordinatorSettings {
  /** The metadata leader runs the coordinator every intervalMs. Default false: operators run `ukv admin rebalance`. */
  enabled: boolean;
  intervalMs: number;
  /** Split a shard whose leader reports more keys than this. */
  splitKeys: number;
  /** Split a shard whose leader's table takes more bytes than this (entries, slots, control bytes). */
  splitBytes: number;
  /** Split a shard applying more entries a second than this (0: no write-load splits). */
  splitWritesPerSec: number;
  /** Split a shard whose replicas together read more keys a second than this (0: no read-load splits). */
  splitReadsPerSec: number;
  /** Moves one store takes part in per plan. */
  movesPerStoreMax: number;
}

export const coordinatorDefaults: CoordinatorSettings = {
  enabled: false,
  intervalMs: 10_000,
  splitKeys: 1_000_000,
  splitBytes: 512 * 1024 * 1024,
  splitWritesPerSec: 0,
  splitReadsPerSec: 0,
  movesPerStoreMax: 1,
};

/** The settings a config gives (any subset), completed with the defaults. */
export function coordinatorSettings(given: Partial<CoordinatorSettings> | undefined): CoordinatorSettings {
  return { ...coordinatorDefaults, ...given };
}

export type Decision =
  /** byLoad: cut where the load is (the leader's store's access sample), not at the keys' median. */
  | { kind: "split"; shardId: number; reason: string; byLoad?: true }
  | { kind: "move"; shardId: number; from: number; to: number; reason: string }
  | { kind: "transfer-leader"; shardId: number; to: number; reason: string }
  | { kind: "remove"; shardId: number; storeId: number; reason: string };

/** Every kind of decision (the metrics label each from the start). */
export const decisionKinds = ["split", "move", "transfer-leader", "remove"] as const satisfies readonly Decision["kind"][];

/** A shard keeps at least this many replicas when the plan removes one. */
const replicaCountMin = 3;

export interface PlanInput {
  topology: Topology;
  settings: CoordinatorSettings;
  /** Shard id -> entries applied a second by its leader (from two reports), when known. */
  writesPerSec?: ReadonlyMap<number, number>;
  /** Shard id -> keys read a second from all its replicas (from two reports of each), when known. */
  readsPerSec?: ReadonlyMap<number, number>;
  /** Shards not split for load now (their last load-based split failed); size splits still apply. */
  loadSplitsHeld?: ReadonlySet<number>;
}

/** "1,234,567". */
function count(value: number): string {
  return Math.round(value).toLocaleString("en-US");
}

export function formatDecision(decision: Decision): string {
  switch (decision.kind) {
    case "split":
      return `split shard ${decision.shardId}: ${decision.reason}`;
    case "move":
      return `move shard ${decision.shardId} from store ${decision.from} to store ${decision.to}: ${decision.reason}`;
    case "transfer-leader":
      return `transfer the lead of shard ${decision.shardId} to store ${decision.to}: ${decision.reason}`;
    case "remove":
      return `remove shard ${decision.shardId}'s replica from store ${decision.storeId}: ${decision.reason}`;
  }
}

/** Why a shard is split (the first threshold it passes, size before load), or null. */
function splitReason(settings: CoordinatorSettings, reported: GroupHealth | undefined, writes: number | undefined, reads: number | undefined): { reason: string; byLoad: boolean } | null {
  if (reported !== undefined && reported.keyCount > settings.splitKeys) return { reason: `${count(reported.keyCount)} keys > splitKeys ${count(settings.splitKeys)}`, byLoad: false };
  if (reported?.bytes !== undefined && reported.bytes > settings.splitBytes) return { reason: `${count(reported.bytes)} bytes > splitBytes ${count(settings.splitBytes)}`, byLoad: false };
  if (settings.splitWritesPerSec > 0 && writes !== undefined && writes > settings.splitWritesPerSec) {
    return { reason: `${count(writes)} writes/s > splitWritesPerSec ${count(settings.splitWritesPerSec)}`, byLoad: true };
  }
  if (settings.splitReadsPerSec > 0 && reads !== undefined && reads > settings.splitReadsPerSec) {
    return { reason: `${count(reads)} reads/s > splitReadsPerSec ${count(settings.splitReadsPerSec)}`, byLoad: true };
  }
  return null;
}

export function planBalance(input: PlanInput): Decision[] {
  const { topology, settings } = input;
  const layout = topology.layout;
  if (layout === null) return [];
  const decisions: Decision[] = [];
  const draining = new Set(topology.draining ?? []);
  const memberIds = new Map(layout.shards.map((shard) => [shard.id, new Set([...shard.members, ...(shard.learners ?? [])].map((member) => member.id))]));

  // Splits, by the leader's reported key count (or load).
  for (const shard of layout.shards) {
    const leader = topology.leaders[String(shard.id)]?.nodeId;
    const reported = leader === undefined ? undefined : topology.health[String(leader)]?.groups.find((group) => group.shardId === shard.id);
    const split = splitReason(settings, reported, input.writesPerSec?.get(shard.id), input.readsPerSec?.get(shard.id));
    if (split !== null && !(split.byLoad && input.loadSplitsHeld?.has(shard.id) === true)) decisions.push({ kind: "split", shardId: shard.id, reason: split.reason, ...(split.byLoad ? { byLoad: true as const } : {}) });
  }

  // Replica moves: drain first, then balance counts.
  const replicaCount = new Map(layout.stores.map((store) => [store.id, 0]));
  for (const members of memberIds.values()) for (const id of members) replicaCount.set(id, (replicaCount.get(id) ?? 0) + 1);
  const movesBy = new Map<number, number>();
  const canMove = (storeId: number): boolean => (movesBy.get(storeId) ?? 0) < settings.movesPerStoreMax;
  const moved = new Set<number>();
  const move = (shardId: number, from: number, to: number, reason: string): void => {
    decisions.push({ kind: "move", shardId, from, to, reason });
    moved.add(shardId);
    memberIds.get(shardId)!.delete(from);
    memberIds.get(shardId)!.add(to);
    replicaCount.set(from, (replicaCount.get(from) ?? 0) - 1);
    replicaCount.set(to, (replicaCount.get(to) ?? 0) + 1);
    movesBy.set(from, (movesBy.get(from) ?? 0) + 1);
    movesBy.set(to, (movesBy.get(to) ?? 0) + 1);
  };
  const targets = (): number[] =>
    [...replicaCount.keys()].filter((id) => !draining.has(id)).sort((left, right) => replicaCount.get(left)! - replicaCount.get(right)! || left - right);
  for (const storeId of [...draining].sort((left, right) => left - right)) {
    for (const [shardId, members] of [...memberIds].sort(([left], [right]) => left - right)) {
      if (!members.has(storeId) || !canMove(storeId)) continue;
      const to = targets().find((candidate) => !members.has(candidate) && canMove(candidate));
      if (to !== undefined) move(shardId, storeId, to, `store ${storeId} is being drained`);
      else if (members.size > replicaCountMin) {
        decisions.push({ kind: "remove", shardId, storeId, reason: `store ${storeId} is being drained and the shard has ${members.size} replicas` });
        members.delete(storeId);
        moved.add(shardId);
        replicaCount.set(storeId, (replicaCount.get(storeId) ?? 0) - 1);
        movesBy.set(storeId, (movesBy.get(storeId) ?? 0) + 1);
      }
    }
  }
  for (let round = 0; round < layout.shards.length; round++) {
    const order = targets();
    const least = order.find((id) => canMove(id));
    const most = [...order].reverse().find((id) => canMove(id));
    if (least === undefined || most === undefined || least === most) break;
    const gap = replicaCount.get(most)! - replicaCount.get(least)!;
    if (gap <= 1) break;
    const shardId = [...memberIds].sort(([left], [right]) => left - right).find(([, members]) => members.has(most) && !members.has(least))?.[0];
    if (shardId === undefined) break;
    move(shardId, most, least, `store ${most} holds ${replicaCount.get(most)} replicas, store ${least} ${replicaCount.get(least)}`);
  }

  // Leader balance over the stores not being drained, by the leaders the shards reported.
  const leaderCount = new Map(targets().map((id) => [id, 0]));
  const ledBy = new Map<number, number>();
  for (const shard of layout.shards) {
    const leader = topology.leaders[String(shard.id)]?.nodeId;
    if (leader === undefined || !memberIds.get(shard.id)!.has(leader)) continue;
    ledBy.set(shard.id, leader);
    if (leaderCount.has(leader)) leaderCount.set(leader, leaderCount.get(leader)! + 1);
  }
  for (let round = 0; round < layout.shards.length; round++) {
    const order = [...leaderCount.keys()].sort((left, right) => leaderCount.get(left)! - leaderCount.get(right)! || left - right);
    const least = order[0];
    const most = order[order.length - 1];
    if (least === undefined || most === undefined || leaderCount.get(most)! - leaderCount.get(least)! <= 1) break;
    const voterOf = (shardId: number): boolean => layout.shards.find((shard) => shard.id === shardId)?.members.some((member) => member.id === least) === true;
    const shardId = [...ledBy].sort(([left], [right]) => left - right).find(([id, leader]) => leader === most && !moved.has(id) && voterOf(id) && memberIds.get(id)!.has(least))?.[0];
    if (shardId === undefined) break;
    decisions.push({ kind: "transfer-leader", shardId, to: least, reason: `store ${most} leads ${leaderCount.get(most)} shards, store ${least} ${leaderCount.get(least)}` });
    ledBy.set(shardId, least);
    leaderCount.set(most, leaderCount.get(most)! - 1);
    leaderCount.set(least, leaderCount.get(least)! + 1);
  }
  return decisions;
}
