// An in-memory RaftStorage (etcd's MemoryStorage): the persisted log as the core sees it.
// Layout: `#entries[0]` is a dummy entry carrying the index and term of the last snapshot (or of
// the last compaction point), so entry i lives at `#entries[i - #entries[0].index]` and
// term(firstIndex - 1) is always answerable. The caller appends Ready entries here after
// persisting them, and applies Ready snapshots here.
import { assert } from "../util/assert.ts";
import { SnapshotOutOfDateError } from "./errors.ts";
import { limitSize } from "./entries.ts";
import {
  EntryType,
  LogCompactedError,
  LogUnavailableError,
  type ConfState,
  type Entry,
  type HardState,
  type RaftStorage,
  type Snapshot,
} from "./types.ts";

export class MemoryStorage implements RaftStorage {
  #hardState: HardState = { term: 0, vote: 0, commit: 0 };
  #snapshot: Snapshot;
  #entries: Entry[];

  constructor(options: { conf?: ConfState } = {}) {
    const conf = options.conf ?? { voters: [], learners: [] };
    this.#snapshot = {
      metadata: { index: 0, term: 0, conf: { voters: [...conf.voters], learners: [...conf.learners] } },
      data: new Uint8Array(0),
    };
    this.#entries = [dummyEntry(0, 0)];
  }

  initialState(): { hardState: HardState; conf: ConfState } {
    const conf = this.#snapshot.metadata.conf;
    return { hardState: { ...this.#hardState }, conf: { voters: [...conf.voters], learners: [...conf.learners] } };
  }

  setHardState(hardState: HardState): void {
    this.#hardState = { ...hardState };
  }

  entries(lo: number, hi: number, maxBytes: number): Entry[] {
    const offset = this.#dummy().index;
    if (lo <= offset) throw new LogCompactedError(`Entries compacted: requested ${lo}, first available ${offset + 1}`);
    if (hi > this.lastIndex() + 1) {
      throw new LogUnavailableError(`Entries unavailable: requested up to ${hi - 1}, last ${this.lastIndex()}`);
    }
    assert(lo <= hi, "entries range is ordered");
    if (lo === hi) return [];
    return limitSize(this.#entries.slice(lo - offset, hi - offset), maxBytes);
  }

  term(index: number): number {
    const offset = this.#dummy().index;
    if (index < offset) throw new LogCompactedError(`Term compacted: index ${index}, first available ${offset}`);
    if (index - offset >= this.#entries.length) {
      throw new LogUnavailableError(`Term unavailable: index ${index}, last ${this.lastIndex()}`);
    }
    return (this.#entries[index - offset] as Entry).term;
  }

  firstIndex(): number {
    return this.#dummy().index + 1;
  }

  lastIndex(): number {
    return this.#dummy().index + this.#entries.length - 1;
  }

  snapshot(): Snapshot {
    return this.#snapshot;
  }

  /** Replaces the whole log with the snapshot. Throws SnapshotOutOfDateError if it is older. */
  applySnapshot(snapshot: Snapshot): void {
    const currentIndex = this.#snapshot.metadata.index;
    if (snapshot.metadata.index < currentIndex) {
      throw new SnapshotOutOfDateError(
        `Snapshot out of date: index ${snapshot.metadata.index}, current ${currentIndex}`,
      );
    }
    this.#snapshot = snapshot;
    this.#entries = [dummyEntry(snapshot.metadata.index, snapshot.metadata.term)];
    if (this.#hardState.commit < snapshot.metadata.index) this.#hardState = { ...this.#hardState, commit: snapshot.metadata.index };
  }

  /** Records a snapshot of the state machine at `index` (which must be in the log). */
  createSnapshot(index: number, conf: ConfState, data: Uint8Array): Snapshot {
    const current = this.#snapshot.metadata.index;
    if (index <= current) throw new SnapshotOutOfDateError(`Snapshot out of date: index ${index}, current ${current}`);
    assert(index <= this.lastIndex(), "a snapshot index is in the log");
    const metadata = { index, term: this.term(index), conf: { voters: [...conf.voters], learners: [...conf.learners] } };
    this.#snapshot = { metadata, data };
    return this.#snapshot;
  }

  /** Discards entries up to and including `index`, keeping it as the dummy entry. */
  compact(index: number): void {
    const offset = this.#dummy().index;
    if (index <= offset) throw new LogCompactedError(`Compact: index ${index} already compacted (at ${offset})`);
    assert(index <= this.lastIndex(), "compaction stays inside the log");
    const kept = this.#entries.slice(index - offset);
    const head = kept[0] as Entry;
    kept[0] = dummyEntry(head.index, head.term);
    this.#entries = kept;
  }

  /**
   * Appends entries, which must be contiguous. Entries already compacted are skipped;
   * an overlap truncates the existing suffix from the first new index (the new leader wins).
   */
  append(entries: Entry[]): void {
    if (entries.length === 0) return;
    const first = this.firstIndex();
    const lastNew = (entries[0] as Entry).index + entries.length - 1;
    if (lastNew < first) return;
    let toAppend = entries;
    if (first > (entries[0] as Entry).index) toAppend = entries.slice(first - (entries[0] as Entry).index);
    const offset = (toAppend[0] as Entry).index - this.#dummy().index;
    assert(offset <= this.#entries.length, "appended entries leave no gap in the log");
    if (offset < this.#entries.length) this.#entries.length = offset;
    for (const entry of toAppend) this.#entries.push(entry);
  }

  #dummy(): Entry {
    return this.#entries[0] as Entry;
  }
}

function dummyEntry(index: number, term: number): Entry {
  return { index, term, type: EntryType.Normal, data: new Uint8Array(0) };
}
