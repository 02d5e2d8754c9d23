// Initial shard placement: replicas of a shard on distinct stores, every store holding floor or
// ceil of K*R/S replicas and leading (listed first in) floor or ceil of K/S shards.
import { describe, expect, test } from "bun:test";
import { placeShards, type ShardPlacement } from "../../../src/config/placement.ts";
import { isUkvError } from "../../../src/util/errors.ts";

function countBy(placements: readonly ShardPlacement[], storeIds: readonly number[], pick: (placement: ShardPlacement) => readonly number[]): number[] {
  const counts = new Map<number, number>(storeIds.map((storeId) => [storeId, 0]));
  for (const placement of placements) {
    for (const storeId of pick(placement)) counts.set(storeId, (counts.get(storeId) ?? 0) + 1);
  }
  return storeIds.map((storeId) => counts.get(storeId) ?? 0);
}

/** Asserts every rule of a placement, and returns the replica and leader counts per store. */
function checkPlacement(storeIds: number[], shardCount: number, replication: number): { replicas: number[]; leaders: number[] } {
  const placements = placeShards(storeIds, shardCount, replication);
  expect(placements.map((placement) => placement.id)).toEqual(Array.from({ length: shardCount }, (_, index) => index + 1));
  for (const placement of placements) {
    expect(placement.replicas.length).toBe(replication);
    expect(new Set(placement.replicas).size).toBe(replication);
    for (const storeId of placement.replicas) expect(storeIds).toContain(storeId);
  }
  const replicas = countBy(placements, storeIds, (placement) => placement.replicas);
  const leaders = countBy(placements, storeIds, (placement) => placement.replicas.slice(0, 1));
  const storeCount = storeIds.length;
  for (const count of replicas) expect([Math.floor((shardCount * replication) / storeCount), Math.ceil((shardCount * replication) / storeCount)]).toContain(count);
  for (const count of leaders) expect([Math.floor(shardCount / storeCount), Math.ceil(shardCount / storeCount)]).toContain(count);
  return { replicas, leaders };
}

describe("placeShards", () => {
  test("8 shards x 3 on 3 stores: every store holds all 8, leads 2 or 3", () => {
    const { replicas, leaders } = checkPlacement([1, 2, 3], 8, 3);
    expect(replicas).toEqual([8, 8, 8]);
    expect(leaders).toEqual([3, 3, 2]);
    expect(placeShards([1, 2, 3], 3, 3)).toEqual([
      { id: 1, replicas: [1, 2, 3] },
      { id: 2, replicas: [2, 3, 1] },
      { id: 3, replicas: [3, 1, 2] },
    ]);
  });

  test("1000 shards x 3 on 3 stores: 1000 replicas a store, leaders 334/333/333", () => {
    const { replicas, leaders } = checkPlacement([1, 2, 3], 1000, 3);
    expect(replicas).toEqual([1000, 1000, 1000]);
    expect(leaders).toEqual([334, 333, 333]);
  });

  test("7 shards x 3 on 5 stores: 21 replicas as 4 or 5 a store, leaders 1 or 2", () => {
    const { replicas, leaders } = checkPlacement([1, 2, 3, 4, 5], 7, 3);
    expect(replicas.reduce((sum, count) => sum + count, 0)).toBe(21);
    expect(replicas.filter((count) => count === 5).length).toBe(1);
    expect(leaders.filter((count) => count === 2).length).toBe(2);
  });

  test("every store count 1..12, replication 1..min(stores, 9), shard count 0..3 x stores + 1 is balanced", () => {
    for (let storeCount = 1; storeCount <= 12; storeCount++) {
      const storeIds = Array.from({ length: storeCount }, (_, index) => 100 + index);
      for (let replication = 1; replication <= Math.min(storeCount, 9); replication++) {
        for (let shardCount = 0; shardCount <= 3 * storeCount + 1; shardCount++) checkPlacement(storeIds, shardCount, replication);
      }
    }
  });

  test("stores share shards with more than a fixed set of peers (6 stores at replication 3 are not two fixed trios)", () => {
    const placements = placeShards([1, 2, 3, 4, 5, 6], 6, 3);
    const peersOfOne = new Set(placements.filter((placement) => placement.replicas.includes(1)).flatMap((placement) => placement.replicas));
    expect(peersOfOne.size).toBeGreaterThan(3);
  });

  test("deterministic, and over the given ids in the given order", () => {
    expect(placeShards([30, 10, 20], 4, 2)).toEqual(placeShards([30, 10, 20], 4, 2));
    expect(placeShards([30, 10, 20], 1, 2)).toEqual([{ id: 1, replicas: [30, 10] }]);
  });

  test("impossible requests are CONFIG_INVALID, not a crash", () => {
    const expectInvalid = (run: () => unknown, message: string): void => {
      try {
        run();
      } catch (error) {
        expect(isUkvError(error, "CONFIG_INVALID")).toBe(true);
        expect((error as Error).message).toContain(message);
        return;
      }
      throw new Error("no error");
    };
    expectInvalid(() => placeShards([1, 2, 3], 4, 4), "replication must be an integer in 1..3 (the number of stores), got 4");
    expectInvalid(() => placeShards([1, 2, 3], 4, 0), "replication must be an integer in 1..3");
    expectInvalid(() => placeShards([], 1, 1), "no stores");
    expectInvalid(() => placeShards([1, 1], 1, 1), "store ids must be distinct");
    expectInvalid(() => placeShards([1, 2], 1.5, 1), "shardCount must be a non-negative integer");
  });
});
