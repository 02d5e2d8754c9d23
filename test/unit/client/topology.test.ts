// The topology a client routes by: the layout's ranges, or the initial equal ranges of the shard
// set (so every store, router and client agree on a key's shard before the first split).
import { describe, expect, test } from "bun:test";
import { StaticTopologySource, topologyFromLayout, type ClusterLayout } from "../../../src/client/topology.ts";
import { equalRanges, rangeToJson, RangeMap } from "../../../src/ring/range-map.ts";
import { isUkvError } from "../../../src/util/errors.ts";

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
  test("a layout without ranges gets the initial equal ranges, in shard id order", () => {
    const topology = topologyFromLayout(layoutOf(3), 4);
    expect(topology.epoch).toBe(4);
    expect(topology.ranges.shardIds()).toEqual([1, 2, 3]);
    expect(topology.ranges.ranges()).toEqual(equalRanges([1, 2, 3]));
    expect(topology.shards.get(2)!.range).toEqual(topology.ranges.rangeOf(2)!);
  });

  test("a 1000-shard layout: every shard owns one range", () => {
    const topology = topologyFromLayout(layoutOf(1000, { storeCount: 10 }));
    expect(topology.ranges.shardIds().length).toBe(1000);
    expect(topology.shards.size).toBe(1000);
  });

  test("the initial ranges depend on the shard set only: not on list order, members, addresses or epoch", () => {
    for (const shardCount of [3, 200]) {
      const base = topologyFromLayout(layoutOf(shardCount), 0).ranges.ranges();
      const reordered = topologyFromLayout(layoutOf(shardCount, { order: "descending", storeCount: 5, addressPrefix: "10.0.0.9" }), 17).ranges.ranges();
      expect(reordered).toEqual(base);
    }
  });

  test("a layout's own ranges (after a split) are used as they are, and must tile the space", () => {
    const split = RangeMap.equal([1, 2]).split(2, 3n << 62n, 3);
    const layout = layoutOf(3);
    const withRanges: ClusterLayout = { shards: layout.shards.map((shard) => ({ ...shard, range: rangeToJson(split.rangeOf(shard.id)!) })) };
    const topology = topologyFromLayout(withRanges);
    expect(topology.ranges.ranges()).toEqual(split.ranges());
    expect(topology.shards.get(3)!.range!.version).toBe(2);
    const holed: ClusterLayout = { shards: withRanges.shards.filter((shard) => shard.id !== 3) };
    expect(() => topologyFromLayout(holed)).toThrow(/do not cover/);
    const mixed: ClusterLayout = { shards: [...holed.shards, { ...layout.shards[2]!, range: undefined }] };
    expect(() => topologyFromLayout(mixed)).toThrow(/Some shards/);
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
