// RawNode (etcd's rawnode.go): the caller-facing face of the Raft core. It validates the config,
// turns calls into Raft steps, and batches the results into Ready values. Readies may be
// outstanding several at a time, pipelined (etcd's AsyncStorageWrites idea): ready() records
// exactly what it handed out and hands each entry and committed entry out once; advance()
// acknowledges the oldest outstanding Ready, in order. The caller persists the Readies in order
// and advances one only once it and every earlier one are durable and applied; in between,
// tick()/step()/propose() keep working and their results go into the next Ready.
import { assert } from "../util/assert.ts";
import { UkvError } from "../util/errors.ts";
import { validateRaftConfig } from "./config.ts";
import { encodeConfChange } from "./conf-change.ts";
import { ProposalDroppedError } from "./errors.ts";
import { Raft } from "./raft.ts";
import type { ProgressState } from "./progress.ts";
import {
  EntryType,
  MessageType,
  Role,
  emptyMessage,
  type ConfChange,
  type ConfState,
  type HardState,
  type Message,
  type NodeId,
  type RaftConfig,
  type Ready,
  type SoftState,
} from "./types.ts";

export { ProposalDroppedError, SnapshotTemporarilyUnavailableError } from "./errors.ts";
export { defaultRaftConfig } from "./config.ts";
export { decodeConfChange, encodeConfChange } from "./conf-change.ts";

/** Upper bound of committed entry bytes in one Ready, so one apply batch stays bounded. */
export const readyCommittedBytesMax = 64 * 1024 * 1024;

export interface PeerProgressStatus {
  match: number;
  next: number;
  state: ProgressState;
  learner: boolean;
}

export interface RaftStatus {
  id: NodeId;
  term: number;
  vote: NodeId;
  commit: number;
  applied: number;
  lead: NodeId;
  role: Role;
  lastIndex: number;
  /** Leader only; empty otherwise. */
  progress: Map<NodeId, PeerProgressStatus>;
  conf: ConfState;
  /** Leader: the member leadership is being handed to, else 0. */
  leadTransferee: NodeId;
}

/** What an outstanding Ready promised, so advance() acknowledges exactly that. */
interface Handout {
  ready: Ready;
  stableIndex: number;
  stableTerm: number;
  snapshotIndex: number;
  appliedIndex: number;
}

export class RawNode {
  readonly #raft: Raft;
  #prevSoftState: SoftState;
  #prevHardState: HardState;
  /** Outstanding Readies, oldest first. */
  #handouts: Handout[] = [];

  constructor(config: RaftConfig) {
    validateRaftConfig(config);
    this.#raft = new Raft(config);
    this.#prevSoftState = this.#softState();
    this.#prevHardState = this.#hardState();
  }

  tick(): void {
    this.#raft.tick();
  }

  /** Wire messages and local reports. Stale, malformed or unknown-peer input is ignored. */
  step(message: Message): void {
    // Quiescence is the driver's business (it stops ticking); the core never acts on it.
    if (message.type === MessageType.Quiesce) return;
    this.#raft.step(message);
  }

