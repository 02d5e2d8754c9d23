// Shared by the transport tests: a logger that records events, and bounded waiting.
import pino from "pino";
import type { Logger } from "../../../src/util/log.ts";

export interface CapturedLogger {
  logger: Logger;
  events(): Record<string, unknown>[];
}

export function captureLogger(): CapturedLogger {
  const lines: string[] = [];
  const logger = pino({ level: "debug", base: undefined }, { write: (line: string) => lines.push(line) });
  return { logger, events: () => lines.map((line) => JSON.parse(line) as Record<string, unknown>) };
}

/** Polls `condition` every 5 ms until true; fails after `timeoutMs`. */
export async function waitFor(condition: () => boolean, timeoutMs = 5000, what = "condition"): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!condition()) {
    if (performance.now() > deadline) throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}
