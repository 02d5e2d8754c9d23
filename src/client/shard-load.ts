// Each shard's load as the coordinator sees it, from the stores' reports in the metadata group
// (one a second per store): writes/s are the entries its leader applied between two reports, and
// reads/s the keys read from all its replicas between two reports of each (reads are served by any
// replica, FR4.3, so a hot shard's reads spread over its stores). Pure: fed topologies in order.
import type { Topology } from "../transport/topology-wire.ts";

export interface ShardRates {
  /** Shard id -> entries applied a second by its leader. */
  writesPerSec: Map<number, number>;
  /** Shard id -> keys read a second, summed over the replicas that reported twice. */
  readsPerSec: Map<number, number>;
}

interface Sample {
  value: number;
  atMs: number;
}

export class ShardLoad {
  /** Shard id -> its leader's last applied index. */
  readonly #applied = new Map<string, Sample>();
  /** "storeId/shardId" -> that replica's last keysRead. */
  readonly #keysRead = new Map<string, Sample>();

  /** The rates between the previous topology observed and this one (a shard appears once known twice). */
  observe(topology: Topology): ShardRates {
    const writesPerSec = new Map<number, number>();
    for (const [shardKey, leader] of Object.entries(topology.leaders)) {
      const shardId = Number(shardKey);
      const health = topology.health[String(leader.nodeId)];
      const group = health?.groups.find((candidate) => candidate.shardId === shardId);
      if (health === undefined || group === undefined) continue;
      const rate = advance(this.#applied, String(shardId), { value: group.appliedIndex, atMs: health.reportedAtMs });
      if (rate !== null) writesPerSec.set(shardId, rate);
    }
    const readsPerSec = new Map<number, number>();
    for (const health of Object.values(topology.health)) {
      for (const group of health.groups) {
        if (group.keysRead === undefined) continue;
        const rate = advance(this.#keysRead, `${health.storeId}/${group.shardId}`, { value: group.keysRead, atMs: health.reportedAtMs });
        if (rate !== null) readsPerSec.set(group.shardId, (readsPerSec.get(group.shardId) ?? 0) + rate);
      }
    }
    return { writesPerSec, readsPerSec };
  }
}

/**
 * The rate from the sample kept under `key` to `next`, which replaces it when newer. Null for a
 * first sample, a report not newer than the last, or a counter that went back (a restart, a new
 * leader with a shorter log): no rate until the next report.
 */
function advance(samples: Map<string, Sample>, key: string, next: Sample): number | null {
  const previous = samples.get(key);
  if (previous !== undefined && next.atMs <= previous.atMs) return null;
  samples.set(key, next);
  if (previous === undefined || next.value < previous.value) return null;
  return ((next.value - previous.value) * 1000) / (next.atMs - previous.atMs);
}
