// The TS face of the native Swiss table (native/table.*): byte-string keys and values, shared by
// several Workers through a numeric table id. Limits are checked here, before the N-API crossing,
// and turned into typed errors; the native side only asserts them.
// Batches cross once: keys (and values) are packed into one reused scratch buffer with u32 offsets.
import { assert } from "../util/assert.ts";
import { UkvError } from "../util/errors.ts";
import {
  keySizeBytesMax,
  tableBatchCountMax,
  tableBatchSizeBytesMax,
  valueSizeBytesMax,
} from "../util/limits.ts";
import { native } from "./native.ts";

export type TableOp = { kind: "set"; key: Uint8Array; value: Uint8Array } | { kind: "delete"; key: Uint8Array };

/**
 * One page of a scan (Table.scan). Positions address the slots of the table's hash segments
 * (native/segmented_table.h): a position is valid under the layout of the segment it is in, which
 * changes whenever that segment's entries may move (rehash, segment split, clear, snapshot install).
 */
export interface TableScanPage {
  /** The layout `next` is valid under. */
  layout: number;
  /** The position to continue from; equal to capacity at the end. */
  next: number;
  /** One past the last position (the same for every table). */
  capacity: number;
  /** The layout of the segment the scan began in: a cursor kept under another layout is stale. */
  startLayout: number;
  /** The first position of that segment: where a stale cursor restarts without skipping a key. */
  startSegment: number;
  keys: Uint8Array[];
  /** Each value cut to the prefix asked for. */
  values: Uint8Array[];
}

/** Opaque native handle (an N-API External holding one reference to the table). */
export type NativeTableHandle = { readonly __nativeTable: unique symbol };

interface TableBindings {
  tableCreate(capacityHint: number): NativeTableHandle;
  tableAttach(tableId: number): NativeTableHandle | null;
  tableId(handle: NativeTableHandle): number;
  tableClose(handle: NativeTableHandle): void;
  tableGet(handle: NativeTableHandle, key: Uint8Array, out: Uint8Array): number | Uint8Array | null;
  tableHas(handle: NativeTableHandle, key: Uint8Array): boolean;
  tableSet(handle: NativeTableHandle, key: Uint8Array, value: Uint8Array): void;
  tableDelete(handle: NativeTableHandle, key: Uint8Array): boolean;
  tableGetMany(
    handle: NativeTableHandle,
    keys: Uint8Array,
    keyEnds: Uint32Array,
    count: number,
    outSizes: Int32Array,
    out: Uint8Array,
  ): number | ArrayBuffer;
  tableEpoch(handle: NativeTableHandle): number;
  tableRetire(handle: NativeTableHandle): void;
  tableApplyBatch(handle: NativeTableHandle, packed: Uint8Array, ops: Uint32Array, count: number): void;
  tableCount(handle: NativeTableHandle): number;
  tableBytesUsed(handle: NativeTableHandle): number;
  tableClear(handle: NativeTableHandle): void;
  tableEntries(handle: NativeTableHandle): [Uint8Array, Uint8Array][];
  tableScan(handle: NativeTableHandle, slotBegin: number, slotCountMax: number, entryCountMax: number, valuePrefixBytes: number, firstByteMask: number): TableScanPage;
  tableMoveHashRange(source: NativeTableHandle, destination: NativeTableHandle, low: bigint, high: bigint): number;
  tableMedianHash(handle: NativeTableHandle, low: bigint, high: bigint): [number, bigint];
  keyHash64(bytes: Uint8Array): bigint;
  tableSegmentCount(handle: NativeTableHandle): number;
  tablePositionAtFraction(handle: NativeTableHandle, fraction: number): number;
  tableLimits: { keySizeBytesMax: number; valueSizeBytesMax: number; tableBatchCountMax: number; medianSampleCountMax: number; segmentKeyCountMax: number; segmentCountMax: number };
}

const bindings = native as unknown as TableBindings;

assert(bindings.tableLimits.keySizeBytesMax === keySizeBytesMax, "native and TS key limits agree");
assert(bindings.tableLimits.valueSizeBytesMax === valueSizeBytesMax, "native and TS value limits agree");
assert(bindings.tableLimits.tableBatchCountMax === tableBatchCountMax, "native and TS batch limits agree");

