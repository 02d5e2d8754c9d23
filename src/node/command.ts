// The state-machine command carried in a Raft entry: one SET, DELETE or keyed transaction, tagged with the proposing
// node and a per-node sequence so the proposer can find the waiting client when the entry applies.
// Layout (little-endian): u8 version=1 | u8 op | u32 proposerId | f64 sequence | u32 keySize | key
// | u32 valueSize | value. Decoding checks every length against the buffer and the limits.
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

const knownOps = new Set<number>([CommandOp.Set, CommandOp.Delete, CommandOp.Keyed, CommandOp.Flush]);

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
  const view = new DataView(bytes.buffer);
  view.setUint8(0, commandVersion);
  view.setUint8(1, command.op);
  view.setUint32(2, command.proposerId, true);
  view.setFloat64(6, command.sequence, true);
  view.setUint32(14, command.key.byteLength, true);
  bytes.set(command.key, headerSizeBytes);
  const valueSizeOffset = headerSizeBytes + command.key.byteLength;
  view.setUint32(valueSizeOffset, command.value.byteLength, true);
  bytes.set(command.value, valueSizeOffset + 4);
  return bytes;
}

export function decodeCommand(bytes: Uint8Array): Command {
  const invalid = (why: string): UkvError => new UkvError("BAD_REQUEST", `Invalid command: ${why}`);
  if (bytes.byteLength < headerSizeBytes + 4) throw invalid(`${bytes.byteLength} bytes is shorter than a header`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (view.getUint8(0) !== commandVersion) throw invalid(`unknown version ${view.getUint8(0)}`);
  const op = view.getUint8(1);
  if (!knownOps.has(op)) throw invalid(`unknown op ${op}`);
  const keySize = view.getUint32(14, true);
  if (keySize > keySizeBytesMax || headerSizeBytes + keySize + 4 > bytes.byteLength) throw invalid(`bad key size ${keySize}`);
  const valueSizeOffset = headerSizeBytes + keySize;
  const valueSize = view.getUint32(valueSizeOffset, true);
  if (valueSize > valueSizeLimit(op) || valueSizeOffset + 4 + valueSize !== bytes.byteLength) {
    throw invalid(`bad value size ${valueSize}`);
  }
  return {
    op,
    proposerId: view.getUint32(2, true),
    sequence: view.getFloat64(6, true),
    key: bytes.subarray(headerSizeBytes, headerSizeBytes + keySize),
    value: bytes.subarray(valueSizeOffset + 4, valueSizeOffset + 4 + valueSize),
  };
}
