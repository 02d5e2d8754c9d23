// The write-ahead log of one Raft group: the TS face of the native WAL (native/wal.h documents the
// files and the record layout). This module packs records, checks that appends continue the log,
// and rebuilds the log at open by replaying the records with Raft's rules. Durability, group commit
// (many appends, one fdatasync) and crash repair live in the native writer thread, so the event
// loop never waits on the disk.
import { mkdirSync } from "node:fs";
import { assert } from "../util/assert.ts";
import { setU32LE, setU64LE } from "../util/byte-fields.ts";
import type { ErrorCode } from "../util/errors.ts";
import { UkvError } from "../util/errors.ts";
import { recordSizeBytesMax, walSegmentSizeBytesDefault } from "../util/limits.ts";
import { rootLogger } from "../util/log.ts";
import { native } from "./native.ts";

export interface WalEntry {
  term: number;
  index: number;
  data: Uint8Array;
}

export interface WalHardState {
  term: number;
  vote: number;
  commit: number;
}

export interface WalRecovery {
  entries: WalEntry[];
  hardState: WalHardState | null;
  /** Index of entries[0], or 0 when there are no entries. */
  firstIndex: number;
}

export interface WalOptions {
  /** Size of each preallocated segment file; a multiple of 4096, at least 8192. Default 64 MiB. */
  segmentSizeBytes?: number;
  /** TEST ONLY: behave as if the file system refused O_DIRECT (the tmpfs fallback path). */
  testOnlyDisableDirectIo?: boolean;
}

export interface WalStats {
  /** append() calls accepted (including the hard-state re-append of deletePrefix). */
  appendBatchCount: number;
  /** fdatasync calls on segments: fewer than appendBatchCount when appends were grouped. */
  syncCount: number;
  /** Bytes handed to pwrite, including tail-block rewrites and zero padding. */
  bytesWritten: number;
  directIo: boolean;
}

interface PendingFlush {
  epoch: number;
  parts: Uint8Array[];
  sizeBytes: number;
  waiters: { resolve: () => void; reject: (error: UkvError) => void }[];
}

/** Appends of one tick merged into one native call; more in one tick is a runaway loop. */
const flushAppendCountMax = 1_000_000;

/** Record kinds, as in native/wal.h. */
const recordKind = { entry: 1, hardState: 2, truncate: 3, reset: 4 } as const;
const recordHeaderBytes = 25;
const recordPrefixBytes = 8;
const hardStatePayloadBytes = 24;
const blockBytes = 4096;
const segmentSizeBytesMin = 2 * blockBytes;
const twoPower32 = 4294967296;

interface NativeLogState {
  firstIndex: number;
  lastIndex: number;
  hardState: WalHardState | null;
}

interface NativeSegment {
  fileName: string;
  records: Uint8Array;
}

interface NativeWalHandle {
  open(): Promise<{ segments: NativeSegment[]; state: NativeLogState; tailTruncatedBytes: number }>;
  append(records: Uint8Array, epoch: number): Promise<void>;
  deletePrefix(throughIndex: number): Promise<{ deletedCount: number; remainingEntryIndexMin: number }>;
  close(): Promise<void>;
  stats(): { syncCount: number; bytesWritten: number; segmentCount: number; directIo: boolean };
  failNextWrite(errnoName: string, skipWriteCount: number): void;
}

interface WalBindings {
  WalHandle: new (dir: string, segmentSizeBytes: number, directIo: boolean) => NativeWalHandle;
  walRawSyncBench(path: string, blockCount: number, sameBlock: boolean): { latenciesNs: Float64Array; directIo: boolean };
  walBufferBytesLive(): number;
}

const bindings = native as unknown as WalBindings;
const errorCodes: readonly ErrorCode[] = ["DISK_FULL", "IO_ERROR", "WAL_CORRUPT", "RECORD_TOO_LARGE", "CLOSED", "BAD_REQUEST"];
let directIoWarningLogged = false;

