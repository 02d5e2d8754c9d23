// The topology a client routes by: which shards exist, which members (with client addresses)
// each has, and the ring that maps a key to its shard. Read through the small `TopologySource`
// interface so that the static config source used today can be swapped for the metadata store
// (watching its epoch) without touching the routing code.
//
// This folder may not import src/config (import arrows, STYLE.md), so a layout is taken by its
// shape: `ClusterLayout` is the part of a topology layout the client needs (a TopologyLayout of
// the metadata group satisfies it; a ClusterConfig becomes one through meta's layoutFromConfig).
//
// The ring is a function of the shard ids alone (their set, and the vnode count that set's size
// picks), so every store, router and client that sees the same shards routes a key the same way.
import { Ring, vnodeCountForShardCount } from "../ring/ring.ts";
import { assert } from "../util/assert.ts";
import { UkvError } from "../util/errors.ts";

export interface TopologyMember {
  id: number;
  /** host:port where the member serves the client protocol. */
  clientAddress: string;
}

export interface TopologyShard {
  id: number;
  members: readonly TopologyMember[];
}

export interface Topology {
  /** Increases on every change; a cached leader from an older epoch may be stale. */
  epoch: number;
  ring: Ring;
  shards: ReadonlyMap<number, TopologyShard>;
}

/** Where the topology comes from; `current()` never blocks, `refresh()` re-reads the source. */
export interface TopologySource {
  current(): Topology;
  refresh(): Promise<void>;
}

/** The part of a topology layout the client needs (TopologyLayout and layoutFromConfig's result satisfy it). */
export interface ClusterLayout {
  shards: readonly { id: number; members: readonly { id: number; clientAddress: string }[] }[];
}

/**
 * A topology from a static layout: shard ids from the layout, Ring.build with the vnodes
 * vnodeCountForShardCount picks for their count (the default up to 127 shards, fewer beyond).
 */
export function topologyFromLayout(layout: ClusterLayout, epoch = 0): Topology {
  if (layout.shards.length === 0) throw new UkvError("CONFIG_INVALID", "A cluster layout needs at least one shard");
  const shards = new Map<number, TopologyShard>();
  for (const shard of layout.shards) {
    if (shard.members.length === 0) throw new UkvError("CONFIG_INVALID", `Shard ${shard.id} has no members`);
    shards.set(shard.id, { id: shard.id, members: shard.members.map((member) => ({ id: member.id, clientAddress: member.clientAddress })) });
  }
  const ring = Ring.build([...shards.keys()], { epoch, vnodeCount: vnodeCountForShardCount(shards.size) });
  assert(ring.shardIds().every((shardId) => shards.has(shardId)), "every ring owner is a known shard");
  return { epoch, ring, shards };
}

/** The config as the only source: the layout never changes while running, so refresh is a no-op. */
export class StaticTopologySource implements TopologySource {
  readonly #topology: Topology;

  constructor(layout: ClusterLayout) {
    this.#topology = topologyFromLayout(layout);
  }

  current(): Topology {
    return this.#topology;
  }

  refresh(): Promise<void> {
    return Promise.resolve();
  }
}

/** The shard owning `key` and its members; the ring only names shards the topology lists. */
export function shardOfKey(topology: Topology, key: Uint8Array): TopologyShard {
  const shardId = topology.ring.shardForKey(key);
  const shard = topology.shards.get(shardId);
  assert(shard !== undefined, "the ring names only shards of the topology");
  return shard;
}