/** Tables holding at most this many keys get medianHash exactly; larger ones from a sample of this many (native constant). */
export const tableMedianSampleCountMax = bindings.tableLimits.medianSampleCountMax;
/** A hash segment splits in two when it reaches this many keys (native/segmented_table.h), up to segmentCountMax segments. */
export const tableSegmentKeyCountMax = bindings.tableLimits.segmentKeyCountMax;
export const tableSegmentCountMax = bindings.tableLimits.segmentCountMax;

/** Capacity hints above this are refused: 2^32 entries is far beyond one node's memory. */
export const tableCapacityHintMax = 2 ** 32;

const opSet = 0;
const opDelete = 1;
const opFieldCount = 3;

// Scratch buffers reused by every batch of this JS thread (each Worker has its own module copy).
let scratchBytes = new Uint8Array(64 * 1024);
let scratchOffsets = new Uint32Array(1024 * opFieldCount);
let scratchSizes = new Int32Array(1024);
// Where reads copy their values (then sliced out in JS): a buffer made through N-API costs about
// 1 us in Bun, five times the call itself, so values that fit here skip it; larger ones come back
// in a buffer of their own.
const readScratch = new Uint8Array(256 * 1024);

function scratchBytesFor(sizeBytes: number): Uint8Array {
  if (scratchBytes.length < sizeBytes) scratchBytes = new Uint8Array(Math.max(sizeBytes, scratchBytes.length * 2));
  return scratchBytes;
}

function scratchOffsetsFor(count: number): Uint32Array {
  if (scratchOffsets.length < count) scratchOffsets = new Uint32Array(Math.max(count, scratchOffsets.length * 2));
  return scratchOffsets;
}

function scratchSizesFor(count: number): Int32Array {
  if (scratchSizes.length < count) scratchSizes = new Int32Array(Math.max(count, scratchSizes.length * 2));
  return scratchSizes;
}

function checkKey(key: Uint8Array): void {
  if (key.length > keySizeBytesMax) {
    throw new UkvError("KEY_TOO_LARGE", `Key is too large: ${key.length} bytes (max ${keySizeBytesMax})`, {
      data: { sizeBytes: key.length, sizeBytesMax: keySizeBytesMax },
    });
  }
}

function checkValue(value: Uint8Array): void {
  if (value.length > valueSizeBytesMax) {
    throw new UkvError("VALUE_TOO_LARGE", `Value is too large: ${value.length} bytes (max ${valueSizeBytesMax})`, {
      data: { sizeBytes: value.length, sizeBytesMax: valueSizeBytesMax },
    });
  }
}

function checkBatchCount(count: number): void {
  if (count > tableBatchCountMax) {
    throw new UkvError("BATCH_TOO_LARGE", `Batch has too many operations: ${count} (max ${tableBatchCountMax})`, {
      data: { count, countMax: tableBatchCountMax },
    });
  }
}

function checkBatchSize(sizeBytes: number): void {
  if (sizeBytes > tableBatchSizeBytesMax) {
    throw new UkvError("BATCH_TOO_LARGE", `Batch is too large: ${sizeBytes} bytes (max ${tableBatchSizeBytesMax})`, {
      data: { sizeBytes, sizeBytesMax: tableBatchSizeBytesMax },
    });
  }
}

function checkHashBounds(low: bigint, high: bigint): void {
  if (low < 0n || high >= 1n << 64n || low > high) throw new UkvError("BAD_REQUEST", `Invalid hash bounds [${low}, ${high}]`);
}

/** The native XXH64 (seed 0) the table's range operations hash keys with: equal to the routing hash. */
export function nativeKeyHash(key: Uint8Array): bigint {
  return bindings.keyHash64(key);
}

/** Packs `keys` (limits checked) into this thread's reused scratch: bytes end to end, their end offsets, room for sizes. */
export function packKeys(keys: readonly Uint8Array[]): { packed: Uint8Array; keyEnds: Uint32Array; sizes: Int32Array } {
  const count = keys.length;
  checkBatchCount(count);
  let sizeBytes = 0;
  for (const key of keys) {
    checkKey(key);
    sizeBytes += key.length;
  }
  checkBatchSize(sizeBytes);
  const packed = scratchBytesFor(sizeBytes);
  const keyEnds = scratchOffsetsFor(count);
  const sizes = scratchSizesFor(count);
  let offset = 0;
  for (let i = 0; i < count; i++) {
    const key = keys[i] as Uint8Array;
    packed.set(key, offset);
    offset += key.length;
    keyEnds[i] = offset;
  }
  return { packed, keyEnds, sizes };
}

