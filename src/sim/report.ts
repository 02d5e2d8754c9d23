// The failure report of a run: seed, kind, property, message, the last events and the replay
// command. Shared by the CLI and the tests so a red test reads like `npm run sim`.
import type { SimResult } from "./run.ts";
import { formatTraceEvent } from "./trace.ts";

export function formatFailure(result: SimResult): string {
  return [
    `seed ${result.seed}: ${result.outcome} violation (${result.property}) at tick ${result.ticks}`,
    result.message,
    `last ${result.trace.length} events:`,
    ...result.trace.map(formatTraceEvent),
    `replay: npm run sim -- --seed ${result.seed}`,
  ].join("\n");
}
