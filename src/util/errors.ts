// Typed errors with a stable code. The code goes on the wire and sets the CLI exit status;
// the message names the value and the limit; `data` carries what a caller needs to act.

export type ErrorCode =
  | "NOT_LEADER"
  | "SHARD_UNAVAILABLE"
  | "KEY_TOO_LARGE"
  | "VALUE_TOO_LARGE"
  | "RECORD_TOO_LARGE"
  | "BATCH_TOO_LARGE"
  | "WAL_CORRUPT"
  | "SNAPSHOT_CORRUPT"
  | "DISK_FULL"
  | "IO_ERROR"
  | "CONFIG_INVALID"
  | "FRAME_INVALID"
  | "TIMEOUT"
  | "CLOSED"
  | "BAD_REQUEST"
  | "NOT_FOUND"
  | "DIR_LOCKED"
  | "UNREACHABLE"
  | "UNAVAILABLE"
  | "WRONG_SHARD"
  | "STALE_EPOCH"
  | "UNAUTHENTICATED"
  | "WRONG_TYPE"
  | "ADDRESS_IN_USE"
  | "ADDON_UNAVAILABLE"
  | "INTERNAL";

export class UkvError extends Error {
  override name = "UkvError";
  readonly code: ErrorCode;
  readonly data: Record<string, unknown>;

  constructor(code: ErrorCode, message: string, options: { data?: Record<string, unknown>; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.data = options.data ?? {};
  }
}

export function isUkvError(error: unknown, code?: ErrorCode): error is UkvError {
  return error instanceof UkvError && (code === undefined || error.code === code);
}