/** The values of a getMany: in readScratch (`values` is their total size) or in a buffer of their own. */
function unpackValues(values: number | ArrayBuffer, sizes: Int32Array, count: number): (Uint8Array | null)[] {
  const result: (Uint8Array | null)[] = new Array(count);
  const inScratch = typeof values === "number";
  let valueOffset = 0;
  for (let i = 0; i < count; i++) {
    const size = sizes[i] as number;
    if (size < 0) {
      result[i] = null;
    } else {
      // From the scratch, a copy: the next read reuses it.
      result[i] = inScratch ? readScratch.slice(valueOffset, valueOffset + size) : new Uint8Array(values, valueOffset, size);
      valueOffset += size;
    }
  }
  assert(valueOffset === (inScratch ? values : values.byteLength), "every returned byte belongs to one value");
  return result;
}

export class Table {
  readonly tableId: number;
  #handle: NativeTableHandle | null;
  /** Made by create (the replica's own handle), not attach: closing it retires the table for every reader. */
  readonly #owner: boolean;

  private constructor(handle: NativeTableHandle, owner: boolean) {
    this.#handle = handle;
    this.#owner = owner;
    this.tableId = bindings.tableId(handle);
  }

  /** A new empty table. `capacityHint` (default 0): entries to hold without growing. */
  static create(options: { capacityHint?: number } = {}): Table {
    const capacityHint = options.capacityHint ?? 0;
    if (!Number.isInteger(capacityHint) || capacityHint < 0 || capacityHint > tableCapacityHintMax) {
      throw new UkvError("CONFIG_INVALID", `Table capacity hint is invalid: ${capacityHint} (0..${tableCapacityHintMax})`, {
        data: { capacityHint },
      });
    }
    return new Table(bindings.tableCreate(capacityHint), true);
  }

  /** Another handle on a live table, e.g. in a Worker given `tableId`. Throws CLOSED if it is gone. */
  static attach(tableId: number): Table {
    const handle = Number.isSafeInteger(tableId) && tableId > 0 ? bindings.tableAttach(tableId) : null;
    if (handle === null) {
      throw new UkvError("CLOSED", `Table is closed or unknown: ${tableId}`, { data: { tableId } });
    }
    return new Table(handle, false);
  }

  /** The native handle, for the snapshot binding. */
  nativeHandle(): NativeTableHandle {
    return this.#live();
  }

