// The loader's bookkeeping between reading and acknowledgement: rows grouped into per-shard
// batches, which batches are open, waiting, in flight or acknowledged, and the safe prefix.
//
// Every input record (good row, bad row, skipped record) gets an ordinal in reading order. A
// batch holds rows of one shard in ascending ordinals, but batches of different shards interleave
// and are acknowledged in any order, so "everything up to the last acknowledged row" is not safe.
// The safe prefix is the lowest ordinal of any batch not yet acknowledged (or the next ordinal to
// read when none is pending): every record below it is acknowledged, rejected or skipped. Exact
// counts of that prefix come from the ordinals kept by acknowledged batches until the prefix
// passes them (8 bytes a row, bounded by the read window the loader enforces).
import { assert } from "../util/assert.ts";
import { batchSetHeaderSizeBytes, batchSetPairOverheadBytes } from "../util/limits.ts";

const arenaChunkSizeBytes = 64 * 1024;

export interface LoadBatch {
  shardId: number;
  keys: Uint8Array[];
  values: Uint8Array[];
  /** Ordinals of the rows, ascending. */
  ordinals: number[];
  /** Line number of the first row (for the checkpoint's nextLineNumber). */
  firstLineNumber: number;
  /** Encoded size estimate (what the batch byte limit counts). */
  sizeBytes: number;
  /** Key and value bytes (for MB/s). */
  dataBytes: number;
  /** The chunk rows are being copied into (earlier chunks are held by the views). */
  arena: Uint8Array;
  arenaUsedBytes: number;
  openedMs: number;
}

export interface ShardLane {
  shardId: number;
  open: LoadBatch | null;
  /** Sealed, waiting to be sent (a batch to retry goes back to the front). */
  ready: LoadBatch[];
  inflightCount: number;
  /** Acknowledged batches the safe prefix has not passed yet (only their ordinals are kept). */
  acked: number[][];
  /** Acknowledged rows below the last computed prefix. */
  loadedBelowPrefix: number;
}

/** Number of values in ascending `ordinals` below `limit`. */
export function countBelow(ordinals: readonly number[], limit: number): number {
  let low = 0;
  let high = ordinals.length;
  while (low < high) {
    const middle = (low + high) >>> 1;
    if ((ordinals[middle] as number) < limit) low = middle + 1;
    else high = middle;
  }
  return low;
}

/** A FIFO of ascending ordinals (rejects, skips) with an optional number each (the reject file's end offset). */
export class OrdinalQueue {
  #ordinals: number[] = [];
  #tags: number[] = [];
  #head = 0;

  push(ordinal: number, tag = 0): void {
    assert(this.#ordinals.length === this.#head || (this.#ordinals[this.#ordinals.length - 1] as number) < ordinal, "ordinals arrive ascending");
    this.#ordinals.push(ordinal);
    this.#tags.push(tag);
  }

  /** Removes the entries below `limit`: how many, and the tag of the last one removed (null if none). */
  popBelow(limit: number): { count: number; lastTag: number | null } {
    let count = 0;
    let lastTag: number | null = null;
    while (this.#head < this.#ordinals.length && (this.#ordinals[this.#head] as number) < limit) {
      lastTag = this.#tags[this.#head] as number;
      this.#head++;
      count++;
    }
    if (this.#head > 4096 && this.#head * 2 > this.#ordinals.length) {
      this.#ordinals = this.#ordinals.slice(this.#head);
      this.#tags = this.#tags.slice(this.#head);
      this.#head = 0;
    }
    return { count, lastTag };
  }

  get length(): number {
    return this.#ordinals.length - this.#head;
  }
}

export interface BatchLimits {
  keyCountMax: number;
  sizeBytesMax: number;
}

/** The per-shard lanes and the set of batches not acknowledged yet. */
export class BatchBook {
  readonly lanes = new Map<number, ShardLane>();
  /** Open, waiting, in flight or waiting to be retried: not acknowledged. */
  readonly outstanding = new Set<LoadBatch>();
  readonly #limits: BatchLimits;
  #openCount = 0;

  constructor(limits: BatchLimits) {
    assert(limits.keyCountMax >= 1 && limits.sizeBytesMax > batchSetHeaderSizeBytes, "batch limits hold at least one pair");
    this.#limits = limits;
  }

  lane(shardId: number): ShardLane {
    let lane = this.lanes.get(shardId);
    if (lane === undefined) {
      lane = { shardId, open: null, ready: [], inflightCount: 0, acked: [], loadedBelowPrefix: 0 };
      this.lanes.set(shardId, lane);
    }
    return lane;
  }

  /** Batches sealed and not acknowledged (waiting or in flight). */
  get sealedCount(): number {
    return this.outstanding.size - this.#openCount;
  }

