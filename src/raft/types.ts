// The data shapes of the Raft core: entries, messages, hard state, snapshots and the Ready batch.
// The core (raw-node.ts) is pure: it consumes ticks and messages and emits Ready batches; the
// caller (node runtime or simulator) does all IO. Shapes mirror etcd-io/raft's raftpb, trimmed.
import type { Prng } from "../util/prng.ts";

export type NodeId = number; // > 0; 0 means "none"
export const noneId: NodeId = 0;

export enum EntryType {
  Normal = 0,
  /** data is an encoded ConfChange (see conf-change.ts). */
  ConfChange = 1,
}

export interface Entry {
  term: number;
  index: number;
  type: EntryType;
  data: Uint8Array;
}

export interface HardState {
  term: number;
  vote: NodeId;
  commit: number;
}

export interface ConfState {
  voters: NodeId[];
  learners: NodeId[];
}

export interface SnapshotMetadata {
  index: number;
  term: number;
  conf: ConfState;
}

export interface Snapshot {
  metadata: SnapshotMetadata;
  /** Opaque state machine image; the core never looks inside. */
  data: Uint8Array;
}

export enum ConfChangeType {
  AddVoter = 0,
  RemoveNode = 1,
  AddLearner = 2,
}

export interface ConfChange {
  type: ConfChangeType;
  nodeId: NodeId;
  /** Opaque to the core: the runtime stores addresses here. */
  context: Uint8Array;
}

export enum MessageType {
  // Local messages: never sent on the wire.
  Hup = 0, // start an election (campaign)
  Beat = 1, // leader: broadcast heartbeats
  Propose = 2,
  // Wire messages.
  Append = 3,
  AppendResponse = 4,
  Vote = 5,
  VoteResponse = 6,
  PreVote = 7,
  PreVoteResponse = 8,
  Snapshot = 9,
  Heartbeat = 10,
  HeartbeatResponse = 11,
  TimeoutNow = 12,
  ReadIndex = 13,
  ReadIndexResponse = 14,
  TransferLeader = 15,
  // Local reports from the transport.
  Unreachable = 16,
  SnapshotStatus = 17,
  // Driver level, never stepped into the core: a leader whose group is idle and fully replicated
  // tells its followers to stop ticking (quiescence; any later message wakes them).
  Quiesce = 18,
}

export interface Message {
  type: MessageType;
  from: NodeId;
  to: NodeId;
  term: number;
  /** Append: term of the entry at `index`. Vote/PreVote: term of the candidate's last entry. */
  logTerm: number;
  /** Append: index preceding `entries`. AppendResponse: last matched index (or rejected index). */
  index: number;
  entries: Entry[];
  commit: number;
  reject: boolean;
  /** AppendResponse rejection: the follower's hint for fast back-off (index). */
  rejectHint: number;
  /** AppendResponse rejection: term of the follower's entry at rejectHint (fast back-off by term). */
  rejectHintTerm: number;
  snapshot: Snapshot | null;
  /** ReadIndex request id; heartbeat context for ReadIndex confirmation. */
  context: Uint8Array;
}

export enum Role {
  Follower = "follower",
  PreCandidate = "pre-candidate",
  Candidate = "candidate",
  Leader = "leader",
}

export interface SoftState {
  leader: NodeId;
  role: Role;
}

export interface ReadState {
  /** The commit index that must be applied before the read may be served. */
  index: number;
  /** The request context given to readIndex(). */
  context: Uint8Array;
}

/**
 * One batch of work for the caller. Contract (the order enforces FR3.3):
 * 1. persist `hardState`, `snapshot` and `entries` durably (in that order of precedence);
 * 2. then send `messages`;
 * 3. then apply `snapshot` (if any) and `committedEntries` to the state machine;
 * 4. then call `advance(ready)`.
 */
export interface Ready {
  softState: SoftState | null;
  hardState: HardState | null;
  entries: Entry[];
  snapshot: Snapshot | null;
  committedEntries: Entry[];
  messages: Message[];
  readStates: ReadState[];
}

/** How the core reads its persisted log (etcd's Storage). Errors are typed, never asserts. */
export interface RaftStorage {
  initialState(): { hardState: HardState; conf: ConfState };
  /** Entries in [lo, hi), at most maxBytes total (at least one entry if any). Throws LogCompactedError if lo <= snapshot index. */
  entries(lo: number, hi: number, maxBytes: number): Entry[];
  /** Term of entry i; valid for i in [firstIndex()-1, lastIndex()]. Throws LogCompactedError / LogUnavailableError. */
  term(index: number): number;
  firstIndex(): number;
  lastIndex(): number;
  snapshot(): Snapshot;
}

export class LogCompactedError extends Error {
  override name = "LogCompactedError";
}
export class LogUnavailableError extends Error {
  override name = "LogUnavailableError";
}

export interface RaftConfig {
  id: NodeId;
  storage: RaftStorage;
  /** A seeded PRNG: the core has no randomness of its own. */
  random: Prng;
  electionTicks: number; // default 10
  heartbeatTicks: number; // default 1
  /** Last applied index when restarting (entries up to it are not re-emitted). */
  applied: number;
  maxSizePerMsgBytes: number; // max bytes of entries per Append
  maxInflightMsgs: number; // per follower, in replicate mode
  maxInflightBytes: number; // per follower
  preVote: boolean;
  checkQuorum: boolean;
  // TEST ONLY mutations: each breaks one safety rule so the simulator can prove its checker
  // catches it (src/sim/mutations.ts). Absent in every real config; off costs one branch.
  /** TEST ONLY: commit without a quorum. */
  testOnlyUnsafeCommit?: boolean;
  /** TEST ONLY: grant a vote to a second candidate in a term we already voted in (§5.2). */
  testOnlyDoubleVote?: boolean;
  /** TEST ONLY: grant (pre-)votes without checking the candidate's log is up to date (§5.4.1). */
  testOnlySkipVoteLogCheck?: boolean;
  /** TEST ONLY: answer a ReadIndex at once, without the heartbeat round that proves leadership. */
  testOnlyReadIndexWithoutQuorum?: boolean;
}

export function emptyMessage(type: MessageType, from: NodeId, to: NodeId, term: number): Message {
  return {
    type,
    from,
    to,
    term,
    logTerm: 0,
    index: 0,
    entries: [],
    commit: 0,
    reject: false,
    rejectHint: 0,
    rejectHintTerm: 0,
    snapshot: null,
    context: new Uint8Array(0),
  };
}
