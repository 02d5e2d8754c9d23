// A list as a header and chunks, like Redis's quicklist, so LPUSH/RPUSH/LPOP/RPOP touch the
// header and one end chunk, not the whole list (redis-benchmark's LPUSH puts 100,000 elements on
// one key). The user's key holds the header (type List, its deadline): u32 version | u32 next
// chunk id | u32 chunk count | chunk count x (u32 id, u32 element count), little-endian. Each chunk
// is its own table entry (type ListChunk, never a deadline), holding up to listChunkElementCountMax
// elements and about listChunkSizeBytesTarget bytes (collections.ts's element layout), under an
// internal key that routes like the user's key: `{R}` + "\0ukv:l\0" + key + u32 id + u16 key size,
// R the key's routing bytes (ring/hash-tag.ts), so a split or move keeps a list's chunks with it.
//
// Every write bumps the version, so WATCH (which compares the header's bytes) sees any change.
// Chunk ids are unique within a list; a list created again at a key reuses ids from 0, which is
// safe: it writes a chunk before it reads it, and chunks no header lists (left by a plain SET or
// DELETE over a list) are deleted by active expiry's sweep (orphanChunkOwner). Pure: the table is
// reached through RawTable (the keyed transaction's overlay).
import { UkvError } from "../util/errors.ts";
import { keySizeBytesMax, listChunkCountMax, listChunkElementCountMax, listChunkSizeBytesTarget, listElementCountMax } from "../util/limits.ts";
import { routingKey } from "../ring/hash-tag.ts";
import { decodeElements, elementsSizeBytes, encodeElements } from "./collections.ts";
import { decodeStoredValue, encodeStoredValue, storedPayloadSizeBytesMax, ValueType } from "./stored-value.ts";

/** Stored bytes of any key, through the transaction's overlay; write null to delete. */
export interface RawTable {
  read(key: Uint8Array): Uint8Array | null;
  write(key: Uint8Array, bytes: Uint8Array | null): void;
}

interface Segment {
  id: number;
  count: number;
}

const marker = new TextEncoder().encode("\0ukv:l\0");
const closeBrace = 0x7d;
const trailerSizeBytes = 6;

/** Why a list cannot live at `key` (null: it can). */
export function listKeyProblem(key: Uint8Array): string | null {
  const routing = routingKey(key);
  if (routing.includes(closeBrace)) return "ERR ukv keeps no list at a key with '}' outside a hash tag: use another key, or a {tag}";
  const sizeBytes = chunkKeySizeBytes(key);
  if (sizeBytes > keySizeBytesMax) return `ERR list key too large: ${key.byteLength} bytes (its chunks' keys would be ${sizeBytes} bytes, limit ${keySizeBytesMax})`;
  return null;
}

function chunkKeySizeBytes(key: Uint8Array): number {
  return 2 + routingKey(key).byteLength + marker.byteLength + key.byteLength + trailerSizeBytes;
}

export function chunkKey(key: Uint8Array, id: number): Uint8Array {
  const routing = routingKey(key);
  const bytes = new Uint8Array(chunkKeySizeBytes(key));
  let offset = 0;
  bytes[offset++] = 0x7b;
  bytes.set(routing, offset);
  offset += routing.byteLength;
  bytes[offset++] = closeBrace;
  bytes.set(marker, offset);
  offset += marker.byteLength;
  bytes.set(key, offset);
  offset += key.byteLength;
  const view = new DataView(bytes.buffer);
  view.setUint32(offset, id);
  view.setUint16(offset + 4, key.byteLength);
  return bytes;
}

/** The user key and chunk id a chunk key names, or null when it is not one. */
export function parseChunkKey(bytes: Uint8Array): { key: Uint8Array; id: number } | null {
  if (bytes.byteLength < trailerSizeBytes + marker.byteLength + 3) return null;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const keySize = view.getUint16(bytes.byteLength - 2);
  const id = view.getUint32(bytes.byteLength - trailerSizeBytes);
  const keyStart = bytes.byteLength - trailerSizeBytes - keySize;
  if (keyStart < marker.byteLength + 3) return null;
  const key = bytes.subarray(keyStart, keyStart + keySize);
  if (key.byteLength === 0) return null;
  const expected = chunkKey(key, id);
  return Buffer.from(expected).equals(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)) ? { key: new Uint8Array(key), id } : null;
}

