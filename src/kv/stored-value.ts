// The bytes a data shard's table holds for a key: a one-byte header, then (when the key expires)
// its absolute deadline, then the client's value. Layout: u8 flags | [f64 deadlineMs, LE, when
// flags & hasDeadline] | payload. Flags: bit 0 hasDeadline, bits 1-2 the value's type (0 string,
// 1 list header, 2 hash, 3 list chunk: TYPE's answer; see list-store.ts and collections.ts). The deadline is milliseconds since the Unix epoch, fixed by the
// leader that proposed the write, so every replica stores the same bytes; snapshots and the WAL
// carry it with no change of their own. Every read of a data shard decodes through liveValue():
// an expired key reads as absent, by the reader's own clock, until the leader's active expiry
// deletes it through the log. Pure and dependency-free, so any thread can use it.
import { UkvError } from "../util/errors.ts";
import { valueSizeBytesMax } from "../util/limits.ts";

const flagHasDeadline = 1;
const typeShift = 1;
const typeMask = 0b110;
const flagsKnown = flagHasDeadline | typeMask;

/** The type of a stored value (Redis's TYPE). A string is 0: values written before types existed read as strings. */
export enum ValueType {
  String = 0,
  List = 1,
  Hash = 2,
  /** Part of a list's elements under an internal key (list-store.ts): never shown as a key. */
  ListChunk = 3,
}

const typeNames: Record<ValueType, string> = { [ValueType.String]: "string", [ValueType.List]: "list", [ValueType.Hash]: "hash", [ValueType.ListChunk]: "ukv-list-chunk" };

/** TYPE's answer for a value type. */
export function typeName(type: ValueType): string {
  return typeNames[type];
}

/** Redis's error for a command on a key of another type. */
export const wrongTypeMessage = "WRONGTYPE Operation against a key holding the wrong kind of value";

/**
 * A value whose first byte shares no bit with this is a string without a deadline: it can neither
 * expire nor be a list chunk, so active expiry need not see it (Table.scan's native filter). Lists
 * and hashes without deadlines pass too; the sweep decodes and skips them.
 */
export const expiryCandidateFirstByteMask = flagHasDeadline | typeMask;

/** The header of a value with a deadline: flags + f64. */
export const storedValueHeaderSizeBytesMax = 1 + 8;
/** The largest client value: the table's limit less the header, so any value can get a deadline. */
export const storedPayloadSizeBytesMax = valueSizeBytesMax - storedValueHeaderSizeBytesMax;

export interface StoredValue {
  payload: Uint8Array;
  /** Absolute deadline in ms since the epoch, or null when the key never expires. */
  deadlineMs: number | null;
  type: ValueType;
}

export function checkPayloadSize(sizeBytes: number): void {
  if (sizeBytes > storedPayloadSizeBytesMax) {
    throw new UkvError("VALUE_TOO_LARGE", `Value too large: ${sizeBytes} bytes, limit ${storedPayloadSizeBytesMax}`, {
      data: { sizeBytes, limitBytes: storedPayloadSizeBytesMax },
    });
  }
}

export function encodeStoredValue(payload: Uint8Array, deadlineMs: number | null, type: ValueType = ValueType.String): Uint8Array {
  checkPayloadSize(payload.byteLength);
  const typeBits = type << typeShift;
  if (deadlineMs === null) {
    const bytes = new Uint8Array(1 + payload.byteLength);
    bytes[0] = typeBits;
    bytes.set(payload, 1);
    return bytes;
  }
  const bytes = new Uint8Array(storedValueHeaderSizeBytesMax + payload.byteLength);
  bytes[0] = flagHasDeadline | typeBits;
  new DataView(bytes.buffer).setFloat64(1, deadlineMs, true);
  bytes.set(payload, storedValueHeaderSizeBytesMax);
  return bytes;
}

/**
 * The payload after a header of `offset` bytes. A small one is copied: a subarray of a typed array
 * that has no ArrayBuffer object yet (as every value a table read returns) first makes one, about
 * 300 ns in Bun against 80 ns for copying a 100-byte payload; a large one is a view (no copy).
 */
function payloadAfter(bytes: Uint8Array, offset: number): Uint8Array {
  return bytes.byteLength - offset <= payloadCopySizeBytesMax ? bytes.slice(offset) : bytes.subarray(offset);
}
const payloadCopySizeBytesMax = 4096;

/** The header and payload of table bytes; a value the table holds that is not one is a typed error. */
export function decodeStoredValue(bytes: Uint8Array): StoredValue {
  const flags = bytes[0];
  if (flags === undefined || (flags & ~flagsKnown) !== 0) {
    throw new UkvError("INTERNAL", `Stored value has an unknown header ${flags === undefined ? "(empty)" : flags}`);
  }
  const type = ((flags & typeMask) >> typeShift) as ValueType;
  if ((flags & flagHasDeadline) === 0) return { payload: payloadAfter(bytes, 1), deadlineMs: null, type };
  if (bytes.byteLength < storedValueHeaderSizeBytesMax) throw new UkvError("INTERNAL", `Stored value of ${bytes.byteLength} bytes is shorter than its header`);
  const deadlineMs = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getFloat64(1, true);
  return { payload: payloadAfter(bytes, storedValueHeaderSizeBytesMax), deadlineMs, type };
}

/** True when a value with this deadline is gone at `nowMs` (Redis: expired once now >= deadline). */
export function isExpired(deadlineMs: number | null, nowMs: number): boolean {
  return deadlineMs !== null && deadlineMs <= nowMs;
}

/** The value of table bytes as a reader at `nowMs` sees it: null when absent or expired. */
export function liveValue(bytes: Uint8Array | null, nowMs: number): StoredValue | null {
  if (bytes === null) return null;
  const stored = decodeStoredValue(bytes);
  return isExpired(stored.deadlineMs, nowMs) ? null : stored;
}

/** livePayloadStart's answers besides an offset: the key reads as absent. */
export const payloadExpired = -1;
/** livePayloadStart: the value is a list or hash (GET's WRONGTYPE, MGET's nil: the Raft thread's rules). */
export const payloadNotString = -2;
/** livePayloadStart: the bytes are not a stored value (decodeStoredValue would throw). */
export const payloadInvalid = -3;

/**
 * liveValue of the stored value at bytes[offset, offset + size), read in place for a string: the
 * offset its payload starts at (it ends at offset + size), or payloadExpired / payloadNotString /
 * payloadInvalid. No allocation: the read pool answers pipelined GETs with it. `view` views `bytes`.
 */
export function livePayloadStart(bytes: Uint8Array, view: DataView, offset: number, size: number, nowMs: number): number {
  if (size === 0) return payloadInvalid;
  const flags = bytes[offset] as number;
  if ((flags & ~flagsKnown) !== 0) return payloadInvalid;
  let start = offset + 1;
  if ((flags & flagHasDeadline) !== 0) {
    if (size < storedValueHeaderSizeBytesMax) return payloadInvalid;
    if (isExpired(view.getFloat64(offset + 1, true), nowMs)) return payloadExpired;
    start = offset + storedValueHeaderSizeBytesMax;
  }
  return (flags & typeMask) >> typeShift === ValueType.String ? start : payloadNotString;
}
