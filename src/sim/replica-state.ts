// A simulated replica's state (the driver's ReplicaState): an in-memory key-value map, plus the
// digest of every entry applied (SimStateMachine), which the checkers compare across replicas.
// The digest follows the driver's applies through the probe; snapshots carry both, so a replica
// restored from a snapshot continues the same digest. Snapshot files live on the store's disk; a
// received one lives here until installed, as the real store's received files are deleted at a
// restart (src/storage/snapshot-store.ts).
import { keyHash } from "../ring/key-hash.ts";
import { assert } from "../util/assert.ts";
import { UkvError } from "../util/errors.ts";
import type { IncomingSnapshot, SnapshotInfo } from "../storage/snapshot-store.ts";
import type { TableOp, TableScanPage } from "../storage/table.ts";
import type { ReplicaSnapshots, ReplicaState, ReplicaStateMachine, SnapshotRef } from "../node/replica-io.ts";
import type { SimSnapshotFile, SimStoreDisk } from "./disk.ts";
import { hashBytes, SimStateMachine } from "./state-machine.ts";

const textEncoder = new TextEncoder();
const textDecoder = new TextDecoder();
/**
 * Key and value bytes as one string each, one char per byte. Not TextDecoder("latin1"): that is
 * windows-1252, which maps bytes 0x80-0x9f to other characters, so binary values (a stored value's
 * deadline) came back changed from a snapshot.
 */
const latin1 = { decode: (bytes: Uint8Array): string => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("latin1") };

function bytesOfLatin1(text: string): Uint8Array {
  const bytes = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) bytes[i] = text.charCodeAt(i);
  return bytes;
}

export class SimKv implements ReplicaStateMachine {
  readonly map = new Map<string, Uint8Array>();

  get(key: Uint8Array): Uint8Array | null {
    return this.map.get(latin1.decode(key)) ?? null;
  }

  applyBatch(ops: TableOp[]): void {
    for (const op of ops) {
      if (op.kind === "set") this.map.set(latin1.decode(op.key), op.value.slice());
      else this.map.delete(latin1.decode(op.key));
    }
  }

  entries(): [Uint8Array, Uint8Array][] {
    return [...this.map].map(([key, value]) => [bytesOfLatin1(key), value]);
  }

  clear(): void {
    this.map.clear();
  }

  /** Slots are positions in the map's insertion order; the layout is fixed (no rehash). */
  scan(slotBegin: number, slotCountMax: number, entryCountMax: number, valuePrefixBytes: number, firstByteMask = 0): TableScanPage {
    const all = [...this.map];
    const keys: Uint8Array[] = [];
    const values: Uint8Array[] = [];
    let slot = slotBegin;
    for (; slot < Math.min(all.length, slotBegin + slotCountMax) && keys.length < entryCountMax; slot++) {
      const [key, value] = all[slot] as [string, Uint8Array];
      if (firstByteMask !== 0 && ((value[0] ?? 0) & firstByteMask) === 0) continue;
      keys.push(bytesOfLatin1(key));
      values.push(value.slice(0, valuePrefixBytes));
    }
    return { layout: 0, next: slot, capacity: all.length, startLayout: 0, startSegment: 0, keys, values };
  }

  positionAtFraction(fraction: number): number {
    return Math.floor(fraction * this.map.size);
  }

  takeHashRange(low: bigint, high: bigint): SimKv {
    const taken = new SimKv();
    for (const [key, value] of this.map) {
      const hash = keyHash(bytesOfLatin1(key));
      if (hash < low || hash > high) continue;
      taken.map.set(key, value);
      this.map.delete(key);
    }
    return taken;
  }

  // Exact (the simulated shards are small): an estimate that happens to have no error.
  medianHash(low: bigint, high: bigint): { countEstimate: number; median: bigint | null } {
    const hashes = [...this.map.keys()].map((key) => keyHash(bytesOfLatin1(key))).filter((hash) => hash >= low && hash <= high);
    hashes.sort((left, right) => (left < right ? -1 : left > right ? 1 : 0));
    return { countEstimate: hashes.length, median: hashes[hashes.length >> 1] ?? null };
  }

  count(): number {
    return this.map.size;
  }

  /** A digest of the contents (keys in order, with their values): equal on replicas that hold the same data. */
  contentDigest(): number {
    let digest = hashBytes(new Uint8Array(0));
    for (const key of [...this.map.keys()].sort()) {
      digest = hashBytes(bytesOfLatin1(key), digest);
      digest = hashBytes(this.map.get(key) as Uint8Array, digest);
    }
    return digest;
  }

  bytesUsed(): number {
    let total = 0;
    for (const [key, value] of this.map) total += key.length + value.byteLength;
    return total;
  }

  close(): void {
    this.map.clear();
  }
}

interface EncodedState {
  kv: [string, string][];
  digest: number[];
}

export class SimReplicaState implements ReplicaState {
  readonly stateMachine: SimKv;
  readonly snapshots: ReplicaSnapshots;
  /** Digest of the entries applied so far; the probe advances it. */
  tracker = new SimStateMachine();
  /** Snapshots received from the leader and not installed (lost with this object at a crash). */
  #received: SimSnapshotFile[] = [];

