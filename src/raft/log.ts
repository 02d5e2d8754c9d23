// RaftLog: the node's view of its log, stitched from persisted storage and the unstable tail,
// plus the commit and apply cursors. Invariant: applied <= committed <= lastIndex, and
// firstIndex - 1 <= applied unless a snapshot is pending apply.
import { assert } from "../util/assert.ts";
import { limitSize } from "./entries.ts";
import { Unstable } from "./unstable.ts";
import {
  LogCompactedError,
  LogUnavailableError,
  type Entry,
  type RaftStorage,
  type Snapshot,
} from "./types.ts";

export class RaftLog {
  readonly storage: RaftStorage;
  readonly unstable: Unstable;
  committed: number;
  applied: number;
  /** Committed entries up to here were handed out for apply (applied <= applying <= committed). */
  applying: number;

  constructor(storage: RaftStorage) {
    this.storage = storage;
    const firstIndex = storage.firstIndex();
    const lastIndex = storage.lastIndex();
    this.unstable = new Unstable(lastIndex + 1);
    // A fresh or restored log starts right after its snapshot, which is committed and applied.
    this.committed = firstIndex - 1;
    this.applied = firstIndex - 1;
    this.applying = this.applied;
  }

  firstIndex(): number {
    return this.unstable.maybeFirstIndex() ?? this.storage.firstIndex();
  }

  lastIndex(): number {
    return this.unstable.maybeLastIndex() ?? this.storage.lastIndex();
  }

  lastTerm(): number {
    const term = this.term(this.lastIndex());
    assert(term !== null, "the last entry's term is always known");
    return term;
  }

  /** Last index the caller has persisted (0 while an incoming snapshot is unpersisted). */
  persistedLastIndex(): number {
    return this.unstable.snapshot === null ? this.unstable.offset - 1 : 0;
  }

  /** Term of entry `index`, or null when it is compacted away or beyond the log. */
  term(index: number): number | null {
    const dummyIndex = this.firstIndex() - 1;
    if (index < dummyIndex || index > this.lastIndex()) return null;
    const unstableTerm = this.unstable.maybeTerm(index);
    if (unstableTerm !== null) return unstableTerm;
    try {
      return this.storage.term(index);
    } catch (error) {
      if (error instanceof LogCompactedError || error instanceof LogUnavailableError) return null;
      throw error;
    }
  }

  matchTerm(index: number, term: number): boolean {
    const found = this.term(index);
    return found !== null && found === term;
  }

  /** Raft §5.4.1: the candidate's log is at least as up to date as ours. */
  isUpToDate(lastIndex: number, term: number): boolean {
    const ourTerm = this.lastTerm();
    return term > ourTerm || (term === ourTerm && lastIndex >= this.lastIndex());
  }

  /**
   * Index of the first entry that conflicts with ours (same index, different term), or of the
   * first entry beyond our log; 0 when all entries are already present.
   */
  findConflict(entries: readonly Entry[]): number {
    for (const entry of entries) {
      if (!this.matchTerm(entry.index, entry.term)) return entry.index;
    }
    return 0;
  }

  /**
   * The largest index <= `index` whose term is <= `term`, with that term (0 when unknown).
   * Fast back-off: the leader (or follower) skips a whole term of mismatching entries at once.
   */
  findConflictByTerm(index: number, term: number): { index: number; term: number } {
    let probe = index;
    // Bounded: each step moves one index down and stops at the compaction point.
    while (probe > 0) {
      const found = this.term(probe);
      if (found === null) return { index: probe, term: 0 };
      if (found <= term) return { index: probe, term: found };
      probe--;
    }
    return { index: 0, term: 0 };
  }

