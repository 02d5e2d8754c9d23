// How a subcommand reports a failure: the typed error's message on stderr and an exit status per
// error code, so scripts can tell "not found" from "bad config" from "unreachable" (the same
// status for a code as `ukv kv` gives its answer code, kvExitStatus in kv.ts).
import type { BaseContext } from "clipanion";
import { UkvError } from "../util/errors.ts";

const exitStatusByCode: Partial<Record<string, number>> = {
  NOT_FOUND: 1,
  CONFIG_INVALID: 3,
  BAD_REQUEST: 4,
  DIR_LOCKED: 5,
  NOT_LEADER: 6,
  SHARD_UNAVAILABLE: 7,
  TIMEOUT: 8,
  UNREACHABLE: 9,
  KEY_TOO_LARGE: 10,
  VALUE_TOO_LARGE: 11,
  UNAVAILABLE: 12,
  WRONG_SHARD: 13,
};

export function reportCliError(context: BaseContext, error: unknown): number {
  if (error instanceof UkvError) {
    context.stderr.write(`error (${error.code}): ${error.message}\n`);
    return exitStatusByCode[error.code] ?? 2;
  }
  const message = error instanceof Error ? (error.stack ?? error.message) : String(error);
  context.stderr.write(`error: ${message}\n`);
  return 2;
}

/** Parses a positive integer option or throws BAD_REQUEST naming the flag. */
export function parsePositiveInt(flag: string, text: string): number {
  const value = Number(text);
  if (!Number.isSafeInteger(value) || value <= 0) {
    throw new UkvError("BAD_REQUEST", `${flag} must be a positive integer: ${JSON.stringify(text)}`);
  }
  return value;
}

/** Resolves on the first SIGTERM or SIGINT. */
export function waitForStopSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    const onSignal = (signal: NodeJS.Signals): void => {
      process.off("SIGTERM", onSignal);
      process.off("SIGINT", onSignal);
      resolve(signal);
    };
    process.on("SIGTERM", onSignal);
    process.on("SIGINT", onSignal);
  });
}
