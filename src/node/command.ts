// The state-machine command carried in a Raft entry: one SET, DELETE or keyed transaction, tagged with the proposing
// node and a per-node sequence so the proposer can find the waiting client when the entry applies.
// Layout (little-endian): u8 version=1 | u8 op | u32 proposerId | f64 sequence | u32 keySize | key
// | u32 valueSize | value. Decoding checks every length against the buffer and the limits.
import { getF64LE, getU32LE, setF64LE, setU32LE } from "../util/byte-fields.ts";
import { UkvError } from "../util/errors.ts";
import { keyedCommandSizeBytesMax, keySizeBytesMax, valueSizeBytesMax } from "../util/limits.ts";

export enum CommandOp {
  Set = 1,
  Delete = 2,
  // Issue 15 (Redis commands) owns 3..49.
  /** A read-modify-write transaction on keys of this shard (src/node/keyed-commands.ts); value: its encoding, key: its first key. */
  Keyed = 3,
  /** FLUSHDB: removes every key of this shard; key and value empty. */
  Flush = 4,
  /** Many SETs of one shard in one entry, applied together (batch-command.ts has the layout). */
  BatchSet = 50,
  // 60..69: range administration (issue 14).
  /** Split the shard's range: key = the split hash (u64 big-endian), value = SplitPayload as JSON. */
  Split = 60,
}

export interface Command {
  op: CommandOp;
  proposerId: number;
  sequence: number;
  key: Uint8Array;
  value: Uint8Array;
}

const commandVersion = 1;
const headerSizeBytes = 1 + 1 + 4 + 8 + 4;

/** The largest value a command of `op` carries. */
function valueSizeLimit(op: number): number {
  return op === CommandOp.Keyed ? keyedCommandSizeBytesMax : valueSizeBytesMax;
}

const knownOps = new Set<number>([CommandOp.Set, CommandOp.Delete, CommandOp.Keyed, CommandOp.Flush, CommandOp.Split]);

export function checkKeyValue(key: Uint8Array, value: Uint8Array, valueLimitBytes = valueSizeBytesMax): void {
  if (key.byteLength === 0) throw new UkvError("BAD_REQUEST", "Key must not be empty");
  if (key.byteLength > keySizeBytesMax) {
    throw new UkvError("KEY_TOO_LARGE", `Key too large: ${key.byteLength} bytes, limit ${keySizeBytesMax}`, {
      data: { sizeBytes: key.byteLength, limitBytes: keySizeBytesMax },
    });
  }
  if (value.byteLength > valueLimitBytes) {
    throw new UkvError("VALUE_TOO_LARGE", `Value too large: ${value.byteLength} bytes, limit ${valueLimitBytes}`, {
      data: { sizeBytes: value.byteLength, limitBytes: valueLimitBytes },
    });
  }
}

export function encodeCommand(command: Command): Uint8Array {
  if (command.op !== CommandOp.Flush) checkKeyValue(command.key, command.value, valueSizeLimit(command.op));
  const bytes = new Uint8Array(headerSizeBytes + command.key.byteLength + 4 + command.value.byteLength);
  bytes[0] = commandVersion;
  bytes[1] = command.op;
  setU32LE(bytes, 2, command.proposerId);
  setF64LE(bytes, 6, command.sequence);
  setU32LE(bytes, 14, command.key.byteLength);
  bytes.set(command.key, headerSizeBytes);
  const valueSizeOffset = headerSizeBytes + command.key.byteLength;
  setU32LE(bytes, valueSizeOffset, command.value.byteLength);
  bytes.set(command.value, valueSizeOffset + 4);
  return bytes;
}

/** The op byte of an encoded command (before decoding it), or -1 when the bytes are too short to have one. */
export function commandOpOf(bytes: Uint8Array): number {
  return bytes.byteLength < 2 ? -1 : (bytes[1] as number);
}

export function decodeCommand(bytes: Uint8Array): Command {
  const invalid = (why: string): UkvError => new UkvError("BAD_REQUEST", `Invalid command: ${why}`);
  if (bytes.byteLength < headerSizeBytes + 4) throw invalid(`${bytes.byteLength} bytes is shorter than a header`);
  if (bytes[0] !== commandVersion) throw invalid(`unknown version ${bytes[0]}`);
  const op = bytes[1] as number;
  if (!knownOps.has(op)) throw invalid(`unknown op ${op}`);
  const keySize = getU32LE(bytes, 14);
  if (keySize > keySizeBytesMax || headerSizeBytes + keySize + 4 > bytes.byteLength) throw invalid(`bad key size ${keySize}`);
  const valueSizeOffset = headerSizeBytes + keySize;
  const valueSize = getU32LE(bytes, valueSizeOffset);
  if (valueSize > valueSizeLimit(op) || valueSizeOffset + 4 + valueSize !== bytes.byteLength) {
    throw invalid(`bad value size ${valueSize}`);
  }
  return {
    op,
    proposerId: getU32LE(bytes, 2),
    sequence: getF64LE(bytes, 6),
    key: bytes.subarray(headerSizeBytes, headerSizeBytes + keySize),
    value: bytes.subarray(valueSizeOffset + 4, valueSizeOffset + 4 + valueSize),
  };
}

/**
 * A split (CommandOp.Split): the shard's range [start, end] at `expectedVersion` becomes
 * [start, at - 1] and the new shard `childId` gets [at, end]. Applied only if the range still has
 * that version, so a split proposed twice, or replayed by a replica that already holds the newer
 * range, changes nothing.
 */
export interface SplitPayload {
  at: bigint;
  childId: number;
  expectedVersion: number;
}

export function splitCommandKeyValue(payload: SplitPayload): { key: Uint8Array; value: Uint8Array } {
  const key = new Uint8Array(8);
  new DataView(key.buffer).setBigUint64(0, payload.at, false);
  return { key, value: new TextEncoder().encode(JSON.stringify({ childId: payload.childId, expectedVersion: payload.expectedVersion })) };
}

export function decodeSplitPayload(command: Command): SplitPayload {
  const invalid = (why: string): UkvError => new UkvError("BAD_REQUEST", `Invalid split command: ${why}`);
  if (command.key.byteLength !== 8) throw invalid(`split hash of ${command.key.byteLength} bytes, expected 8`);
  let parsed: { childId?: unknown; expectedVersion?: unknown };
  try {
    parsed = JSON.parse(new TextDecoder().decode(command.value)) as typeof parsed;
  } catch (error) {
    throw invalid(`value is not JSON (${(error as Error).message})`);
  }
  if (!Number.isSafeInteger(parsed.childId) || (parsed.childId as number) < 1) throw invalid(`bad childId ${String(parsed.childId)}`);
  if (!Number.isSafeInteger(parsed.expectedVersion) || (parsed.expectedVersion as number) < 1) throw invalid(`bad expectedVersion ${String(parsed.expectedVersion)}`);
  const at = new DataView(command.key.buffer, command.key.byteOffset, 8).getBigUint64(0, false);
  return { at, childId: parsed.childId as number, expectedVersion: parsed.expectedVersion as number };
}
