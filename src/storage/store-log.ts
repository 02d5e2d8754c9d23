// One write-ahead log per store process holding the Raft logs of many groups (the design of TiKV's
// raft-engine), built on one Wal (src/storage/wal.ts). The point is group commit across groups:
// appends of many groups made in one event-loop turn become one native call and one fdatasync.
// This module owns the record payload, the replay rules, each group's log in memory (recovery must
// rebuild it anyway) and space reclamation: which segments no group needs, and rewriting the live
// state of groups that pin old ones.
//
// The Wal's entries are our records: the Wal entry index is the store-level sequence number ("seq"),
// its term is 0, and the Wal's own hard state is never set (group hard states live in payloads).
// Payload of one record, little-endian:
//   offset size
//   0      u8   version (1)
//   1      u8   flags: 1 RESET, 2 ENTRIES, 4 COPIES (only with ENTRIES), 8 COMPACT, 16 HARD_STATE,
//                      32 REMOVE (only alone); at least one
//   2      u64  groupId
//   10     the sections whose flag is set, in this order:
//          RESET       u64 snapshotIndex
//          ENTRIES     u32 count (>= 1), u64 index of the first; per entry: u64 term, u32 dataSize, data
//          COMPACT     u64 throughIndex
//          HARD_STATE  u64 term, u64 vote, u64 commit
//   The payload ends right after its last section. Integers are safe integers (< 2^53).
// A record is applied to its group in that same order (GroupState.apply):
//   RESET s        every entry is gone; the log restarts after s (lastIndex = s)
//   ENTRIES i..j   Raft's rule: they replace the group's entries from i on. An empty log, or i below
//                  the first entry, starts over at i; i > lastIndex + 1 on a non-empty log is a gap.
//   + COPIES       written by maintain(): copies of live entries, which overwrite in place and keep
//                  the entries after j, so a rewrite split over several records (a group whose live
//                  entries exceed one record) is valid after a crash between any two of them
//   COMPACT k      entries <= k are not needed any more
//   HARD_STATE     the newest one wins
//   REMOVE         the group is forgotten (a later record of the same id starts a new group)
//
// Reclamation. A group needs the records that hold its live entries, the one with its newest hard
// state and, when it has no entries, the RESET or COMPACT that set its lastIndex. Every other record
// of the group is superseded by a later one, so replaying only the records from the minimum of these
// seqs over all groups rebuilds every group exactly; maintain() deletes the whole segments below it,
// once every record before it is durable. An idle group would pin its old segments forever, so over
// storeLogSegmentCountMax segments maintain() first rewrites the groups pinning the oldest ones,
// if that frees at least twice the bytes it writes (so a group with much live state is not
// rewritten on every call): the log stays near that count plus twice the live state.
//
// Failure. Groups are updated in memory when a call is made (the next call is checked against it),
// so a failed Wal batch leaves the logs of every group in it ahead of the disk. The Wal then goes
// back to its durable end (a prefix of the seqs, never a hole); the StoreLog undoes, newest first,
// every record after that end (each record keeps an undo step until it is durable), and continues
// from there. So like Wal.append, a failed call (DISK_FULL, IO_ERROR) may simply be retried.
import { readdir } from "node:fs/promises";
import { assert } from "../util/assert.ts";
import { setU32LE, setU64LE } from "../util/byte-fields.ts";
import { UkvError } from "../util/errors.ts";
import { keySizeBytesMax, recordSizeBytesMax, storeLogSegmentCountMax, valueSizeBytesMax, walSegmentSizeBytesDefault } from "../util/limits.ts";
import { rootLogger } from "../util/log.ts";
import type { WalEntry } from "./wal.ts";
import { Wal } from "./wal.ts";

/** One Raft entry of a group; same shape as WalEntry. `data` is kept by reference: never mutate it. */
export interface GroupLogEntry {
  term: number;
  index: number;
  data: Uint8Array;
}

export interface GroupHardState {
  term: number;
  vote: number;
  commit: number;
}

export interface GroupRecovery {
  /** Consecutive. */
  entries: GroupLogEntry[];
  hardState: GroupHardState | null;
  /** Index of entries[0], or 0 when there are no entries. */
  firstIndex: number;
}

export interface StoreLogOptions {
  /** Size of each Wal segment file; a multiple of 4096, at least 8192. Default walSegmentSizeBytesDefault. */
  segmentSizeBytes?: number;
  /** TEST ONLY: behave as if the file system refused O_DIRECT (the tmpfs fallback path). */
  testOnlyDisableDirectIo?: boolean;
}

export interface StoreLogStats {
  /** Wal appends: one per append/reset/compact/remove call that wrote, one per group rewritten. */
  appendCount: number;
  /** fdatasync calls: far fewer than appendCount when many groups append in the same turn. */
  syncCount: number;
  bytesWritten: number;
  segmentCount: number;
  directIo: boolean;
}

/** The log of one group inside the store log. Calls are checked and applied in call order. */
export interface GroupLog {
  readonly groupId: number;
  /**
   * Durable on resolve. Entries must be consecutive and start at lastIndex()+1 or lower (Raft: an
   * entry at index i replaces the log from i on); an empty log accepts any start. The hard state is
   * written with (after) the entries. A batch too large for one record is split into several;
   * the promise resolves after the last, and a crash between them leaves a prefix of the batch.
   * An empty batch writes nothing and resolves once the calls before it have settled.
   */
  append(batch: { entries: GroupLogEntry[]; hardState?: GroupHardState }): Promise<void>;
  /** After installing a snapshot: every entry is gone and the log restarts after snapshotIndex. Durable on resolve. */
  reset(snapshotIndex: number): Promise<void>;
  /** After a snapshot: entries <= throughIndex (at most lastIndex()) are not needed; maintain() frees the space. */
  compact(throughIndex: number): Promise<void>;
  /** The group is gone from this store, durably on resolve. The handle is unusable after. */
  remove(): Promise<void>;
  /** Index of the last entry, counting calls still in flight (after reset(s) with none since: s). */
  lastIndex(): number;
}

