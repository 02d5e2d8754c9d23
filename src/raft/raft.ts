// The Raft state machine (etcd's raft.go): roles, terms, elections (with PreVote), replication,
// commit, CheckQuorum and leases, leadership transfer, ReadIndex and membership. It is a value:
// input is tick() and step(message), output is queued in `msgs` / `readStates` and in the log's
// unstable part, which RawNode hands out as a Ready. No IO, clock or randomness of its own.
import { assert } from "../util/assert.ts";
import { entriesSizeBytes } from "./entries.ts";
import { SnapshotTemporarilyUnavailableError } from "./errors.ts";
import { RaftLog } from "./log.ts";
import { committedIndex, quorumActive, voteResult, type VoteResult } from "./quorum.ts";
import { ReadOnly, contextKey } from "./read-only.ts";
import { ProgressTracker } from "./tracker.ts";
import type { Progress } from "./progress.ts";
import {
  EntryType,
  MessageType,
  Role,
  emptyMessage,
  noneId,
  type ConfChange,
  type ConfState,
  type Entry,
  type Message,
  type NodeId,
  type RaftConfig,
  type ReadState,
  type Snapshot,
} from "./types.ts";

/** Vote context marking an election started by TimeoutNow: voters must not apply their lease. */
export const campaignTransferContext: Uint8Array = new TextEncoder().encode("CampaignTransfer");
const campaignTransferKey = contextKey(campaignTransferContext);

type CampaignType = "pre-election" | "election" | "transfer";

export interface ProposedEntry {
  type: EntryType;
  data: Uint8Array;
}

export class Raft {
  readonly id: NodeId;
  term = 0;
  vote: NodeId = noneId;
  lead: NodeId = noneId;
  role: Role = Role.Follower;
  readonly log: RaftLog;
  readonly tracker: ProgressTracker;
  /** Outgoing messages, taken by RawNode.ready(). */
  msgs: Message[] = [];
  /** Confirmed reads, taken by RawNode.ready(). */
  readStates: ReadState[] = [];
  leadTransferee: NodeId = noneId;
  /** Index of the last conf change entry appended by this leader; one may be pending at a time. */
  pendingConfIndex = 0;
  electionElapsed = 0;
  heartbeatElapsed = 0;
  randomizedElectionTimeout = 0;
  readonly #config: RaftConfig;
  readonly #readOnly = new ReadOnly();
  /** ReadIndex requests that arrived before this leader committed an entry of its term. */
  #pendingReadIndexMessages: Message[] = [];
  /** Proposals appended since the last broadcast: sent in one batch at the next flush. */
  #broadcastPending = false;

  constructor(config: RaftConfig) {
    this.id = config.id;
    this.#config = config;
    this.log = new RaftLog(config.storage);
    this.tracker = new ProgressTracker(config.maxInflightMsgs, config.maxInflightBytes);
    const { hardState, conf } = config.storage.initialState();
    this.tracker.restore(conf, this.log.lastIndex() + 1);
    if (hardState.term !== 0 || hardState.vote !== noneId || hardState.commit !== 0) {
      assert(hardState.commit <= this.log.lastIndex(), "persisted commit is inside the persisted log");
      // A snapshot installed after the hard state was last written is committed too.
      this.log.committed = Math.max(hardState.commit, this.log.committed);
      this.term = hardState.term;
      this.vote = hardState.vote;
    }
    if (config.applied > 0) {
      assert(config.applied <= this.log.committed, "applied index is committed");
      this.log.appliedTo(Math.max(config.applied, this.log.applied));
    }
    this.becomeFollower(this.term, noneId);
  }

  get config(): RaftConfig {
    return this.#config;
  }

  // ---- Roles ----------------------------------------------------------------------------------

