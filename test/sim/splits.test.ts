// The simulator drives splits (issue 14 part 6): on seeds with a split rate the groups own hash
// ranges, the operator splits them through the real driver while faults run (crashes between a
// split's apply and its child's creation included), and the split checkers hold. The checkers
// themselves are fed hand-made histories here: each violation is reported with its property and
// the legal history passes. test/sim/broken-core.test.ts shows them catch broken splits in runs.
import { describe, expect, test } from "bun:test";
import { SimViolation, type Property } from "../../src/sim/checker.ts";
import { pickSimOptions, type SimOptions } from "../../src/sim/options.ts";
import { runSeed } from "../../src/sim/run.ts";
import { formatFailure } from "../../src/sim/report.ts";
import { SplitChecker } from "../../src/sim/split-checker.ts";
import { equalRanges, splitRange } from "../../src/ring/range-map.ts";

function violationOf(action: () => void): Property | null {
  try {
    action();
    return null;
  } catch (error) {
    if (error instanceof SimViolation) return error.property;
    throw error;
  }
}

const half = 1n << 63n;

describe("SplitChecker", () => {
  test("a split whose halves tile the parent's range passes; one whose child overlaps the parent, or leaves a gap, is reported", () => {
    const checker = new SplitChecker(equalRanges([1, 2]));
    const { parent, child } = splitRange(checker.map.rangeOf(2)!, half + 100n);
    expect(violationOf(() => checker.splitApplied(1, 2, parent, 3, child))).toBeNull();
    expect(checker.map.shardForKey(new TextEncoder().encode("x"))).toBeGreaterThan(0);
    const next = splitRange(checker.map.rangeOf(1)!, 1000n);
    expect(violationOf(() => new SplitChecker(equalRanges([1, 2])).splitApplied(1, 1, next.parent, 4, { ...next.child, start: next.child.start - 1n }))).toBe("range-ownership");
    expect(violationOf(() => new SplitChecker(equalRanges([1, 2])).splitApplied(1, 1, next.parent, 4, { ...next.child, start: next.child.start + 1n }))).toBe("range-ownership");
  });

  test("replicas that disagree on a range version, or split into two versions, are reported", () => {
    const checker = new SplitChecker(equalRanges([1]));
    const { parent, child } = splitRange(checker.map.rangeOf(1)!, half);
    checker.splitApplied(1, 1, parent, 2, child);
    expect(violationOf(() => checker.splitApplied(2, 1, parent, 2, child))).toBeNull();
    const other = splitRange({ start: 0n, end: (1n << 64n) - 1n, version: 1 }, half + 1n);
    expect(violationOf(() => checker.splitApplied(3, 1, other.parent, 2, other.child))).toBe("split-consistency");
    expect(violationOf(() => new SplitChecker(equalRanges([1])).splitApplied(1, 1, parent, 2, { ...child, version: 3 }))).toBe("split-consistency");
  });

  test("replicas of a child created from different keys are reported", () => {
    const checker = new SplitChecker(equalRanges([1]));
    const { parent, child } = splitRange(checker.map.rangeOf(1)!, half);
    checker.splitApplied(1, 1, parent, 2, child);
    checker.childCreated(1, 2, child, 42);
    expect(violationOf(() => checker.childCreated(2, 2, child, 42))).toBeNull();
    expect(violationOf(() => checker.childCreated(3, 2, child, 43))).toBe("split-consistency");
  });

  test("a replica holding a key outside its range is reported", () => {
    const checker = new SplitChecker(equalRanges([1, 2]));
    const range = checker.map.rangeOf(1)!;
    expect(violationOf(() => checker.keysInRange(1, 1, range, [0n, half - 1n]))).toBeNull();
    expect(violationOf(() => checker.keysInRange(1, 1, range, [half]))).toBe("range-ownership");
  });

  test("a read missing an acknowledged write, or showing a value it superseded, is reported; unacknowledged writes may show or not", () => {
    const checker = new SplitChecker(equalRanges([1]));
    const first = checker.writeProposed("k", "v1");
    const beforeAny = checker.readIssued();
    checker.writeAcknowledged(first);
    const afterFirst = checker.readIssued();
    checker.writeProposed("k", "v2"); // never acknowledged: may or may not have applied
    const third = checker.writeProposed("k", "v3");
    checker.writeAcknowledged(third);
    const afterThird = checker.readIssued();
    expect(violationOf(() => checker.valueRead(1, 1, "k", null, beforeAny))).toBeNull();
    expect(violationOf(() => checker.valueRead(1, 1, "k", null, afterFirst))).toBe("acknowledged-write");
    expect(violationOf(() => checker.valueRead(1, 1, "k", "v1", afterFirst))).toBeNull();
    expect(violationOf(() => checker.valueRead(1, 1, "k", "v2", afterThird))).toBeNull();
    expect(violationOf(() => checker.valueRead(1, 1, "k", "v3", afterThird))).toBeNull();
    expect(violationOf(() => checker.valueRead(1, 1, "k", "v1", afterThird))).toBe("acknowledged-write");
    expect(violationOf(() => checker.valueRead(1, 1, "k", "nobody", afterThird))).toBe("acknowledged-write");
    expect(violationOf(() => checker.valueRead(1, 1, "k", null, Number.POSITIVE_INFINITY))).toBe("acknowledged-write");
  });
});

/** Seeds whose options split, from 1 on. */
function splittingSeeds(count: number): number[] {
  const seeds: number[] = [];
  for (let seed = 1; seeds.length < count; seed++) if (pickSimOptions(seed).splitProbability > 0) seeds.push(seed);
  return seeds;
}

test("seeds with splits: splits apply on every replica, children are created, crashes fall between a split's apply and its child's creation and the restart's replay creates it, and the final reads check every written key", async () => {
  const seeds = splittingSeeds(30);
  const totals = { splitsApplied: 0, childrenCreated: 0, splitCrashes: 0, splitReplays: 0, keysChecked: 0 };
  const failures: string[] = [];
  for (const seed of seeds) {
    const result = await runSeed(seed);
    if (result.outcome !== "ok") {
      console.error(formatFailure(result));
      failures.push(`seed ${seed}: ${result.outcome} (${result.property})`);
    }
    totals.splitsApplied += result.stats.splitsApplied;
    totals.childrenCreated += result.stats.childrenCreated;
    totals.splitCrashes += result.stats.splitCrashes;
    totals.splitReplays += result.stats.splitReplays;
    totals.keysChecked += result.stats.keysChecked;
  }
  expect(failures).toEqual([]);
  expect(totals.splitsApplied).toBeGreaterThan(0);
  expect(totals.childrenCreated).toBeGreaterThan(0);
  expect(totals.splitCrashes).toBeGreaterThan(0);
  expect(totals.splitReplays).toBeGreaterThan(0);
  expect(totals.keysChecked).toBeGreaterThan(0);
}, 120_000);

test("seeds without a split rate own no ranges and draw no split", async () => {
  const seed = [1, 2, 3, 4, 5, 6, 7, 8].find((candidate) => pickSimOptions(candidate).splitProbability === 0) as number;
  const result = await runSeed(seed, { adjust: (options: SimOptions) => ({ ...options, safetyTicks: 200 }) });
  expect(result.outcome).toBe("ok");
  expect(result.stats.splits).toBe(0);
  expect(result.stats.keysChecked).toBe(0);
});
