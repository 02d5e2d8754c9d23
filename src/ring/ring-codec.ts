// Compact binary form of a Ring, for the meta store and the wire. The JSON form spells every
// range as two 20-digit decimal strings (about 70 bytes a range: 2.3 MiB for 16 shards at the
// default 2048 vnodes); this form stores only each range's end and owner, 12 bytes a range
// (384 KiB for 16 shards), since a range's start is the previous end + 1.
//
// Layout, all little-endian:
//   offset  0  u32  magic 0x52564b55 ("UKVR" as bytes)
//   offset  4  u16  version (1)
//   offset  6  u16  reserved, 0
//   offset  8  u64  epoch (at most 2^53 - 1)
//   offset 16  u32  vnodeCount
//   offset 20  u32  rangeCount (1..ringRangeCountMax)
//   offset 24  rangeCount x { u64 end (inclusive), u32 shardId }
// Decoding validates like Ring.fromRanges (ascending, covering [0, 2^64 - 1]).
import { UkvError } from "../util/errors.ts";
import { ringRangeCountMax } from "../util/limits.ts";
import { Ring, type RingRange } from "./ring.ts";

export const ringCodecMagic = 0x52564b55;
export const ringCodecVersion = 1;
export const ringHeaderSizeBytes = 24;
export const ringRangeSizeBytes = 12;

export function encodeRing(ring: Ring): Uint8Array {
  const ranges = ring.ranges();
  const bytes = new Uint8Array(ringHeaderSizeBytes + ranges.length * ringRangeSizeBytes);
  const view = new DataView(bytes.buffer);
  view.setUint32(0, ringCodecMagic, true);
  view.setUint16(4, ringCodecVersion, true);
  view.setUint16(6, 0, true);
  view.setBigUint64(8, BigInt(ring.epoch), true);
  view.setUint32(16, ring.vnodeCount, true);
  view.setUint32(20, ranges.length, true);
  let offset = ringHeaderSizeBytes;
  for (const range of ranges) {
    view.setBigUint64(offset, range.end, true);
    view.setUint32(offset + 8, range.shardId, true);
    offset += ringRangeSizeBytes;
  }
  return bytes;
}

function codecError(message: string, offset: number): UkvError {
  return new UkvError("RING_INVALID", `Invalid encoded ring: ${message}`, { data: { offset } });
}

export function decodeRing(bytes: Uint8Array): Ring {
  if (bytes.length < ringHeaderSizeBytes) throw codecError(`${bytes.length} bytes, the header alone is ${ringHeaderSizeBytes}`, 0);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const magic = view.getUint32(0, true);
  if (magic !== ringCodecMagic) throw codecError(`bad magic 0x${magic.toString(16)}`, 0);
  const version = view.getUint16(4, true);
  if (version !== ringCodecVersion) throw codecError(`unknown version ${version}, expected ${ringCodecVersion}`, 4);
  const epoch = view.getBigUint64(8, true);
  if (epoch > BigInt(Number.MAX_SAFE_INTEGER)) throw codecError(`epoch ${epoch} is above 2^53 - 1`, 8);
  const vnodeCount = view.getUint32(16, true);
  const rangeCount = view.getUint32(20, true);
  if (rangeCount < 1 || rangeCount > ringRangeCountMax) throw codecError(`range count ${rangeCount} not in 1..${ringRangeCountMax}`, 20);
  const expectedSizeBytes = ringHeaderSizeBytes + rangeCount * ringRangeSizeBytes;
  if (bytes.length !== expectedSizeBytes) throw codecError(`${bytes.length} bytes for ${rangeCount} ranges, expected ${expectedSizeBytes}`, 0);
  const ranges: RingRange[] = [];
  let start = 0n;
  for (let index = 0, offset = ringHeaderSizeBytes; index < rangeCount; index++, offset += ringRangeSizeBytes) {
    const end = view.getBigUint64(offset, true);
    ranges.push({ start, end, shardId: view.getUint32(offset + 8, true) });
    start = end + 1n;
  }
  return Ring.fromRanges(ranges, { epoch: Number(epoch), vnodeCount });
}
