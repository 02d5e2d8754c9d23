// The seed sweep: 2,000 seeds of the real Raft core under the seed's faults, each with a safety
// phase and a liveness phase. Split into blocks so progress shows; a failure prints its seed and
// trace (replay with `npm run sim -- --seed S`).
import { expect, test } from "bun:test";
import { raftCore } from "../../src/sim/raft-core.ts";
import { runSeed } from "../../src/sim/run.ts";
import { formatFailure } from "../../src/sim/report.ts";

const seedsTotal = 2000;
const seedsPerBlock = 250;
/** Per block; a block takes a few seconds on an idle machine, far more on a loaded one. */
const blockTimeoutMs = 120_000;

for (let from = 1; from <= seedsTotal; from += seedsPerBlock) {
  const to = from + seedsPerBlock - 1;
  test(`seeds ${from}..${to}: no safety or liveness violation and no crash`, () => {
    const failures: string[] = [];
    for (let seed = from; seed <= to; seed++) {
      const result = runSeed(seed, { core: raftCore });
      if (result.outcome === "ok") continue;
      const report = formatFailure(result);
      console.error(report);
      failures.push(`seed ${seed}: ${result.outcome} (${result.property})`);
    }
    expect(failures).toEqual([]);
  }, blockTimeoutMs);
}