function decodeHeader(payload: Uint8Array): { version: number; nextId: number; segments: Segment[] } {
  const invalid = (): UkvError => new UkvError("INTERNAL", `List header of ${payload.byteLength} bytes does not decode`);
  if (payload.byteLength < 12) throw invalid();
  const view = new DataView(payload.buffer, payload.byteOffset, payload.byteLength);
  const count = view.getUint32(8, true);
  if (payload.byteLength !== 12 + 8 * count) throw invalid();
  const segments: Segment[] = [];
  for (let index = 0; index < count; index++) segments.push({ id: view.getUint32(12 + 8 * index, true), count: view.getUint32(16 + 8 * index, true) });
  return { version: view.getUint32(0, true), nextId: view.getUint32(4, true), segments };
}

function encodeHeader(version: number, nextId: number, segments: readonly Segment[]): Uint8Array {
  const payload = new Uint8Array(12 + 8 * segments.length);
  const view = new DataView(payload.buffer);
  view.setUint32(0, version >>> 0, true);
  view.setUint32(4, nextId >>> 0, true);
  view.setUint32(8, segments.length, true);
  segments.forEach((segment, index) => {
    view.setUint32(12 + 8 * index, segment.id, true);
    view.setUint32(16 + 8 * index, segment.count, true);
  });
  return payload;
}

/** The chunk ids a stored list header lists (for deleting them with the list). */
export function chunkIdsOfHeader(payload: Uint8Array): number[] {
  return decodeHeader(payload).segments.map((segment) => segment.id);
}

/** A list loaded for one step: segments from the header, chunks read on demand, written back by save(). */
export class ChunkedList {
  readonly #key: Uint8Array;
  readonly #table: RawTable;
  readonly #deadlineMs: number | null;
  #version: number;
  #nextId: number;
  #segments: Segment[];
  readonly #chunks = new Map<number, Uint8Array[]>();
  readonly #dirty = new Set<number>();
  readonly #dropped = new Set<number>();

  /** `header`: the live header's payload and deadline, or null for a new (empty) list. */
  constructor(key: Uint8Array, table: RawTable, header: { payload: Uint8Array; deadlineMs: number | null } | null) {
    this.#key = key;
    this.#table = table;
    this.#deadlineMs = header?.deadlineMs ?? null;
    const decoded = header === null ? { version: 0, nextId: 0, segments: [] } : decodeHeader(header.payload);
    this.#version = decoded.version;
    this.#nextId = decoded.nextId;
    this.#segments = decoded.segments;
  }

  get length(): number {
    let total = 0;
    for (const segment of this.#segments) total += segment.count;
    return total;
  }

  #chunk(id: number): Uint8Array[] {
    let elements = this.#chunks.get(id);
    if (elements === undefined) {
      const bytes = this.#table.read(chunkKey(this.#key, id));
      if (bytes === null) throw new UkvError("INTERNAL", `List chunk ${id} is missing`);
      const stored = decodeStoredValue(bytes);
      if (stored.type !== ValueType.ListChunk) throw new UkvError("INTERNAL", `List chunk ${id} has another type`);
      elements = decodeElements(stored.payload);
      this.#chunks.set(id, elements);
    }
    return elements;
  }

  #newSegment(elements: Uint8Array[]): Segment {
    const segment = { id: this.#nextId, count: elements.length };
    this.#nextId = (this.#nextId + 1) >>> 0;
    this.#chunks.set(segment.id, elements);
    this.#dirty.add(segment.id);
    this.#dropped.delete(segment.id);
    return segment;
  }