  /**
   * The follower side of AppendEntries: if our entry at `index` has `logTerm`, append the new
   * entries (truncating a conflicting suffix), advance commit, and return the last new index.
   * Returns null on a mismatch.
   */
  maybeAppend(index: number, logTerm: number, committed: number, entries: Entry[]): number | null {
    if (!this.matchTerm(index, logTerm)) return null;
    const lastNewIndex = index + entries.length;
    const conflictIndex = this.findConflict(entries);
    if (conflictIndex !== 0) {
      assert(conflictIndex > this.committed, "a committed entry never conflicts (Log Matching)");
      this.append(entries.slice(conflictIndex - (index + 1)));
    }
    this.commitTo(Math.min(committed, lastNewIndex));
    return lastNewIndex;
  }

  append(entries: Entry[]): number {
    if (entries.length === 0) return this.lastIndex();
    const after = (entries[0] as Entry).index - 1;
    assert(after >= this.committed, "appending never truncates committed entries");
    this.unstable.truncateAndAppend(entries);
    return this.lastIndex();
  }

  /** Entries in [lo, hi) totalling at most maxBytes (at least one). Throws LogCompactedError. */
  slice(lo: number, hi: number, maxBytes: number): Entry[] {
    this.#checkBounds(lo, hi);
    if (lo === hi) return [];
    const offset = this.unstable.offset;
    if (lo >= offset) return limitSize(this.unstable.slice(lo, hi), maxBytes);
    const storedHi = Math.min(hi, offset);
    const stored = this.storage.entries(lo, storedHi, maxBytes);
    // Storage stopped early (byte budget) or there is nothing unstable in range: done.
    if (stored.length < storedHi - lo || hi <= offset) return stored;
    const combined = stored.concat(this.unstable.slice(offset, hi));
    return limitSize(combined, maxBytes);
  }

  #checkBounds(lo: number, hi: number): void {
    assert(lo <= hi, "log slice range is ordered");
    const first = this.firstIndex();
    if (lo < first) throw new LogCompactedError(`Log compacted: requested ${lo}, first ${first}`);
    assert(hi <= this.lastIndex() + 1, "log slice stays inside the log");
  }

  /** Entries from `index` to the end, at most maxBytes. Throws LogCompactedError. */
  entriesFrom(index: number, maxBytes: number): Entry[] {
    if (index > this.lastIndex()) return [];
    return this.slice(index, this.lastIndex() + 1, maxBytes);
  }

  commitTo(index: number): void {
    if (index <= this.committed) return;
    assert(index <= this.lastIndex(), "commit index stays inside the log");
    this.committed = index;
  }

  /** Leader: commit `index` only if it is from the current term (Raft §5.4.2). */
  maybeCommit(index: number, term: number): boolean {
    if (index <= this.committed) return false;
    if (this.term(index) !== term) return false;
    this.commitTo(index);
    return true;
  }

  appliedTo(index: number): void {
    if (index === 0) return;
    assert(index <= this.committed, "only committed entries are applied");
    assert(index >= this.applied, "the apply cursor never moves back");
    this.applied = index;
    this.applying = Math.max(this.applying, index);
  }

  /** Committed entries through `index` were handed out for apply: the next Ready starts after them. */
  acceptApplying(index: number): void {
    if (index > this.applying) this.applying = index;
  }

  stableTo(index: number, term: number): void {
    this.unstable.stableTo(index, term);
  }

  stableSnapTo(index: number): void {
    this.unstable.stableSnapTo(index);
  }

  hasNextCommittedEntries(): boolean {
    const lo = Math.max(this.applying + 1, this.firstIndex());
    return this.committed + 1 > lo;
  }

  /** Committed entries not handed out for apply yet, at most maxBytes (at least one). */
  nextCommittedEntries(maxBytes: number): Entry[] {
    const lo = Math.max(this.applying + 1, this.firstIndex());
    const hi = this.committed + 1;
    if (hi <= lo) return [];
    return this.slice(lo, hi, maxBytes);
  }

  /** The snapshot to send to a lagging follower: a pending one, else storage's (may throw). */
  snapshot(): Snapshot {
    return this.unstable.snapshot ?? this.storage.snapshot();
  }

  restore(snapshot: Snapshot): void {
    this.committed = snapshot.metadata.index;
    this.unstable.restore(snapshot);
  }
}
