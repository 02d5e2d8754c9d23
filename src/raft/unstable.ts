// The tail of the log not yet persisted: entries (and possibly an incoming snapshot) handed to
// the caller in a Ready and removed from here by advance() once the caller has persisted them.
// Invariant: entries[i] has index offset + i; with a snapshot, offset = snapshot index + 1.
import { assert } from "../util/assert.ts";
import type { Entry, Snapshot } from "./types.ts";

export class Unstable {
  snapshot: Snapshot | null = null;
  entries: Entry[] = [];
  offset: number;

  constructor(offset: number) {
    this.offset = offset;
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
  }

  stableSnapTo(index: number): void {
    if (this.snapshot !== null && this.snapshot.metadata.index === index) this.snapshot = null;
  }

  restore(snapshot: Snapshot): void {
    this.offset = snapshot.metadata.index + 1;
    this.entries = [];
    this.snapshot = snapshot;
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
      this.entries = entries.slice();
    } else {
      assert(fromIndex < end, "appended entries leave no gap in the unstable log");
      this.entries = this.entries.slice(0, fromIndex - this.offset);
      for (const entry of entries) this.entries.push(entry);
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
