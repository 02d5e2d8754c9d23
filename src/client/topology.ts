// The topology a client routes by: which shards exist, which members (with client addresses)
// each has, and the range map that maps a key's hash to its shard. Read through the small `TopologySource`
// interface so that the static config source used today can be swapped for the metadata store
// (watching its epoch) without touching the routing code.
//
// This folder may not import src/config (import arrows, STYLE.md), so a layout is taken by its
// shape: `ClusterLayout` is the part of a topology layout the client needs (a TopologyLayout of
// the metadata group satisfies it; a ClusterConfig becomes one through meta's layoutFromConfig).
//
// The ranges come from the layout (the metadata group records each shard's range and version); a
// layout without ranges (a static config) is the initial one, K equal ranges (equalRanges).
import { equalRanges, rangeFromJson, RangeMap, type KeyRange, type KeyRangeJson } from "../ring/range-map.ts";
import { assert } from "../util/assert.ts";
import { UkvError } from "../util/errors.ts";

export interface TopologyMember {
  id: number;
  /** host:port where the member serves the client protocol. */
  clientAddress: string;
  /** host:port of the member's Raft port, which serves the client protocol on its Raft thread too (absent when not known). */
  raftAddress?: string;
}

export interface TopologyShard {
  id: number;
  members: readonly TopologyMember[];
  /** The hash range the shard owns and its version (sent with each request routed by it); absent for the metadata group. */
  range?: KeyRange;
}

export interface Topology {
  /** Increases on every change; a cached leader from an older epoch may be stale. */
  epoch: number;
  ranges: RangeMap;
  shards: ReadonlyMap<number, TopologyShard>;
}

/** Where the topology comes from; `current()` never blocks, `refresh()` re-reads the source. */
export interface TopologySource {
  current(): Topology;
  refresh(): Promise<void>;
}

/** The part of a topology layout the client needs (TopologyLayout and layoutFromConfig's result satisfy it). */
export interface ClusterLayout {
  shards: readonly { id: number; members: readonly { id: number; clientAddress: string; raftAddress?: string }[]; range?: KeyRangeJson }[];
}

/** A topology from a layout: its shards' ranges, or the initial equal ranges when it has none. */
export function topologyFromLayout(layout: ClusterLayout, epoch = 0): Topology {
  if (layout.shards.length === 0) throw new UkvError("CONFIG_INVALID", "A cluster layout needs at least one shard");
  const withRange = layout.shards.filter((shard) => shard.range !== undefined).length;
  if (withRange !== 0 && withRange !== layout.shards.length) throw new UkvError("CONFIG_INVALID", "Some shards of the layout have a range and some do not");
  const ranges =
    withRange === 0
      ? RangeMap.fromRanges(equalRanges(layout.shards.map((shard) => shard.id)))
      : RangeMap.fromRanges(layout.shards.map((shard) => ({ shardId: shard.id, ...rangeFromJson(shard.range) })));
  const shards = new Map<number, TopologyShard>();
  for (const shard of layout.shards) {
    if (shard.members.length === 0) throw new UkvError("CONFIG_INVALID", `Shard ${shard.id} has no members`);
    const range = ranges.rangeOf(shard.id);
    assert(range !== null, "every shard of the layout owns a range");
    shards.set(shard.id, {
      id: shard.id,
      members: shard.members.map((member) => ({ id: member.id, clientAddress: member.clientAddress, ...(member.raftAddress === undefined || member.raftAddress === "" ? {} : { raftAddress: member.raftAddress }) })),
      range,
    });
  }
  return { epoch, ranges, shards };
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

/** The shard owning `key` and its members; the range map only names shards the topology lists. */
export function shardOfKey(topology: Topology, key: Uint8Array): TopologyShard {
  const shardId = topology.ranges.shardForKey(key);
  const shard = topology.shards.get(shardId);
  assert(shard !== undefined, "the range map names only shards of the topology");
  return shard;
}
