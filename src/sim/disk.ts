// A simulated store's disk: one shared log holding the Raft logs of every group the store hosts
// (as src/storage/store-log.ts does over one Wal), the snapshot files of each group, and the
// store's manifest (which groups it hosts). The replicas write through SimGroupLog, the GroupLog
// interface the real driver uses.
// A write is a record of one group (append, reset, compact, remove). Records reach the disk in
// call order and become durable in that order, like the Wal's one file: a record's write may be
// slow (it lands some ticks later), and nothing after it lands before it. A crash loses every
// record not yet durable, except that a torn write may leave a prefix of them on the platter
// (records whose checksums hold survive recovery; a crash never leaves a hole). A write resolves
// its promise when it is durable: the driver then treats it as persisted.
// Snapshot files and the manifest are written whole and durably at once (a temp file and a rename).
// TEST ONLY (mutation "drop-fsync"): every other landing skips its sync: the write resolves as
// durable, but stays volatile until a later synced landing covers it, and a crash loses it.
import { assert } from "../util/assert.ts";
import type { Entry } from "../raft/types.ts";
import { entryFromWal, type GroupMembership } from "../node/log-codec.ts";
import type { GroupHardState, GroupLog, GroupLogEntry, GroupRecovery } from "../storage/store-log.ts";
import type { LogView } from "./checker.ts";

/** Records waiting to become durable at once, per store; beyond this a write waits (asserted, never reached). */
export const pendingRecordsMax = 100_000;
/** Snapshot files kept per group (the real store keeps 2). */
export const snapshotFilesKept = 2;

export type DiskRecord =
  | { kind: "append"; groupId: number; entries: GroupLogEntry[]; hardState: GroupHardState | null }
  | { kind: "reset"; groupId: number; index: number }
  | { kind: "compact"; groupId: number; index: number }
  | { kind: "remove"; groupId: number };

interface PendingRecord {
  record: DiskRecord;
  landsAtTicks: number;
  resolve(): void;
}

/** A snapshot file: the state machine image and the driver's metadata. */
export interface SimSnapshotFile {
  index: number;
  term: number;
  metadata: Uint8Array;
  /** The encoded state (src/sim/replica-state.ts): what a transfer streams. */
  bytes: Uint8Array;
}

/** One group's log as the disk holds it, rebuilt by applying records in order (StoreLog's rules). */
export class GroupImage implements LogView {
  #entries: GroupLogEntry[] = [];
  /** Index before entries[0]: the log's start (after a reset or compaction). */
  #baseIndex = 0;
  hardState: GroupHardState | null = null;

  clone(): GroupImage {
    const copy = new GroupImage();
    copy.#entries = [...this.#entries];
    copy.#baseIndex = this.#baseIndex;
    copy.hardState = this.hardState === null ? null : { ...this.hardState };
    return copy;
  }

  get lastIndex(): number {
    return this.#baseIndex + this.#entries.length;
  }

  get firstIndex(): number {
    return this.#baseIndex + 1;
  }

  termAt(index: number): number | undefined {
    if (index === 0) return 0;
    return this.#entries[index - this.#baseIndex - 1]?.term;
  }

  entryAt(index: number): Entry | undefined {
    const record = this.#entries[index - this.#baseIndex - 1];
    return record === undefined ? undefined : entryFromWal(record);
  }

