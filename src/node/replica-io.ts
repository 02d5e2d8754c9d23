// The IO a replica's driver (group-runtime.ts) depends on, as four small interfaces, and their
// real implementations. The driver itself never touches the file system, sockets, timers or the
// wall clock: the store passes these real ones, the simulator passes fakes over a simulated disk,
// network and virtual clock (as TigerBeetle's VOPR runs the real replica over fake Storage, Time
// and MessageBus). The fourth interface, the log store, is GroupLog (src/storage/store-log.ts).
//   ReplicaClock      time and scheduling: monotonic now, deferred calls, timers, sleeps
//   ReplicaState      the state machine (the table) and its snapshots
//   ReplicaTransport  messages and snapshots to the other replicas of the group
import { mkdirSync } from "node:fs";
import type { Message } from "../raft/types.ts";
import { SnapshotStore, type IncomingSnapshot } from "../storage/snapshot-store.ts";
import { Table, type TableOp, type TableScanPage } from "../storage/table.ts";
import type { RaftTransport } from "../transport/raft-transport.ts";
import { assert } from "../util/assert.ts";

/** A pending timer; cancel() is idempotent. */
export interface TimerHandle {
  cancel(): void;
}

export interface ReplicaClock {
  /** Monotonic milliseconds (durations and deadlines only). */
  nowMs(): number;
  /** Milliseconds since the Unix epoch: only to make ids that must differ across restarts. */
  epochMs(): number;
  /**
   * Runs callback after the current turn: everything that arrives in this turn (proposals,
   * messages) is seen by it first, so one Ready batches them.
   */
  defer(callback: () => void): void;
  setTimer(callback: () => void, delayMs: number): TimerHandle;
  sleep(delayMs: number): Promise<void>;
}

/** The event loop's clock: what a real store passes. */
export const realClock: ReplicaClock = {
  nowMs: () => performance.now(),
  epochMs: () => Date.now(),
  defer: (callback) => void setImmediate(callback),
  setTimer(callback, delayMs) {
    const timer = setTimeout(callback, delayMs);
    return { cancel: () => clearTimeout(timer) };
  },
  sleep: (delayMs) => Bun.sleep(delayMs),
};

/** The replica's key-value state: what committed entries are applied to and reads are served from. */
export interface ReplicaStateMachine {
  get(key: Uint8Array): Uint8Array | null;
  applyBatch(ops: TableOp[]): void;
  entries(): [Uint8Array, Uint8Array][];
  /** A bounded page of a slot-order walk (SCAN, active expiry), optionally filtered by the value's first byte: see Table.scan. */
  scan(slotBegin: number, slotCountMax: number, entryCountMax: number, valuePrefixBytes: number, firstByteMask?: number): TableScanPage;
  /** The scan position `fraction` (0..1) of the way through the keys (RANDOMKEY's start): see Table.positionAtFraction. */
  positionAtFraction(fraction: number): number;
  /** A split: the entries whose key hash is in [low, high] leave this state machine for a new one. */
  takeHashRange(low: bigint, high: bigint): ReplicaStateMachine;
  /**
   * About how many keys hash into [low, high] and their median hash (null for none): a split's
   * default point. May come from a sample of a large table (see Table.medianHash); exact when small.
   */
  medianHash(low: bigint, high: bigint): { countEstimate: number; median: bigint | null };
  count(): number;
  /** Removes every entry (FLUSHDB). */
  clear(): void;
  bytesUsed(): number;
  close(): void;
}

/** A snapshot the replica holds; `location` is opaque to the driver (a file path in a real store). */
export interface SnapshotRef {
  index: number;
  term: number;
  sizeBytes: number;
  location: string;
}

/** Snapshots of the state machine. Loading one replaces the state machine's content. */
export interface ReplicaSnapshots {
  /** Loads the newest good snapshot into the state machine (empty and null when there is none). */
  loadLatest(): Promise<(SnapshotRef & { metadata: Uint8Array }) | null>;
  /** The snapshot at index (and term, when given), if held. */
  find(index: number, term?: number): SnapshotRef | null;
  load(ref: SnapshotRef): Promise<{ metadata: Uint8Array }>;
  /** Saves the state machine as it is now; nothing else may change it until this settles. */
  save(args: { index: number; term: number; metadata: Uint8Array }): Promise<SnapshotRef>;
  /**
   * A snapshot streamed from the leader, held once finish() resolves: held apart, not one of the
   * snapshots above (nor any after a restart) until installReceived.
   */
  createIncoming(args: { index: number; term: number }): IncomingSnapshot;
  /** The received snapshot at index/term becomes the newest snapshot, durably; SNAPSHOT_CORRUPT if none was received. */
  installReceived(index: number, term: number): Promise<SnapshotRef>;
}

export interface ReplicaState {
  stateMachine: ReplicaStateMachine;
  snapshots: ReplicaSnapshots;
}

export interface ReplicaTransport {
  send(groupId: number, messages: Message[]): void;
  /** Settles once the peer stored the snapshot (or the stream failed). */
  sendSnapshot(groupId: number, message: Message, snapshot: SnapshotRef): Promise<void>;
}

/**
 * A real store's replica state: a native Table and snapshot files under snapshotDir. `preloaded`:
 * a split child's table, which already holds what its newest snapshot holds (or its in-memory
 * base, with no snapshot file yet), so the first loadLatest does not read a file back.
 */
export function openFileReplicaState(snapshotDir: string, preloaded: Table | null = null): ReplicaState {
  mkdirSync(snapshotDir, { recursive: true });
  const table = preloaded ?? Table.create();
  let tableHoldsLatest = preloaded !== null;
  const files = new SnapshotStore(snapshotDir);
  const toRef = (info: { path: string; index: number; term: number; sizeBytes: number }): SnapshotRef => ({
    index: info.index,
    term: info.term,
    sizeBytes: info.sizeBytes,
    location: info.path,
  });
  const snapshots: ReplicaSnapshots = {
    async loadLatest() {
      if (tableHoldsLatest) {
        tableHoldsLatest = false;
        const latest = files.latest();
        // No file yet: the table is an in-memory base (a split child opened before its base is durable).
        return latest === null ? null : { ...toRef(latest), metadata: latest.metadata };
      }
      const info = await files.loadLatest(table);
      return info === null ? null : { ...toRef(info), metadata: info.metadata };
    },
    find(index, term) {
      const info = files.list().find((candidate) => candidate.index === index && (term === undefined || candidate.term === term));
      return info === undefined ? null : toRef(info);
    },
    async load(ref) {
      const info = await files.load(ref.location, table);
      assert(info.index === ref.index && info.term === ref.term, "a loaded snapshot is the one asked for");
      return { metadata: info.metadata };
    },
    async save(args) {
      return toRef(await files.save(table, args));
    },
    createIncoming: (args) => files.createIncoming(args),
    installReceived: async (index, term) => toRef(await files.installReceived(index, term)),
  };
  return { stateMachine: table, snapshots };
}

/** A real store's transport: snapshots stream from their files. */
export function replicaTransportOf(transport: RaftTransport): ReplicaTransport {
  return {
    send: (groupId, messages) => transport.send(groupId, messages),
    sendSnapshot: (groupId, message, snapshot) => transport.sendSnapshot(groupId, message, snapshot.location),
  };
}