  #roomFor(elements: Uint8Array[], element: Uint8Array): boolean {
    return elements.length < listChunkElementCountMax && elementsSizeBytes(elements) + 4 + element.byteLength <= listChunkSizeBytesTarget;
  }

  /** LPUSH (each element to the head in turn) or RPUSH; null, or the limit it would break (nothing changed then). */
  push(left: boolean, added: readonly Uint8Array[]): string | null {
    const total = this.length + added.length;
    if (total > listElementCountMax) return `ERR list would have ${total} elements, limit ${listElementCountMax}`;
    for (const element of added) {
      const sizeBytes = elementsSizeBytes([element]);
      if (sizeBytes > storedPayloadSizeBytesMax) return `ERR list element too large: ${element.byteLength} bytes, limit ${storedPayloadSizeBytesMax - 8}`;
    }
    for (const element of added) {
      const end = left ? this.#segments[0] : this.#segments[this.#segments.length - 1];
      const elements = end === undefined ? null : this.#chunk(end.id);
      if (end !== undefined && elements !== null && this.#roomFor(elements, element)) {
        if (left) elements.unshift(element);
        else elements.push(element);
        end.count++;
        this.#dirty.add(end.id);
        continue;
      }
      if (this.#segments.length >= listChunkCountMax) return `ERR list would have more than ${listChunkCountMax} chunks (of up to ${listChunkElementCountMax} elements or ${listChunkSizeBytesTarget} bytes)`;
      const segment = this.#newSegment([element]);
      if (left) this.#segments.unshift(segment);
      else this.#segments.push(segment);
    }
    return null;
  }

  pop(left: boolean, count: number): Uint8Array[] {
    const taken: Uint8Array[] = [];
    while (taken.length < count && this.#segments.length > 0) {
      const end = (left ? this.#segments[0] : this.#segments[this.#segments.length - 1]) as Segment;
      const elements = this.#chunk(end.id);
      const element = (left ? elements.shift() : elements.pop()) as Uint8Array;
      taken.push(element);
      end.count--;
      this.#dirty.add(end.id);
      if (end.count === 0) this.#drop(left ? 0 : this.#segments.length - 1);
    }
    return taken;
  }

  #drop(index: number): void {
    const [segment] = this.#segments.splice(index, 1);
    if (segment === undefined) return;
    this.#dirty.delete(segment.id);
    this.#chunks.delete(segment.id);
    this.#dropped.add(segment.id);
  }

  /** Elements `start..stop` (indexes already clamped), reading only the chunks they are in. */
  range(start: number, stop: number): Uint8Array[] {
    const result: Uint8Array[] = [];
    let first = 0;
    for (const segment of this.#segments) {
      const last = first + segment.count - 1;
      if (last >= start && first <= stop) {
        const elements = this.#chunk(segment.id);
        for (let index = Math.max(start, first); index <= Math.min(stop, last); index++) result.push(elements[index - first] as Uint8Array);
      }
      if (last >= stop) break;
      first = last + 1;
    }
    return result;
  }

  /** Replaces element `index` (0-based, within the list); null, or the limit it would break. */
  set(index: number, element: Uint8Array): string | null {
    let first = 0;
    for (const segment of this.#segments) {
      if (index < first + segment.count) {
        const elements = this.#chunk(segment.id);
        const next = elements.slice();
        next[index - first] = element;
        if (elementsSizeBytes(next) > storedPayloadSizeBytesMax) return `ERR list element too large: ${element.byteLength} bytes`;
        this.#chunks.set(segment.id, next);
        this.#dirty.add(segment.id);
        return null;
      }
      first += segment.count;
    }
    return "ERR index out of range";
  }

  /** Every element: LREM and LTRIM read the whole list (O(n), as Redis's). */
  all(): Uint8Array[] {
    return this.range(0, this.length - 1);
  }

  /** Replaces the whole list by `elements`, chunked anew. */
  replaceAll(elements: readonly Uint8Array[]): void {
    for (let index = this.#segments.length - 1; index >= 0; index--) this.#drop(index);
    let chunk: Uint8Array[] = [];
    for (const element of elements) {
      if (chunk.length > 0 && !this.#roomFor(chunk, element)) {
        this.#segments.push(this.#newSegment(chunk));
        chunk = [];
      }
      chunk.push(element);
    }
    if (chunk.length > 0) this.#segments.push(this.#newSegment(chunk));
  }

  /** Writes the changed chunks and the header (a new version); an empty list deletes the key. */
  save(): void {
    for (const id of this.#dropped) this.#table.write(chunkKey(this.#key, id), null);
    this.#dropped.clear();
    for (const id of this.#dirty) {
      this.#table.write(chunkKey(this.#key, id), encodeStoredValue(encodeElements(this.#chunks.get(id) ?? []), null, ValueType.ListChunk));
    }
    this.#dirty.clear();
    if (this.#segments.length === 0) {
      this.#table.write(this.#key, null);
      return;
    }
    this.#version = (this.#version + 1) >>> 0;
    this.#table.write(this.#key, encodeStoredValue(encodeHeader(this.#version, this.#nextId, this.#segments), this.#deadlineMs, ValueType.List));
  }
}
