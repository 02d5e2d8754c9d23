// Initial shard placement (`initialShards` + `replication` in the cluster config): which stores
// hold the replicas of shards 1..K. Pure and deterministic: every process that reads the same
// config computes the same placement, so it never needs to be written down.
//
// The construction. Number the stores by their position p = 0..S-1 in `storeIds`, and let
// g = gcd(R, S) and L = S / g. Shard k (0-based) takes R consecutive positions, circularly,
// from start(k) = (k*R + floor(k / L)) mod S; its first replica (the preferred leader) is the
// one at start(k). Why this is balanced:
// - Replicas: within one cycle of L shards the starts k*R mod S visit every multiple of g once,
//   so the cycle's L windows of R cover every store exactly R/g times; the cycle's shift
//   floor(k / L) is the same for all of its shards and does not change that. A partial last
//   cycle covers m*R consecutive positions, each store floor or ceil of m*R / S times. So every
//   store holds floor or ceil of K*R / S replicas.
// - Distinct stores: a window of R <= S consecutive positions never wraps onto itself.
// - Leaders: the starts of cycle c are the positions congruent to c mod g, each once; g
//   consecutive cycles (S shards) therefore start at every store exactly once. So every store is
//   first in floor or ceil of K / S shards.
// - Spread: the shift of one position a cycle varies which stores share shards (without it, 6
//   stores at R = 3 would form two fixed trios, and a failed store's load would land on only 2).
import { UkvError } from "../util/errors.ts";
import { assert } from "../util/assert.ts";

export interface ShardPlacement {
  id: number;
  /** Store ids, distinct; the first is the preferred leader. */
  replicas: number[];
}

function greatestCommonDivisor(first: number, second: number): number {
  let a = first;
  let b = second;
  while (b !== 0) [a, b] = [b, a % b];
  return a;
}

function placementError(message: string): UkvError {
  return new UkvError("CONFIG_INVALID", `Cannot place shards: ${message}`);
}

/**
 * Shards 1..shardCount, each on `replication` distinct stores of `storeIds` (see the header for
 * the construction and its balance: replicas and first replicas both spread floor/ceil evenly).
 */
export function placeShards(storeIds: number[], shardCount: number, replication: number): ShardPlacement[] {
  const storeCount = storeIds.length;
  if (storeCount === 0) throw placementError("no stores");
  if (new Set(storeIds).size !== storeCount) throw placementError(`store ids must be distinct, got ${storeIds.join(", ")}`);
  if (!Number.isInteger(shardCount) || shardCount < 0) throw placementError(`shardCount must be a non-negative integer, got ${shardCount}`);
  if (!Number.isInteger(replication) || replication < 1 || replication > storeCount) {
    throw placementError(`replication must be an integer in 1..${storeCount} (the number of stores), got ${replication}`);
  }
  const cycleShardCount = storeCount / greatestCommonDivisor(replication, storeCount);
  const placements: ShardPlacement[] = [];
  for (let shardIndex = 0; shardIndex < shardCount; shardIndex++) {
    const start = (shardIndex * replication + Math.floor(shardIndex / cycleShardCount)) % storeCount;
    const replicas: number[] = [];
    for (let replicaIndex = 0; replicaIndex < replication; replicaIndex++) {
      replicas.push(storeIds[(start + replicaIndex) % storeCount] as number);
    }
    placements.push({ id: shardIndex + 1, replicas });
  }
  assert(placements.every((placement) => new Set(placement.replicas).size === replication), "a shard's replicas are on distinct stores");
  return placements;
}
