// The plan's layout against the cluster's: matching only when the cluster's shards own exactly
// the plan's ranges, and the one step that creates the planned boundaries (a split at each one the
// cluster lacks) or says why it cannot.
import { describe, expect, test } from "bun:test";
import { compareLayout, createPlannedLayout, mergeOwnedRanges, planBoundaries, type OwnedRange } from "../../../src/bulk/load-layout.ts";
import type { ShardPlan } from "../../../src/bulk/plan.ts";
import { RangeMap } from "../../../src/ring/range-map.ts";

const end = 1n << 64n;
const quarter = 1n << 62n;

function planOf(starts: bigint[]): ShardPlan {
  const shards = starts.map((start, index) => ({ start: start.toString(), end: (starts[index + 1] ?? end).toString(), keys: 10, bytes: 100 }));
  return { shardCount: shards.length, shards } as unknown as ShardPlan;
}

describe("load layout", () => {
  test("planBoundaries are the starts of every shard but the first", () => {
    expect(planBoundaries(planOf([0n, quarter, 2n * quarter]))).toEqual([quarter, 2n * quarter]);
  });

  test("adjacent ranges of one owner merge; equal ranges do not match a plan with other boundaries", () => {
    const ranges: OwnedRange[] = [
      { start: 0n, end: 10n, shardId: 1 },
      { start: 10n, end: 20n, shardId: 1 },
      { start: 20n, end: end, shardId: 2 },
    ];
    expect(mergeOwnedRanges(ranges)).toEqual([{ start: 0n, end: 20n, shardId: 1 }, { start: 20n, end: end, shardId: 2 }]);
    const equalRanges = RangeMap.equal([1, 2, 3]).ranges().map((range) => ({ start: range.start, end: range.end + 1n, shardId: range.shardId }));
    const comparison = compareLayout(planOf([0n, quarter, 2n * quarter]), equalRanges);
    expect(comparison.matches).toBe(false);
    expect(comparison.description).toContain("the plan's shard 0 is");
  });

  test("a cluster owning exactly the plan's ranges matches, shard ids in plan order; one boundary off does not", () => {
    const plan = planOf([0n, quarter, 3n * quarter]);
    const ranges: OwnedRange[] = [
      { start: 0n, end: quarter, shardId: 7 },
      { start: quarter, end: 3n * quarter, shardId: 4 },
      { start: 3n * quarter, end: end, shardId: 9 },
    ];
    expect(compareLayout(plan, ranges)).toMatchObject({ matches: true, shardIds: [7, 4, 9] });
    const off = ranges.map((range) => ({ ...range }));
    off[0]!.end = quarter + 1n;
    off[1]!.start = quarter + 1n;
    expect(compareLayout(plan, off).matches).toBe(false);
  });

  test("createPlannedLayout splits at each missing boundary, or says it cannot", async () => {
    const single: OwnedRange[] = [{ start: 0n, end: end, shardId: 1 }];
    const boundaries = [quarter, 2n * quarter];
    const without = await createPlannedLayout(boundaries, single, null);
    expect(without.created).toBe(false);
    expect(without.description).toContain("2 planned boundaries are not in the cluster");
    const splits: bigint[] = [];
    const done = await createPlannedLayout(boundaries, single, async (hash) => {
      splits.push(hash);
    });
    expect(done.created).toBe(true);
    expect(splits).toEqual(boundaries);
    const already = await createPlannedLayout([quarter], [{ start: 0n, end: quarter, shardId: 1 }, { start: quarter, end: end, shardId: 2 }], null);
    expect(already).toMatchObject({ created: true });
  });
});

describe("load report", () => {
  test("per-shard table: loaded, keys in shard, and the plan's rows with the difference only when the layouts match", async () => {
    const { formatLoadReport } = await import("../../../src/bulk/load-report.ts");
    const result = { recordCount: 12, resumedRecordCount: 5, rowsLoaded: 10, rowsRejected: 2, rowsSkipped: 0, loadedByShard: new Map([[1, 6], [2, 4]]), runRowsLoaded: 5, runDataBytes: 500, runInputBytes: 600, elapsedMs: 1000 };
    const matched = formatLoadReport(result, [{ shardId: 1, loaded: 6, keysInShard: 6, planned: 6 }, { shardId: 2, loaded: 4, keysInShard: null, planned: 5 }], ["a note"]);
    expect(matched).toContain("records read    12 (5 of them done before the resume)");
    expect(matched).toContain("5 keys/s");
    expect(matched).toMatch(/^shard\s+rows loaded\s+keys in shard\s+planned\s+loaded vs plan$/m);
    expect(matched).toMatch(/^1\s+6\s+6\s+6\s+=$/m);
    expect(matched).toMatch(/^2\s+4\s+\?\s+5\s+-1$/m);
    expect(matched).toContain("note: a note");
    const unmatched = formatLoadReport(result, [{ shardId: 1, loaded: 6, keysInShard: 6, planned: null }], []);
    expect(unmatched).not.toContain("planned");
  });
});