  apply(record: DiskRecord): void {
    if (record.kind === "reset") {
      this.#entries = [];
      this.#baseIndex = record.index;
    } else if (record.kind === "compact") {
      const dropCount = Math.min(record.index - this.#baseIndex, this.#entries.length);
      if (dropCount > 0) {
        this.#entries = this.#entries.slice(dropCount);
        this.#baseIndex += dropCount;
      }
    } else if (record.kind === "append") {
      this.#appendEntries(record.entries);
      if (record.hardState !== null) this.hardState = { ...record.hardState };
    }
  }

  recovery(): GroupRecovery {
    return { entries: [...this.#entries], hardState: this.hardState === null ? null : { ...this.hardState }, firstIndex: this.#entries.length === 0 ? 0 : this.firstIndex };
  }

  #appendEntries(entries: GroupLogEntry[]): void {
    const first = entries[0];
    if (first === undefined) return;
    for (let i = 1; i < entries.length; i++) assert(entries[i]!.index === first.index + i, "a batch's entries are consecutive");
    if (this.#entries.length === 0 || first.index <= this.#baseIndex) {
      // StoreLog's rule: an empty log, or a start below the first entry, starts over at it.
      this.#entries = [...entries];
      this.#baseIndex = first.index - 1;
      return;
    }
    assert(first.index <= this.lastIndex + 1, "entries leave no gap in the log");
    this.#entries = this.#entries.slice(0, first.index - this.#baseIndex - 1).concat(entries);
  }
}

export class SimStoreDisk {
  /** What survives a crash, per group. */
  readonly #durable = new Map<number, GroupImage>();
  /** The durable state plus every record written since (what GroupLog.lastIndex counts). */
  #live = new Map<number, GroupImage>();
  #pending: PendingRecord[] = [];
  /** Landed but unsynced records (drop-fsync only). */
  #unsynced: DiskRecord[] = [];
  readonly #dropEverySecondSync: boolean;
  #landingCount = 0;
  readonly snapshots = new Map<number, SimSnapshotFile[]>();
  /** Groups this store hosts, with the membership each replica was created with. */
  readonly manifest = new Map<number, GroupMembership>();
  /** Groups whose replica was removed from this store (the manifest's record: never revived). */
  readonly removed = new Set<number>();

  constructor(options: { dropEverySecondSync?: boolean } = {}) {
    this.#dropEverySecondSync = options.dropEverySecondSync === true;
  }

  /** The group's log as a crash would leave it now (the checkers' view of the disk). */
  durable(groupId: number): GroupImage {
    return this.#durable.get(groupId) ?? new GroupImage();
  }

  /** Groups with records in the log (as the store log's recovery lists them) that the manifest does not list. */
  unlistedLogs(): number[] {
    return [...this.#durable.keys()].filter((groupId) => !this.manifest.has(groupId));
  }

  /** Whether the log holds records of the group. */
  hasLog(groupId: number): boolean {
    return this.#durable.has(groupId);
  }

  live(groupId: number): GroupImage {
    let image = this.#live.get(groupId);
    if (image === undefined) {
      image = this.durable(groupId).clone();
      this.#live.set(groupId, image);
    }
    return image;
  }

  /** The highest index whose effects a restart of the group recovers: its log's end or its newest snapshot. */
  durableIndex(groupId: number): number {
    const snapshotIndex = this.snapshots.get(groupId)?.[0]?.index ?? 0;
    return Math.max(snapshotIndex, this.durable(groupId).lastIndex);
  }

  /** Records a crash now could lose: in flight, or landed without a sync. */
  get volatileCount(): number {
    return this.#pending.length + this.#unsynced.length;
  }

  /** Queues a record; it lands (and its promise resolves) at landsAtTicks or later, never before an earlier record. */
  write(record: DiskRecord, landsAtTicks: number): Promise<void> {
    assert(this.#pending.length < pendingRecordsMax, "the disk keeps up with the store's writes");
    if (record.kind === "remove") this.#live.set(record.groupId, new GroupImage());
    else this.live(record.groupId).apply(record);
    const previous = this.#pending[this.#pending.length - 1];
    const lands = Math.max(landsAtTicks, previous?.landsAtTicks ?? 0);
    return new Promise<void>((resolve) => this.#pending.push({ record, landsAtTicks: lands, resolve }));
  }

  /** Lands every record due at nowTicks, in order; returns how many landed. */
  landDue(nowTicks: number): number {
    let count = 0;
    while (count < this.#pending.length && this.#pending[count]!.landsAtTicks <= nowTicks) count++;
    if (count === 0) return 0;
    const landed = this.#pending.splice(0, count);
    this.#landingCount++;
    const synced = !this.#dropEverySecondSync || this.#landingCount % 2 === 0;
    if (synced) {
      for (const record of this.#unsynced) this.#makeDurable(record);
      this.#unsynced = [];
      for (const pending of landed) this.#makeDurable(pending.record);
    } else {
      for (const pending of landed) this.#unsynced.push(pending.record);
    }
    for (const pending of landed) pending.resolve();
    return count;
  }

  /**
   * Power loss: records not yet durable are gone, but the first `tornRecordCount` of those in
   * flight reached the platter (a torn write of the shared log). Returns the count lost.
   */
  crash(tornRecordCount: number): number {
    // On the platter, landed-but-unsynced records come before those still in flight.
    const volatile = [...this.#unsynced, ...this.#pending.map((pending) => pending.record)];
    const kept = volatile.slice(0, tornRecordCount);
    for (const record of kept) this.#makeDurable(record);
    const lostCount = volatile.length - kept.length;
    this.#pending = [];
    this.#unsynced = [];
    this.#live = new Map();
    return lostCount;
  }

  /** What the store's log recovers for the group at restart. */
  recovery(groupId: number): GroupRecovery | null {
    const image = this.#durable.get(groupId);
    return image === undefined ? null : image.recovery();
  }

  saveSnapshot(groupId: number, file: SimSnapshotFile): void {
    const files = this.snapshots.get(groupId) ?? [];
    const kept = files.filter((other) => !(other.index === file.index && other.term === file.term));
    kept.push(file);
    kept.sort((left, right) => right.index - left.index || right.term - left.term);
    this.snapshots.set(groupId, kept.slice(0, snapshotFilesKept));
  }

  /** The group's files are deleted (its replica was removed from this store). */
  forgetGroup(groupId: number): void {
    this.snapshots.delete(groupId);
    this.manifest.delete(groupId);
    this.removed.add(groupId);
  }

  /** At start: the log records of a group removed from this store go (its deletion's own remove record may have been lost). */
  dropLog(groupId: number): void {
    this.#durable.delete(groupId);
  }

  #makeDurable(record: DiskRecord): void {
    if (record.kind === "remove") {
      this.#durable.delete(record.groupId);
      return;
    }
    let image = this.#durable.get(record.groupId);
    if (image === undefined) {
      image = new GroupImage();
      this.#durable.set(record.groupId, image);
    }
    image.apply(record);
  }
}

/** Called with each record as it is written: the store picks its landing tick. */
export type RecordWriter = (record: DiskRecord) => Promise<void>;

/** One group's part of the store's shared log: the GroupLog the driver writes through. */
export class SimGroupLog implements GroupLog {
  readonly groupId: number;
  readonly #disk: SimStoreDisk;
  readonly #writeRecord: RecordWriter;
  #removed = false;
  #last: Promise<void> = Promise.resolve();

  constructor(groupId: number, disk: SimStoreDisk, writeRecord: RecordWriter) {
    this.groupId = groupId;
    this.#disk = disk;
    this.#writeRecord = writeRecord;
  }

  append(batch: { entries: GroupLogEntry[]; hardState?: GroupHardState }): Promise<void> {
    if (batch.entries.length === 0 && batch.hardState === undefined) return this.#last;
    const first = batch.entries[0];
    if (first !== undefined) {
      const lastIndex = this.lastIndex();
      assert(first.index <= lastIndex + 1, "an append starts at lastIndex()+1 or lower");
    }
    return this.#write({ kind: "append", groupId: this.groupId, entries: batch.entries, hardState: batch.hardState ?? null });
  }

  reset(snapshotIndex: number): Promise<void> {
    return this.#write({ kind: "reset", groupId: this.groupId, index: snapshotIndex });
  }

  compact(throughIndex: number): Promise<void> {
    assert(throughIndex <= this.lastIndex(), "compaction stays within the log");
    return this.#write({ kind: "compact", groupId: this.groupId, index: throughIndex });
  }

  remove(): Promise<void> {
    const done = this.#write({ kind: "remove", groupId: this.groupId });
    this.#removed = true;
    return done;
  }

  lastIndex(): number {
    return this.#disk.live(this.groupId).lastIndex;
  }

  #write(record: DiskRecord): Promise<void> {
    assert(!this.#removed, "a removed group's log is not written");
    this.#last = this.#writeRecord(record);
    return this.#last;
  }
}
