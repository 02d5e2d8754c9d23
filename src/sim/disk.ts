// A member's simulated disk: the state that survives a crash (hard state, snapshot, log entries)
// kept apart from everything volatile (the Raft core, the state machine, the in-memory storage).
// A Ready's write may be slow: it is pending until its completion tick, and a crash before then
// loses it, whole or torn: a WAL writes entries before the hard state and recovery keeps the
// records whose checksums hold, so a torn write leaves a prefix of the entries and no hard state.
// No message of the Ready was sent yet, so nothing the prefix holds was acknowledged to anyone.
// Restart rebuilds the member from this state alone.
// TEST ONLY (mutation "drop-fsync"): writes that carry only a hard state skip their sync; they are
// visible at once but a crash reverts to the last synced hard state, until a write with entries or
// a snapshot (which does sync, and syncs the file before it) or a local snapshot makes them stick.
import { assert } from "../util/assert.ts";
import type { ConfState, Entry, HardState, Snapshot } from "../raft/types.ts";

export interface DiskWrite {
  hardState: HardState | null;
  snapshot: Snapshot | null;
  entries: Entry[];
}

export interface PendingWrite {
  write: DiskWrite;
  doneAtTicks: number;
}

export class SimDisk {
  /** The voters a fresh member starts with, before any snapshot: what bootstrap wrote. */
  readonly bootConf: ConfState;
  #hardState: HardState = { term: 0, vote: 0, commit: 0 };
  #snapshot: Snapshot | null = null;
  /** Contiguous entries; the first follows the compaction point. */
  #entries: Entry[] = [];
  #compactedIndex = 0;
  #pending: PendingWrite | null = null;
  readonly #dropHardStateSync: boolean;
  /** The last synced hard state, while a later one is unsynced (only with dropHardStateSync). */
  #syncedHardState: HardState | null = null;

  constructor(bootConf: ConfState, options: { dropHardStateSync?: boolean } = {}) {
    this.bootConf = { voters: [...bootConf.voters], learners: [...bootConf.learners] };
    this.#dropHardStateSync = options.dropHardStateSync === true;
  }

  /** The highest index whose effects a restart recovers: the persisted commit or the snapshot. */
  get durableIndex(): number {
    return Math.max(this.#hardState.commit, this.snapshotIndex);
  }

  get hardState(): HardState {
    return this.#hardState;
  }

  get snapshot(): Snapshot | null {
    return this.#snapshot;
  }

  get snapshotIndex(): number {
    return this.#snapshot?.metadata.index ?? 0;
  }

  /** Entries after the snapshot: what a restart appends to the rebuilt storage. */
  entriesAfterSnapshot(): Entry[] {
    const snapshotIndex = this.snapshotIndex;
    return this.#entries.filter((entry) => entry.index > snapshotIndex);
  }

  get lastIndex(): number {
    const last = this.#entries[this.#entries.length - 1];
    return last === undefined ? Math.max(this.#compactedIndex, this.snapshotIndex) : last.index;
  }

  /** The first index whose entry is on disk (lastIndex + 1 when the log is empty). */
  get firstIndex(): number {
    return this.#entries[0]?.index ?? this.lastIndex + 1;
  }

  entryAt(index: number): Entry | undefined {
    const first = this.#entries[0];
    if (first === undefined) return undefined;
    return this.#entries[index - first.index];
  }

  /** The term of the entry at index, if the disk still knows it (an entry or the snapshot point). */
  termAt(index: number): number | undefined {
    if (index === 0) return 0;
    const entry = this.entryAt(index);
    if (entry !== undefined) return entry.term;
    if (this.#snapshot !== null && this.#snapshot.metadata.index === index) return this.#snapshot.metadata.term;
    return undefined;
  }

  get pending(): PendingWrite | null {
    return this.#pending;
  }

  /** Starts a slow write; it lands at doneAtTicks unless the member crashes first. */
  beginWrite(write: DiskWrite, doneAtTicks: number): void {
    assert(this.#pending === null, "one write at a time: the member waits for its disk");
    this.#pending = { write, doneAtTicks };
  }

  /** Lands the pending write if it is due, and returns it. */
  completeDue(nowTicks: number): DiskWrite | null {
    const pending = this.#pending;
    if (pending === null || pending.doneAtTicks > nowTicks) return null;
    this.#pending = null;
    this.persist(pending.write);
    return pending.write;
  }

  /** Writes a Ready batch: snapshot first (it replaces the log), then entries, then hard state. */
  persist(write: DiskWrite): void {
    if (write.snapshot !== null) {
      assert(write.snapshot.metadata.index > this.snapshotIndex, "a received snapshot is newer than the one on disk");
      this.#snapshot = write.snapshot;
      this.#entries = [];
      this.#compactedIndex = write.snapshot.metadata.index;
    }
    if (write.entries.length > 0) this.#appendEntries(write.entries);
    const unsynced = this.#dropHardStateSync && write.snapshot === null && write.entries.length === 0;
    if (!unsynced) this.#syncedHardState = null;
    else if (this.#syncedHardState === null) this.#syncedHardState = this.#hardState;
    if (write.hardState !== null) this.#hardState = { ...write.hardState };
  }

  /** Saves a snapshot the member took of its own state machine. */
  saveLocalSnapshot(snapshot: Snapshot): void {
    assert(snapshot.metadata.index > this.snapshotIndex, "a new local snapshot is newer than the last");
    assert(snapshot.metadata.index <= this.#hardState.commit, "only committed state is snapshotted");
    this.#snapshot = snapshot;
    this.#syncedHardState = null;
  }

  /** Drops entries up to index, which the snapshot covers. */
  compact(index: number): void {
    assert(index <= this.snapshotIndex, "compaction never drops entries the snapshot does not cover");
    if (index <= this.#compactedIndex) return;
    this.#entries = this.#entries.filter((entry) => entry.index > index);
    this.#compactedIndex = index;
  }

  /**
   * Crash: a pending write never fully reaches the platter. With tornEntryCount > 0 its first
   * entries land (only for writes without a snapshot, which is its own file). Returns whether a
   * write was lost.
   */
  crash(tornEntryCount: number = 0): boolean {
    if (this.#syncedHardState !== null) {
      this.#hardState = this.#syncedHardState;
      this.#syncedHardState = null;
    }
    const pending = this.#pending;
    this.#pending = null;
    if (pending === null) return false;
    const torn = pending.write.entries.slice(0, tornEntryCount);
    if (torn.length > 0 && pending.write.snapshot === null) this.#appendEntries(torn);
    return true;
  }

  #appendEntries(entries: Entry[]): void {
    const firstNew = entries[0] as Entry;
    for (let i = 1; i < entries.length; i++) {
      assert((entries[i] as Entry).index === firstNew.index + i, "a Ready's entries are contiguous");
    }
    assert(firstNew.index > this.snapshotIndex, "entries never rewrite what the snapshot covers");
    assert(firstNew.index <= this.lastIndex + 1, "entries leave no gap in the log");
    const keep = this.#entries.filter((entry) => entry.index < firstNew.index);
    this.#entries = keep.concat(entries);
  }
}