  /** A copy of the value, or null. */
  get(key: Uint8Array): Uint8Array | null {
    checkKey(key);
    const value = bindings.tableGet(this.#live(), key, readScratch);
    return typeof value === "number" ? readScratch.slice(0, value) : value;
  }

  set(key: Uint8Array, value: Uint8Array): void {
    checkKey(key);
    checkValue(value);
    bindings.tableSet(this.#live(), key, value);
  }

  /** True if the key was present. */
  delete(key: Uint8Array): boolean {
    checkKey(key);
    return bindings.tableDelete(this.#live(), key);
  }

  has(key: Uint8Array): boolean {
    checkKey(key);
    return bindings.tableHas(this.#live(), key);
  }

  /** One N-API call and one read lock for the batch; each value is a copy (views of one fresh buffer). */
  getMany(keys: Uint8Array[]): (Uint8Array | null)[] {
    const { packed, keyEnds, sizes } = packKeys(keys);
    return unpackValues(bindings.tableGetMany(this.#live(), packed, keyEnds, keys.length, sizes, readScratch), sizes, keys.length);
  }

  /**
   * Changes whenever keys leave the table other than by a logged delete (a split moves a range
   * out, a snapshot replaces the content) and when its replica closes (retired: odd, never read again).
   */
  epoch(): number {
    return bindings.tableEpoch(this.#live());
  }

  /** One N-API call and one write lock for the batch, applied in order. A bad op applies nothing. */
  applyBatch(ops: TableOp[]): void {
    const count = ops.length;
    checkBatchCount(count);
    let sizeBytes = 0;
    for (const op of ops) {
      checkKey(op.key);
      sizeBytes += op.key.length;
      if (op.kind === "set") {
        checkValue(op.value);
        sizeBytes += op.value.length;
      }
    }
    checkBatchSize(sizeBytes);
    const packed = scratchBytesFor(sizeBytes);
    const fields = scratchOffsetsFor(count * opFieldCount);
    let offset = 0;
    for (let i = 0; i < count; i++) {
      const op = ops[i] as TableOp;
      packed.set(op.key, offset);
      offset += op.key.length;
      const field = i * opFieldCount;
      fields[field + 1] = offset;
      if (op.kind === "set") {
        fields[field] = opSet;
        packed.set(op.value, offset);
        offset += op.value.length;
      } else {
        fields[field] = opDelete;
      }
      fields[field + 2] = offset;
    }
    bindings.tableApplyBatch(this.#live(), packed, fields, count);
  }

  count(): number {
    return bindings.tableCount(this.#live());
  }

  /** How many hash segments the table is made of (it splits a segment as it fills). */
  segmentCount(): number {
    return bindings.tableSegmentCount(this.#live());
  }

  /** Control bytes + slots + entry blocks. */
  bytesUsed(): number {
    return bindings.tableBytesUsed(this.#live());
  }

  /** Removes every entry and returns the table to its smallest capacity. */
  clear(): void {
    bindings.tableClear(this.#live());
  }

  /** Every entry in the table's stable slot order (the order snapshots are written in). For small tables. */
  entries(): [Uint8Array, Uint8Array][] {
    return bindings.tableEntries(this.#live());
  }

  /**
   * Up to `slotCountMax` slots from position `slotBegin` (stopping after `entryCountMax` entries),
   * each value cut to `valuePrefixBytes`. Bounded work for SCAN and active expiry; a cursor is only
   * valid while its segment's layout stays the same (an insert or delete moves no other entry).
   * A nonzero `firstByteMask` (0..255) keeps only entries whose value's first byte shares a bit
   * with it, filtered natively (skipped entries still count as slots walked, not as entries).
   */
  scan(slotBegin: number, slotCountMax: number, entryCountMax: number, valuePrefixBytes: number, firstByteMask = 0): TableScanPage {
    return bindings.tableScan(this.#live(), slotBegin, slotCountMax, entryCountMax, valuePrefixBytes, firstByteMask);
  }

  /**
   * The scan position about `fraction` (0 <= fraction < 1) of the way through the keys in scan
   * order: a random fraction starts a scan at a close-to-uniformly chosen key (RANDOMKEY).
   */
  positionAtFraction(fraction: number): number {
    assert(fraction >= 0 && fraction < 1, "a fraction of the keys is in [0, 1)");
    return bindings.tablePositionAtFraction(this.#live(), fraction);
  }

  /**
   * A split's child: a new table holding every entry whose key hash (XXH64, the routing hash)
   * is in [low, high], removed from this one, natively (no entry crosses into JS): whole hash
   * segments move by pointer, only the ones a bound falls in are copied entry by entry.
   */
  takeHashRange(low: bigint, high: bigint): Table {
    checkHashBounds(low, high);
    const taken = Table.create();
    bindings.tableMoveHashRange(this.#live(), taken.#live(), low, high);
    return taken;
  }

  /**
   * About how many keys hash into [low, high], and the median of those hashes (null for none seen).
   * Exact for a table of at most tableMedianSampleCountMax keys; a larger one is sampled (that many
   * entries spread over the whole table, so a split point costs ~1 ms, not a pass over every key):
   * the median then splits the range's keys within about a percent of half, and the count is scaled
   * from the sample.
   */
  medianHash(low: bigint, high: bigint): { countEstimate: number; median: bigint | null } {
    checkHashBounds(low, high);
    const [countEstimate, median] = bindings.tableMedianHash(this.#live(), low, high);
    return { countEstimate, median: countEstimate === 0 ? null : median };
  }

  /** Drops this handle; the table is freed when its last handle (in any Worker) is closed or collected. */
  close(): void {
    if (this.#handle === null) return;
    // Workers may still hold handles (the table lives until theirs close): retire it so that none reads it again.
    if (this.#owner) bindings.tableRetire(this.#handle);
    bindings.tableClose(this.#handle);
    this.#handle = null;
  }

  #live(): NativeTableHandle {
    if (this.#handle === null) {
      throw new UkvError("CLOSED", `Table handle is closed: ${this.tableId}`, { data: { tableId: this.tableId } });
    }
    return this.#handle;
  }
}