  #reset(term: number): void {
    if (this.term !== term) {
      this.term = term;
      this.vote = noneId;
    }
    this.lead = noneId;
    this.electionElapsed = 0;
    this.heartbeatElapsed = 0;
    this.#resetRandomizedElectionTimeout();
    this.#abortLeaderTransfer();
    this.tracker.votes.clear();
    const nextIndex = this.log.lastIndex() + 1;
    for (const [id, progress] of this.tracker.progress) {
      progress.becomeProbe();
      progress.match = 0;
      progress.next = nextIndex;
      progress.recentActive = false;
      progress.sentCommit = 0;
      if (id === this.id) {
        progress.match = this.log.persistedLastIndex();
        progress.recentActive = true;
      }
    }
    this.pendingConfIndex = 0;
    this.#readOnly.reset();
    this.#pendingReadIndexMessages = [];
    this.#broadcastPending = false;
  }

  #resetRandomizedElectionTimeout(): void {
    const base = this.#config.electionTicks;
    this.randomizedElectionTimeout = base + this.#config.random.nextInt(base);
  }

  becomeFollower(term: number, lead: NodeId): void {
    this.#reset(term);
    this.lead = lead;
    this.role = Role.Follower;
  }

  becomePreCandidate(): void {
    assert(this.role !== Role.Leader, "a leader never becomes a pre-candidate directly");
    // PreVote does not touch term or vote: a partitioned node cannot inflate the term.
    this.tracker.votes.clear();
    this.lead = noneId;
    this.role = Role.PreCandidate;
  }

  becomeCandidate(): void {
    assert(this.role !== Role.Leader, "a leader never becomes a candidate directly");
    this.#reset(this.term + 1);
    this.vote = this.id;
    this.role = Role.Candidate;
  }

  becomeLeader(): void {
    assert(this.role !== Role.Follower, "a follower becomes leader only through an election");
    this.#reset(this.term);
    this.lead = this.id;
    this.role = Role.Leader;
    const self = this.tracker.progress.get(this.id);
    if (self !== undefined) self.becomeReplicate();
    // Conservatively treat the whole log as possibly holding an unapplied conf change.
    this.pendingConfIndex = this.log.lastIndex();
    // The empty entry of the new term: committing it commits everything before it (§5.4.2).
    this.#appendEntries([{ type: EntryType.Normal, data: new Uint8Array(0) }]);
  }

  forgetLeader(): void {
    if (this.role === Role.Follower) this.lead = noneId;
  }

  promotable(): boolean {
    const self = this.tracker.progress.get(this.id);
    return self !== undefined && !self.learner && this.log.unstable.snapshot === null;
  }

  // ---- Ticks ----------------------------------------------------------------------------------

  tick(): void {
    if (this.role === Role.Leader) this.#tickHeartbeat();
    else this.#tickElection();
  }

  #tickElection(): void {
    this.electionElapsed++;
    if (this.promotable() && this.electionElapsed >= this.randomizedElectionTimeout) {
      this.electionElapsed = 0;
      this.hup("pre-election");
    }
  }

  #tickHeartbeat(): void {
    this.heartbeatElapsed++;
    this.electionElapsed++;
    if (this.electionElapsed >= this.#config.electionTicks) {
      this.electionElapsed = 0;
      if (this.#config.checkQuorum) this.#checkQuorum();
      // A transfer that has not finished within an election timeout is abandoned.
      if (this.role === Role.Leader && this.leadTransferee !== noneId) this.#abortLeaderTransfer();
    }
    if (this.role !== Role.Leader) return;
    if (this.heartbeatElapsed >= this.#config.heartbeatTicks) {
      this.heartbeatElapsed = 0;
      this.#broadcastHeartbeat();
    }
  }

  #checkQuorum(): void {
    const active = quorumActive(this.tracker.voters, (id) => {
      if (id === this.id) return true;
      return this.tracker.progress.get(id)?.recentActive === true;
    });
    for (const [id, progress] of this.tracker.progress) progress.recentActive = id === this.id;
    if (!active) this.becomeFollower(this.term, noneId);
  }

  // ---- Elections ------------------------------------------------------------------------------

  hup(type: CampaignType): void {
    if (this.role === Role.Leader) return;
    if (!this.promotable()) return;
    // A committed conf change not yet applied might remove us: wait until it is applied.
    if (this.#hasUnappliedConfChanges()) return;
    if (type === "pre-election" && !this.#config.preVote) this.#campaign("election");
    else this.#campaign(type);
  }

  #hasUnappliedConfChanges(): boolean {
    if (this.log.applied >= this.log.committed) return false;
    const lo = Math.max(this.log.applied + 1, this.log.firstIndex());
    if (lo > this.log.committed) return false;
    const entries = this.log.slice(lo, this.log.committed + 1, Number.MAX_SAFE_INTEGER);
    return entries.some((entry) => entry.type === EntryType.ConfChange);
  }

  #campaign(type: CampaignType): void {
    let voteTerm: number;
    let voteType: MessageType;
    if (type === "pre-election") {
      this.becomePreCandidate();
      voteType = MessageType.PreVote;
      voteTerm = this.term + 1; // The term we would use; not adopted until the pre-vote is won.
    } else {
      this.becomeCandidate();
      voteType = MessageType.Vote;
      voteTerm = this.term;
    }
    if (this.#poll(this.id, voteType, true) === "won") {
      // Single voter: no one to ask.
      if (type === "pre-election") this.#campaign("election");
      else this.becomeLeader();
      return;
    }
    const lastIndex = this.log.lastIndex();
    const lastTerm = this.log.lastTerm();
    for (const id of this.tracker.voters) {
      if (id === this.id) continue;
      const message = emptyMessage(voteType, this.id, id, voteTerm);
      message.index = lastIndex;
      message.logTerm = lastTerm;
      if (type === "transfer") message.context = campaignTransferContext;
      this.msgs.push(message);
    }
  }

  #poll(id: NodeId, type: MessageType, granted: boolean): VoteResult {
    assert(type === MessageType.Vote || type === MessageType.PreVote, "poll counts votes only");
    if (!this.tracker.votes.has(id)) this.tracker.votes.set(id, granted);
    return voteResult(this.tracker.voters, this.tracker.votes);
  }

  // ---- Step -----------------------------------------------------------------------------------

  step(m: Message): void {
    if (!isWellFormed(m)) return;
    if (m.term === 0) {
      // Local message (or a forwarded ReadIndex / TransferLeader): no term rules apply.
    } else if (m.term > this.term) {
      if (!this.#stepHigherTerm(m)) return;
    } else if (m.term < this.term) {
      this.#stepLowerTerm(m);
      return;
    }
    switch (m.type) {
      case MessageType.Hup:
        this.hup(this.#config.preVote ? "pre-election" : "election");
        return;
      case MessageType.Vote:
      case MessageType.PreVote:
        this.#stepVoteRequest(m);
        return;
      default:
        break;
    }
    if (this.role === Role.Leader) this.#stepLeader(m);
    else if (this.role === Role.Follower) this.#stepFollower(m);
    else this.#stepCandidate(m);
  }

  /** Returns false when the message is to be ignored. */
  #stepHigherTerm(m: Message): boolean {
    if (m.type === MessageType.Vote || m.type === MessageType.PreVote) {
      const force = contextKey(m.context) === campaignTransferKey;
      // Lease: while we hear from a live leader, a disruptive (e.g. rejoining) node is ignored.
      const leaseActive = this.#config.checkQuorum || m.type === MessageType.PreVote;
      const inLease = leaseActive && this.lead !== noneId && this.electionElapsed < this.#config.electionTicks;
      if (!force && inLease) return false;
    }
    if (m.type === MessageType.PreVote) {
      // Never change term in response to a PreVote.
    } else if (m.type === MessageType.PreVoteResponse && !m.reject) {
      // A granted pre-vote carries the future term; we adopt it when the pre-election is won.
    } else if (m.type === MessageType.Append || m.type === MessageType.Heartbeat || m.type === MessageType.Snapshot) {
      this.becomeFollower(m.term, m.from);
    } else {
      this.becomeFollower(m.term, noneId);
    }
    return true;
  }

  #stepLowerTerm(m: Message): void {
    if ((this.#config.checkQuorum || this.#config.preVote) && (m.type === MessageType.Heartbeat || m.type === MessageType.Append)) {
      // A stale leader (e.g. partitioned) learns our term and steps down; without this, with
      // PreVote/CheckQuorum, the cluster could be stuck with a node that never raises its term.
      this.msgs.push(emptyMessage(MessageType.AppendResponse, this.id, m.from, this.term));
    } else if (m.type === MessageType.PreVote) {
      const response = emptyMessage(MessageType.PreVoteResponse, this.id, m.from, this.term);
      response.reject = true;
      this.msgs.push(response);
    }
    // Anything else from an old term is stale: ignored.
  }

  #stepVoteRequest(m: Message): void {
    const responseType = m.type === MessageType.Vote ? MessageType.VoteResponse : MessageType.PreVoteResponse;
    // One vote per term (§5.2); a pre-vote for a future term does not bind us.
    const canVote =
      this.vote === m.from ||
      (this.vote === noneId && this.lead === noneId) ||
      (m.type === MessageType.PreVote && m.term > this.term) ||
      (this.#config.testOnlyDoubleVote === true && m.type === MessageType.Vote);
    const upToDate = this.#config.testOnlySkipVoteLogCheck === true || this.log.isUpToDate(m.index, m.logTerm);
    if (canVote && upToDate) {
      this.msgs.push(emptyMessage(responseType, this.id, m.from, m.term));
      if (m.type === MessageType.Vote) {
        this.electionElapsed = 0;
        this.vote = m.from;
      }
      return;
    }
    const response = emptyMessage(responseType, this.id, m.from, this.term);
    response.reject = true;
    this.msgs.push(response);
  }

  #stepCandidate(m: Message): void {
    const myVoteResponse = this.role === Role.PreCandidate ? MessageType.PreVoteResponse : MessageType.VoteResponse;
    switch (m.type) {
      case MessageType.Append:
        this.becomeFollower(m.term, m.from);
        this.#handleAppend(m);
        return;
      case MessageType.Heartbeat:
        this.becomeFollower(m.term, m.from);
        this.#handleHeartbeat(m);
        return;
      case MessageType.Snapshot:
        this.becomeFollower(m.term, m.from);
        this.#handleSnapshot(m);
        return;
      case MessageType.PreVoteResponse:
      case MessageType.VoteResponse: {
        if (m.type !== myVoteResponse) return;
        const voteType = m.type === MessageType.VoteResponse ? MessageType.Vote : MessageType.PreVote;
        const result = this.#poll(m.from, voteType, !m.reject);
        if (result === "won") {
          if (this.role === Role.PreCandidate) {
            this.#campaign("election");
          } else {
            this.becomeLeader();
            this.broadcastAppend();
          }
        } else if (result === "lost") {
          this.becomeFollower(this.term, noneId);
        }
        return;
      }
      default:
        return; // Proposals are refused by the caller-facing API; TimeoutNow is ignored here.
    }
  }

  #stepFollower(m: Message): void {
    switch (m.type) {
      case MessageType.Append:
        this.electionElapsed = 0;
        this.lead = m.from;
        this.#handleAppend(m);
        return;
      case MessageType.Heartbeat:
        this.electionElapsed = 0;
        this.lead = m.from;
        this.#handleHeartbeat(m);
        return;
      case MessageType.Snapshot:
        this.electionElapsed = 0;
        this.lead = m.from;
        this.#handleSnapshot(m);
        return;
      case MessageType.TransferLeader:
        if (this.lead === noneId) return;
        this.msgs.push({ ...m, to: this.lead, term: 0 });
        return;
      case MessageType.TimeoutNow:
        // The leader chose us: campaign now, skipping PreVote, and voters skip their lease.
        this.hup("transfer");
        return;
      case MessageType.ReadIndex:
        if (this.lead === noneId) return;
        this.msgs.push({ ...m, from: m.from === noneId ? this.id : m.from, to: this.lead, term: 0 });
        return;
      case MessageType.ReadIndexResponse:
        this.readStates.push({ index: m.index, context: m.context });
        return;
      default:
        return;
    }
  }

  // ---- Follower handlers ----------------------------------------------------------------------

  #respond(type: MessageType, to: NodeId): Message {
    const response = emptyMessage(type, this.id, to, this.term);
    this.msgs.push(response);
    return response;
  }

  #handleAppend(m: Message): void {
    if (m.index < this.log.committed) {
      this.#respond(MessageType.AppendResponse, m.from).index = this.log.committed;
      return;
    }
    const lastNewIndex = this.log.maybeAppend(m.index, m.logTerm, m.commit, m.entries);
    if (lastNewIndex !== null) {
      this.#respond(MessageType.AppendResponse, m.from).index = lastNewIndex;
      return;
    }
    // Fast back-off: hint the largest index whose term is <= the leader's term at m.index, so
    // the leader can skip every entry of a term we do not share in one round trip.
    const hint = this.log.findConflictByTerm(Math.min(m.index, this.log.lastIndex()), m.logTerm);
    const response = this.#respond(MessageType.AppendResponse, m.from);
    response.index = m.index;
    response.reject = true;
    response.rejectHint = hint.index;
    response.rejectHintTerm = hint.term;
  }

  #handleHeartbeat(m: Message): void {
    // The leader sends min(match, commit), so this never passes our log's end when it matches.
    this.log.commitTo(Math.min(m.commit, this.log.lastIndex()));
    this.#respond(MessageType.HeartbeatResponse, m.from).context = m.context;
  }

  #handleSnapshot(m: Message): void {
    const snapshot = m.snapshot;
    if (snapshot === null) return;
    const restored = this.#restore(snapshot);
    this.#respond(MessageType.AppendResponse, m.from).index = restored ? this.log.lastIndex() : this.log.committed;
  }

  /** Installs a snapshot from the leader. Returns false when it is stale or already matched. */
  #restore(snapshot: Snapshot): boolean {
    const { index, term, conf } = snapshot.metadata;
    if (index <= this.log.committed) return false;
    const inConf = conf.voters.includes(this.id) || conf.learners.includes(this.id);
    if (!inConf) return false; // A snapshot that does not include us is not meant for us.
    if (this.log.matchTerm(index, term)) {
      // We already hold the entry: just fast-forward the commit index.
      this.log.commitTo(index);
      return false;
    }
    this.log.restore(snapshot);
    this.tracker.restore(conf, this.log.lastIndex() + 1);
    return true;
  }

  // ---- Leader ---------------------------------------------------------------------------------

  #stepLeader(m: Message): void {
    switch (m.type) {
      case MessageType.Beat:
        this.#broadcastHeartbeat();
        return;
      case MessageType.ReadIndex:
        this.#leaderReadIndex(m);
        return;
      default:
        break;
    }
    const progress = this.tracker.progress.get(m.from);
    if (progress === undefined || m.from === this.id) return; // Unknown (e.g. removed) peer.
    switch (m.type) {
      case MessageType.AppendResponse:
        progress.recentActive = true;
        if (m.reject) this.#handleAppendRejection(m, progress);
        else this.#handleAppendSuccess(m, progress);
        return;
      case MessageType.HeartbeatResponse:
        this.#handleHeartbeatResponse(m, progress);
        return;
      case MessageType.SnapshotStatus:
        if (progress.state !== "snapshot") return;
        if (m.reject) progress.pendingSnapshot = 0;
        progress.becomeProbe();
        // Wait for a heartbeat response (or append response) before probing again.
        progress.msgAppFlowPaused = true;
        return;
      case MessageType.Unreachable:
        // An Append was probably lost: stop pipelining and probe.
        if (progress.state === "replicate") progress.becomeProbe();
        return;
      case MessageType.TransferLeader:
        this.#handleTransferLeader(m.from, progress);
        return;
      default:
        return;
    }
  }

  #handleAppendRejection(m: Message, progress: Progress): void {
    let nextProbeIndex = m.rejectHint;
    if (m.rejectHintTerm > 0) {
      // Skip to the last of our entries whose term is <= the follower's term at its hint.
      nextProbeIndex = this.log.findConflictByTerm(m.rejectHint, m.rejectHintTerm).index;
    }
    if (progress.maybeDecrTo(m.index, nextProbeIndex)) {
      if (progress.state === "replicate") progress.becomeProbe();
      this.#sendAppend(m.from, progress, true);
    }
  }

  #handleAppendSuccess(m: Message, progress: Progress): void {
    if (!progress.maybeUpdate(m.index)) return;
    if (progress.state === "probe") {
      progress.becomeReplicate();
    } else if (progress.state === "snapshot" && progress.match + 1 >= this.log.firstIndex()) {
      progress.becomeProbe();
      progress.becomeReplicate();
    } else if (progress.state === "replicate") {
      progress.inflights.freeLE(m.index);
    }
    if (this.#maybeCommit()) {
      this.#releasePendingReadIndexMessages();
      this.broadcastAppend();
    } else {
      // Keep the pipeline full: bounded by the inflight window (each send fills one slot).
      let sent = false;
      while (this.#sendAppend(m.from, progress, false)) sent = true;
      // A follower that was paused when the commit index moved still needs to learn it.
      if (!sent && progress.sentCommit < this.log.committed) this.#sendAppend(m.from, progress, true);
    }
    if (m.from === this.leadTransferee && progress.match === this.log.lastIndex()) {
      this.#sendTimeoutNow(m.from);
    }
  }

  #handleHeartbeatResponse(m: Message, progress: Progress): void {
    progress.recentActive = true;
    progress.msgAppFlowPaused = false;
    // A full window may have lost an ack: free one slot so replication can resume.
    if (progress.state === "replicate" && progress.inflights.full()) progress.inflights.freeFirstOne();
    if (progress.match < this.log.lastIndex() || progress.state === "probe") this.#sendAppend(m.from, progress, true);
    if (m.context.byteLength === 0) return;
    const acks = this.#readOnly.recvAck(m.from, m.context);
    if (acks === null) return;
    acks.add(this.id);
    if (voteResult(this.tracker.voters, new Map([...acks].map((id) => [id, true]))) !== "won") return;
    for (const status of this.#readOnly.advance(m.context)) this.#respondToReadIndex(status.request, status.index);
  }

  #handleTransferLeader(transferee: NodeId, progress: Progress): void {
    if (progress.learner) return; // A learner cannot lead.
    if (this.leadTransferee === transferee) return; // Already in progress.
    this.#abortLeaderTransfer();
    if (transferee === this.id) return;
    // The transfer must finish within an election timeout, counted from now.
    this.electionElapsed = 0;
    this.leadTransferee = transferee;
    if (progress.match === this.log.lastIndex()) this.#sendTimeoutNow(transferee);
    else this.#sendAppend(transferee, progress, true);
  }

  #sendTimeoutNow(to: NodeId): void {
    this.msgs.push(emptyMessage(MessageType.TimeoutNow, this.id, to, this.term));
  }

  #abortLeaderTransfer(): void {
    this.leadTransferee = noneId;
  }

  #leaderReadIndex(m: Message): void {
    if (m.context.byteLength === 0) return;
    if (this.tracker.voters.length === 1 && this.tracker.isVoter(this.id)) {
      this.#respondToReadIndex(m, this.log.committed);
      return;
    }
    // Our commit index is only known to be current once an entry of our term is committed.
    if (!this.#committedEntryInCurrentTerm()) {
      this.#pendingReadIndexMessages.push(m);
      return;
    }
    this.#startReadIndex(m);
  }

  #startReadIndex(m: Message): void {
    if (this.#config.testOnlyReadIndexWithoutQuorum === true) {
      // Deliberately unsafe: a deposed leader that has not noticed yet answers with a stale index.
      this.#respondToReadIndex(m, this.log.committed);
      return;
    }
    this.#readOnly.addRequest(this.log.committed, m);
    this.#broadcastHeartbeatWithContext(m.context);
  }

  #respondToReadIndex(request: Message, index: number): void {
    if (request.from === noneId || request.from === this.id) {
      this.readStates.push({ index, context: request.context });
      return;
    }
    const response = emptyMessage(MessageType.ReadIndexResponse, this.id, request.from, this.term);
    response.index = index;
    response.context = request.context;
    this.msgs.push(response);
  }

  #committedEntryInCurrentTerm(): boolean {
    return this.log.term(this.log.committed) === this.term;
  }

  #releasePendingReadIndexMessages(): void {
    if (this.#pendingReadIndexMessages.length === 0 || !this.#committedEntryInCurrentTerm()) return;
    const pending = this.#pendingReadIndexMessages;
    this.#pendingReadIndexMessages = [];
    for (const m of pending) this.#startReadIndex(m);
  }

  /** Commits what a quorum has persisted, if it is from the current term (§5.4.2). */
  #maybeCommit(): boolean {
    const index = committedIndex(this.tracker.voters, (id) => this.tracker.progress.get(id)?.match ?? 0);
    return this.log.maybeCommit(index, this.term);
  }

  /**
   * Leader-local proposal. Returns null when appended, else the reason it was dropped.
   * Entries are broadcast at the next flush, so a burst of proposals travels in few Appends.
   */
  propose(entries: readonly ProposedEntry[]): string | null {
    if (this.role !== Role.Leader) return "not leader";
    if (!this.tracker.progress.has(this.id)) return "leader is being removed";
    if (this.leadTransferee !== noneId) return "leadership transfer in progress";
    let confIndex = 0;
    for (let i = 0; i < entries.length; i++) {
      if ((entries[i] as ProposedEntry).type !== EntryType.ConfChange) continue;
      // One membership change at a time: the previous one must be applied first.
      if (this.pendingConfIndex > this.log.applied || confIndex !== 0) return "conf change pending";
      confIndex = this.log.lastIndex() + 1 + i;
    }
    this.#appendEntries(entries);
    if (confIndex !== 0) this.pendingConfIndex = confIndex;
    this.#broadcastPending = true;
    return null;
  }

  #appendEntries(proposed: readonly ProposedEntry[]): void {
    let index = this.log.lastIndex();
    const entries: Entry[] = new Array<Entry>(proposed.length);
    for (let i = 0; i < proposed.length; i++) {
      const entry = proposed[i] as ProposedEntry;
      index++;
      entries[i] = { term: this.term, index, type: entry.type, data: entry.data };
    }
    this.log.append(entries);
    // The leader's own entries count toward commit only once persisted (see advance()), except
    // in the deliberately unsafe test mode, which lets the simulator's checker prove itself.
    if (this.#config.testOnlyUnsafeCommit === true) this.log.commitTo(this.log.lastIndex());
  }

  /** Sends the proposals appended since the last flush. */
  flushBroadcast(): void {
    if (!this.#broadcastPending) return;
    this.#broadcastPending = false;
    if (this.role === Role.Leader) this.broadcastAppend();
  }

  broadcastAppend(): void {
    for (const [id, progress] of this.tracker.progress) {
      if (id !== this.id) this.#sendAppend(id, progress, true);
    }
  }

  #broadcastHeartbeat(): void {
    const context = this.#readOnly.lastPendingContext();
    this.#broadcastHeartbeatWithContext(context ?? new Uint8Array(0));
  }

  #broadcastHeartbeatWithContext(context: Uint8Array): void {
    for (const [id, progress] of this.tracker.progress) {
      if (id === this.id) continue;
      const message = emptyMessage(MessageType.Heartbeat, this.id, id, this.term);
      // Never tell a follower to commit past what it is known to hold.
      message.commit = Math.min(progress.match, this.log.committed);
      message.context = context;
      progress.sentCommit = Math.max(progress.sentCommit, message.commit);
      this.msgs.push(message);
    }
  }

  /**
   * Sends one Append (or a snapshot) to `to` if its progress allows. Returns true if something
   * was sent. With `sendIfEmpty` false, an Append without entries is not sent.
   */
  #sendAppend(to: NodeId, progress: Progress, sendIfEmpty: boolean): boolean {
    if (progress.isPaused()) return false;
    const prevIndex = progress.next - 1;
    const prevTerm = this.log.term(prevIndex);
    let entries: Entry[] | null = null;
    if (prevTerm !== null) entries = this.#entriesOrNull(progress.next);
    if (prevTerm === null || entries === null) return this.#sendSnapshot(to, progress);
    if (entries.length === 0 && !sendIfEmpty) return false;
    const message = emptyMessage(MessageType.Append, this.id, to, this.term);
    message.index = prevIndex;
    message.logTerm = prevTerm;
    message.entries = entries;
    message.commit = this.log.committed;
    this.msgs.push(message);
    progress.sentCommit = message.commit;
    progress.sentEntries(entries.length, entriesSizeBytes(entries));
    return true;
  }

  #entriesOrNull(from: number): Entry[] | null {
    if (from < this.log.firstIndex()) return null;
    return this.log.entriesFrom(from, this.#config.maxSizePerMsgBytes);
  }

  #sendSnapshot(to: NodeId, progress: Progress): boolean {
    // Only to a follower we heard from recently: a dead one would waste the transfer.
    if (!progress.recentActive) return false;
    let snapshot: Snapshot;
    try {
      snapshot = this.log.snapshot();
    } catch (error) {
      if (error instanceof SnapshotTemporarilyUnavailableError) return false; // Retried later.
      throw error;
    }
    assert(snapshot.metadata.index > 0, "a compacted log has a snapshot");
    progress.becomeSnapshot(snapshot.metadata.index);
    const message = emptyMessage(MessageType.Snapshot, this.id, to, this.term);
    message.snapshot = snapshot;
    this.msgs.push(message);
    return true;
  }

  // ---- Persistence feedback and membership ----------------------------------------------------

  /** Called by RawNode.advance once the caller persisted and applied a Ready. */
  advance(args: { stableIndex: number; stableTerm: number; snapshotIndex: number; appliedIndex: number }): void {
    if (args.appliedIndex > 0) this.log.appliedTo(Math.max(args.appliedIndex, this.log.applied));
    if (args.snapshotIndex > 0) this.log.stableSnapTo(args.snapshotIndex);
    if (args.stableIndex > 0) this.log.stableTo(args.stableIndex, args.stableTerm);
    if (this.role !== Role.Leader) return;
    // The leader's own entries now count toward the quorum: they are durable.
    const self = this.tracker.progress.get(this.id);
    if (self !== undefined && self.maybeUpdate(this.log.persistedLastIndex()) && this.#maybeCommit()) {
      this.#releasePendingReadIndexMessages();
      this.broadcastAppend();
    }
  }

  /** Applies a committed membership change; it takes effect now (single-server changes). */
  applyConfChange(change: ConfChange): ConfState {
    this.tracker.apply(change, this.log.lastIndex() + 1);
    if (this.role !== Role.Leader) return this.tracker.confState();
    const self = this.tracker.progress.get(this.id);
    if (self === undefined || self.learner) {
      // Removed or demoted: step down; the remaining voters elect a leader among themselves.
      this.becomeFollower(this.term, noneId);
      return this.tracker.confState();
    }
    if (this.leadTransferee !== noneId && !this.tracker.isVoter(this.leadTransferee)) this.#abortLeaderTransfer();
    // The quorum changed: something may now be committed, and new members need the log.
    if (this.#maybeCommit()) {
      this.#releasePendingReadIndexMessages();
      this.broadcastAppend();
    } else {
      for (const [id, progress] of this.tracker.progress) {
        if (id !== this.id) this.#sendAppend(id, progress, false);
      }
    }
    return this.tracker.confState();
  }
}

/** Rejects input no correct peer sends, so that bad bytes never reach an assertion. */
function isWellFormed(m: Message): boolean {
  if (!Number.isSafeInteger(m.term) || m.term < 0) return false;
  if (!Number.isSafeInteger(m.index) || m.index < 0) return false;
  if (!Number.isSafeInteger(m.commit) || m.commit < 0) return false;
  if (m.type === MessageType.Snapshot && m.snapshot === null) return false;
  if (m.type !== MessageType.Append) return true;
  let expectedIndex = m.index + 1;
  let previousTerm = m.logTerm;
  for (const entry of m.entries) {
    if (entry.index !== expectedIndex || entry.term < previousTerm || entry.term > m.term) return false;
    expectedIndex++;
    previousTerm = entry.term;
  }
  return true;
}