export class Wal {
  readonly dir: string;
  readonly #handle: NativeWalHandle;
  readonly #recordSizeBytesMax: number;
  // The log including appends still in flight; empty iff firstIndex > lastIndex.
  #firstIndex: number;
  #lastIndex: number;
  #hardState: WalHardState | null;
  /** Failure epoch (see native/wal_binding.cc): appends stamped with an older one are refused. */
  #epoch = 0;
  #appendBatchCount = 0;
  #closed = false;
  /** Appends made in the current tick, handed to native as one call by #flush (see #submit). */
  #pending: PendingFlush | null = null;
  /**
   * Metrics: called as each native call becomes durable, with the seconds from handing it to the
   * writer thread (pwrite + fdatasync, and any wait behind the call before it) and its appends.
   */
  onBatchDurable: ((seconds: number, appendCount: number) => void) | null = null;

  private constructor(dir: string, handle: NativeWalHandle, segmentSizeBytes: number, state: NativeLogState) {
    this.dir = dir;
    this.#handle = handle;
    this.#recordSizeBytesMax = Math.min(recordSizeBytesMax, segmentSizeBytes);
    this.#firstIndex = state.firstIndex;
    this.#lastIndex = state.lastIndex;
    this.#hardState = state.hardState;
  }

  /**
   * Opens (creating if needed) the WAL in `dir` and recovers it: a torn or bad tail of the last
   * segment is cut off; damage anywhere else is UkvError WAL_CORRUPT naming file and offset.
   */
  static async open(dir: string, options: WalOptions = {}): Promise<{ wal: Wal; recovery: WalRecovery }> {
    const segmentSizeBytes = options.segmentSizeBytes ?? walSegmentSizeBytesDefault;
    if (!Number.isSafeInteger(segmentSizeBytes) || segmentSizeBytes < segmentSizeBytesMin || segmentSizeBytes % blockBytes !== 0) {
      throw new UkvError(
        "CONFIG_INVALID",
        `WAL segment size must be a multiple of ${blockBytes} of at least ${segmentSizeBytesMin} bytes: ${segmentSizeBytes}`,
        { data: { segmentSizeBytes } },
      );
    }
    mkdirSync(dir, { recursive: true });
    const handle = new bindings.WalHandle(dir, segmentSizeBytes, options.testOnlyDisableDirectIo !== true);
    let opened: Awaited<ReturnType<NativeWalHandle["open"]>>;
    let replayed: ReturnType<typeof replay>;
    try {
      opened = await handle.open();
      replayed = replay(opened.segments);
    } catch (error) {
      await handle.close();
      throw toUkvError(error, dir);
    }
    // The engine replays the same records with the same rules: two views of one log must agree.
    assert(replayed.firstIndex === opened.state.firstIndex, "WAL first index agrees with the native replay");
    assert(replayed.lastIndex === opened.state.lastIndex, "WAL last index agrees with the native replay");
    assert(sameHardState(replayed.hardState, opened.state.hardState), "WAL hard state agrees with the native replay");
    const wal = new Wal(dir, handle, segmentSizeBytes, opened.state);
    if (!handle.stats().directIo && !directIoWarningLogged) {
      directIoWarningLogged = true;
      rootLogger.warn({ event: "wal_odirect_unavailable", dir }, "O_DIRECT refused: WAL writes go through the page cache");
    }
    if (opened.tailTruncatedBytes > 0) {
      rootLogger.warn({ event: "wal_tail_truncated", dir, lastIndex: replayed.lastIndex, bytes: opened.tailTruncatedBytes });
    }
    const entries = replayed.entries;
    return { wal, recovery: { entries, hardState: replayed.hardState, firstIndex: entries[0]?.index ?? 0 } };
  }