  propose(data: Uint8Array): void {
    const reason = this.#raft.propose([{ type: EntryType.Normal, data }]);
    if (reason !== null) throw new ProposalDroppedError(reason, this.#raft.lead);
  }

  /** Proposes many entries at once (one append, one broadcast). All or none are accepted. */
  proposeBatch(datas: readonly Uint8Array[]): void {
    const reason = this.#raft.propose(datas.map((data) => ({ type: EntryType.Normal, data })));
    if (reason !== null) throw new ProposalDroppedError(reason, this.#raft.lead);
  }

  proposeConfChange(change: ConfChange): void {
    const data = encodeConfChange(change);
    const reason = this.#raft.propose([{ type: EntryType.ConfChange, data }]);
    if (reason !== null) throw new ProposalDroppedError(reason, this.#raft.lead);
  }

  applyConfChange(change: ConfChange): ConfState {
    return this.#raft.applyConfChange(change);
  }

  campaign(): void {
    this.#raft.step(emptyMessage(MessageType.Hup, this.#raft.id, this.#raft.id, 0));
  }

  /**
   * A follower forgets its leader (e.g. the runtime saw the connection drop), so it no longer
   * protects that leader's lease and may grant votes right away. No-op in other roles.
   */
  forgetLeader(): void {
    this.#raft.forgetLeader();
  }

  transferLeader(to: NodeId): void {
    this.#raft.step(emptyMessage(MessageType.TransferLeader, to, this.#raft.id, 0));
  }

  /** Starts a linearizable read; the result arrives in Ready.readStates with this context. */
  readIndex(context: Uint8Array): void {
    if (context.byteLength === 0) throw new UkvError("BAD_REQUEST", "ReadIndex context must not be empty");
    if (this.#raft.lead === 0) throw new ProposalDroppedError("no leader", 0);
    const message = emptyMessage(MessageType.ReadIndex, this.#raft.id, this.#raft.id, 0);
    message.context = context;
    this.#raft.step(message);
  }

  reportUnreachable(id: NodeId): void {
    this.#raft.step(emptyMessage(MessageType.Unreachable, id, this.#raft.id, 0));
  }

  reportSnapshot(id: NodeId, ok: boolean): void {
    const message = emptyMessage(MessageType.SnapshotStatus, id, this.#raft.id, 0);
    message.reject = !ok;
    this.#raft.step(message);
  }

  /** Readies handed out and not advanced yet. */
  outstandingCount(): number {
    return this.#handouts.length;
  }

  hasReady(): boolean {
    const raft = this.#raft;
    raft.flushBroadcast();
    if (raft.msgs.length > 0 || raft.readStates.length > 0) return true;
    if (raft.log.unstable.hasNext()) return true;
    if (raft.log.hasNextCommittedEntries()) return true;
    if (!softStateEqual(this.#softState(), this.#prevSoftState)) return true;
    return !hardStateEqual(this.#hardState(), this.#prevHardState);
  }

  /**
   * The next Ready. Its committed entries never go past its own last entry, so a caller that
   * applies them only after this Ready (and the ones before it) is persisted applies durable
   * entries only.
   */
  ready(): Ready {
    const raft = this.#raft;
    raft.flushBroadcast();
    const softState = this.#softState();
    const hardState = this.#hardState();
    const entries = raft.log.unstable.nextEntries();
    const snapshot = raft.log.unstable.nextSnapshot();
    const committedEntries = raft.log.nextCommittedEntries(readyCommittedBytesMax);
    raft.log.unstable.acceptInProgress();
    const ready: Ready = {
      softState: softStateEqual(softState, this.#prevSoftState) ? null : softState,
      hardState: hardStateEqual(hardState, this.#prevHardState) ? null : hardState,
      entries,
      snapshot,
      committedEntries,
      messages: raft.msgs,
      readStates: raft.readStates,
    };
    raft.msgs = [];
    raft.readStates = [];
    this.#prevSoftState = softState;
    this.#prevHardState = hardState;
    const lastEntry = entries[entries.length - 1];
    const lastCommitted = committedEntries[committedEntries.length - 1];
    if (lastCommitted !== undefined) raft.log.acceptApplying(lastCommitted.index);
    this.#handouts.push({
      ready,
      stableIndex: lastEntry?.index ?? 0,
      stableTerm: lastEntry?.term ?? 0,
      snapshotIndex: snapshot?.metadata.index ?? 0,
      appliedIndex: lastCommitted?.index ?? snapshot?.metadata.index ?? 0,
    });
    return ready;
  }

  /** Acknowledges that `ready`, the oldest outstanding one, was persisted, sent and applied. */
  advance(ready: Ready): void {
    const handout = this.#handouts[0];
    assert(handout !== undefined && handout.ready === ready, "advance() acknowledges the oldest outstanding Ready");
    this.#handouts.shift();
    this.#raft.advance(handout);
  }

  /** Term and commit index without building the progress map (cheap enough for every replica, often). */
  termAndCommit(): { term: number; commit: number } {
    return { term: this.#raft.term, commit: this.#raft.log.committed };
  }

  status(): RaftStatus {
    const raft = this.#raft;
    const progress = new Map<NodeId, PeerProgressStatus>();
    if (raft.role === Role.Leader) {
      for (const [id, peer] of raft.tracker.progress) {
        progress.set(id, { match: peer.match, next: peer.next, state: peer.state, learner: peer.learner });
      }
    }
    return {
      id: raft.id,
      term: raft.term,
      vote: raft.vote,
      commit: raft.log.committed,
      applied: raft.log.applied,
      lead: raft.lead,
      role: raft.role,
      lastIndex: raft.log.lastIndex(),
      progress,
      conf: raft.tracker.confState(),
      leadTransferee: raft.leadTransferee,
    };
  }

  #softState(): SoftState {
    return { leader: this.#raft.lead, role: this.#raft.role };
  }

  #hardState(): HardState {
    return { term: this.#raft.term, vote: this.#raft.vote, commit: this.#raft.log.committed };
  }
}

function softStateEqual(a: SoftState, b: SoftState): boolean {
  return a.leader === b.leader && a.role === b.role;
}

function hardStateEqual(a: HardState, b: HardState): boolean {
  return a.term === b.term && a.vote === b.vote && a.commit === b.commit;
}
