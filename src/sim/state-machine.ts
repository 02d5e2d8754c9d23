// The simulated state machine: a running digest over every applied entry (index, term, data), so
// two members that applied the same entries agree on it, and any divergence shows at the first
// differing index. Volatile: a restart rebuilds it from the snapshot and replays the log.
import { assert } from "../util/assert.ts";
import type { Entry } from "../raft/types.ts";

const fnvOffset = 0x811c9dc5;
const fnvPrime = 0x01000193;
/** Snapshot image: appliedIndex (8 bytes, float64) + digest (4 bytes). */
const snapshotDataSizeBytes = 12;

export function hashBytes(bytes: Uint8Array, seed: number = fnvOffset): number {
  let hash = seed >>> 0;
  for (const byte of bytes) hash = Math.imul(hash ^ byte, fnvPrime) >>> 0;
  return hash;
}

function hashNumber(value: number, seed: number): number {
  let hash = seed >>> 0;
  let rest = value;
  for (let i = 0; i < 7; i++) {
    hash = Math.imul(hash ^ (rest & 0xff), fnvPrime) >>> 0;
    rest = Math.floor(rest / 256);
  }
  return hash;
}

export class SimStateMachine {
  #appliedIndex = 0;
  #digest = fnvOffset;

  get appliedIndex(): number {
    return this.#appliedIndex;
  }

  get digest(): number {
    return this.#digest;
  }

  /** A split child's first state: its keys, taken from the parent, as of its base index. */
  startAt(index: number, digest: number): void {
    assert(this.#appliedIndex === 0, "only an empty state machine starts at a split's base");
    this.#appliedIndex = index;
    this.#digest = digest >>> 0;
  }

  apply(entry: Entry): void {
    assert(entry.index === this.#appliedIndex + 1, "entries are applied in order, without gaps");
    this.#digest = hashBytes(entry.data, hashNumber(entry.term, hashNumber(entry.index, this.#digest)));
    this.#appliedIndex = entry.index;
  }

  /** Folds what an entry left in the table into the digest (keyed commands: their outcome depends on the state). */
  mix(data: Uint8Array): void {
    this.#digest = hashBytes(data, this.#digest);
  }

  snapshotData(): Uint8Array {
    const bytes = new Uint8Array(snapshotDataSizeBytes);
    const view = new DataView(bytes.buffer);
    view.setFloat64(0, this.#appliedIndex, true);
    view.setUint32(8, this.#digest, true);
    return bytes;
  }

  restore(data: Uint8Array): void {
    const image = decodeStateMachineSnapshot(data);
    this.#appliedIndex = image.appliedIndex;
    this.#digest = image.digest;
  }
}

export function decodeStateMachineSnapshot(data: Uint8Array): { appliedIndex: number; digest: number } {
  if (data.length === 0) return { appliedIndex: 0, digest: fnvOffset };
  assert(data.length === snapshotDataSizeBytes, "a state machine snapshot has a fixed size");
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  return { appliedIndex: view.getFloat64(0, true), digest: view.getUint32(8, true) };
}
