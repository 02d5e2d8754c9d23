// The topology a chaos run ends with, read once the faults are healed: the metadata group's layout
// (shard -> range), the range every current member replica owns (its STATUS), and the shards each
// store hosts; then, key by key, which shards serve a shard-tagged GET of it. checkers.ts judges
// both (checkTopology, checkKeyOwnership).
import type { ChaosCluster } from "./chaos-cluster.ts";
import type { FinalTopology, KeyOwnershipProbe } from "./checkers.ts";
import type { StoreRouter } from "./workload.ts";
import { rangeFromJson, type KeyRange } from "../ring/range-map.ts";
import { checkTopology } from "./checkers.ts";
import { assert } from "../util/assert.ts";

const readAttemptCountMax = 5;
const retryDelayMs = 200;
const probeBatchKeyCount = 256;
/** Keys asked of EVERY shard; the others are asked of their owner and its two range neighbours. */
export const fullProbeKeyCountMax = 2000;

function rangeOrNull(json: unknown): KeyRange | null {
  if (json === null || json === undefined) return null;
  try {
    return rangeFromJson(json);
  } catch {
    return null;
  }
}

/** One read of the final topology (see FinalTopology); members are the harness's current replicas. */
export async function readFinalTopology(cluster: ChaosCluster): Promise<FinalTopology> {
  const meta = await cluster.metaTopology();
  let layout: Map<number, KeyRange> | null = null;
  if (meta?.layout !== undefined && meta.layout !== null) {
    layout = new Map();
    for (const shard of meta.layout.shards) {
      const range = rangeOrNull(shard.range);
      // A range that does not parse is a hole: leave it out, the tiling check names the gap.
      if (range !== null) layout.set(shard.id, range);
    }
  }
  const members = new Map<number, Map<number, KeyRange | null>>();
  for (const group of cluster.shardGroups) {
    const owned = new Map<number, KeyRange | null>();
    members.set(group.groupId, owned);
    for (const storeId of group.replicas) {
      let status = null;
      for (let attemptIndex = 0; attemptIndex < readAttemptCountMax && status === null; attemptIndex++) {
        if (attemptIndex > 0) await Bun.sleep(retryDelayMs);
        status = await cluster.groupStatus(storeId, group.groupId);
      }
      owned.set(storeId, rangeOrNull(status?.range));
    }
  }
  const hosted = new Map<number, number[]>();
  for (const storeId of cluster.storeIds) {
    const status = await cluster.storeStatus(storeId);
    for (const group of status?.groups ?? []) {
      if (group.groupId === undefined || group.groupId === 0 || group.removed === true) continue;
      let stores = hosted.get(group.groupId);
      if (stores === undefined) hosted.set(group.groupId, (stores = []));
      stores.push(storeId);
    }
  }
  return { layout, members, hosted };
}

/**
 * Waits (bounded) until the final topology passes its check: a split completing after the heal
 * reaches the metadata within seconds, and the harness follows every new shard it lists. Returns
 * the last topology read (the caller checks it: anomalies if it never settled).
 */
export async function settleTopology(cluster: ChaosCluster, timeoutMs: number): Promise<FinalTopology> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    await cluster.followTopology();
    const topology = await readFinalTopology(cluster);
    if (checkTopology(topology).length === 0 || Date.now() > deadline) return topology;
    await Bun.sleep(500);
  }
}

/** The shards to ask about a key: its owner, the shards of the ranges next to it, or every shard. */
function shardsToAsk(shardsInRangeOrder: readonly number[], owner: number, everyShard: boolean): number[] {
  if (everyShard) return [...shardsInRangeOrder];
  const index = shardsInRangeOrder.indexOf(owner);
  assert(index >= 0, "the owner has a range");
  return [...new Set([owner, shardsInRangeOrder[index - 1] ?? owner, shardsInRangeOrder[index + 1] ?? owner])];
}

/** Whether the replica of `shardId` on `storeId` serves `key`: "served", or its refusal. */
async function askReplica(router: StoreRouter, storeId: number, shardId: number, key: string): Promise<string> {
  let answer = "";
  for (let attemptIndex = 0; attemptIndex < readAttemptCountMax; attemptIndex++) {
    if (attemptIndex > 0) await Bun.sleep(retryDelayMs);
    const response = await router.replicaGet(storeId, shardId, key);
    if (response.code === "OK" || response.code === "NOT_FOUND") return "served";
    answer = `${response.code} from store ${storeId}: ${response.message}`;
    // A definite refusal: the replica does not own the key (or the store holds no replica).
    if (response.code === "STALE_EPOCH" || response.code === "WRONG_SHARD") return answer;
  }
  return answer;
}

/**
 * For each key: a shard-tagged GET to one member replica of each shard asked (its owner by the
 * final ranges, the shards next to it, and every shard for the first fullProbeKeyCountMax keys);
 * which of them served it. Transient answers (a timeout) are retried; a refusal is final.
 */
export async function probeKeyOwnership(cluster: ChaosCluster, router: StoreRouter, keys: readonly string[]): Promise<KeyOwnershipProbe[]> {
  const probes: KeyOwnershipProbe[] = [];
  const shardsInRangeOrder = cluster.ranges.ranges().map((range) => range.shardId);
  for (let start = 0; start < keys.length; start += probeBatchKeyCount) {
    const batch = keys.slice(start, start + probeBatchKeyCount);
    const batchProbes = await Promise.all(
      batch.map(async (key, batchIndex) => {
        const keyIndex = start + batchIndex;
        const owner = router.shardOf(key);
        const askedShards = shardsToAsk(shardsInRangeOrder, owner, keyIndex < fullProbeKeyCountMax);
        const answers = await Promise.all(
          askedShards.map((shardId) => {
            const replicas = router.replicasOf(shardId);
            return askReplica(router, replicas[keyIndex % replicas.length]!, shardId, key);
          }),
        );
        const answeredBy = askedShards.filter((_, index) => answers[index] === "served");
        const ownerAnswer = answers[askedShards.indexOf(owner)]!;
        return { key, owner, askedShards, answeredBy, ...(ownerAnswer === "served" ? {} : { ownerRefusal: ownerAnswer }) };
      }),
    );
    probes.push(...batchProbes);
  }
  return probes;
}
