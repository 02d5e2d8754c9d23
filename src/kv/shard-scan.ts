// The body of a SCAN request to one shard (its leader walks its table in slot order) and of the
// answer. Binary, little-endian. Request: f64 slot | u32 slotCountMax | u32 entryCountMax |
// u16 layoutTag (the cursor's: 0 for a walk from the start, else scanLayoutTag of the page that
// gave `slot`; the leader restarts a stale cursor at its hash segment's start) | u16 flags (bit 0:
// start at a random key instead of `slot`, for RANDOMKEY). Answer:
// f64 layout | f64 next | f64 capacity | f64 keyCount | u32 n | n x (u32 size + key) | n x u8 type
// (stored-value.ts's ValueType; a page without the types, from an older store, is all strings). `layout`
// identifies the table's slot layout: a cursor is only meaningful under the layout it came from
// (a resize or rehash moves entries; an insert or delete moves none). Expired keys are left out.
import { UkvError } from "../util/errors.ts";
import { keySizeBytesMax } from "../util/limits.ts";
import { ValueType } from "./stored-value.ts";

export interface ShardScanRequest {
  slot: number;
  slotCountMax: number;
  entryCountMax: number;
  /** 0: not started; else the tag of the layout the cursor's slot was valid under. */
  layoutTag: number;
  /** Start at a key the leader picks at random (close to uniformly) instead of at `slot`. */
  randomStart: boolean;
}

export interface ShardScanPage {
  layout: number;
  /** The slot to continue from; equal to capacity at the end of the table. */
  next: number;
  capacity: number;
  /** Every key the table holds (expired ones not yet reclaimed included), as DBSIZE reports. */
  keyCount: number;
  keys: Uint8Array[];
  /** The type of each key (SCAN TYPE filters on it); absent: all strings. */
  types?: ValueType[];
}

/** Bounds of one page: a SCAN COUNT is clamped to these. */
export const shardScanEntryCountMax = 10_000;
export const shardScanSlotCountMax = 1 << 20;

/** How many bits of the layout a cursor keeps (SCAN cursors are 64-bit: tag | slot | shard). */
export const scanLayoutTagBits = 16;

/** The cursor's short form of a page's layout: 1..2^16 - 1 (0 means a walk from the start). */
export function scanLayoutTag(layout: number): number {
  return (layout % (2 ** scanLayoutTagBits - 1)) + 1;
}

function invalid(why: string): UkvError {
  return new UkvError("BAD_REQUEST", `Invalid scan: ${why}`);
}

export function encodeShardScanRequest(request: ShardScanRequest): Uint8Array {
  const bytes = new Uint8Array(20);
  const view = new DataView(bytes.buffer);
  view.setFloat64(0, request.slot, true);
  view.setUint32(8, request.slotCountMax, true);
  view.setUint32(12, request.entryCountMax, true);
  view.setUint16(16, request.layoutTag, true);
  view.setUint16(18, request.randomStart ? 1 : 0, true);
  return bytes;
}

export function decodeShardScanRequest(bytes: Uint8Array): ShardScanRequest {
  if (bytes.byteLength !== 20) throw invalid(`request of ${bytes.byteLength} bytes`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const flags = view.getUint16(18, true);
  if (flags > 1) throw invalid(`flags ${flags}`);
  const request = { slot: view.getFloat64(0, true), slotCountMax: view.getUint32(8, true), entryCountMax: view.getUint32(12, true), layoutTag: view.getUint16(16, true), randomStart: flags === 1 };
  if (!Number.isSafeInteger(request.slot) || request.slot < 0) throw invalid(`slot ${request.slot}`);
  if (request.slotCountMax < 1 || request.slotCountMax > shardScanSlotCountMax) throw invalid(`slot count ${request.slotCountMax}`);
  if (request.entryCountMax < 1 || request.entryCountMax > shardScanEntryCountMax) throw invalid(`entry count ${request.entryCountMax}`);
  return request;
}

export function encodeShardScanPage(page: ShardScanPage): Uint8Array {
  const size = 36 + page.keys.reduce((sum, key) => sum + 4 + key.byteLength, 0) + page.keys.length;
  const bytes = new Uint8Array(size);
  const view = new DataView(bytes.buffer);
  view.setFloat64(0, page.layout, true);
  view.setFloat64(8, page.next, true);
  view.setFloat64(16, page.capacity, true);
  view.setFloat64(24, page.keyCount, true);
  view.setUint32(32, page.keys.length, true);
  let offset = 36;
  for (const key of page.keys) {
    view.setUint32(offset, key.byteLength, true);
    bytes.set(key, offset + 4);
    offset += 4 + key.byteLength;
  }
  page.keys.forEach((_, index) => view.setUint8(offset + index, page.types?.[index] ?? ValueType.String));
  return bytes;
}

export function decodeShardScanPage(bytes: Uint8Array): ShardScanPage {
  if (bytes.byteLength < 36) throw invalid(`page of ${bytes.byteLength} bytes`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const count = view.getUint32(32, true);
  if (count > shardScanEntryCountMax) throw invalid(`${count} keys in a page`);
  const keys: Uint8Array[] = [];
  let offset = 36;
  for (let index = 0; index < count; index++) {
    if (offset + 4 > bytes.byteLength) throw invalid("truncated page");
    const size = view.getUint32(offset, true);
    if (size > keySizeBytesMax || offset + 4 + size > bytes.byteLength) throw invalid(`key of ${size} bytes`);
    keys.push(bytes.subarray(offset + 4, offset + 4 + size));
    offset += 4 + size;
  }
  const types: ValueType[] = [];
  if (offset + count === bytes.byteLength) {
    for (let index = 0; index < count; index++) {
      const type = view.getUint8(offset + index);
      if (type > ValueType.Hash) throw invalid(`type ${type}`);
      types.push(type);
    }
  } else if (offset === bytes.byteLength) types.push(...keys.map(() => ValueType.String));
  else throw invalid("trailing bytes");
  return { layout: view.getFloat64(0, true), next: view.getFloat64(8, true), capacity: view.getFloat64(16, true), keyCount: view.getFloat64(24, true), keys, types };
}
