// Lists and hashes as stored payloads, and the element lists keyed commands carry as one argument.
// One layout for all three: u32 count | count x (u32 size | bytes), little-endian. A list is its
// elements head first; a hash is field, value, field, value... in insertion order (a field set
// again keeps its place, as Redis's listpack does). A collection is one table value, so each
// command decodes and rewrites it whole: O(size of the value) per command, bounded by
// collectionElementCountMax elements and the value size limit. Pure and dependency-free.
import { UkvError } from "../util/errors.ts";
import { collectionElementCountMax } from "../util/limits.ts";

const elementHeaderSizeBytes = 4;

export function elementsSizeBytes(elements: readonly Uint8Array[]): number {
  let sizeBytes = 4;
  for (const element of elements) sizeBytes += elementHeaderSizeBytes + element.byteLength;
  return sizeBytes;
}

export function encodeElements(elements: readonly Uint8Array[]): Uint8Array {
  const bytes = new Uint8Array(elementsSizeBytes(elements));
  const view = new DataView(bytes.buffer);
  view.setUint32(0, elements.length, true);
  let offset = 4;
  for (const element of elements) {
    view.setUint32(offset, element.byteLength, true);
    bytes.set(element, offset + elementHeaderSizeBytes);
    offset += elementHeaderSizeBytes + element.byteLength;
  }
  return bytes;
}

/** The elements (views of `bytes`); a malformed buffer is a typed error, never a crash. */
export function decodeElements(bytes: Uint8Array): Uint8Array[] {
  const invalid = (why: string): UkvError => new UkvError("BAD_REQUEST", `Invalid element list: ${why}`);
  if (bytes.byteLength < 4) throw invalid(`${bytes.byteLength} bytes`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const count = view.getUint32(0, true);
  if (count > 2 * collectionElementCountMax) throw invalid(`${count} elements`);
  const elements: Uint8Array[] = [];
  let offset = 4;
  for (let index = 0; index < count; index++) {
    if (offset + elementHeaderSizeBytes > bytes.byteLength) throw invalid("truncated");
    const size = view.getUint32(offset, true);
    offset += elementHeaderSizeBytes;
    if (offset + size > bytes.byteLength) throw invalid("truncated");
    elements.push(bytes.subarray(offset, offset + size));
    offset += size;
  }
  if (offset !== bytes.byteLength) throw invalid("trailing bytes");
  return elements;
}

/** A hash as an ordered map from the field's bytes (latin1 name) to field and value. */
export type HashFields = Map<string, { field: Uint8Array; value: Uint8Array }>;

const fieldName = (field: Uint8Array): string => Buffer.from(field.buffer, field.byteOffset, field.byteLength).toString("latin1");

export function decodeHash(payload: Uint8Array): HashFields {
  const elements = decodeElements(payload);
  if (elements.length % 2 !== 0) throw new UkvError("BAD_REQUEST", "Invalid hash: an odd number of elements");
  const fields: HashFields = new Map();
  for (let index = 0; index < elements.length; index += 2) {
    const field = elements[index] as Uint8Array;
    fields.set(fieldName(field), { field, value: elements[index + 1] as Uint8Array });
  }
  return fields;
}

export function encodeHash(fields: HashFields): Uint8Array {
  const elements: Uint8Array[] = [];
  for (const { field, value } of fields.values()) elements.push(field, value);
  return encodeElements(elements);
}

export function hashKey(field: Uint8Array): string {
  return fieldName(field);
}

/**
 * Redis's index normalisation for LRANGE and LTRIM: negative counts from the end; the range is
 * clamped to the list. Null when empty.
 */
export function clampRange(start: number, stop: number, length: number): { start: number; stop: number } | null {
  let from = start < 0 ? length + start : start;
  let to = stop < 0 ? length + stop : stop;
  if (from < 0) from = 0;
  if (from > to || from >= length) return null;
  if (to >= length) to = length - 1;
  return { start: from, stop: to };
}
