// What the simulator needs from a Raft core: RawNode's surface and a writable storage. The real
// core is wired in raft-core.ts; unit tests may hand the runner a fake with the same shape.
import type { Prng } from "../util/prng.ts";
import type { SimMutation } from "./mutations.ts";
import type {
  ConfChange,
  ConfState,
  Entry,
  HardState,
  Message,
  NodeId,
  RaftStorage,
  Ready,
  Role,
  Snapshot,
} from "../raft/types.ts";

export interface SimRaftNode {
  tick(): void;
  step(message: Message): void;
  propose(data: Uint8Array): void;
  proposeConfChange(change: ConfChange): void;
  applyConfChange(change: ConfChange): ConfState;
  transferLeader(to: NodeId): void;
  readIndex(context: Uint8Array): void;
  reportUnreachable(id: NodeId): void;
  reportSnapshot(id: NodeId, ok: boolean): void;
  hasReady(): boolean;
  ready(): Ready;
  advance(ready: Ready): void;
  status(): { term: number; role: Role; lead: NodeId; commit: number };
}

export interface SimStorage extends RaftStorage {
  setHardState(hardState: HardState): void;
  append(entries: Entry[]): void;
  applySnapshot(snapshot: Snapshot): void;
  createSnapshot(index: number, conf: ConfState, data: Uint8Array): Snapshot;
  compact(index: number): void;
}

export interface SimNodeArgs {
  id: NodeId;
  storage: SimStorage;
  random: Prng;
  applied: number;
  /** TEST ONLY: a deliberate bug the sweep must catch (mutations.ts); null in every real run. */
  mutation: SimMutation | null;
}

export interface SimCore {
  newStorage(conf: ConfState): SimStorage;
  newNode(args: SimNodeArgs): SimRaftNode;
  /** True for the core's expected refusal of a proposal (no leader, transfer, pending conf change). */
  isProposalDropped(error: unknown): boolean;
  decodeConfChange(data: Uint8Array): ConfChange;
}