const payloadVersion = 1;
const sectionFlag = { reset: 1, entries: 2, copies: 4, compact: 8, hardState: 16, remove: 32 } as const;
const sectionFlagsAll = 63;
const payloadHeaderBytes = 10;
const indexBytes = 8;
const entriesHeaderBytes = 12;
const entryHeaderBytes = 12;
const hardStateBytes = 24;
/** native/wal.h: the Wal record header in front of every payload (length, crc, kind, term, index). */
const walRecordHeaderBytes = 25;
/** Bytes a record adds to one entry's data, hard state included (every entry fits a record with one). */
const recordOverheadBytesMax = walRecordHeaderBytes + payloadHeaderBytes + entriesHeaderBytes + entryHeaderBytes + hardStateBytes;
const twoPower32 = 4294967296;
/**
 * native/wal.h: wal-<20-digit index>.log. Rollover names a segment after the seq of the record that
 * opens it (never lower), so a segment only holds seqs below the name of the next one.
 */
const segmentFileNamePattern = /^wal-(\d{20})\.log$/;

assert(
  keySizeBytesMax + valueSizeBytesMax + 1024 + recordOverheadBytesMax <= recordSizeBytesMax,
  "a store log record holds an entry with the largest key and value, framing and a hard state",
);

/** One record, decoded. No entries: no ENTRIES section. */
interface StoreLogRecord {
  groupId: number;
  remove: boolean;
  resetIndex: number | null;
  entries: GroupLogEntry[];
  entriesAreCopies: boolean;
  compactIndex: number | null;
  hardState: GroupHardState | null;
}

function makeRecord(groupId: number, fields: Partial<Omit<StoreLogRecord, "groupId">>): StoreLogRecord {
  return {
    groupId,
    remove: fields.remove ?? false,
    resetIndex: fields.resetIndex ?? null,
    entries: fields.entries ?? [],
    entriesAreCopies: fields.entriesAreCopies ?? false,
    compactIndex: fields.compactIndex ?? null,
    hardState: fields.hardState ?? null,
  };
}

export class StoreLog {
  readonly #wal: Wal;
  /** Largest payload the Wal takes in one record (its limit minus its record header). */
  readonly #payloadBytesMax: number;
  readonly #segmentSizeBytes: number;
  readonly #groups = new Map<number, GroupLogHandle>();
  readonly #sink: RecordSink;
  /** Seq of the last record handed to the Wal (durable or in flight); equals wal.lastIndex() but after a failure. */
  #lastSeq: number;
  #closed = false;
  #writeCount = 0;
  /** Records not known durable, seq order, from #journalHead on: how to undo each if its batch fails. */
  #journal: JournalStep[] = [];
  #journalHead = 0;
  #rollbackCount = 0;
  /** Writes not settled yet, as promises that never reject (maintain() waits for them). */
  readonly #inflight = new Set<Promise<void>>();
  /** Settles (never rejects) when the newest write has: writes settle in seq order. */
  #lastWriteSettled: Promise<void> = Promise.resolve();
  #maintaining: Promise<void> | null = null;

