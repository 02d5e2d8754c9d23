// Shared by the sim tests: prints a failing run the way `npm run sim` does, so a red test shows
// the seed, the property and the last events, and how to replay it.
import type { SimResult } from "../../src/sim/run.ts";
import { formatTraceEvent } from "../../src/sim/trace.ts";

export function reportFailure(result: SimResult): string {
  const lines = [
    `seed ${result.seed}: ${result.outcome} violation (${result.property}) at tick ${result.ticks}`,
    result.message,
    ...result.trace.map(formatTraceEvent),
    `replay: npm run sim -- --seed ${result.seed}`,
  ];
  return lines.join("\n");
}
