// The tail of the log not yet persisted: entries (and possibly an incoming snapshot) handed to
// the caller in a Ready and removed from here by advance() once the caller has persisted them.
// Invariant: entries[i] has index offset + i; with a snapshot, offset = snapshot index + 1.
// Several Readies may be out at once (a pipelined caller appends the next batch while the
// previous one is being synced, as etcd's AsyncStorageWrites): entries from offsetInProgress on,
// and the snapshot unless snapshotInProgress, were not handed out yet.
import { assert } from "../util/assert.ts";
import type { Entry, Snapshot } from "./types.ts";

export class Unstable {
  snapshot: Snapshot | null = null;
  entries: Entry[] = [];
  offset: number;
  /** Entries below this index were handed out in a Ready already (offset <= it <= end). */
  offsetInProgress: number;
  snapshotInProgress = false;

  constructor(offset: number) {
    this.offset = offset;
    this.offsetInProgress = offset;
  }

  /** Entries not handed out in a Ready yet. */
  nextEntries(): Entry[] {
    const from = this.offsetInProgress - this.offset;
    return from >= this.entries.length ? [] : this.entries.slice(from);
  }

  /** The snapshot, if it was not handed out in a Ready yet. */
  nextSnapshot(): Snapshot | null {
    return this.snapshotInProgress ? null : this.snapshot;
  }

  hasNext(): boolean {
    return this.offsetInProgress < this.offset + this.entries.length || (this.snapshot !== null && !this.snapshotInProgress);
  }

  /** Everything unstable now was handed out in a Ready. */
  acceptInProgress(): void {
    this.offsetInProgress = this.offset + this.entries.length;
    if (this.snapshot !== null) this.snapshotInProgress = true;
  }

  /** First index if a snapshot is pending (the log starts after it), else null. */
  maybeFirstIndex(): number | null {
    return this.snapshot === null ? null : this.snapshot.metadata.index + 1;
  }

  maybeLastIndex(): number | null {
    if (this.entries.length > 0) return this.offset + this.entries.length - 1;
    return this.snapshot === null ? null : this.snapshot.metadata.index;
  }

  maybeTerm(index: number): number | null {
    if (index < this.offset) {
      if (this.snapshot !== null && this.snapshot.metadata.index === index) return this.snapshot.metadata.term;
      return null;
    }
    const last = this.maybeLastIndex();
    if (last === null || index > last) return null;
    return (this.entries[index - this.offset] as Entry).term;
  }

  /**
   * The caller persisted entries up to (index, term). Only drop them if the log still holds that
   * very entry: a new leader may have truncated it while the Ready was being persisted.
   */
  stableTo(index: number, term: number): void {
    const current = this.maybeTerm(index);
    if (current === null || current !== term || index < this.offset) return;
    this.entries = this.entries.slice(index + 1 - this.offset);
    this.offset = index + 1;
    this.offsetInProgress = Math.max(this.offsetInProgress, this.offset);
  }

  stableSnapTo(index: number): void {
    if (this.snapshot !== null && this.snapshot.metadata.index === index) {
      this.snapshot = null;
      this.snapshotInProgress = false;
    }
  }

  restore(snapshot: Snapshot): void {
    this.offset = snapshot.metadata.index + 1;
    this.offsetInProgress = this.offset;
    this.entries = [];
    this.snapshot = snapshot;
    this.snapshotInProgress = false;
  }

  truncateAndAppend(entries: Entry[]): void {
    if (entries.length === 0) return;
    const fromIndex = (entries[0] as Entry).index;
    const end = this.offset + this.entries.length;
    if (fromIndex === end) {
      for (const entry of entries) this.entries.push(entry);
    } else if (fromIndex <= this.offset) {
      // Replaces the whole unstable tail; storage's stale suffix is overwritten on next persist.
      this.offset = fromIndex;
      this.offsetInProgress = fromIndex;
      this.entries = entries.slice();
    } else {
      assert(fromIndex < end, "appended entries leave no gap in the unstable log");
      this.entries = this.entries.slice(0, fromIndex - this.offset);
      for (const entry of entries) this.entries.push(entry);
      // A replaced suffix that was handed out must be handed out again (the new entries).
      this.offsetInProgress = Math.min(this.offsetInProgress, fromIndex);
    }
  }

  /** Entries in [lo, hi), which must lie inside the unstable range. */
  slice(lo: number, hi: number): Entry[] {
    assert(lo <= hi, "unstable slice is ordered");
    assert(lo >= this.offset, "unstable slice starts inside the unstable log");
    assert(hi <= this.offset + this.entries.length, "unstable slice ends inside the unstable log");
    return this.entries.slice(lo - this.offset, hi - this.offset);
  }
}
