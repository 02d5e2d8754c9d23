// The batch command (op 50, BatchSet): many SETs of one shard in one Raft entry, so `ukv load`
// pays one log append, one replication round and one apply per batch instead of per key. The
// entry applies as a whole: its pairs go to the table in one synchronous apply step, so no read
// sees part of a batch, and a crash leaves all of it (committed) or none.
// Layout (little-endian), the header shared with command.ts: u8 version=1 | u8 op=50 |
// u32 proposerId | f64 sequence | u32 pairCount | pairCount x (u32 keySize | key | u32 valueSize
// | value). Decoding checks every length against the buffer and the limits.
import { batchSetProblem, batchSetSizeBytes } from "../transport/kv-protocol.ts";
import { UkvError, type ErrorCode } from "../util/errors.ts";
import { assert } from "../util/assert.ts";
import { batchSetHeaderSizeBytes, batchSetPairCountMax, batchSetSizeBytesMax, keySizeBytesMax, valueSizeBytesMax } from "../util/limits.ts";
import { CommandOp } from "./command.ts";

const commandVersion = 1;
const headerSizeBytes = batchSetHeaderSizeBytes;

export interface BatchSetCommand {
  proposerId: number;
  sequence: number;
  /** Views into the entry's bytes. */
  keys: Uint8Array[];
  values: Uint8Array[];
}

/** Throws the typed error of a batch that breaks a limit (count, sizes, pairing). */
export function checkBatchSet(keys: readonly Uint8Array[], values: readonly Uint8Array[]): void {
  const problem = batchSetProblem({ key: new Uint8Array(0), value: new Uint8Array(0), shard: 1, batchKeys: [...keys], batchValues: [...values] }, valueSizeBytesMax);
  if (problem !== null) throw new UkvError(problem.code as ErrorCode, problem.message);
}

export function encodeBatchSetCommand(proposerId: number, sequence: number, keys: readonly Uint8Array[], values: readonly Uint8Array[]): Uint8Array {
  checkBatchSet(keys, values);
  const sizeBytes = batchSetSizeBytes(keys, values);
  const bytes = new Uint8Array(sizeBytes);
  const view = new DataView(bytes.buffer);
  view.setUint8(0, commandVersion);
  view.setUint8(1, CommandOp.BatchSet);
  view.setUint32(2, proposerId, true);
  view.setFloat64(6, sequence, true);
  view.setUint32(14, keys.length, true);
  let offset = headerSizeBytes;
  for (let index = 0; index < keys.length; index++) {
    const key = keys[index] as Uint8Array;
    const value = values[index] as Uint8Array;
    view.setUint32(offset, key.byteLength, true);
    bytes.set(key, offset + 4);
    offset += 4 + key.byteLength;
    view.setUint32(offset, value.byteLength, true);
    bytes.set(value, offset + 4);
    offset += 4 + value.byteLength;
  }
  assert(offset === sizeBytes, "the batch fills exactly its computed size");
  return bytes;
}

export function decodeBatchSetCommand(bytes: Uint8Array): BatchSetCommand {
  const invalid = (why: string): UkvError => new UkvError("BAD_REQUEST", `Invalid batch command: ${why}`);
  if (bytes.byteLength < headerSizeBytes) throw invalid(`${bytes.byteLength} bytes is shorter than a header`);
  if (bytes.byteLength > batchSetSizeBytesMax) throw invalid(`${bytes.byteLength} bytes over the limit of ${batchSetSizeBytesMax}`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (view.getUint8(0) !== commandVersion) throw invalid(`unknown version ${view.getUint8(0)}`);
  if (view.getUint8(1) !== CommandOp.BatchSet) throw invalid(`op ${view.getUint8(1)} is not a batch`);
  const pairCount = view.getUint32(14, true);
  if (pairCount === 0 || pairCount > batchSetPairCountMax) throw invalid(`bad pair count ${pairCount}`);
  const keys: Uint8Array[] = [];
  const values: Uint8Array[] = [];
  let offset = headerSizeBytes;
  for (let index = 0; index < pairCount; index++) {
    if (offset + 4 > bytes.byteLength) throw invalid(`pair ${index} runs past the end`);
    const keySize = view.getUint32(offset, true);
    if (keySize === 0 || keySize > keySizeBytesMax || offset + 4 + keySize + 4 > bytes.byteLength) throw invalid(`pair ${index}: bad key size ${keySize}`);
    keys.push(bytes.subarray(offset + 4, offset + 4 + keySize));
    offset += 4 + keySize;
    const valueSize = view.getUint32(offset, true);
    if (valueSize > valueSizeBytesMax || offset + 4 + valueSize > bytes.byteLength) throw invalid(`pair ${index}: bad value size ${valueSize}`);
    values.push(bytes.subarray(offset + 4, offset + 4 + valueSize));
    offset += 4 + valueSize;
  }
  if (offset !== bytes.byteLength) throw invalid(`${bytes.byteLength - offset} bytes after the last pair`);
  return { proposerId: view.getUint32(2, true), sequence: view.getFloat64(6, true), keys, values };
}
