// Structured logs: one JSON object per line on stderr, with `event` and the bound context
// (node, shard, term). pino writes synchronously here so that a crash never loses the last line.
import pino from "pino";

export type Logger = pino.Logger;

const level = process.env.UKV_LOG_LEVEL ?? "info";

export const rootLogger: Logger = pino(
  { level, base: undefined, timestamp: pino.stdTimeFunctions.isoTime },
  pino.destination({ fd: 2, sync: true }),
);

export function childLogger(context: Record<string, unknown>): Logger {
  return rootLogger.child(context);
}
