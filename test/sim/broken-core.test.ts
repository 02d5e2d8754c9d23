// The checkers must catch a broken core: with testOnlyUnsafeCommit the leader commits entries
// without a quorum, so some seed must end in a safety violation (not a crash, not a liveness
// failure). A sweep that stayed green here would mean the checkers are blind.
import { expect, test } from "bun:test";
import { raftCore } from "../../src/sim/raft-core.ts";
import { exitCodeOf, exitCodeSafety, runSeed, type SimResult } from "../../src/sim/run.ts";
import { formatFailure } from "../../src/sim/report.ts";

/** Seeds tried at most; the checker finds the first violation within the first dozen or so. */
const seedsMax = 100;

test("a core that commits without a quorum is caught as a safety violation within a few seeds", () => {
  let caught: SimResult | null = null;
  for (let seed = 1; seed <= seedsMax && caught === null; seed++) {
    const result = runSeed(seed, { core: raftCore, unsafeCommit: true });
    if (result.outcome !== "ok") caught = result;
  }
  expect(caught).not.toBeNull();
  const result = caught as SimResult;
  console.error(`unsafe commit caught at seed ${result.seed}:\n${formatFailure(result)}`);
  expect(result.outcome).toBe("safety");
  expect(exitCodeOf(result.outcome)).toBe(exitCodeSafety);
  expect(result.trace.length).toBeGreaterThan(0);
  expect(result.trace[result.trace.length - 1]?.kind).toBe("violation");
});

test("the same core with the unsafe mode off passes those seeds", () => {
  for (let seed = 1; seed <= 20; seed++) expect(runSeed(seed, { core: raftCore }).outcome).toBe("ok");
});
