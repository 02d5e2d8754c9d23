// Byte codec of a ConfChange, stored as the data of a ConfChange log entry.
// Layout (big endian): u8 version (1) | u8 type | u32 nodeId high | u32 nodeId low |
// u32 context length | context bytes. Bad bytes are a typed FRAME_INVALID error.
import { UkvError } from "../util/errors.ts";
import { frameSizeBytesMax } from "../util/limits.ts";
import { ConfChangeType, type ConfChange } from "./types.ts";

const confChangeVersion = 1;
const headerBytes = 14;
/** Node ids fit in 53 bits (safe integers): the high word holds the top 21 bits. */
const highWordMultiplier = 2 ** 32;

function invalid(message: string): UkvError {
  return new UkvError("FRAME_INVALID", message);
}

export function encodeConfChange(change: ConfChange): Uint8Array {
  if (!Number.isSafeInteger(change.nodeId) || change.nodeId <= 0) {
    throw new UkvError("BAD_REQUEST", `Conf change node id invalid: ${change.nodeId}`);
  }
  if (!(change.type in ConfChangeType)) throw new UkvError("BAD_REQUEST", `Conf change type invalid: ${change.type}`);
  if (change.context.byteLength > frameSizeBytesMax) {
    throw new UkvError("BAD_REQUEST", `Conf change context too large: ${change.context.byteLength} bytes, limit ${frameSizeBytesMax}`);
  }
  const bytes = new Uint8Array(headerBytes + change.context.byteLength);
  const view = new DataView(bytes.buffer);
  view.setUint8(0, confChangeVersion);
  view.setUint8(1, change.type);
  view.setUint32(2, Math.floor(change.nodeId / highWordMultiplier));
  view.setUint32(6, change.nodeId % highWordMultiplier);
  view.setUint32(10, change.context.byteLength);
  bytes.set(change.context, headerBytes);
  return bytes;
}

export function decodeConfChange(bytes: Uint8Array): ConfChange {
  if (bytes.byteLength < headerBytes) throw invalid(`Conf change truncated: ${bytes.byteLength} bytes, header ${headerBytes}`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const version = view.getUint8(0);
  if (version !== confChangeVersion) throw invalid(`Conf change version unknown: ${version}`);
  const type = view.getUint8(1);
  if (type !== ConfChangeType.AddVoter && type !== ConfChangeType.RemoveNode && type !== ConfChangeType.AddLearner) {
    throw invalid(`Conf change type unknown: ${type}`);
  }
  const nodeId = view.getUint32(2) * highWordMultiplier + view.getUint32(6);
  if (!Number.isSafeInteger(nodeId) || nodeId <= 0) throw invalid(`Conf change node id invalid: ${nodeId}`);
  const contextBytes = view.getUint32(10);
  if (headerBytes + contextBytes !== bytes.byteLength) {
    throw invalid(`Conf change length mismatch: context ${contextBytes} bytes, frame ${bytes.byteLength} bytes`);
  }
  return { type, nodeId, context: bytes.slice(headerBytes) };
}
