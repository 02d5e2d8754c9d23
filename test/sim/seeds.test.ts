// The seed sweep: 2,000 seeds of the real driver and Raft core, on stores hosting one to three
// groups, under the seed's faults, each with a safety phase and a liveness phase. To keep the
// sweep near a minute on a loaded 2-core machine, the safety phase is cut to at most
// safetyTicksMax ticks (the seed's own length is 300-800); `npm run sim -- --seeds N` runs the
// full length. Split into blocks so progress shows; a failure prints its seed and trace (replay
// with `npm run sim -- --seed S`, which runs the full length: add the cut there to replay it exactly).
import { expect, test } from "bun:test";
import type { SimOptions } from "../../src/sim/options.ts";
import { runSeed } from "../../src/sim/run.ts";
import { formatFailure } from "../../src/sim/report.ts";

const seedsTotal = 2000;
const seedsPerBlock = 250;
/** The in-test cut of the safety phase. */
export const safetyTicksMax = 150;
/** Per block; a block takes a few seconds on an idle machine, far more on a loaded one. */
const blockTimeoutMs = 120_000;

function short(options: SimOptions): SimOptions {
  return { ...options, safetyTicks: Math.min(options.safetyTicks, safetyTicksMax) };
}

for (let from = 1; from <= seedsTotal; from += seedsPerBlock) {
  const to = from + seedsPerBlock - 1;
  test(`seeds ${from}..${to}: no safety or liveness violation and no crash`, async () => {
    const failures: string[] = [];
    for (let seed = from; seed <= to; seed++) {
      const result = await runSeed(seed, { adjust: short });
      if (result.outcome === "ok") continue;
      const report = formatFailure(result);
      console.error(report);
      failures.push(`seed ${seed}: ${result.outcome} (${result.property}) with safetyTicks cut to ${safetyTicksMax}`);
    }
    expect(failures).toEqual([]);
  }, blockTimeoutMs);
}