  /** onSaved: called for each snapshot the driver takes of this replica (not those it receives). */
  /** stateMachine: the state already in hand (a split child's keys), else empty until a snapshot loads. */
  /** receivedAtOnce: TEST ONLY (mutation "received-snapshot-at-once"), a received snapshot is saved as a file at once. */
  constructor(groupId: number, disk: SimStoreDisk, onSaved: () => void, stateMachine: SimKv = new SimKv(), receivedAtOnce = false) {
    this.stateMachine = stateMachine;
    const files = (): SimSnapshotFile[] => disk.snapshots.get(groupId) ?? [];
    const refOf = (file: SimSnapshotFile): SnapshotRef => ({ index: file.index, term: file.term, sizeBytes: file.bytes.byteLength, location: `${groupId}/${file.index}/${file.term}` });
    const find = (index: number, term?: number): SimSnapshotFile | undefined =>
      files().find((file) => file.index === index && (term === undefined || file.term === term));
    // As the real store prunes them: a received file at or below the newest snapshot is never installed.
    const pruneReceived = (): void => {
      const newestIndex = files()[0]?.index ?? 0;
      this.#received = this.#received.filter((file) => file.index > newestIndex);
    };
    this.snapshots = {
      loadLatest: async () => {
        const file = files()[0];
        if (file === undefined) return null;
        this.#restore(file);
        return { ...refOf(file), metadata: file.metadata };
      },
      find: (index, term) => {
        const file = find(index, term);
        return file === undefined ? null : refOf(file);
      },
      load: async (ref) => {
        const file = find(ref.index, ref.term);
        assert(file !== undefined, "a snapshot the driver found is still on disk");
        this.#restore(file);
        return { metadata: file.metadata };
      },
      save: async (args) => {
        assert(this.tracker.appliedIndex === args.index, "a snapshot is of everything applied");
        const file: SimSnapshotFile = { index: args.index, term: args.term, metadata: args.metadata.slice(), bytes: this.#encode() };
        disk.saveSnapshot(groupId, file);
        pruneReceived();
        onSaved();
        return refOf(file);
      },
      createIncoming: (args) =>
        incoming(groupId, args, (file) => {
          if (receivedAtOnce) disk.saveSnapshot(groupId, file);
          else this.#received = this.#received.filter((other) => !(other.index === file.index && other.term === file.term)).concat(file);
        }),
      installReceived: async (index, term) => {
        const file = receivedAtOnce ? find(index, term) : this.#received.find((candidate) => candidate.index === index && candidate.term === term);
        if (file === undefined) throw new UkvError("SNAPSHOT_CORRUPT", `No received snapshot ${index}/${term} to install`);
        disk.saveSnapshot(groupId, file);
        pruneReceived();
        return refOf(file);
      },
    };
  }

  /** The file's bytes, as a transfer streams them. */
  static fileBytes(disk: SimStoreDisk, groupId: number, ref: SnapshotRef): Uint8Array | null {
    const file = (disk.snapshots.get(groupId) ?? []).find((candidate) => candidate.index === ref.index && candidate.term === ref.term);
    return file === undefined ? null : encodeFile(file);
  }

  #encode(): Uint8Array {
    const state: EncodedState = {
      kv: [...this.stateMachine.map].map(([key, value]) => [key, latin1.decode(value)]),
      digest: [...this.tracker.snapshotData()],
    };
    return textEncoder.encode(JSON.stringify(state));
  }

  #restore(file: SimSnapshotFile): void {
    const state = JSON.parse(textDecoder.decode(file.bytes)) as EncodedState;
    this.stateMachine.map.clear();
    for (const [key, value] of state.kv) this.stateMachine.map.set(key, bytesOfLatin1(value));
    this.tracker = new SimStateMachine();
    this.tracker.restore(Uint8Array.from(state.digest));
    assert(this.tracker.appliedIndex === file.index, "a snapshot's image matches its index");
  }
}

/** A whole file in one buffer: u32 metadata size, metadata, state. */
function encodeFile(file: SimSnapshotFile): Uint8Array {
  const bytes = new Uint8Array(4 + file.metadata.byteLength + file.bytes.byteLength);
  new DataView(bytes.buffer).setUint32(0, file.metadata.byteLength, true);
  bytes.set(file.metadata, 4);
  bytes.set(file.bytes, 4 + file.metadata.byteLength);
  return bytes;
}

function incoming(groupId: number, args: { index: number; term: number }, keep: (file: SimSnapshotFile) => void): IncomingSnapshot {
  const chunks: Uint8Array[] = [];
  let state: "open" | "finished" | "aborted" = "open";
  return {
    write: async (chunk) => {
      assert(state === "open", "an incoming snapshot takes chunks until finished");
      chunks.push(chunk.slice());
    },
    finish: async (): Promise<SnapshotInfo> => {
      assert(state === "open", "an incoming snapshot finishes once");
      state = "finished";
      const all = new Uint8Array(chunks.reduce((total, chunk) => total + chunk.byteLength, 0));
      let offset = 0;
      for (const chunk of chunks) {
        all.set(chunk, offset);
        offset += chunk.byteLength;
      }
      const metadataSize = new DataView(all.buffer).getUint32(0, true);
      const file: SimSnapshotFile = { index: args.index, term: args.term, metadata: all.slice(4, 4 + metadataSize), bytes: all.slice(4 + metadataSize) };
      keep(file);
      return { path: `${groupId}/${args.index}/${args.term}`, index: args.index, term: args.term, metadata: file.metadata, sizeBytes: all.byteLength };
    },
    abort: () => {
      state = "aborted";
    },
  };
}