  private constructor(wal: Wal, segmentSizeBytes: number, states: Map<number, GroupState>) {
    this.#wal = wal;
    this.#segmentSizeBytes = segmentSizeBytes;
    const payloadBytesMax = Math.min(recordSizeBytesMax, segmentSizeBytes) - walRecordHeaderBytes;
    this.#payloadBytesMax = payloadBytesMax;
    this.#lastSeq = wal.lastIndex();
    this.#sink = {
      payloadBytesMax,
      problem: () => this.#problem(),
      write: (handle, records) => this.#write(handle, records),
      barrier: () => this.#lastWriteSettled,
    };
    for (const [groupId, state] of states) this.#groups.set(groupId, new GroupLogHandle(groupId, state, this.#sink));
  }

  /**
   * Opens (creating if needed) the store log in `dir` and rebuilds every group's log by replaying
   * its records in seq order. A malformed record is UkvError WAL_CORRUPT naming its seq; the Wal's
   * own errors (WAL_CORRUPT naming file and offset, IO_ERROR, CONFIG_INVALID) propagate.
   */
  static async open(dir: string, options: StoreLogOptions = {}): Promise<{ log: StoreLog; recovery: Map<number, GroupRecovery> }> {
    const { wal, recovery } = await Wal.open(dir, options);
    let states: Map<number, GroupState>;
    try {
      if (recovery.hardState !== null) {
        throw new UkvError("WAL_CORRUPT", `Store log holds a Wal-level hard state, which it never writes: ${dir}`, { data: { dir } });
      }
      states = replayRecords(recovery.entries);
    } catch (error) {
      await wal.close();
      throw error;
    }
    const lastSeq = recovery.entries.at(-1)?.index;
    assert(lastSeq === undefined || lastSeq === wal.lastIndex(), "the last record recovered is the Wal's last entry");
    const segmentSizeBytes = options.segmentSizeBytes ?? walSegmentSizeBytesDefault;
    const log = new StoreLog(wal, segmentSizeBytes, states);
    const groups = new Map<number, GroupRecovery>();
    for (const [groupId, state] of states) groups.set(groupId, state.recovery());
    return { log, recovery: groups };
  }

  /** The handle of one group: created on first use, the same object until the group is removed. */
  group(groupId: number): GroupLog {
    if (!isIndex(groupId)) {
      throw new UkvError("BAD_REQUEST", `Store log group id must be a non-negative safe integer: ${groupId}`, { data: { groupId } });
    }
    let handle = this.#groups.get(groupId);
    if (handle === undefined) {
      handle = new GroupLogHandle(groupId, new GroupState(), this.#sink);
      this.#groups.set(groupId, handle);
    }
    return handle;
  }

  /** Groups with live state (entries, a hard state, or a reset/compacted position), ascending. */
  groupIds(): number[] {
    const ids: number[] = [];
    for (const handle of this.#groups.values()) if (handle.state.hasLiveState()) ids.push(handle.groupId);
    return ids.sort((a, b) => a - b);
  }

  /**
   * Drops the oldest segments no group needs any more. When there are more than
   * storeLogSegmentCountMax segments, first rewrites the live entries and hard state of every group
   * that pins the segments over that count (an idle group would pin them forever). Deletes nothing
   * until every write made before it is durable, nor if one of them failed. Concurrent calls share one run.
   */
  maintain(): Promise<void> {
    const problem = this.#problem();
    if (problem !== null) return Promise.reject(problem);
    if (this.#maintaining === null) {
      this.#maintaining = this.#maintainOnce().finally(() => {
        this.#maintaining = null;
      });
    }
    return this.#maintaining;
  }

  /** Metrics: see Wal.onBatchDurable. */
  observeBatches(observer: (seconds: number, appendCount: number) => void): void {
    this.#wal.onBatchDurable = observer;
  }

  stats(): StoreLogStats {
    const walStats = this.#wal.stats();
    return {
      appendCount: walStats.appendBatchCount,
      syncCount: walStats.syncCount,
      bytesWritten: walStats.bytesWritten,
      segmentCount: this.#wal.segmentCount(),
      directIo: walStats.directIo,
    };
  }

  /** Waits for everything written (and a running maintain()), then closes. Later calls fail with CLOSED. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#maintaining !== null) await this.#maintaining.catch(() => undefined);
    await this.#wal.close();
  }

  async #maintainOnce(): Promise<void> {
    // The active segment is never deleted: with one segment there is nothing to do (most ticks).
    if (this.#wal.segmentCount() < 2) return;
    const segmentSeqs = await this.#segmentFirstSeqs();
    this.#throwIfUnusable();
    const rollbackCount = this.#rollbackCount;
    const rewrites = this.#rewritePinningGroups(segmentSeqs);
    // Taken with the rewrites submitted. A group's needed seq never decreases, and groups created
    // later only need later records, so this stays a lower bound while we wait.
    let neededSeqMin = this.#lastSeq + 1;
    for (const handle of this.#groups.values()) neededSeqMin = Math.min(neededSeqMin, handle.state.neededSeqMin());
    // A record still in flight may be what supersedes an old needed one; if it failed (and was
    // undone), deleting the old one would lose the group's state. So delete only once everything up
    // to here is durable.
    await Promise.all([...this.#inflight]);
    await Promise.all(rewrites);
    this.#throwIfUnusable();
    if (this.#rollbackCount !== rollbackCount) return;
    const seqsNow = await this.#segmentFirstSeqs();
    this.#throwIfUnusable();
    // Segment k only holds seqs below the first seq of segment k+1.
    const secondSegmentSeq = seqsNow[1];
    if (secondSegmentSeq !== undefined && secondSegmentSeq <= neededSeqMin) await this.#wal.deletePrefix(neededSeqMin - 1);
    if (rewrites.length > 0 || (secondSegmentSeq !== undefined && secondSegmentSeq <= neededSeqMin)) {
      rootLogger.info({
        event: "store_log_maintained",
        dir: this.#wal.dir,
        rewrittenGroupCount: rewrites.length,
        segmentCountBefore: seqsNow.length,
        segmentCountAfter: this.#wal.segmentCount(),
      });
    }
  }

  /**
   * Over storeLogSegmentCountMax segments, rewrites the groups whose needed records lie in the
   * segments over that count, if that frees at least rewriteFreedBytesPerWrittenByteMin times the
   * bytes it writes. Without that condition, a group with more live state than the segments it
   * frees would be rewritten on every call, each rewrite pushing the count over again.
   */
  #rewritePinningGroups(segmentSeqs: number[]): Promise<void>[] {
    const freedSegmentCount = segmentSeqs.length - storeLogSegmentCountMax;
    const keepFromSeq = segmentSeqs[freedSegmentCount];
    if (freedSegmentCount <= 0 || keepFromSeq === undefined) return [];
    const pinning: GroupLogHandle[] = [];
    let writtenBytes = 0;
    for (const handle of this.#groups.values()) {
      if (handle.state.neededSeqMin() >= keepFromSeq) continue;
      pinning.push(handle);
      writtenBytes += handle.state.liveSizeBytes();
    }
    if (writtenBytes * rewriteFreedBytesPerWrittenByteMin > freedSegmentCount * this.#segmentSizeBytes) return [];
    // All submitted in this one turn: they share one fdatasync.
    const rewrites: Promise<void>[] = [];
    for (const handle of pinning) {
      const records = rewriteRecords(handle.groupId, handle.state, this.#payloadBytesMax);
      if (records instanceof UkvError) {
        rootLogger.warn({ event: "store_log_rewrite_impossible", dir: this.#wal.dir, groupId: handle.groupId }, records.message);
        continue;
      }
      rewrites.push(this.#write(handle, records));
    }
    return rewrites;
  }

  /** First seq of each segment, oldest first, from the file names (see segmentFileNamePattern). */
  async #segmentFirstSeqs(): Promise<number[]> {
    let names: string[];
    try {
      names = await readdir(this.#wal.dir);
    } catch (error) {
      throw new UkvError("IO_ERROR", `Cannot list store log segments: ${this.#wal.dir}`, { data: { dir: this.#wal.dir }, cause: error });
    }
    const seqs: number[] = [];
    for (const name of names) {
      const match = segmentFileNamePattern.exec(name);
      if (match?.[1] !== undefined) seqs.push(Number(match[1]));
    }
    return seqs.sort((a, b) => a - b);
  }

  /**
   * TEST ONLY: the Wal's next disk write, after `skipWriteCount` successful ones, fails as with this
   * errno (ENOSPC: a full disk). See Wal.testOnlyFailNextWrite.
   */
  testOnlyFailNextWrite(errnoName: "ENOSPC" | "EIO", options: { skipWriteCount?: number } = {}): void {
    this.#wal.testOnlyFailNextWrite(errnoName, options);
  }

  #throwIfUnusable(): void {
    const problem = this.#problem();
    if (problem !== null) throw problem;
  }

  #problem(): UkvError | null {
    if (this.#closed) return new UkvError("CLOSED", `Store log is closed: ${this.#wal.dir}`, { data: { dir: this.#wal.dir } });
    // The Wal went back to its durable end and the rejection that makes us follow is a microtask
    // away: a record made now would be checked against logs about to be undone.
    if (this.#wal.lastIndex() !== this.#lastSeq) {
      return new UkvError("IO_ERROR", `Store log is undoing a failed write, retry: ${this.#wal.dir}`, { data: { dir: this.#wal.dir } });
    }
    return null;
  }

  // The caller checked #problem() and the records. Seqs are handed out and the group updated in
  // call order, synchronously; the Wal queues the append for the end of the turn.
  #write(handle: GroupLogHandle, records: StoreLogRecord[]): Promise<void> {
    assert(records.length > 0, "a write holds at least one record");
    assert(!this.#closed && this.#wal.lastIndex() === this.#lastSeq, "writes are checked before they are made");
    this.#writeCount++;
    const writeId = this.#writeCount;
    const walEntries: WalEntry[] = [];
    for (const record of records) {
      assert(record.groupId === handle.groupId, "a write holds records of its own group");
      const data = encodeRecord(record);
      assert(data.byteLength <= this.#payloadBytesMax, "records are split to fit the Wal's record limit");
      this.#lastSeq++;
      const undoSteps: (() => void)[] = [];
      this.#applyLive(handle, record, this.#lastSeq, undoSteps);
      this.#journal.push({ seq: this.#lastSeq, writeId, undoSteps });
      walEntries.push({ term: 0, index: this.#lastSeq, data });
    }
    const durable = this.#wal.append({ entries: walEntries }).then(
      () => this.#onDurable(writeId),
      (error: unknown) => {
        throw this.#onFailed(error);
      },
    );
    const settled: Promise<void> = durable.then(noop, noop).then(() => {
      this.#inflight.delete(settled);
    });
    this.#inflight.add(settled);
    this.#lastWriteSettled = settled;
    return durable;
  }

  #applyLive(handle: GroupLogHandle, record: StoreLogRecord, seq: number, undoSteps: (() => void)[]): void {
    assert(this.#groups.get(record.groupId) === handle, "a group writes through its current handle");
    if (!record.remove) {
      const problem = handle.state.apply(record, seq, undoSteps);
      assert(problem === null, "the handle checked the record against the group's log before writing it");
      return;
    }
    this.#groups.delete(record.groupId);
    handle.removed = true;
    undoSteps.push(() => {
      // A handle made after the removal has had its records undone already: it never existed.
      const later = this.#groups.get(record.groupId);
      if (later !== undefined) {
        assert(!later.state.hasLiveState(), "records after the removal are undone first");
        later.removed = true;
      }
      this.#groups.set(record.groupId, handle);
      handle.removed = false;
    });
  }

  // Batches become durable in seq order: this write and every one before it are on disk.
  #onDurable(writeId: number): void {
    while (this.#journalHead < this.#journal.length && (this.#journal[this.#journalHead]?.writeId ?? 0) <= writeId) this.#journalHead++;
    if (this.#journalHead === this.#journal.length) {
      this.#journal = [];
      this.#journalHead = 0;
    } else if (this.#journalHead >= journalCompactionCount) {
      this.#journal = this.#journal.slice(this.#journalHead);
      this.#journalHead = 0;
    }
  }

  // Every batch that fails settles here, but only the first after the Wal went back to its durable
  // end finds work: it undoes each record after that end, newest first, and the log continues from it.
  #onFailed(error: unknown): UkvError {
    const failure =
      error instanceof UkvError ? error : new UkvError("IO_ERROR", `Store log write failed: ${String(error)}`, { data: { dir: this.#wal.dir }, cause: error });
    const durableSeq = this.#wal.lastIndex();
    if (durableSeq >= this.#lastSeq) return failure;
    let undoneCount = 0;
    while (this.#journal.length > this.#journalHead) {
      const step = this.#journal[this.#journal.length - 1];
      if (step === undefined || step.seq <= durableSeq) break;
      this.#journal.pop();
      for (let position = step.undoSteps.length - 1; position >= 0; position--) step.undoSteps[position]?.();
      undoneCount++;
    }
    assert(undoneCount === this.#lastSeq - durableSeq, "every record after the durable end was still journaled");
    // Steps left are at or below that end: on disk, or (a batch the Wal refused before writing)
    // still in flight. #onDurable drops them when a later write succeeds.
    this.#lastSeq = durableSeq;
    this.#rollbackCount++;
    rootLogger.warn({ event: "store_log_write_failed", dir: this.#wal.dir, code: failure.code, durableSeq, undoneCount }, failure.message);
    return failure;
  }
}

interface JournalStep {
  seq: number;
  writeId: number;
  /** Run last to first. */
  undoSteps: (() => void)[];
}

/** maintain() rewrites groups only if that frees at least this many bytes per byte it writes. */
const rewriteFreedBytesPerWrittenByteMin = 2;

/** Durable journal steps dropped before the array is copied down. */
const journalCompactionCount = 4096;

/** What a group handle needs from its StoreLog. */
interface RecordSink {
  readonly payloadBytesMax: number;
  problem(): UkvError | null;
  write(handle: GroupLogHandle, records: StoreLogRecord[]): Promise<void>;
  /**
   * Resolves once every write made so far has settled. Never rejects: a failed write was reported
   * to its own caller and undone, and a call that writes nothing has nothing to fail.
   */
  barrier(): Promise<void>;
}

class GroupLogHandle implements GroupLog {
  readonly groupId: number;
  readonly state: GroupState;
  readonly #sink: RecordSink;
  /** Set by the StoreLog when the REMOVE record is made (and cleared if it is undone). */
  removed = false;

  constructor(groupId: number, state: GroupState, sink: RecordSink) {
    this.groupId = groupId;
    this.state = state;
    this.#sink = sink;
  }

  append(batch: { entries: GroupLogEntry[]; hardState?: GroupHardState }): Promise<void> {
    const problem = this.#problem() ?? checkAppend(this.groupId, this.state, batch);
    if (problem !== null) return Promise.reject(problem);
    const hardState = batch.hardState === undefined ? null : copyHardState(batch.hardState);
    if (batch.entries.length === 0 && hardState === null) return this.#sink.barrier();
    const records = splitIntoRecords(this.groupId, batch.entries, hardState, false, this.#sink.payloadBytesMax);
    if (records instanceof UkvError) return Promise.reject(records);
    return this.#sink.write(this, records);
  }

  reset(snapshotIndex: number): Promise<void> {
    const problem = this.#problem() ?? checkIndex("reset index", snapshotIndex);
    if (problem !== null) return Promise.reject(problem);
    return this.#sink.write(this, [makeRecord(this.groupId, { resetIndex: snapshotIndex })]);
  }

  compact(throughIndex: number): Promise<void> {
    const problem = this.#problem() ?? checkIndex("compaction index", throughIndex);
    if (problem !== null) return Promise.reject(problem);
    if (throughIndex > this.state.lastIndex) {
      return Promise.reject(
        new UkvError("BAD_REQUEST", `Store log group ${this.groupId} cannot compact past its last index ${this.state.lastIndex}: ${throughIndex}`, {
          data: { groupId: this.groupId, throughIndex, lastIndex: this.state.lastIndex },
        }),
      );
    }
    // Nothing to drop: no record (a lost compaction only keeps entries longer, so it needs no sync).
    const first = this.state.entries[0];
    if (first === undefined || throughIndex < first.index) return this.#sink.barrier();
    return this.#sink.write(this, [makeRecord(this.groupId, { compactIndex: throughIndex })]);
  }

  remove(): Promise<void> {
    const problem = this.#problem();
    if (problem !== null) return Promise.reject(problem);
    return this.#sink.write(this, [makeRecord(this.groupId, { remove: true })]);
  }

  lastIndex(): number {
    const problem = this.#removedProblem();
    if (problem !== null) throw problem;
    return this.state.lastIndex;
  }

  #problem(): UkvError | null {
    return this.#removedProblem() ?? this.#sink.problem();
  }

  #removedProblem(): UkvError | null {
    if (!this.removed) return null;
    return new UkvError("CLOSED", `Store log group ${this.groupId} was removed`, { data: { groupId: this.groupId } });
  }
}

/**
 * One group's log as its records define it: the same rules at write time and at recovery. At write
 * time each change also leaves an undo step (run newest first) in case its batch fails.
 */
class GroupState {
  entries: GroupLogEntry[] = [];
  /** entrySeqs[i]: seq of the record holding entries[i]. Not sorted after a torn rewrite. */
  entrySeqs: number[] = [];
  lastIndex = 0;
  hardState: GroupHardState | null = null;
  hardStateSeq = 0;
  /** With no entries: seq of the RESET or COMPACT that set lastIndex (0: none ever did). */
  positionSeq = 0;
  /** Later records write later entries, so entrySeqs is sorted, but after a rewrite cut short by a crash. */
  #entrySeqsMaybeUnsorted = false;
  /** What the entries take in a record (entryHeaderBytes + data each), kept as they change: maintain() asks every second. */
  #entryBytes = 0;

  hasLiveState(): boolean {
    return this.entries.length > 0 || this.hardState !== null || this.positionSeq > 0;
  }

  /** Lowest seq holding something this group needs; Infinity when nothing. */
  neededSeqMin(): number {
    let seq = Number.POSITIVE_INFINITY;
    if (this.entries.length > 0) seq = this.#entrySeqMin();
    else if (this.positionSeq > 0) seq = this.positionSeq;
    if (this.hardState !== null) seq = Math.min(seq, this.hardStateSeq);
    return seq;
  }

  /** Bytes a rewrite of this group writes, about. */
  liveSizeBytes(): number {
    return walRecordHeaderBytes + payloadHeaderBytes + indexBytes + hardStateBytes + this.#entryBytes;
  }

  // A rewrite cut short by a crash leaves newer copies before older entries: then a scan, until
  // the scan finds the order restored.
  #entrySeqMin(): number {
    const first = this.entrySeqs[0];
    assert(first !== undefined, "only a non-empty log has entry seqs");
    if (!this.#entrySeqsMaybeUnsorted) return first;
    let seqMin = first;
    let sorted = true;
    for (let position = 1; position < this.entrySeqs.length; position++) {
      const seq = this.entrySeqs[position] as number;
      if (seq < (this.entrySeqs[position - 1] as number)) sorted = false;
      seqMin = Math.min(seqMin, seq);
    }
    this.#entrySeqsMaybeUnsorted = !sorted;
    return seqMin;
  }

  recovery(): GroupRecovery {
    return {
      entries: this.entries.slice(),
      hardState: this.hardState === null ? null : copyHardState(this.hardState),
      firstIndex: this.entries[0]?.index ?? 0,
    };
  }

  /** Applies a record (not REMOVE); returns why it contradicts the log (nothing changed then), or null. */
  apply(record: StoreLogRecord, seq: number, undoSteps: (() => void)[] | null): string | null {
    assert(!record.remove, "REMOVE is applied by the owner of the group map");
    if (record.entries.length > 0) {
      const problem = record.resetIndex === null ? this.#entriesProblem(record.entries, record.entriesAreCopies) : null;
      if (problem !== null) return problem;
    }
    if (undoSteps !== null) {
      const { lastIndex, hardState, hardStateSeq, positionSeq } = this;
      const entrySeqsMaybeUnsorted = this.#entrySeqsMaybeUnsorted;
      const entryBytes = this.#entryBytes;
      // The first step pushed, so the last undone: the entries are as they were again by then.
      undoSteps.push(() => {
        this.#entryBytes = entryBytes;
        this.lastIndex = lastIndex;
        this.hardState = hardState;
        this.hardStateSeq = hardStateSeq;
        this.positionSeq = positionSeq;
        this.#entrySeqsMaybeUnsorted = entrySeqsMaybeUnsorted;
      });
    }
    if (record.resetIndex !== null) {
      this.#truncate(0, undoSteps);
      this.lastIndex = record.resetIndex;
      this.positionSeq = seq;
    }
    if (record.entries.length > 0) this.#putEntries(record.entries, record.entriesAreCopies, seq, undoSteps);
    if (record.compactIndex !== null) this.#compact(record.compactIndex, seq, undoSteps);
    if (record.hardState !== null) {
      this.hardState = copyHardState(record.hardState);
      this.hardStateSeq = seq;
    }
    const first = this.entries[0];
    assert(this.entries.length === this.entrySeqs.length, "every entry has the seq of its record");
    assert(first === undefined || this.entries.at(-1)?.index === this.lastIndex, "a non-empty log ends at lastIndex");
    assert(first === undefined || this.lastIndex - first.index + 1 === this.entries.length, "the entries are consecutive");
    return null;
  }

  #entriesProblem(entries: GroupLogEntry[], areCopies: boolean): string | null {
    const first = entries[0];
    assert(first !== undefined, "an ENTRIES section holds at least one entry");
    const firstIndex = this.entries[0]?.index;
    if (firstIndex === undefined) return null;
    if (first.index > this.lastIndex + 1) return `entry ${first.index} leaves a gap after entry ${this.lastIndex}`;
    if (!areCopies) return null;
    for (const entry of entries) {
      const live = this.entries[entry.index - firstIndex];
      if (live !== undefined && live.term !== entry.term) return `copy of entry ${entry.index} has term ${entry.term}, the live entry ${live.term}`;
    }
    return null;
  }

  // ENTRIES replace the log from their first index on. COPIES overwrite the same entries in place
  // and keep what follows; when the entries they copy are not all here (the records before them
  // were deleted), they build the log as ENTRIES do.
  #putEntries(entries: GroupLogEntry[], areCopies: boolean, seq: number, undoSteps: (() => void)[] | null): void {
    const first = entries[0];
    const last = entries[entries.length - 1];
    assert(first !== undefined && last !== undefined, "an ENTRIES section holds at least one entry");
    const firstIndex = this.entries[0]?.index;
    if (firstIndex === undefined || first.index < firstIndex) {
      this.#truncate(0, undoSteps);
      this.#pushAll(entries, seq, undoSteps);
      this.lastIndex = last.index;
      return;
    }
    const position = first.index - firstIndex;
    if (areCopies) {
      this.#overwrite(position, entries, Math.min(this.entries.length - position, entries.length), seq, undoSteps);
      this.lastIndex = Math.max(this.lastIndex, last.index);
    } else {
      this.#truncate(position, undoSteps);
      this.#pushAll(entries, seq, undoSteps);
      this.lastIndex = last.index;
    }
  }

  /** Overwrites `count` entries from `position` with the first `count` of `entries`, then appends the rest. */
  #overwrite(position: number, entries: GroupLogEntry[], count: number, seq: number, undoSteps: (() => void)[] | null): void {
    if (undoSteps !== null) {
      const oldEntries = this.entries.slice(position, position + count);
      const oldSeqs = this.entrySeqs.slice(position, position + count);
      undoSteps.push(() => {
        for (let offset = 0; offset < count; offset++) {
          this.entries[position + offset] = oldEntries[offset] as GroupLogEntry;
          this.entrySeqs[position + offset] = oldSeqs[offset] as number;
        }
      });
    }
    for (let offset = 0; offset < count; offset++) {
      this.#entryBytes += entryBytesOf(entries[offset] as GroupLogEntry) - entryBytesOf(this.entries[position + offset] as GroupLogEntry);
      this.entries[position + offset] = entries[offset] as GroupLogEntry;
      this.entrySeqs[position + offset] = seq;
    }
    if (position + count < this.entries.length) this.#entrySeqsMaybeUnsorted = true;
    if (count < entries.length) {
      assert(position + count === this.entries.length, "copies run past the log's end only from its end");
      this.#pushAll(entries.slice(count), seq, undoSteps);
    }
  }

  #truncate(keptCount: number, undoSteps: (() => void)[] | null): void {
    if (keptCount >= this.entries.length) return;
    if (undoSteps !== null) {
      const removedEntries = this.entries.slice(keptCount);
      const removedSeqs = this.entrySeqs.slice(keptCount);
      undoSteps.push(() => {
        assert(this.entries.length === keptCount, "undo runs on the log as this step left it");
        this.entries = this.entries.concat(removedEntries);
        this.entrySeqs = this.entrySeqs.concat(removedSeqs);
      });
    }
    for (let position = keptCount; position < this.entries.length; position++) this.#entryBytes -= entryBytesOf(this.entries[position] as GroupLogEntry);
    this.entries.length = keptCount;
    this.entrySeqs.length = keptCount;
  }

  #pushAll(entries: GroupLogEntry[], seq: number, undoSteps: (() => void)[] | null): void {
    const lengthBefore = this.entries.length;
    if (undoSteps !== null) {
      undoSteps.push(() => {
        this.entries.length = lengthBefore;
        this.entrySeqs.length = lengthBefore;
      });
    }
    for (const entry of entries) {
      this.entries.push(entry);
      this.entrySeqs.push(seq);
      this.#entryBytes += entryBytesOf(entry);
    }
  }

  #compact(throughIndex: number, seq: number, undoSteps: (() => void)[] | null): void {
    const first = this.entries[0];
    if (first === undefined) {
      if (throughIndex > this.lastIndex) {
        this.lastIndex = throughIndex;
        this.positionSeq = seq;
      }
      return;
    }
    const dropCount = Math.min(this.entries.length, Math.max(0, throughIndex - first.index + 1));
    if (dropCount === 0) return;
    const removedEntries = this.entries.splice(0, dropCount);
    const removedSeqs = this.entrySeqs.splice(0, dropCount);
    for (const entry of removedEntries) this.#entryBytes -= entryBytesOf(entry);
    if (undoSteps !== null) {
      undoSteps.push(() => {
        this.entries = removedEntries.concat(this.entries);
        this.entrySeqs = removedSeqs.concat(this.entrySeqs);
      });
    }
    if (this.entries.length === 0) {
      this.lastIndex = Math.max(this.lastIndex, throughIndex);
      this.positionSeq = seq;
    }
  }
}

/** What one entry takes in a record's ENTRIES section. */
function entryBytesOf(entry: GroupLogEntry): number {
  return entryHeaderBytes + entry.data.byteLength;
}

/** Replays the Wal's entries (one record each, seq order) into the groups' logs. */
function replayRecords(walEntries: WalEntry[]): Map<number, GroupState> {
  const states = new Map<number, GroupState>();
  for (const walEntry of walEntries) {
    const seq = walEntry.index;
    if (walEntry.term !== 0) throw corruptRecordError(seq, `Wal term is ${walEntry.term}, not 0`);
    const record = decodeRecord(walEntry.data, seq);
    if (record.remove) {
      states.delete(record.groupId);
      continue;
    }
    let state = states.get(record.groupId);
    if (state === undefined) {
      state = new GroupState();
      states.set(record.groupId, state);
    }
    const problem = state.apply(record, seq, null);
    if (problem !== null) throw corruptRecordError(seq, `group ${record.groupId}: ${problem}`);
  }
  // A COMPACT whose entries were in deleted segments can leave a group with nothing to keep.
  for (const [groupId, state] of states) if (!state.hasLiveState()) states.delete(groupId);
  return states;
}

/**
 * A group's live state as new records: COPIES of its entries (hard state in the last), or RESET +
 * hard state. RECORD_TOO_LARGE only if the log was written with larger segments than it has now.
 */
function rewriteRecords(groupId: number, state: GroupState, payloadBytesMax: number): StoreLogRecord[] | UkvError {
  const hardState = state.hardState === null ? null : copyHardState(state.hardState);
  if (state.entries.length === 0) {
    assert(state.hasLiveState(), "only groups with live state are rewritten");
    return [makeRecord(groupId, { resetIndex: state.positionSeq > 0 ? state.lastIndex : null, hardState })];
  }
  return splitIntoRecords(groupId, state.entries, hardState, true, payloadBytesMax);
}

/**
 * Entries (consecutive) and an optional hard state as records of at most payloadBytesMax, the hard
 * state in the last one, so it never becomes durable before the entries it may commit.
 */
function splitIntoRecords(
  groupId: number,
  entries: GroupLogEntry[],
  hardState: GroupHardState | null,
  entriesAreCopies: boolean,
  payloadBytesMax: number,
): StoreLogRecord[] | UkvError {
  const chunkBytesEmpty = payloadHeaderBytes + entriesHeaderBytes;
  const records: StoreLogRecord[] = [];
  let chunk: GroupLogEntry[] = [];
  let chunkBytes = chunkBytesEmpty;
  for (const entry of entries) {
    const entryBytes = entryBytesOf(entry);
    // Every entry fits a record of its own with a hard state, so the hard state always finds room.
    if (chunkBytesEmpty + entryBytes + hardStateBytes > payloadBytesMax) {
      const sizeBytes = walRecordHeaderBytes + chunkBytesEmpty + entryBytes + hardStateBytes;
      const sizeBytesMax = payloadBytesMax + walRecordHeaderBytes;
      return new UkvError("RECORD_TOO_LARGE", `Store log record for entry ${entry.index} of group ${groupId} is ${sizeBytes} bytes, over the limit: ${sizeBytesMax}`, {
        data: { groupId, index: entry.index, sizeBytes, sizeBytesMax },
      });
    }
    if (chunk.length > 0 && chunkBytes + entryBytes > payloadBytesMax) {
      records.push(makeRecord(groupId, { entries: chunk, entriesAreCopies }));
      chunk = [];
      chunkBytes = chunkBytesEmpty;
    }
    // A copy of the entry object: the caller may reuse its own.
    chunk.push({ term: entry.term, index: entry.index, data: entry.data });
    chunkBytes += entryBytes;
  }
  if (hardState !== null && chunkBytes + hardStateBytes > payloadBytesMax) {
    records.push(makeRecord(groupId, { entries: chunk, entriesAreCopies }));
    chunk = [];
  }
  if (chunk.length > 0 || hardState !== null) records.push(makeRecord(groupId, { entries: chunk, entriesAreCopies: chunk.length > 0 && entriesAreCopies, hardState }));
  return records;
}

function checkAppend(groupId: number, state: GroupState, batch: { entries: GroupLogEntry[]; hardState?: GroupHardState }): UkvError | null {
  const { entries, hardState } = batch;
  if (hardState !== undefined && !(isIndex(hardState.term) && isIndex(hardState.vote) && isIndex(hardState.commit))) {
    return new UkvError("BAD_REQUEST", `Store log hard state fields of group ${groupId} must be non-negative safe integers`, { data: { groupId, ...hardState } });
  }
  let expectedIndex = 0;
  for (const entry of entries) {
    if (!isIndex(entry.term) || !isIndex(entry.index) || entry.index < 1 || !(entry.data instanceof Uint8Array)) {
      return new UkvError("BAD_REQUEST", `Store log entry of group ${groupId} needs integer term, index >= 1 and Uint8Array data: ${entry.index}`, {
        data: { groupId, index: entry.index },
      });
    }
    if (expectedIndex !== 0 && entry.index !== expectedIndex) {
      return new UkvError("BAD_REQUEST", `Store log entries of group ${groupId} must be consecutive: ${entry.index} after ${expectedIndex - 1}`, {
        data: { groupId, index: entry.index },
      });
    }
    expectedIndex = entry.index + 1;
  }
  const first = entries[0];
  if (first !== undefined && state.entries.length > 0 && first.index > state.lastIndex + 1) {
    return new UkvError("BAD_REQUEST", `Store log append of group ${groupId} must continue its log: entry ${first.index} after last index ${state.lastIndex}`, {
      data: { groupId, index: first.index, lastIndex: state.lastIndex },
    });
  }
  return null;
}

function checkIndex(what: string, index: number): UkvError | null {
  if (isIndex(index)) return null;
  return new UkvError("BAD_REQUEST", `Store log ${what} must be a non-negative safe integer: ${index}`, { data: { index } });
}

function payloadSizeBytes(record: StoreLogRecord): number {
  let sizeBytes = payloadHeaderBytes;
  if (record.resetIndex !== null) sizeBytes += indexBytes;
  if (record.entries.length > 0) {
    sizeBytes += entriesHeaderBytes;
    for (const entry of record.entries) sizeBytes += entryBytesOf(entry);
  }
  if (record.compactIndex !== null) sizeBytes += indexBytes;
  if (record.hardState !== null) sizeBytes += hardStateBytes;
  return sizeBytes;
}

function encodeRecord(record: StoreLogRecord): Uint8Array {
  assert(!record.remove || payloadSizeBytes(record) === payloadHeaderBytes, "REMOVE stands alone");
  const bytes = new Uint8Array(payloadSizeBytes(record));
  let flags = record.remove ? sectionFlag.remove : 0;
  if (record.resetIndex !== null) flags |= sectionFlag.reset;
  if (record.entries.length > 0) flags |= record.entriesAreCopies ? sectionFlag.entries | sectionFlag.copies : sectionFlag.entries;
  if (record.compactIndex !== null) flags |= sectionFlag.compact;
  if (record.hardState !== null) flags |= sectionFlag.hardState;
  assert(flags !== 0, "a record says something");
  bytes[0] = payloadVersion;
  bytes[1] = flags;
  setU64LE(bytes, 2, record.groupId);
  let offset = payloadHeaderBytes;
  if (record.resetIndex !== null) offset = setU64LE(bytes, offset, record.resetIndex);
  const first = record.entries[0];
  if (first !== undefined) {
    setU32LE(bytes, offset, record.entries.length);
    offset = setU64LE(bytes, offset + 4, first.index);
    for (const [position, entry] of record.entries.entries()) {
      assert(entry.index === first.index + position, "the entries of a record are consecutive");
      offset = setU64LE(bytes, offset, entry.term);
      setU32LE(bytes, offset, entry.data.byteLength);
      bytes.set(entry.data, offset + 4);
      offset += 4 + entry.data.byteLength;
    }
  }
  if (record.compactIndex !== null) offset = setU64LE(bytes, offset, record.compactIndex);
  if (record.hardState !== null) {
    offset = setU64LE(bytes, offset, record.hardState.term);
    offset = setU64LE(bytes, offset, record.hardState.vote);
    offset = setU64LE(bytes, offset, record.hardState.commit);
  }
  assert(offset === bytes.byteLength, "the payload is exactly its sections");
  return bytes;
}

/** Decodes one payload; anything malformed is WAL_CORRUPT naming the seq. Entry data is copied. */
function decodeRecord(payload: Uint8Array, seq: number): StoreLogRecord {
  const reader = new PayloadReader(payload, seq);
  const version = reader.u8();
  if (version !== payloadVersion) throw corruptRecordError(seq, `unknown payload version ${version}`);
  const flags = reader.u8();
  if (flags === 0 || (flags & ~sectionFlagsAll) !== 0) throw corruptRecordError(seq, `invalid section flags ${flags}`);
  if ((flags & sectionFlag.remove) !== 0 && flags !== sectionFlag.remove) throw corruptRecordError(seq, "REMOVE combined with other sections");
  if ((flags & sectionFlag.copies) !== 0 && (flags & sectionFlag.entries) === 0) throw corruptRecordError(seq, "COPIES without ENTRIES");
  const record = makeRecord(reader.u64(), { remove: flags === sectionFlag.remove, entriesAreCopies: (flags & sectionFlag.copies) !== 0 });
  if ((flags & sectionFlag.reset) !== 0) record.resetIndex = reader.u64();
  if ((flags & sectionFlag.entries) !== 0) record.entries = readEntries(reader, seq);
  if ((flags & sectionFlag.compact) !== 0) record.compactIndex = reader.u64();
  if ((flags & sectionFlag.hardState) !== 0) record.hardState = { term: reader.u64(), vote: reader.u64(), commit: reader.u64() };
  if (reader.remainingBytes() !== 0) throw corruptRecordError(seq, `${reader.remainingBytes()} bytes after the last section`);
  return record;
}

function readEntries(reader: PayloadReader, seq: number): GroupLogEntry[] {
  const count = reader.u32();
  const firstIndex = reader.u64();
  // Checked before the loop, so a damaged count cannot make it run long.
  if (count === 0 || count * entryHeaderBytes > reader.remainingBytes()) throw corruptRecordError(seq, `invalid entry count ${count}`);
  if (firstIndex < 1 || !Number.isSafeInteger(firstIndex + count)) throw corruptRecordError(seq, `invalid first entry index ${firstIndex}`);
  const entries: GroupLogEntry[] = [];
  for (let position = 0; position < count; position++) {
    const term = reader.u64();
    const data = reader.bytes(reader.u32());
    entries.push({ term, index: firstIndex + position, data });
  }
  return entries;
}

/** Bounds-checked reads of one payload: running past its end is corruption, not a crash. */
class PayloadReader {
  readonly #bytes: Uint8Array;
  readonly #view: DataView;
  readonly #seq: number;
  #offset = 0;

  constructor(bytes: Uint8Array, seq: number) {
    this.#bytes = bytes;
    this.#view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.#seq = seq;
  }

  remainingBytes(): number {
    return this.#bytes.byteLength - this.#offset;
  }

  u8(): number {
    const offset = this.#take(1);
    return this.#view.getUint8(offset);
  }

  u32(): number {
    const offset = this.#take(4);
    return this.#view.getUint32(offset, true);
  }

  u64(): number {
    const offset = this.#take(8);
    const value = this.#view.getUint32(offset + 4, true) * twoPower32 + this.#view.getUint32(offset, true);
    if (!Number.isSafeInteger(value)) throw corruptRecordError(this.#seq, `integer at payload offset ${offset} is over 2^53`);
    return value;
  }

  bytes(sizeBytes: number): Uint8Array {
    const offset = this.#take(sizeBytes);
    // A copy: a view would keep the whole recovered segment alive as long as the entry lives.
    return this.#bytes.slice(offset, offset + sizeBytes);
  }

  #take(sizeBytes: number): number {
    const offset = this.#offset;
    if (sizeBytes > this.#bytes.byteLength - offset) {
      throw corruptRecordError(this.#seq, `payload of ${this.#bytes.byteLength} bytes ends inside a field at offset ${offset}`);
    }
    this.#offset = offset + sizeBytes;
    return offset;
  }
}

function isIndex(value: number): boolean {
  return Number.isSafeInteger(value) && value >= 0;
}

function copyHardState(hardState: GroupHardState): GroupHardState {
  return { term: hardState.term, vote: hardState.vote, commit: hardState.commit };
}

function corruptRecordError(seq: number, why: string): UkvError {
  return new UkvError("WAL_CORRUPT", `Store log record ${seq} is malformed: ${why}`, { data: { seq } });
}

function noop(): void {}
