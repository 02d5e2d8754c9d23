// The plan's shard layout against the cluster's: whether the cluster already owns exactly the
// plan's hash ranges (then per-shard counts can be checked against the plan), and the one step
// that would create the planned layout on an empty cluster.
//
// Why loading does not depend on the layouts matching: the loader routes every key by the
// cluster's own layout (a replica refuses a key outside its range), so a load is correct on any
// layout; only the balance and the comparison with the plan's expected counts need the planned
// boundaries. On an empty cluster `ukv load` splits at every planned boundary the cluster lacks
// (`split --at HASH`, nothing to move yet) before the first key; a cluster started with one shard
// then owns exactly the plan's ranges, one started with K shards keeps its own boundaries too.
import type { ShardPlan } from "./plan.ts";

const hashSpaceEnd = 1n << 64n;

/** One shard's part of the hash space: [start, end), end exclusive (2^64 for the last). */
export interface OwnedRange {
  start: bigint;
  end: bigint;
  shardId: number;
}

/** The plan's boundaries: the start hash of every shard but the first (ascending). */
export function planBoundaries(plan: ShardPlan): bigint[] {
  return plan.shards.slice(1).map((shard) => BigInt(shard.start));
}

/** Adjacent ranges of the same owner merged: a shard owning one contiguous range is one entry. */
export function mergeOwnedRanges(ranges: readonly OwnedRange[]): OwnedRange[] {
  const merged: OwnedRange[] = [];
  for (const range of ranges) {
    const last = merged[merged.length - 1];
    if (last !== undefined && last.shardId === range.shardId && last.end === range.start) last.end = range.end;
    else merged.push({ ...range });
  }
  return merged;
}

export interface LayoutComparison {
  /** The cluster's shards own exactly the plan's ranges, shard i of the plan being `shardIds[i]`. */
  matches: boolean;
  /** When matching: the cluster's shard id of each plan shard, in plan order. */
  shardIds: number[];
  /** One line saying how the layouts differ (or that they match). */
  description: string;
}

/** Compares the cluster's ranges (inclusive or exclusive ends normalized by the caller) with the plan's. */
export function compareLayout(plan: ShardPlan, clusterRanges: readonly OwnedRange[]): LayoutComparison {
  const merged = mergeOwnedRanges(clusterRanges);
  const owners = new Set(merged.map((range) => range.shardId));
  if (merged.length !== plan.shardCount || owners.size !== merged.length) {
    const shape = owners.size === merged.length ? `${merged.length} contiguous range(s)` : `${owners.size} shard(s) over ${merged.length} ranges (a ring of virtual nodes)`;
    return { matches: false, shardIds: [], description: `the plan has ${plan.shardCount} hash range(s); the cluster has ${shape}` };
  }
  for (let index = 0; index < merged.length; index++) {
    const range = merged[index] as OwnedRange;
    const planned = plan.shards[index] as ShardPlan["shards"][number];
    if (range.start !== BigInt(planned.start) || range.end !== BigInt(planned.end)) {
      return { matches: false, shardIds: [], description: `shard ${range.shardId} owns [${range.start}, ${range.end}), the plan's shard ${index} is [${planned.start}, ${planned.end})` };
    }
  }
  return { matches: true, shardIds: merged.map((range) => range.shardId), description: `the cluster's ${merged.length} shard(s) own the plan's ranges` };
}

/** Splits the shard owning `hash` at it (issue 14's `split --at HASH`), resolving once the split is in the topology. */
export type SplitAt = (hash: bigint) => Promise<void>;

export interface LayoutStep {
  /** The planned boundaries were created (or already there). */
  created: boolean;
  description: string;
}

/**
 * The one step that makes an empty cluster's layout the plan's: a split at every planned
 * boundary the cluster does not have yet. Without `splitAt` (clusters that cannot split yet) it
 * creates nothing and says so; the caller then loads by the cluster's current layout.
 */
export async function createPlannedLayout(boundaries: readonly bigint[], clusterRanges: readonly OwnedRange[], splitAt: SplitAt | null): Promise<LayoutStep> {
  const existing = new Set(mergeOwnedRanges(clusterRanges).map((range) => range.start));
  const missing = boundaries.filter((boundary) => boundary > 0n && boundary < hashSpaceEnd && !existing.has(boundary));
  if (missing.length === 0) return { created: true, description: "the cluster already has every planned boundary" };
  if (splitAt === null) {
    return { created: false, description: `${missing.length} planned boundar${missing.length === 1 ? "y is" : "ies are"} not in the cluster, which cannot split shards at a hash yet: loading by the cluster's current layout` };
  }
  for (const boundary of missing) await splitAt(boundary);
  return { created: true, description: `split the cluster at ${missing.length} planned boundar${missing.length === 1 ? "y" : "ies"}` };
}