  /** Adds one row (copied: the reader's views are only valid during its call) to its shard's open batch. */
  addRow(shardId: number, key: Uint8Array, value: Uint8Array, ordinal: number, lineNumber: number, nowMs: number): void {
    const lane = this.lane(shardId);
    const pairBytes = batchSetPairOverheadBytes + key.byteLength + value.byteLength;
    let batch = lane.open;
    if (batch !== null && (batch.keys.length >= this.#limits.keyCountMax || batch.sizeBytes + pairBytes > this.#limits.sizeBytesMax)) {
      this.seal(lane);
      batch = null;
    }
    if (batch === null) {
      batch = { shardId, keys: [], values: [], ordinals: [], firstLineNumber: lineNumber, sizeBytes: batchSetHeaderSizeBytes, dataBytes: 0, arena: new Uint8Array(0), arenaUsedBytes: 0, openedMs: nowMs };
      lane.open = batch;
      this.outstanding.add(batch);
      this.#openCount++;
    }
    // Rows are copied into chunks of arenaChunkSizeBytes (a batch holds what it uses, give or
    // take one chunk, not its byte limit: a batch sealed by age may hold a few rows).
    if (batch.arenaUsedBytes + key.byteLength + value.byteLength > batch.arena.byteLength) {
      batch.arena = new Uint8Array(Math.max(arenaChunkSizeBytes, key.byteLength + value.byteLength));
      batch.arenaUsedBytes = 0;
    }
    const keyStart = batch.arenaUsedBytes;
    batch.arena.set(key, keyStart);
    batch.arena.set(value, keyStart + key.byteLength);
    batch.keys.push(batch.arena.subarray(keyStart, keyStart + key.byteLength));
    batch.values.push(batch.arena.subarray(keyStart + key.byteLength, keyStart + key.byteLength + value.byteLength));
    batch.arenaUsedBytes += key.byteLength + value.byteLength;
    batch.ordinals.push(ordinal);
    batch.sizeBytes += pairBytes;
    batch.dataBytes += key.byteLength + value.byteLength;
  }

  /** Moves the lane's open batch to its waiting list. */
  seal(lane: ShardLane): void {
    if (lane.open === null) return;
    lane.ready.push(lane.open);
    lane.open = null;
    this.#openCount--;
  }

  /** Seals every open batch opened before `openedBeforeMs` (all of them by default). */
  sealOpen(openedBeforeMs = Number.POSITIVE_INFINITY): void {
    for (const lane of this.lanes.values()) if (lane.open !== null && lane.open.openedMs < openedBeforeMs) this.seal(lane);
  }

  /** An acknowledged batch: no longer outstanding; its ordinals wait for the prefix, its bytes are dropped. */
  acknowledge(batch: LoadBatch): void {
    assert(this.outstanding.delete(batch), "an acknowledged batch was outstanding");
    this.lane(batch.shardId).acked.push(batch.ordinals);
    batch.keys = [];
    batch.values = [];
    batch.arena = new Uint8Array(0);
  }

  /**
   * A batch the cluster refused as not (all) of its shard: its rows regrouped by `shardOf` into
   * new batches put at the front of their lanes (views of the same arena, order kept).
   */
  regroup(batch: LoadBatch, shardOf: (key: Uint8Array) => number): void {
    assert(this.outstanding.delete(batch), "a regrouped batch was outstanding");
    const byShard = new Map<number, LoadBatch>();
    for (let index = 0; index < batch.keys.length; index++) {
      const key = batch.keys[index] as Uint8Array;
      const value = batch.values[index] as Uint8Array;
      const shardId = shardOf(key);
      let regrouped = byShard.get(shardId);
      if (regrouped === undefined) {
        regrouped = { shardId, keys: [], values: [], ordinals: [], firstLineNumber: batch.firstLineNumber, sizeBytes: batchSetHeaderSizeBytes, dataBytes: 0, arena: batch.arena, arenaUsedBytes: batch.arenaUsedBytes, openedMs: batch.openedMs };
        byShard.set(shardId, regrouped);
      }
      regrouped.keys.push(key);
      regrouped.values.push(value);
      regrouped.ordinals.push(batch.ordinals[index] as number);
      regrouped.sizeBytes += batchSetPairOverheadBytes + key.byteLength + value.byteLength;
      regrouped.dataBytes += key.byteLength + value.byteLength;
    }
    for (const regrouped of byShard.values()) {
      this.outstanding.add(regrouped);
      this.lane(regrouped.shardId).ready.unshift(regrouped);
    }
  }

  /** The safe prefix: the lowest ordinal not acknowledged, or `nextOrdinal` when all are. */
  safePrefix(nextOrdinal: number): { ordinal: number; lineNumber: number | null } {
    let ordinal = nextOrdinal;
    let lineNumber: number | null = null;
    for (const batch of this.outstanding) {
      const first = batch.ordinals[0] as number;
      if (first < ordinal) {
        ordinal = first;
        lineNumber = batch.firstLineNumber;
      }
    }
    return { ordinal, lineNumber };
  }

  /**
   * Rows acknowledged below `prefix`, per shard. Acknowledged batches wholly below it are folded
   * into the lane's count and dropped; one straddling it is counted in part (binary search).
   */
  loadedBelow(prefix: number): Map<number, number> {
    const counts = new Map<number, number>();
    for (const lane of this.lanes.values()) {
      let partial = 0;
      const kept: number[][] = [];
      for (const ordinals of lane.acked) {
        if ((ordinals[ordinals.length - 1] as number) < prefix) lane.loadedBelowPrefix += ordinals.length;
        else {
          partial += countBelow(ordinals, prefix);
          kept.push(ordinals);
        }
      }
      lane.acked = kept;
      counts.set(lane.shardId, lane.loadedBelowPrefix + partial);
    }
    return counts;
  }
}
