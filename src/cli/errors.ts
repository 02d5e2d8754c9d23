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
  ADDRESS_IN_USE: 14,
  ADDON_UNAVAILABLE: 15,
  STALE_EPOCH: 16,
  UNAUTHENTICATED: 17,
  WRONG_TYPE: 18,
};

export function reportCliError(context: BaseContext, error: unknown): number {
  if (error instanceof UkvError) {
    context.stderr.write(`error (${error.code}): ${error.message}\n`);
    return exitStatusByCode[error.code] ?? 2;
  }
  // One line, never a stack trace: an unexpected error is still reported to the user as what
  // went wrong; UKV_DEBUG=1 adds the stack for a bug report.
  const message = error instanceof Error ? error.message : String(error);
  const stack = process.env["UKV_DEBUG"] === "1" && error instanceof Error ? `\n${error.stack ?? ""}` : "";
  context.stderr.write(`error (INTERNAL): ${message.split("\n")[0] ?? ""}${stack}\n`);
  return 2;
}

/**
 * A listener that could not bind, named by its role: `roles` maps each address this process
 * listens on to what it is ("store 1's client address"). Other errors pass through.
 */
export function nameAddressInUse(error: unknown, roles: ReadonlyMap<string, string>): unknown {
  if (!(error instanceof UkvError) || error.code !== "ADDRESS_IN_USE") return error;
  const address = typeof error.data["address"] === "string" ? error.data["address"] : "";
  const role = roles.get(address) ?? [...roles].find(([configured]) => sameAddress(configured, address))?.[1];
  // Unknown here: the message already names what it could (a start-up check names the role itself).
  if (role === undefined) return error;
  return new UkvError("ADDRESS_IN_USE", `${role} ${address} is in use by another process: stop that process or choose another port`, { data: error.data, cause: error });
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

function sameAddress(configured: string, address: string): boolean {
  const strip = (text: string): string => text.replace(/^\[(.*)\](:\d+)$/, "$1$2");
  return strip(configured) === strip(address);
}
