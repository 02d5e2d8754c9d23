// The topology a client routes by: the ring is a function of the shard set alone (the vnodes its
// size picks), so every store, router and client agree on a key's shard; a 1000-shard layout
// builds within the ring's range limit.
import { describe, expect, test } from "bun:test";
import { StaticTopologySource, topologyFromLayout, type ClusterLayout } from "../../../src/client/topology.ts";
import { vnodeCountDefault, vnodeCountForShardCount } from "../../../src/ring/ring.ts";
import { isUkvError } from "../../../src/util/errors.ts";
import { ringRangeCountMax } from "../../../src/util/limits.ts";

/** `shardCount` shards, each on `replication` of `storeCount` stores, shard ids listed in `order`. */
function layoutOf(shardCount: number, options: { storeCount?: number; order?: "ascending" | "descending"; addressPrefix?: string } = {}): ClusterLayout {
  const storeCount = options.storeCount ?? 3;
  const ids = Array.from({ length: shardCount }, (_, index) => index + 1);
  if (options.order === "descending") ids.reverse();
  return {
    shards: ids.map((id) => ({
      id,
      members: [0, 1, 2].map((offset) => {
        const storeId = ((id + offset) % storeCount) + 1;
        return { id: storeId, clientAddress: `${options.addressPrefix ?? "127.0.0.1"}:${7000 + storeId}` };
      }),
    })),
  };
}

describe("topologyFromLayout", () => {
  test("a small layout keeps the default vnodes", () => {
    const topology = topologyFromLayout(layoutOf(3), 4);
    expect(topology.ring.vnodeCount).toBe(vnodeCountDefault);
    expect(topology.ring.epoch).toBe(4);
    expect(topology.ring.shardIds()).toEqual([1, 2, 3]);
  });

  test("a 1000-shard layout builds a ring with fewer vnodes a shard, every shard owning ranges", () => {
    const topology = topologyFromLayout(layoutOf(1000, { storeCount: 10 }));
    expect(topology.ring.vnodeCount).toBe(vnodeCountForShardCount(1000));
    expect(topology.ring.vnodeCount).toBeLessThanOrEqual(Math.floor((ringRangeCountMax - 1) / 1000));
    expect(topology.ring.rangeCount).toBeLessThanOrEqual(ringRangeCountMax);
    expect(topology.ring.shardIds().length).toBe(1000);
    expect(topology.shards.size).toBe(1000);
  });

  test("the ring depends on the shard set only: not on list order, members, addresses or epoch", () => {
    for (const shardCount of [3, 200]) {
      const base = topologyFromLayout(layoutOf(shardCount), 0).ring.toJSON();
      const reordered = topologyFromLayout(layoutOf(shardCount, { order: "descending", storeCount: 5, addressPrefix: "10.0.0.9" }), 17).ring.toJSON();
      expect(reordered.ranges).toEqual(base.ranges);
      expect(reordered.vnodeCount).toBe(base.vnodeCount);
    }
  });

  test("a layout without shards, or a shard without members, is refused", () => {
    const caught = (action: () => unknown): unknown => {
      try {
        action();
      } catch (error) {
        return error;
      }
      return null;
    };
    expect(isUkvError(caught(() => topologyFromLayout({ shards: [] })), "CONFIG_INVALID")).toBe(true);
    expect(isUkvError(caught(() => topologyFromLayout({ shards: [{ id: 1, members: [] }] })), "CONFIG_INVALID")).toBe(true);
  });

  test("the static source serves the layout's topology and never changes", async () => {
    const source = new StaticTopologySource(layoutOf(2));
    const before = source.current();
    await source.refresh();
    expect(source.current()).toBe(before);
    expect(before.epoch).toBe(0);
  });
});