  /**
   * One durable batch: resolves after fdatasync. Entries must be consecutive and start at
   * lastIndex()+1, or lower (Raft: a conflicting entry replaces the log from its index on); an
   * empty log accepts any start. Fails with DISK_FULL / IO_ERROR without damaging earlier data;
   * the log then continues from what is durable, so the same batch may simply be retried.
   */
  append(batch: { entries: WalEntry[]; hardState?: WalHardState }): Promise<void> {
    if (this.#closed) return Promise.reject(closedError(this.dir));
    const problem = this.#checkBatch(batch);
    if (problem !== null) return Promise.reject(problem);
    const { entries, hardState } = batch;
    let sizeBytes = hardState === undefined ? 0 : recordHeaderBytes + hardStatePayloadBytes;
    for (const entry of entries) sizeBytes += recordHeaderBytes + entry.data.byteLength;
    const writer = new RecordWriter(sizeBytes);
    for (const entry of entries) writer.put(recordKind.entry, entry.term, entry.index, entry.data);
    if (hardState !== undefined) writer.putHardState(hardState);
    const first = entries[0];
    const last = entries[entries.length - 1];
    if (first !== undefined && last !== undefined) {
      if (this.#isEmpty() || first.index < this.#firstIndex) this.#firstIndex = first.index;
      this.#lastIndex = last.index;
    }
    if (hardState !== undefined) this.#hardState = { term: hardState.term, vote: hardState.vote, commit: hardState.commit };
    this.#appendBatchCount++;
    return this.#submit(writer.bytes);
  }

  /** Raft log conflict: entries >= fromIndex are gone, durably, when the promise resolves. */
  truncateSuffix(fromIndex: number): Promise<void> {
    if (this.#closed) return Promise.reject(closedError(this.dir));
    if (!Number.isSafeInteger(fromIndex) || fromIndex < 1) {
      return Promise.reject(new UkvError("BAD_REQUEST", `WAL truncation index must be a positive integer: ${fromIndex}`));
    }
    const writer = new RecordWriter(recordHeaderBytes);
    writer.put(recordKind.truncate, 0, fromIndex, new Uint8Array(0));
    if (!this.#isEmpty()) {
      if (fromIndex <= this.#firstIndex) {
        this.#firstIndex = fromIndex;
        this.#lastIndex = fromIndex - 1;
      } else {
        this.#lastIndex = Math.min(this.#lastIndex, fromIndex - 1);
      }
    }
    return this.#submit(writer.bytes);
  }

  /**
   * After installing a snapshot: every entry is gone (durably, when the promise resolves) and the
   * log restarts after `snapshotIndex`; lastIndex() becomes snapshotIndex.
   */
  reset(snapshotIndex: number): Promise<void> {
    if (this.#closed) return Promise.reject(closedError(this.dir));
    if (!Number.isSafeInteger(snapshotIndex) || snapshotIndex < 0) {
      return Promise.reject(new UkvError("BAD_REQUEST", `WAL reset index must be a non-negative integer: ${snapshotIndex}`));
    }
    const writer = new RecordWriter(recordHeaderBytes);
    writer.put(recordKind.reset, 0, snapshotIndex, new Uint8Array(0));
    this.#firstIndex = snapshotIndex + 1;
    this.#lastIndex = snapshotIndex;
    return this.#submit(writer.bytes);
  }

  /**
   * After a snapshot at throughIndex: deletes the oldest segments whose entries are all
   * <= throughIndex (never the active one, so some entries <= throughIndex may survive). The
   * newest hard state is first re-appended to the active segment, so deleting can never lose it.
   */
  async deletePrefix(throughIndex: number): Promise<void> {
    if (this.#closed) throw closedError(this.dir);
    if (!Number.isSafeInteger(throughIndex) || throughIndex < 0) {
      throw new UkvError("BAD_REQUEST", `WAL prefix index must be a non-negative integer: ${throughIndex}`);
    }
    if (this.#hardState !== null) await this.append({ entries: [], hardState: this.#hardState });
    this.#flush(); // appends made before this call reach the writer before the deletion
    try {
      await this.#handle.deletePrefix(throughIndex);
    } catch (error) {
      throw toUkvError(error, this.dir);
    }
  }

  /** Index of the last entry, counting appends still in flight (after reset(s) with none: s). */
  lastIndex(): number {
    return this.#lastIndex;
  }

  segmentCount(): number {
    return this.#handle.stats().segmentCount;
  }

  stats(): WalStats {
    const nativeStats = this.#handle.stats();
    return {
      appendBatchCount: this.#appendBatchCount,
      syncCount: nativeStats.syncCount,
      bytesWritten: nativeStats.bytesWritten,
      directIo: nativeStats.directIo,
    };
  }

  /** Waits for everything queued, then closes the files. Later calls fail with CLOSED. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#flush();
    await this.#handle.close();
  }

  /**
   * TEST ONLY: the next disk write (pwrite or a new segment's fallocate), after `skipWriteCount`
   * successful ones, fails as with this errno (ENOSPC: a full disk).
   */
  testOnlyFailNextWrite(errnoName: "ENOSPC" | "EIO", options: { skipWriteCount?: number } = {}): void {
    this.#handle.failNextWrite(errnoName, options.skipWriteCount ?? 0);
  }

  #isEmpty(): boolean {
    return this.#firstIndex > this.#lastIndex;
  }

  // Every append of one tick goes to native as ONE call at the end of the tick: fewer N-API calls
  // and writer wake-ups, and appenders woken by the same completion land in the same group. The
  // batch keeps the epoch its appends were checked under: an append made after a failure was
  // learned must not share a native call (and its fate) with one made before.
  #submit(records: Uint8Array): Promise<void> {
    if (this.#pending !== null && this.#pending.epoch !== this.#epoch) this.#flush();
    if (this.#pending === null) {
      this.#pending = { epoch: this.#epoch, parts: [], sizeBytes: 0, waiters: [] };
      queueMicrotask(() => this.#flush());
    }
    const pending = this.#pending;
    assert(pending.parts.length < flushAppendCountMax, "appends of one tick stay below the flush limit");
    pending.parts.push(records);
    pending.sizeBytes += records.byteLength;
    return new Promise<void>((resolve, reject) => pending.waiters.push({ resolve, reject }));
  }

  #flush(): void {
    const pending = this.#pending;
    if (pending === null) return;
    this.#pending = null;
    let records = pending.parts[0] ?? new Uint8Array(0);
    if (pending.parts.length > 1) {
      records = new Uint8Array(pending.sizeBytes);
      let offset = 0;
      for (const part of pending.parts) {
        records.set(part, offset);
        offset += part.byteLength;
      }
    }
    // The one handler pair of the merged call settles every waiter; each waiter's promise belongs
    // to its caller, who must handle it like any other promise.
    const submittedMs = this.onBatchDurable === null ? 0 : performance.now();
    this.#handle.append(records, pending.epoch).then(
      () => {
        this.onBatchDurable?.((performance.now() - submittedMs) / 1000, pending.waiters.length);
        for (const waiter of pending.waiters) waiter.resolve();
      },
      (error: unknown) => {
        const failure = this.#onFailure(error);
        for (const waiter of pending.waiters) waiter.reject(failure);
      },
    );
  }

  // A failed group starts a new epoch: appends built on top of it are refused by the writer, and
  // this instance continues from what the engine reports as durable.
  #onFailure(error: unknown): UkvError {
    // Never throws, whatever was thrown: it runs in the only rejection handler of a merged call.
    const fields = (typeof error === "object" && error !== null ? error : {}) as { epoch?: unknown; durable?: NativeLogState };
    if (typeof fields.epoch === "number" && fields.epoch > this.#epoch && fields.durable !== undefined) {
      this.#epoch = fields.epoch;
      this.#firstIndex = fields.durable.firstIndex;
      this.#lastIndex = fields.durable.lastIndex;
      this.#hardState = fields.durable.hardState;
    }
    return toUkvError(error, this.dir);
  }

  #checkBatch(batch: { entries: WalEntry[]; hardState?: WalHardState }): UkvError | null {
    const { entries, hardState } = batch;
    if (hardState !== undefined && !(isIndex(hardState.term) && isIndex(hardState.vote) && isIndex(hardState.commit))) {
      return new UkvError("BAD_REQUEST", "WAL hard state fields must be non-negative integers", { data: { ...hardState } });
    }
    let expectedIndex = 0;
    for (const entry of entries) {
      if (!isIndex(entry.term) || !isIndex(entry.index) || entry.index < 1) {
        return new UkvError("BAD_REQUEST", `WAL entry term and index must be integers, index >= 1: ${entry.index}`);
      }
      if (expectedIndex !== 0 && entry.index !== expectedIndex) {
        return new UkvError("BAD_REQUEST", `WAL entries must be consecutive: ${entry.index} after ${expectedIndex - 1}`);
      }
      expectedIndex = entry.index + 1;
      const recordBytes = recordHeaderBytes + entry.data.byteLength;
      if (recordBytes > this.#recordSizeBytesMax) {
        return new UkvError(
          "RECORD_TOO_LARGE",
          `WAL record for entry ${entry.index} is ${recordBytes} bytes, over the limit: ${this.#recordSizeBytesMax}`,
          { data: { index: entry.index, sizeBytes: recordBytes, sizeBytesMax: this.#recordSizeBytesMax } },
        );
      }
    }
    const first = entries[0];
    if (first !== undefined && !this.#isEmpty() && first.index > this.#lastIndex + 1) {
      return new UkvError("BAD_REQUEST", `WAL append must continue the log: entry ${first.index} after last index ${this.#lastIndex}`, {
        data: { index: first.index, lastIndex: this.#lastIndex },
      });
    }
    return null;
  }
}

/**
 * Benchmark baseline, blocking: `blockCount` times pwrite 4 KiB at the next offset of a
 * preallocated file at `path` (always offset 0 if `sameBlock`) + fdatasync, with the WAL's
 * O_DIRECT rule. Latencies in ns.
 */
export function walRawSyncLatencies(
  path: string,
  blockCount: number,
  options: { sameBlock?: boolean } = {},
): { latenciesNs: Float64Array; directIo: boolean } {
  return bindings.walRawSyncBench(path, blockCount, options.sameBlock === true);
}

/** Staging memory held by the open WALs of this process (a closed WAL holds none). */
export function walBufferBytesLive(): number {
  return bindings.walBufferBytesLive();
}

/** Packs records as native/wal.h lays them out, crc words left zero for the engine to fill. */
class RecordWriter {
  readonly bytes: Uint8Array;
  #offset = 0;

  constructor(sizeBytes: number) {
    this.bytes = new Uint8Array(sizeBytes);
  }

  put(kind: number, term: number, index: number, payload: Uint8Array): void {
    const offset = this.#offset;
    assert(offset + recordHeaderBytes + payload.byteLength <= this.bytes.byteLength, "record fits the packed batch");
    setU32LE(this.bytes, offset, recordHeaderBytes - recordPrefixBytes + payload.byteLength);
    this.bytes[offset + 8] = kind;
    setU64LE(this.bytes, offset + 9, term);
    setU64LE(this.bytes, offset + 17, index);
    this.bytes.set(payload, offset + recordHeaderBytes);
    this.#offset = offset + recordHeaderBytes + payload.byteLength;
  }

  putHardState(hardState: WalHardState): void {
    const payload = new Uint8Array(hardStatePayloadBytes);
    setU64LE(payload, 0, hardState.term);
    setU64LE(payload, 8, hardState.vote);
    setU64LE(payload, 16, hardState.commit);
    this.put(recordKind.hardState, hardState.term, hardState.commit, payload);
  }
}

/** Rebuilds the log from the valid records of every segment, oldest first (rules: native/wal.h). */
function replay(segments: NativeSegment[]): {
  entries: WalEntry[];
  hardState: WalHardState | null;
  firstIndex: number;
  lastIndex: number;
} {
  const entries: WalEntry[] = [];
  let hardState: WalHardState | null = null;
  let firstIndex = 1;
  let lastIndex = 0;
  for (const segment of segments) {
    const bytes = new Uint8Array(segment.records.buffer, segment.records.byteOffset, segment.records.byteLength);
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    let offset = 0;
    while (offset < bytes.byteLength) {
      const length = view.getUint32(offset, true);
      const kind = bytes[offset + 8];
      const term = getUint64(view, offset + 9);
      const index = getUint64(view, offset + 17);
      const payload = bytes.subarray(offset + recordHeaderBytes, offset + recordPrefixBytes + length);
      const isEmpty = firstIndex > lastIndex;
      if (kind === recordKind.entry) {
        if (!isEmpty && index > lastIndex + 1) {
          throw corruptError(segment.fileName, offset, `entry ${index} leaves a gap after entry ${lastIndex}`);
        }
        if (isEmpty || index < firstIndex) {
          entries.length = 0;
          firstIndex = index;
        } else {
          entries.length = index - firstIndex;
        }
        entries.push({ term, index, data: payload });
        lastIndex = index;
      } else if (kind === recordKind.truncate) {
        const fromIndex = Math.max(index, 1);
        if (!isEmpty && fromIndex <= firstIndex) {
          entries.length = 0;
          firstIndex = fromIndex;
          lastIndex = fromIndex - 1;
        } else if (!isEmpty && fromIndex <= lastIndex) {
          entries.length = fromIndex - firstIndex;
          lastIndex = fromIndex - 1;
        }
      } else if (kind === recordKind.reset) {
        entries.length = 0;
        firstIndex = index + 1;
        lastIndex = index;
      } else {
        assert(kind === recordKind.hardState, "the engine only returns records of known kinds");
        const payloadView = new DataView(payload.buffer, payload.byteOffset, payload.byteLength);
        hardState = { term: getUint64(payloadView, 0), vote: getUint64(payloadView, 8), commit: getUint64(payloadView, 16) };
      }
      offset += recordPrefixBytes + length;
    }
  }
  assert(entries.length === Math.max(0, lastIndex - firstIndex + 1), "replayed entries fill [firstIndex, lastIndex]");
  return { entries, hardState, firstIndex, lastIndex };
}

function getUint64(view: DataView, offset: number): number {
  const value = view.getUint32(offset + 4, true) * twoPower32 + view.getUint32(offset, true);
  assert(Number.isSafeInteger(value), "WAL integers stay below 2^53 (the writer only stores safe integers)");
  return value;
}

function isIndex(value: number): boolean {
  return Number.isSafeInteger(value) && value >= 0;
}

function sameHardState(a: WalHardState | null, b: WalHardState | null): boolean {
  if (a === null || b === null) return a === b;
  return a.term === b.term && a.vote === b.vote && a.commit === b.commit;
}

function corruptError(file: string, offset: number, why: string): UkvError {
  return new UkvError("WAL_CORRUPT", `WAL segment ${file} is corrupt at offset ${offset}: ${why}`, { data: { file, offset } });
}

function closedError(dir: string): UkvError {
  return new UkvError("CLOSED", `WAL is closed: ${dir}`, { data: { dir } });
}

/** Native errors carry a code string (and file/offset for WAL_CORRUPT); anything else is IO_ERROR. */
function toUkvError(error: unknown, dir: string): UkvError {
  if (error instanceof UkvError) return error;
  const fields = (typeof error === "object" && error !== null ? error : {}) as {
    code?: unknown;
    message?: unknown;
    file?: unknown;
    offset?: unknown;
    errno?: unknown;
  };
  const code = errorCodes.find((candidate) => candidate === fields.code) ?? "IO_ERROR";
  const message = typeof fields.message === "string" ? fields.message : String(error);
  const data: Record<string, unknown> = { dir };
  if (typeof fields.file === "string") data.file = fields.file;
  if (typeof fields.offset === "number") data.offset = fields.offset;
  if (typeof fields.errno === "number" && fields.errno !== 0) data.errno = fields.errno;
  return new UkvError(code, message, { data, cause: error });
}
