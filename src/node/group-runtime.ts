// The runtime of one replica of one Raft group inside a store: it owns the replica's snapshots
// and Swiss table, writes its log through the store's shared log (one fdatasync covers every
// group that appended in the same turn), and drives the pure core. The store ticks it. The Ready loop below is the ONE place where FR3.3's order is enforced:
//   persist (WAL append + fdatasync, or snapshot install) -> send -> apply -> advance.
// An entry reaches the table only after the core saw it committed, i.e. durable on a majority.
// The loop is pipelined: a Ready's append is issued as soon as it is taken, while earlier ones
// are still syncing, and Readies finish strictly in order (see "the Ready loop" below). Ticks,
// messages and proposals keep flowing into the core meanwhile, so the next Ready batches
// everything that arrived during the previous fdatasync (group commit across clients for free).
import { RawNode, ProposalDroppedError, defaultRaftConfig } from "../raft/raw-node.ts";
import { MemoryStorage } from "../raft/memory-storage.ts";
import { decodeConfChange } from "../raft/conf-change.ts";
import type { ConfChange, ConfState, Entry, Message, RaftConfig, Ready, Snapshot } from "../raft/types.ts";
import { ConfChangeType, EntryType, MessageType, Role } from "../raft/types.ts";
import type { TableOp } from "../storage/table.ts";
import type { GroupHardState, GroupLog, GroupLogEntry, GroupRecovery } from "../storage/store-log.ts";
import { UkvError, isUkvError } from "../util/errors.ts";
import { assert } from "../util/assert.ts";
import type { Logger } from "../util/log.ts";
import { Prng } from "../util/prng.ts";
import { keyHash } from "../ring/key-hash.ts";
import { formatHash, formatRange, rangeContains, rangeToJson, splitRange, type KeyRange, type KeyRangeJson } from "../ring/range-map.ts";
import { CommandOp, commandOpOf, decodeCommand, decodeSplitPayload, encodeCommand, splitCommandKeyValue, type Command } from "./command.ts";
import { decodeBatchSetCommand, encodeBatchSetCommand } from "./batch-command.ts";
import { decodeKeyedTransaction, encodeKeyedReply, executeKeyedTransaction, keysOfTransaction } from "../kv/keyed-commands.ts";
import {
  decodeMemberAddress,
  decodeMembership,
  encodeMemberAddress,
  encodeMembership,
  entryFromWal,
  entryToWal,
  type GroupMembership,
  type MemberAddress,
} from "./log-codec.ts";
import type { ReplicaClock, ReplicaSnapshots, ReplicaState, ReplicaStateMachine, ReplicaTransport, SnapshotRef, TimerHandle } from "./replica-io.ts";
import { ProposalWaiters, ReadWaiters } from "./waiters.ts";

export interface GroupRuntimeOptions {
  /** The store id: a replica's Raft id is the id of the store that hosts it. */
  nodeId: number;
  groupId: number;
  /** Membership of the group at its bootstrap (changes since are in the log or a snapshot). */
  initialMembership: GroupMembership;
  /** This group's part of the store's shared log, and what the store recovered of it. */
  log: GroupLog;
  recovery: GroupRecovery | null;
  /** The state machine and its snapshots (a store: a native Table and snapshot files). */
  state: ReplicaState;
  transport: ReplicaTransport;
  /** Time, deferred calls and timers: the event loop in a store, the virtual clock in the simulator. */
  clock: ReplicaClock;
  /** Seed of the core's election jitter; default: one per (store, group), so a replica replays. */
  randomSeed?: number;
  logger: Logger;
  tickMs: number;
  electionTicks: number;
  heartbeatTicks: number;
  /** Take a snapshot once this many entries were applied since the last one. */
  snapshotEntriesThreshold: number;
  requestTimeoutMs?: number;
  /** On losing the connection to the leader, campaign (PreVote) after a short delay. */
  fastFailover?: boolean;
  /** Called after the membership changed (conf change applied or snapshot installed). */
  onMembershipChanged?(membership: GroupMembership): void;
  /** A state machine other than plain KV (the meta store) rewrites each committed batch here. */
  transformBatch?(ops: TableOp[], read: (key: Uint8Array) => Uint8Array | null): TableOp[];
  /** Called after committed entries were applied (watchers of the state machine wake up). */
  onApplied?(appliedIndex: number): void;
  /** Called once this replica learned it was removed from its group (the store then deletes it). */
  onRemoved?(): void;
  /** Called when the leader this replica knows changed (0: none known); requests waiting for one retry at once. */
  onLeaderChanged?(leader: number): void;
  /**
   * A split was applied: the store creates the new shard's replica here from `child` (its range
   * and membership, and the keys that moved to it), settling once the child is open. Until then,
   * and until the `baseDurable` it may return settles (the child opened before its state was on
   * disk), this replica takes no snapshot, so the split stays in its log and a crash replays it
   * (recreating the child from it).
   */
  onSplit?(child: SplitChild): Promise<void | { baseDurable: Promise<void> }>;
  /**
   * A snapshot is due but split children of this replica still need its log (see onSplit): the
   * store asks those children to make their own state durable (requestSnapshot) so this one can go on.
   */
  onSnapshotDeferred?(): void;
  /**
   * The state machine already holds the group's state at this index and term, not yet saved as a
   * snapshot: a split child opened before its base is durable. The first snapshot taken makes it
   * durable (whenBaseDurable); until then the state can be rebuilt only by replaying the parent's split.
   */
  inMemoryBase?: { index: number; term: number };
  /**
   * Quiescence: a leader whose group stayed idle and fully replicated this many ticks tells its
   * followers, and they all stop ticking until the next message or request (0 = never). Default 0.
   */
  quiesceAfterTicks?: number;
  /**
   * The store the placement prefers as leader: an idle leader elsewhere hands leadership to it
   * once it is a caught-up voter (at most once a term), so leadership returns to balance after
   * failovers and restarts.
   */
  preferredLeader?: number;
  /** TEST ONLY (the simulator's checkers): sees what the driver does. Absent in a store. */
  probe?: ReplicaProbe;
  /** The store's per-replica metrics (counters and histograms made once per replica); absent: none. */
  metrics?: ReplicaMetricsHooks;
  /** TEST ONLY: deliberate bugs the simulator must catch (src/sim/mutations.ts). Absent in a store. */
  testOnly?: ReplicaTestOnlyOptions;
}

/**
 * TEST ONLY: what the simulator's checkers observe inside the driver. Every call is made after the
 * fact it reports, synchronously, and never changes what the driver does.
 */
export interface ReplicaProbe {
  /** The core's role changed (reported as the Ready that carries it is handled, before its persist). */
  roleChanged(role: Role, term: number): void;
  /**
   * The core's commit index after a Ready's persist (the core's term with it). A commit-only
   * change is not written at once (it rides along with the next write), so this may be ahead of
   * the commit index on disk, never ahead of the entries on disk.
   */
  committed(term: number, commitIndex: number): void;
  /** A committed entry was applied (conf changes included); called in index order. */
  entryApplied(entry: Entry): void;
  /** A snapshot from the leader replaced the state machine at index. */
  snapshotInstalled(index: number): void;
  /** The group stopped on an error it cannot recover from (a store logs it as fatal). */
  stopped(error: unknown): void;
}

/** What a replica counts for its store's /metrics: each call is one increment or observation. */
export interface ReplicaMetricsHooks {
  /** A leader other than "none" became known (an election, a transfer, or a new replica learning it). */
  leaderChanged(): void;
  /** A write this replica proposed as leader committed and applied, `seconds` after it was proposed. */
  proposalCommitted(seconds: number): void;
  /** A write this replica proposed failed (lost leadership, timeout, closing). */
  proposalFailed(): void;
  snapshotTaken(): void;
  snapshotSent(): void;
  /** A snapshot from the leader replaced this replica's state. */
  snapshotInstalled(): void;
}

/** TEST ONLY: each flag breaks one rule of the Ready contract or the core; every one is off in a store. */
export interface ReplicaTestOnlyOptions {
  /** Core flags (RaftConfig.testOnly*): double vote, vote without the log check, unsafe commit, ReadIndex without quorum. */
  raft?: Pick<RaftConfig, "testOnlyDoubleVote" | "testOnlySkipVoteLogCheck" | "testOnlyUnsafeCommit" | "testOnlyReadIndexWithoutQuorum">;
  /** Apply the Ready's committed entries before its entries are durable. */
  applyBeforePersist?: boolean;
  /** Send the Ready's append responses before its entries are durable. */
  ackBeforePersist?: boolean;
  /** A follower answers a linearizable read from its own state, without ReadIndex. */
  followerReadAsLinearizable?: boolean;
  /** Nothing waits for split children's bases before dropping this replica's log (whenSplitChildrenSaved answers null). */
  skipSplitChildrenWait?: boolean;
  /** A restarted replica takes a leader's snapshot before it applied the committed entries it recovered (see receiveSnapshot). */
  snapshotBeforeReplay?: boolean;
}

/** The new shard of a split, as the parent's replica hands it to its store. */
export interface SplitChild {
  childId: number;
  /** Log index of the split in the parent's log. */
  splitIndex: number;
  membership: GroupMembership;
  /** The keys whose hashes fall in the child's range, taken out of the parent's state machine; the store owns (and closes) it. */
  stateMachine: ReplicaStateMachine;
}

/** The cheap part of a replica's status: what store STATUS, health probes and reports carry per replica. */
export interface GroupSummary {
  nodeId: number;
  groupId: number;
  role: string;
  term: number;
  leader: number;
  commitIndex: number;
  appliedIndex: number;
  lastIndex: number;
  snapshotIndex: number;
  keyCount: number;
  membershipIndex: number;
  /** This member was removed from the group and serves nothing any more. */
  removed: boolean;
  /** Idle: not ticking until the next message or request (quiescence). */
  quiesced: boolean;
}

/** A replica's full status (STATUS of one shard): the summary plus membership and, on a leader, progress. */
export interface GroupStatus extends GroupSummary {
  tableBytes: number;
  voters: number[];
  learners: number[];
  addresses: Record<string, MemberAddress>;
  /** A data shard: the hash range this replica owns now. */
  range: KeyRangeJson | null;
  /** Leader only: each member's matched index. */
  progress: Record<string, { match: number; learner: boolean; state: string }>;
}

const requestTimeoutMsDefault = 5000;
/** Ticks between the early campaigns of followers of consecutive rank after their leader's store dropped. */
const failoverRankGapTicks = 6;
const membershipChangeTimeoutMs = 10_000;
const confChangeRetryMsMax = 3000;
const confChangeRetryDelayMs = 25;
const persistRetryDelayMs = 200;
/**
 * Readies in flight at once. Two already overlap one batch's fdatasync with the next batch's
 * append; more only queue behind the same sync (the store log merges them anyway).
 */
const readyPipelineDepthMax = 4;
const snapshotRetryDelayMs = 2000;
/** close() waits this many times closeWaitDelayMs at most for the Ready in flight. */
const closeWaitCountMax = 500;
const closeWaitDelayMs = 10;

/**
 * Election timeouts a replica that never was a member waits, outside its group's newer membership,
 * before it takes that as its removal (an add-replica's learner add lands within one or two).
 */
const neverMemberRemovalGraceElections = 10;
/** ... and at least this long: a loaded machine can stall an add-replica between its steps for seconds. */
const neverMemberRemovalGraceMsMin = 30_000;

export class GroupRuntime {
  readonly nodeId: number;
  readonly groupId: number;
  readonly table: ReplicaStateMachine;
  readonly #options: GroupRuntimeOptions;
  readonly #logger: Logger;
  readonly #raw: RawNode;
  readonly #storage: MemoryStorage;
  readonly #log: GroupLog;
  readonly #snapshots: ReplicaSnapshots;
  readonly #clock: ReplicaClock;
  readonly #proposals: ProposalWaiters;
  readonly #reads: ReadWaiters;
  readonly #requestTimeoutMs: number;
  #appliedIndex: number;
  #snapshotIndex: number;
  #membership: GroupMembership;
  #removed = false;
  /** This node has been a member at some point (a joiner waiting to be added has not). */
  #wasMember = false;
  /** When this replica was opened (this process): the grace of a never-member replica counts from it. */
  #openedMs = 0;
  /** A never-member replica's removal, looked at again when its grace ends. */
  #neverMemberTimer: { cancel(): void } | null = null;
  /** A snapshot is needed now (for a new member), whatever the threshold says. */
  #snapshotWanted = false;
  /** The snapshot being written, if any; committed entries wait in #applyQueue meanwhile. */
  #snapshotInFlight: Promise<void> | null = null;
  #applyQueue: Entry[] = [];
  /** After a failed snapshot save (DISK_FULL, IO_ERROR): no new attempt before this time. */
  #snapshotRetryAfterMs = 0;
  /** Index of the entry (or snapshot) that set the current membership. */
  #membershipIndex: number;
  readonly #membershipWaiters = new Map<string, { resolve(): void; reject(error: Error): void; timer: TimerHandle }>();
  #role: Role = Role.Follower;
  #leader = 0;
  #term = 0;
  #drainScheduled = false;
  /** Readies taken from the core and not finished yet, oldest first (see the Ready loop). */
  #pipeline: InFlightReady[] = [];
  /** #complete is running. */
  #completing = false;
  /** An append failed: no Ready is issued until #complete has made the failed ones again. */
  #persistBroken = false;
  #closed = false;
  #failoverTimer: TimerHandle | null = null;
  #fatalError: Error | null = null;
  readonly #traceReady: boolean;
  /** Term and vote of the last hard state handed to the log (durable once its append settles). */
  #issuedTerm: number;
  #issuedVote: number;
  /** Index of an applied removal of this replica not acted on yet (0 = none), see #checkRemoval. */
  #removalAppliedIndex = 0;
  /** Not ticking: the group is idle (see quiesceAfterTicks); any message or request wakes it. */
  #quiesced = false;
  /** Leader: consecutive ticks the group was idle and fully replicated. */
  #idleTickCount = 0;
  /** The term in which this leader last handed leadership to the preferred leader (once a term). */
  #preferredTransferTerm = -1;
  /** Split children the store is still creating (see onSplit). */
  #splitChildrenPending = 0;
  /** Split children whose state needs this replica's log (created or not): no snapshot meanwhile. */
  #splitBasesPending = 0;
  /** onSnapshotDeferred was called since the last child was created. */
  #snapshotDeferralReported = false;
  /** A leader's snapshot is being installed (#installSnapshot). */
  #installingSnapshot = false;
  /** The commit index recovered at open: no leader's snapshot is taken until applied this far (receiveSnapshot). */
  readonly #recoveredCommit: number;
  /** Settled when #splitBasesPending next reaches 0. */
  #splitBasesSaved: { promise: Promise<void>; resolve(): void } | null = null;
  /** inMemoryBase until the first snapshot saved (then null): resolved true then, false on close before it. */
  #baseDurable: { promise: Promise<boolean>; resolve(durable: boolean): void } | null = null;

  private constructor(args: {
    options: GroupRuntimeOptions;
    log: GroupLog;
    storage: MemoryStorage;
    appliedIndex: number;
    membership: GroupMembership;
  }) {
    this.#options = args.options;
    this.nodeId = args.options.nodeId;
    this.groupId = args.options.groupId;
    this.#logger = args.options.logger;
    this.table = args.options.state.stateMachine;
    this.#log = args.log;
    this.#snapshots = args.options.state.snapshots;
    this.#clock = args.options.clock;
    this.#proposals = new ProposalWaiters(this.#clock);
    this.#reads = new ReadWaiters(this.#clock, this.nodeId);
    this.#storage = args.storage;
    this.#appliedIndex = args.appliedIndex;
    this.#snapshotIndex = args.appliedIndex;
    this.#membership = args.membership;
    this.#membershipIndex = args.appliedIndex;
    this.#wasMember = this.#isMember();
    this.#openedMs = this.#clock.nowMs();
    this.#requestTimeoutMs = args.options.requestTimeoutMs ?? requestTimeoutMsDefault;
    this.#traceReady = this.#logger.isLevelEnabled("debug");
    if (args.options.inMemoryBase !== undefined) {
      let resolve: (durable: boolean) => void = () => undefined;
      const promise = new Promise<boolean>((settle) => {
        resolve = settle;
      });
      this.#baseDurable = { promise, resolve };
    }
    const recovered = args.storage.initialState().hardState;
    this.#recoveredCommit = recovered.commit;
    this.#issuedTerm = recovered.term;
    this.#issuedVote = recovered.vote;
    const config = defaultRaftConfig({
      id: this.nodeId,
      storage: this.#storage,
      random: new Prng(args.options.randomSeed ?? seedFor(this.nodeId, this.groupId)),
      applied: args.appliedIndex,
    });
    config.electionTicks = args.options.electionTicks;
    config.heartbeatTicks = args.options.heartbeatTicks;
    config.preVote = true;
    config.checkQuorum = true;
    const testOnlyRaft = args.options.testOnly?.raft;
    if (testOnlyRaft !== undefined) Object.assign(config, testOnlyRaft);
    this.#raw = new RawNode(config);
  }

  /**
   * Recovers the replica (latest good snapshot + what the store's log holds of it). The store
   * ticks it from then on.
   */
  static async open(options: GroupRuntimeOptions): Promise<GroupRuntime> {
    const onDisk = await options.state.snapshots.loadLatest();
    const base = options.inMemoryBase;
    assert(base === undefined || onDisk === null, "a replica with an in-memory base has no snapshot on disk yet");
    const snapshotInfo = onDisk ?? (base === undefined ? null : { index: base.index, term: base.term, metadata: encodeMembership(options.initialMembership) });
    const recovery = options.recovery ?? { entries: [], hardState: null, firstIndex: 0 };
    // Without a snapshot the membership is the bootstrap one from the config: conf changes since
    // then are in the log and are applied again on replay. With a snapshot, its metadata holds it.
    const membership = snapshotInfo === null ? cloneMembership(options.initialMembership) : decodeMembership(snapshotInfo.metadata);
    const conf = membership.conf;
    const storage = new MemoryStorage({ conf });
    let appliedIndex = 0;
    if (snapshotInfo !== null) {
      storage.applySnapshot({
        metadata: { index: snapshotInfo.index, term: snapshotInfo.term, conf },
        data: new Uint8Array(0),
      });
      appliedIndex = snapshotInfo.index;
    }
    const entries = recovery.entries.filter((record) => record.index > appliedIndex).map(entryFromWal);
    if (entries.length > 0 && entries[0]!.index !== appliedIndex + 1) {
      throw new UkvError(
        "WAL_CORRUPT",
        `Group ${options.groupId}: the log resumes at index ${entries[0]!.index} but the snapshot ends at ${appliedIndex}: entries are missing`,
        { data: { groupId: options.groupId } },
      );
    }
    storage.append(entries);
    if (snapshotInfo !== null && options.log.lastIndex() < appliedIndex) {
      // The snapshot is newer than the log's end: a snapshot from the leader was installed (its
      // file is durable) but the crash came before the log reset that follows it. Without this
      // reset the shared log would hold a commit index beyond its entries, and the next append
      // (at appliedIndex+1) would leave a gap the store log refuses (found by the simulator,
      // seed 1646: commit-beyond-log).
      options.logger.warn({ event: "log_reset_to_snapshot", logLastIndex: options.log.lastIndex(), snapshotIndex: appliedIndex });
      await options.log.reset(appliedIndex);
    }
    if (recovery.hardState !== null) {
      const lastIndex = storage.lastIndex();
      const commit = Math.min(Math.max(recovery.hardState.commit, appliedIndex), lastIndex);
      storage.setHardState({ term: recovery.hardState.term, vote: recovery.hardState.vote, commit });
    }
    const runtime = new GroupRuntime({ options, log: options.log, storage, appliedIndex, membership });
    options.logger.info(
      {
        event: "group_recovered",
        snapshotIndex: appliedIndex,
        walEntryCount: entries.length,
        lastIndex: storage.lastIndex(),
        term: recovery.hardState?.term ?? 0,
      },
      "group member recovered from disk",
    );
    // The recovered membership (from the snapshot) may name members added after the bootstrap
    // file the transport was built from: without this, messages to them are dropped for good.
    runtime.#syncPeers();
    return runtime;
  }

  /** One Raft tick (the store calls it every tickMs for each replica it hosts). */
  tick(): void {
    if (this.#closed || this.#removed || this.#quiesced) return;
    this.#raw.tick();
    this.#resendUnansweredReads();
    this.#maybeQuiesce();
    if (this.#raw.hasReady()) this.#scheduleDrain();
  }

  /** ReadIndex again for reads unanswered for an election timeout (ReadWaiters.dueForResend says why). */
  #resendUnansweredReads(): void {
    if (this.#reads.size === 0 || this.#leader === 0) return;
    const intervalMs = this.#options.tickMs * this.#options.electionTicks;
    for (const context of this.#reads.dueForResend(this.#clock.nowMs(), intervalMs)) {
      try {
        this.#raw.readIndex(context);
      } catch (error) {
        // No leader in the core right now: the next tick tries again; the read's timeout bounds it.
        if (!(error instanceof ProposalDroppedError)) throw error;
        return;
      }
    }
  }

  /**
   * Campaign now unless a leader is known: the placement's preferred leader does this at start so
   * that leadership starts balanced over the stores (whoever's timer fires first would win
   * otherwise: the store started first would lead nearly every shard).
   */
  campaignIfLeaderless(): void {
    if (this.#closed || this.#removed || this.#leader !== 0 || !this.#membership.conf.voters.includes(this.nodeId)) return;
    this.#raw.campaign();
    this.#scheduleDrain();
  }

  isQuiesced(): boolean {
    return this.#quiesced;
  }

  /**
   * Leader: after quiesceAfterTicks idle ticks in which every member matched the whole log and
   * everything was committed and applied here, tell the members and stop ticking. The idle
   * stretch spans several heartbeats, so the followers heard the final commit index already; a
   * follower that did not refuses to quiesce (and its election wakes the leader again).
   */
  #maybeQuiesce(): void {
    const afterTicks = this.#options.quiesceAfterTicks ?? 0;
    if (afterTicks <= 0 || this.#role !== Role.Leader) return;
    if (!this.#isIdleAndReplicated()) {
      this.#idleTickCount = 0;
      return;
    }
    this.#idleTickCount++;
    if (this.#idleTickCount < afterTicks) return;
    const raft = this.#raw.status();
    const preferred = this.#options.preferredLeader ?? 0;
    if (preferred !== 0 && preferred !== this.nodeId && this.#preferredTransferTerm !== raft.term && this.#membership.conf.voters.includes(preferred)) {
      // Idle and fully replicated (checked above), so the preferred voter has the whole log.
      this.#preferredTransferTerm = raft.term;
      this.#idleTickCount = 0;
      this.#logger.info({ event: "leadership_to_preferred", to: preferred, term: raft.term });
      this.#raw.transferLeader(preferred);
      this.#scheduleDrain();
      return;
    }
    const messages: Message[] = [];
    for (const id of [...this.#membership.conf.voters, ...this.#membership.conf.learners]) {
      if (id === this.nodeId) continue;
      messages.push({ ...quiesceTemplate, from: this.nodeId, to: id, term: raft.term, commit: raft.commit, index: this.#storage.lastIndex() });
    }
    if (messages.length > 0) this.#options.transport.send(this.groupId, messages);
    this.#quiesced = true;
    this.#idleTickCount = 0;
  }

  #isIdleAndReplicated(): boolean {
    if (this.#proposals.size > 0 || this.#reads.size > 0 || this.#membershipWaiters.size > 0) return false;
    if (this.#snapshotInFlight !== null || this.#applyQueue.length > 0) return false;
    const raft = this.#raw.status();
    const lastIndex = this.#storage.lastIndex();
    if (raft.commit !== lastIndex || this.#appliedIndex !== lastIndex || raft.leadTransferee !== 0) return false;
    for (const [id, peer] of raft.progress) {
      if (id !== this.nodeId && (peer.match !== lastIndex || peer.state !== "replicate")) return false;
    }
    return true;
  }

  /** Start ticking again (a message, a request, or a suspected leader). */
  #wake(): void {
    if (!this.#quiesced) return;
    this.#quiesced = false;
    this.#idleTickCount = 0;
  }

  /**
   * The store lost touch with `peerId` (no frame from it for an election timeout): a follower
   * quiesced under that leader must tick again, or nobody would notice the leader is gone.
   */
  peerSuspected(peerId: number): void {
    if (this.#quiesced && this.#leader === peerId) this.#wake();
  }

  // ---- inputs ---------------------------------------------------------------------------------

  /** Inbound Raft messages from the transport. Bad messages from peers never throw out of here. */
  step(messages: Message[]): void {
    if (this.#closed) return;
    for (const message of messages) {
      if (message.type === MessageType.Quiesce) {
        this.#onQuiesce(message);
        continue;
      }
      // Heartbeats and their answers keep an idle group idle (a quiesce races the last
      // heartbeat round); anything else is activity.
      if (message.type !== MessageType.Heartbeat && message.type !== MessageType.HeartbeatResponse) this.#wake();
      try {
        this.#raw.step(message);
      } catch (error) {
        this.#logger.warn({ event: "raft_step_failed", from: message.from, type: message.type, err: error });
      }
    }
    this.#scheduleDrain();
  }

  /** An inbound streamed snapshot: received whole (held apart until installed: ReplicaSnapshots.createIncoming), then handed to the core. */
  async receiveSnapshot(message: Message, chunks: AsyncIterable<Uint8Array>): Promise<void> {
    assert(message.snapshot !== null, "a snapshot message carries snapshot metadata");
    const { index, term } = message.snapshot.metadata;
    if (this.#appliedIndex < this.#recoveredCommit && this.#options.testOnly?.snapshotBeforeReplay !== true) {
      // The core takes a snapshot beyond its commit index in place of the committed entries it
      // has not handed over yet. After a restart those are the replay of the log, and a split
      // among them is the only thing that rebuilds a split child the store held at start-up:
      // skipped, that child stayed held for good (whenSplitChildrenSaved had nothing to wait for,
      // the split not being applied yet), and the shard lost this member (simulator seeds 1311,
      // 1818, 1984). Applying them needs nothing from the leader; refused, it sends again later.
      throw new UkvError("UNAVAILABLE", `Group ${this.groupId} is still applying the entries it recovered (${this.#appliedIndex} of ${this.#recoveredCommit}): snapshot ${index}/${term} refused`);
    }
    const incoming = this.#snapshots.createIncoming({ index, term });
    try {
      for await (const chunk of chunks) await incoming.write(chunk);
      await incoming.finish();
    } catch (error) {
      incoming.abort();
      throw error;
    }
    this.#logger.info({ event: "snapshot_received", from: message.from, index, term });
    this.step([message]);
  }

  /** A follower stops ticking when its current leader says the group is idle and it has the final commit. */
  #onQuiesce(message: Message): void {
    const raft = this.#raw.termAndCommit();
    if (this.#role !== Role.Follower || message.from !== this.#leader || message.term !== raft.term) return;
    if (raft.commit < message.commit || this.#appliedIndex < message.commit) return;
    this.#quiesced = true;
  }

  reportUnreachable(peerId: number): void {
    this.#raw.reportUnreachable(peerId);
  }

  /** The connection to a peer was closed by the remote side: if it was our leader, it may have crashed. */
  peerDisconnected(peerId: number): void {
    if (peerId === this.#leader) this.#wake();
    if (!this.#options.fastFailover || this.#closed) return;
    if (peerId !== this.#leader || this.#role !== Role.Follower) return;
    if (this.#failoverTimer !== null) return;
    // Staggered by rank among the other voters (by store id, so every follower computes the same
    // order): the first campaigns after a tick, the next a few ticks later, so two followers that
    // saw the drop together do not split the vote and wait out a whole election timeout. PreVote
    // makes an early campaign harmless when the leader is in fact alive.
    const others = this.#membership.conf.voters.filter((id) => id !== peerId).sort((left, right) => left - right);
    const rank = Math.max(0, others.indexOf(this.nodeId));
    const delayMs = this.#options.tickMs * (1 + rank * failoverRankGapTicks);
    // Forget the leader at once, not when our own turn comes: until then this follower would
    // refuse the pre-vote of a lower-ranked one (it would still think the leader's lease holds).
    this.#raw.forgetLeader();
    this.#scheduleDrain();
    this.#logger.info({ event: "leader_connection_lost", leader: peerId, term: this.#term, campaignInMs: delayMs });
    this.#failoverTimer = this.#clock.setTimer(() => {
      this.#failoverTimer = null;
      if (this.#closed || (this.#leader !== peerId && this.#leader !== 0) || this.#role !== Role.Follower) return;
      this.#logger.info({ event: "campaigning_early", leader: peerId, term: this.#term });
      this.#raw.campaign();
      this.#scheduleDrain();
    }, delayMs);
  }

  /**
   * Proposes one SET, DELETE or keyed transaction; resolves once it is committed and applied here,
   * with the entry's result (a keyed transaction's encoded reply; empty for SET and DELETE).
   * `keys`: every key the command touches (a keyed transaction's), all of which this replica's
   * range must hold; `key` alone by default.
   */
  write(op: CommandOp, key: Uint8Array, value: Uint8Array, keys: readonly Uint8Array[] = [key]): Promise<Uint8Array> {
    this.#checkLeaderOwning(keys);
    return this.#propose((sequence) => encodeCommand({ op, proposerId: this.nodeId, sequence, key, value }));
  }

  /** Proposes many SETs as one entry (batch-command.ts), applied together; resolves once applied here. */
  async writeBatch(keys: readonly Uint8Array[], values: readonly Uint8Array[]): Promise<void> {
    this.#checkLeaderOwning(keys);
    await this.#propose((sequence) => encodeBatchSetCommand(this.nodeId, sequence, keys, values));
  }

  #checkLeaderOwning(keys: readonly Uint8Array[]): void {
    this.#checkOpen();
    if (this.#role !== Role.Leader) throw this.notLeaderError();
    for (const key of keys) if (!this.ownsKey(key)) throw this.staleRangeError(key);
  }

  /** The hash range this replica owns now (a data shard), or null (the metadata group). */
  range(): KeyRange | null {
    const range = this.#membership.range;
    return range === undefined ? null : { ...range };
  }

  /** A split child of this replica is still being created by the store. */
  splitPending(): boolean {
    return this.#splitChildrenPending > 0;
  }

  /** Whether `key` falls in this replica's range (always, for a group without one). */
  ownsKey(key: Uint8Array): boolean {
    const range = this.#membership.range;
    return range === undefined || rangeContains(range, keyHash(key));
  }

  staleRangeError(key: Uint8Array): UkvError {
    const range = this.#membership.range;
    const where = range === undefined ? "" : `: key hash ${formatHash(keyHash(key))} is outside its range ${formatRange(range)}`;
    return new UkvError("STALE_EPOCH", `Shard ${this.groupId} no longer owns the key${where}; refresh the ranges and route again`, {
      data: { rangeVersion: range?.version ?? 0 },
    });
  }

  /**
   * Leader: splits this shard's range at `at` (default: the median hash of its keys, so the halves
   * hold about equal keys; from a bounded native sample on the leader before proposing, never in
   * the apply), the upper part going to the new shard `childId` (allocated by the metadata group).
   * Resolves once applied here, with both new ranges.
   */
  async split(childId: number, at: bigint | null): Promise<{ parent: KeyRange; child: KeyRange; at: bigint }> {
    this.#checkOpen();
    if (this.#role !== Role.Leader) throw this.notLeaderError();
    const range = this.#membership.range;
    if (range === undefined) throw new UkvError("BAD_REQUEST", `Group ${this.groupId} owns no key range: it cannot split`);
    const startedMs = this.#clock.nowMs();
    const splitAt = at ?? this.#medianHash(range);
    const expected = splitRange(range, splitAt); // validates the point before anything is proposed
    const { key, value } = splitCommandKeyValue({ at: splitAt, childId, expectedVersion: range.version });
    this.#logger.info({ event: "split_proposed", childId, at: formatHash(splitAt), medianMs: at === null ? Math.round(this.#clock.nowMs() - startedMs) : 0 });
    await this.#propose((sequence) => encodeCommand({ op: CommandOp.Split, proposerId: this.nodeId, sequence, key, value }));
    const now = this.#membership.range;
    assert(now !== undefined && now.version >= expected.parent.version, "an applied split moved the version on");
    return { parent: { ...now }, child: expected.child, at: splitAt };
  }

  /** The hash that about halves this replica's keys: their (sampled) median hash (the range's middle below two keys). */
  #medianHash(range: KeyRange): bigint {
    const { countEstimate, median } = this.table.medianHash(range.start, range.end);
    const point = countEstimate >= 2 && median !== null ? median : range.start + (range.end - range.start + 1n) / 2n;
    return point > range.start ? point : range.start + 1n;
  }

  async #propose(encode: (sequence: number) => Uint8Array): Promise<Uint8Array> {
    this.#wake();
    const metrics = this.#options.metrics;
    const proposedMs = metrics === undefined ? 0 : performance.now();
    const { sequence, done } = this.#proposals.add(this.#requestTimeoutMs);
    let data: Uint8Array;
    try {
      data = encode(sequence);
    } catch (error) {
      this.#proposals.reject(sequence, error as Error);
      await done.catch(() => undefined);
      throw error;
    }
    try {
      this.#raw.propose(data);
    } catch (error) {
      const mapped = error instanceof ProposalDroppedError ? this.notLeaderError() : error;
      this.#proposals.reject(sequence, mapped as Error);
      await done.catch(() => undefined);
      metrics?.proposalFailed();
      throw mapped;
    }
    this.#scheduleDrain();
    if (metrics === undefined) {
      return await done;
    }
    let result: Uint8Array;
    try {
      result = await done;
    } catch (error) {
      metrics.proposalFailed();
      throw error;
    }
    metrics.proposalCommitted((performance.now() - proposedMs) / 1000);
    return result;
  }

  /** A follower read (FR4.3): whatever this member has applied. */
  read(key: Uint8Array): Uint8Array | null {
    this.#checkOpen();
    return this.table.get(key);
  }

  /** A linearizable read: ReadIndex through the leader, then wait until applied here. */
  async readLinearizable(key: Uint8Array): Promise<Uint8Array | null> {
    this.#checkOpen();
    if (this.#options.testOnly?.followerReadAsLinearizable === true && this.#role !== Role.Leader) return this.table.get(key);
    if (this.#leader === 0) throw this.notLeaderError();
    this.#wake();
    const { context, done } = this.#reads.add(this.#requestTimeoutMs);
    try {
      this.#raw.readIndex(context);
    } catch (error) {
      // The core lost its leader since our last Ready (this.#leader lags it by up to one Ready).
      // The waiter must go now: left behind, its timeout would reject a promise nobody awaits
      // (found by the simulator: an unhandled rejection that ends the process).
      const mapped = error instanceof ProposalDroppedError ? this.notLeaderError() : error;
      this.#reads.reject(context, mapped as Error);
      await done.catch(() => undefined);
      throw mapped;
    }
    this.#scheduleDrain();
    await done;
    // A split applied while the read waited may have moved the key out: the child answers it.
    if (!this.ownsKey(key)) throw this.staleRangeError(key);
    return this.table.get(key);
  }

  /**
   * Proposes one single-server membership change and resolves once it is applied here. One change
   * at a time: a second one while the first is in flight is refused (BAD_REQUEST).
   */
  async changeMembership(change: { type: ConfChangeType; nodeId: number; address?: MemberAddress }): Promise<GroupMembership> {
    this.#checkOpen();
    if (this.#role !== Role.Leader) throw this.notLeaderError();
    if (this.#membershipWaiters.size > 0) {
      throw new UkvError("BAD_REQUEST", `A membership change of group ${this.groupId} is already in progress`);
    }
    this.#wake();
    const key = membershipWaiterKey(change.type, change.nodeId);
    const done = new Promise<void>((resolve, reject) => {
      const timer = this.#clock.setTimer(() => {
        this.#membershipWaiters.delete(key);
        reject(new UkvError("TIMEOUT", `Membership change not applied within ${membershipChangeTimeoutMs} ms (outcome unknown)`));
      }, membershipChangeTimeoutMs);
      this.#membershipWaiters.set(key, { resolve, reject, timer });
    });
    try {
      await this.#proposeConfChangePatiently({
        type: change.type,
        nodeId: change.nodeId,
        context: change.address === undefined ? new Uint8Array(0) : encodeMemberAddress(change.address),
      });
    } catch (error) {
      const waiter = this.#membershipWaiters.get(key);
      if (waiter !== undefined) waiter.timer.cancel();
      this.#membershipWaiters.delete(key);
      if (error instanceof ProposalDroppedError) {
        throw this.#role === Role.Leader
          ? new UkvError("BAD_REQUEST", `Group ${this.groupId} refused the change: another one is pending or leadership is moving`)
          : this.notLeaderError();
      }
      throw error;
    }
    this.#scheduleDrain();
    await done;
    return cloneMembership(this.#membership);
  }

  /**
   * A leader refuses a conf change while an earlier one is not applied yet, which includes the
   * moments right after an election (Raft's pending-conf rule): wait for that to clear, bounded.
   */
  async #proposeConfChangePatiently(change: ConfChange): Promise<void> {
    const deadline = this.#clock.nowMs() + confChangeRetryMsMax;
    for (;;) {
      try {
        this.#raw.proposeConfChange(change);
        return;
      } catch (error) {
        if (!(error instanceof ProposalDroppedError) || this.#role !== Role.Leader || this.#clock.nowMs() > deadline) throw error;
      }
      this.#scheduleDrain();
      await this.#clock.sleep(confChangeRetryDelayMs);
    }
  }

  membership(): GroupMembership {
    return cloneMembership(this.#membership);
  }

  /** Leader only: how far each member's log matches ours. */
  progress(): Map<number, { match: number; learner: boolean; state: string }> {
    const result = new Map<number, { match: number; learner: boolean; state: string }>();
    for (const [id, peer] of this.#raw.status().progress) result.set(id, { match: peer.match, learner: peer.learner, state: peer.state });
    return result;
  }

  lastIndex(): number {
    return this.#storage.lastIndex();
  }

  transferLeadership(to: number): void {
    this.#checkOpen();
    if (this.#role !== Role.Leader) throw this.notLeaderError();
    this.#wake();
    this.#raw.transferLeader(to);
    this.#scheduleDrain();
  }

  notLeaderError(): UkvError {
    const leaderAddress = this.#leader === 0 ? null : (this.#membership.addresses.get(this.#leader)?.clientAddress ?? null);
    const where = leaderAddress === null ? "no leader known yet" : `leader is ${this.#leader} at ${leaderAddress}`;
    return new UkvError("NOT_LEADER", `Node ${this.nodeId} is not the leader of group ${this.groupId}: ${where}`, {
      data: { leaderId: this.#leader, leaderAddress },
    });
  }

  isLeader(): boolean {
    return this.#role === Role.Leader;
  }

  /** Removed from its group: serves nothing (cheap, per request; summary() has it too). */
  isRemoved(): boolean {
    return this.#removed;
  }

  /** The core's current term. */
  currentTerm(): number {
    return this.#raw.termAndCommit().term;
  }

  /** A member's client address, without copying the membership (the request path asks per request). */
  memberClientAddress(memberId: number): string | null {
    return this.#membership.addresses.get(memberId)?.clientAddress ?? null;
  }

  leaderId(): number {
    return this.#leader;
  }

  /** No maps or address lists: a store with thousands of replicas builds this for each, every second. */
  summary(): GroupSummary {
    const raft = this.#raw.termAndCommit();
    return {
      nodeId: this.nodeId,
      groupId: this.groupId,
      role: this.#role,
      term: raft.term,
      leader: this.#leader,
      commitIndex: raft.commit,
      appliedIndex: this.#appliedIndex,
      lastIndex: this.#storage.lastIndex(),
      snapshotIndex: this.#snapshotIndex,
      keyCount: this.table.count(),
      membershipIndex: this.#membershipIndex,
      removed: this.#removed,
      quiesced: this.#quiesced,
    };
  }

  status(): GroupStatus {
    return {
      ...this.summary(),
      tableBytes: this.table.bytesUsed(),
      voters: [...this.#membership.conf.voters],
      learners: [...this.#membership.conf.learners],
      addresses: Object.fromEntries([...this.#membership.addresses].map(([id, address]) => [String(id), address])),
      range: this.#membership.range === undefined ? null : rangeToJson(this.#membership.range),
      progress: Object.fromEntries([...this.progress()].map(([id, peer]) => [String(id), peer])),
    };
  }

  /**
   * A snapshot of everything applied now (a backup's source): taken at once instead of at the
   * entry threshold; resolves with the snapshot once it is on disk (the newest one already is,
   * when nothing was applied since).
   */
  async snapshotNow(): Promise<SnapshotRef> {
    this.#checkOpen();
    const target = this.#appliedIndex;
    this.#snapshotWanted = true;
    this.#scheduleDrain();
    const deadlineMs = this.#clock.nowMs() + this.#requestTimeoutMs * 6;
    while (this.#snapshotIndex < target || this.#snapshotInFlight !== null) {
      if (this.#closed || this.#fatalError !== null) throw new UkvError("CLOSED", `Group ${this.groupId} stopped before its snapshot was taken`);
      if (this.#clock.nowMs() > deadlineMs) throw new UkvError("TIMEOUT", `Group ${this.groupId}: no snapshot of index ${target} within ${this.#requestTimeoutMs * 6} ms`);
      await this.#clock.sleep(10);
    }
    const ref = this.#snapshots.find(this.#snapshotIndex);
    if (ref === null) throw new UkvError("SNAPSHOT_CORRUPT", `Group ${this.groupId}: the snapshot at ${this.#snapshotIndex} is not on disk`);
    return ref;
  }

  /** Fails waiting clients and waits for the Ready in flight; the store closes the shared log. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#failoverTimer?.cancel();
    this.#neverMemberTimer?.cancel();
    const closedError = new UkvError("CLOSED", `Node ${this.nodeId} is shutting down`);
    this.#proposals.rejectAll(closedError);
    this.#reads.rejectAll(closedError);
    for (let waitIndex = 0; this.#completing && waitIndex < closeWaitCountMax; waitIndex++) await this.#clock.sleep(closeWaitDelayMs);
    await this.#snapshotInFlight;
    this.#baseDurable?.resolve(false);
    this.table.close();
  }

  /**
   * Resolves once no split child of this replica still needs its log (every child's base durable,
   * or the child gone): what must hold before the log is dropped by a snapshot install or by
   * deleting this replica. The store is asked (onSnapshotDeferred) to save the children now.
   * Null when none does.
   */
  whenSplitChildrenSaved(): Promise<void> | null {
    if (this.#splitBasesPending === 0 || this.#options.testOnly?.skipSplitChildrenWait === true) return null;
    if (this.#splitBasesSaved === null) {
      let resolve = (): void => undefined;
      const promise = new Promise<void>((settle) => (resolve = settle));
      this.#splitBasesSaved = { promise, resolve };
    }
    this.#options.onSnapshotDeferred?.();
    return this.#splitBasesSaved.promise;
  }

  /** Take a snapshot as soon as the apply loop allows, whatever the threshold says. */
  requestSnapshot(): void {
    if (this.#closed) return;
    this.#snapshotWanted = true;
    this.#scheduleDrain();
  }

  /**
   * inMemoryBase: resolves true once a snapshot made this replica's state durable (its log no
   * longer needs the parent's), false if it closed before; at once true without an in-memory base.
   */
  whenBaseDurable(): Promise<boolean> {
    return this.#baseDurable?.promise ?? Promise.resolve(true);
  }

  /**
   * Writes the hard state with the current commit index (a commit-only change is otherwise not
   * written at once): after this, a restart applies every entry applied so far from the local
   * log alone, before hearing from any leader.
   */
  async makeCommitDurable(): Promise<void> {
    this.#checkOpen();
    await this.#log.append({ entries: [], hardState: this.#storage.initialState().hardState });
  }

  #checkOpen(): void {
    if (this.#closed) throw new UkvError("CLOSED", `Node ${this.nodeId} is shutting down`);
    if (this.#removed) throw this.#removedError();
    if (this.#fatalError !== null) {
      throw new UkvError("IO_ERROR", `Group ${this.groupId} stopped: ${this.#fatalError.message}`);
    }
  }

  // ---- the Ready loop -------------------------------------------------------------------------
  //
  // Pipelined, as etcd's AsyncStorageWrites: a Ready's log append is issued as soon as the Ready is
  // taken, without waiting for the previous one's fdatasync (the store log queues it behind that
  // sync, and everything issued meanwhile shares the next one). Completion runs strictly in
  // order: the oldest Ready finishes (persisted -> send -> apply -> advance) before the next, so
  //   - a follower acknowledges entries only once they and every entry before them are durable;
  //   - the core hands out committed entries only up to the Ready's own last entry, and they are
  //     applied once that Ready is durable: an entry is applied only after it is durable here and
  //     (being committed) on a majority; a leader's own entries count towards a commit only once
  //     advance() reports them durable, so no acknowledged write depends on a pending fdatasync;
  //   - apply is off the persist path: the next batch is being appended while this one applies.

  #scheduleDrain(): void {
    if (this.#drainScheduled || this.#closed) return;
    this.#drainScheduled = true;
    // Deferred (setImmediate in a store), not a microtask: proposals and messages of this event-loop turn join the batch.
    this.#clock.defer(() => {
      this.#drainScheduled = false;
      this.#drain();
    });
  }

  /** Takes every Ready the pipeline has room for and issues its writes; completion runs apart. */
  #drain(): void {
    if (this.#closed || this.#fatalError !== null) return;
    try {
      while (this.#pipeline.length < readyPipelineDepthMax && !this.#persistBroken && this.#pipeline.at(-1)?.ready.snapshot == null) {
        if (!this.#raw.hasReady()) break;
        this.#pipeline.push(this.#issue(this.#raw.ready()));
      }
    } catch (error) {
      this.#stop(error);
      return;
    }
    if (this.#snapshotWanted) this.#maybeStartSnapshot();
    if (!this.#completing && this.#pipeline.length > 0) void this.#complete();
  }

  /** The part of a Ready that need not wait for earlier ones: soft state, a leader's sends, the append. */
  #issue(ready: Ready): InFlightReady {
    const lostLeadership = ready.softState !== null && this.#onSoftState(ready.softState.role, ready.softState.leader);
    if (ready.hardState !== null) this.#term = ready.hardState.term;
    const startedMs = this.#clock.nowMs();
    // A leader sends before persisting (Raft thesis 10.2.1): its own entries count towards a
    // commit only after advance(), i.e. once durable here, so FR3.3 still holds, and the
    // followers' fdatasync overlaps the leader's. Everyone else persists first: a vote or an
    // append acknowledgement must never get ahead of the disk.
    const sendFirst = this.#role === Role.Leader && ready.snapshot === null;
    let messages = ready.messages;
    if (sendFirst) this.#send(messages);
    else if (this.#options.testOnly !== undefined) messages = this.#testOnlyBreakOrder(ready);
    const batch = this.#walBatch(ready);
    const item: InFlightReady = {
      ready,
      messages: sendFirst ? [] : messages,
      batch,
      persisted: null,
      startedMs,
      // Failed once this Ready finishes, not now: the earlier Readies still in flight may apply
      // (and so acknowledge) some of them.
      rejectProposalsBelow: lostLeadership ? this.#proposals.nextSequence : 0,
    };
    // A snapshot is installed (and the log reset) once every earlier Ready finished; the
    // entries that come with it are appended after that, in #complete.
    if (ready.snapshot === null) this.#startAppend(item);
    return item;
  }

  /** The log record of a Ready, or null when it has nothing that must be durable before its messages go out. */
  #walBatch(ready: Ready): { entries: GroupLogEntry[]; hardState: GroupHardState } | null {
    const hardState = ready.hardState;
    // Term and vote must be durable before anyone hears of them; the commit index need not be
    // (it is learned again from the leader), so a commit-only change rides along with the next
    // entries instead of costing an fdatasync of its own.
    const termOrVoteChanged = hardState !== null && (hardState.term !== this.#issuedTerm || hardState.vote !== this.#issuedVote);
    if (hardState !== null) this.#storage.setHardState(hardState);
    if (ready.entries.length === 0 && !termOrVoteChanged) return null;
    const latestHardState = this.#storage.initialState().hardState;
    this.#issuedTerm = latestHardState.term;
    this.#issuedVote = latestHardState.vote;
    return { entries: ready.entries.map(entryToWal), hardState: latestHardState };
  }

  #startAppend(item: InFlightReady): void {
    if (item.batch === null) return;
    const persisted = this.#log.append(item.batch);
    // Marked at once (a microtask after the failure), so no later Ready is issued against a log
    // the store is rolling back; #complete retries this one and every later one, in order.
    persisted.catch(() => {
      this.#persistBroken = true;
    });
    item.persisted = persisted;
  }

  /** Finishes the Readies in order: each waits for its own append (and so for every earlier one). */
  async #complete(): Promise<void> {
    this.#completing = true;
    try {
      while (this.#pipeline.length > 0 && !this.#closed) {
        const item = this.#pipeline[0]!;
        await this.#awaitPersisted(item);
        if (this.#closed) break;
        await this.#finish(item);
        this.#pipeline.shift();
        this.#raw.advance(item.ready);
        this.#drain();
      }
    } catch (error) {
      this.#stop(error);
    } finally {
      this.#completing = false;
    }
    if (!this.#closed && this.#fatalError === null && this.#raw.hasReady()) this.#scheduleDrain();
  }

  /** A failed append (DISK_FULL, IO_ERROR) is retried with every later one, in order, until it succeeds. */
  async #awaitPersisted(item: InFlightReady): Promise<void> {
    if (item.ready.snapshot !== null) {
      if (!(await this.#installSnapshot(item.ready.snapshot))) return;
      this.#startAppend(item);
    }
    for (let attemptIndex = 0; ; attemptIndex++) {
      try {
        await item.persisted;
        break;
      } catch (error) {
        // A full disk must not crash the server nor lose data: clients get DISK_FULL while the
        // same batches are retried until space is freed. The core waits, since we hold its Readies.
        if (!isUkvError(error, "DISK_FULL") && !isUkvError(error, "IO_ERROR")) throw error;
        if (this.#closed) throw error;
        if (attemptIndex % 50 === 0) this.#logger.error({ event: "wal_append_failed", err: error, attemptIndex });
        this.#proposals.rejectAll(error as Error);
        // The store log undid every record after its durable end: the later Readies' appends
        // failed too (or were made against the undone log); all are made again, in order.
        await Promise.allSettled(this.#pipeline.map((later) => later.persisted));
        await this.#clock.sleep(persistRetryDelayMs);
        if (this.#closed) throw error;
        this.#persistBroken = false;
        for (const later of this.#pipeline) this.#startAppend(later);
      }
    }
  }

  /** After its append is durable: send (non-leaders), apply, confirm reads. */
  async #finish(item: InFlightReady): Promise<void> {
    const ready = item.ready;
    if (item.rejectProposalsBelow > 0) {
      // Our proposals may still commit under the next leader, or not: the outcome is unknown.
      // TIMEOUT, not NOT_LEADER: NOT_LEADER promises the write was never proposed (safe to retry
      // elsewhere); here it was, and may still commit.
      this.#proposals.rejectBelow(
        item.rejectProposalsBelow,
        new UkvError("TIMEOUT", `Node ${this.nodeId} lost the leadership of group ${this.groupId} before the write committed: outcome unknown`),
      );
    }
    if (ready.entries.length > 0) this.#storage.append(ready.entries);
    if (ready.hardState !== null) this.#options.probe?.committed(ready.hardState.term, ready.hardState.commit);
    const persistedMs = this.#clock.nowMs();
    this.#send(item.messages);
    // While a snapshot is being written (it holds the table's read lock on a native thread),
    // committed entries wait in the apply queue, as etcd's server applies after Advance: the
    // Ready loop, and with it heartbeats and replication, never waits on a snapshot. A conf
    // change is the exception: the core must learn it before the next Ready.
    for (const entry of ready.committedEntries) this.#applyQueue.push(entry);
    if (this.#snapshotInFlight !== null && ready.committedEntries.some((entry) => entry.type === EntryType.ConfChange)) {
      await this.#snapshotInFlight;
    }
    if (this.#snapshotInFlight === null) this.#applyQueued();
    if (this.#traceReady) {
      this.#logger.debug({
        event: "ready_handled",
        entryCount: ready.entries.length,
        messageCount: ready.messages.length,
        committedCount: ready.committedEntries.length,
        hardState: ready.hardState !== null,
        pipelined: this.#pipeline.length - 1,
        persistMs: Number((persistedMs - item.startedMs).toFixed(3)),
        totalMs: Number((this.#clock.nowMs() - item.startedMs).toFixed(3)),
      });
    }
    for (const readState of ready.readStates) {
      this.#reads.confirm(readState.context, readState.index, this.#appliedIndex);
    }
    this.#reads.applied(this.#appliedIndex);
    this.#maybeStartSnapshot();
  }

  /** A failed apply or snapshot install leaves the member in an unknown state: stop the group rather than serve wrong data. */
  #stop(error: unknown, why = "raft group stopped after an unrecoverable error", fields: Record<string, unknown> = {}): void {
    if (this.#fatalError !== null) return;
    this.#fatalError = error as Error;
    this.#logger.fatal({ event: "group_stopped", err: error, ...fields }, why);
    this.#options.probe?.stopped(error);
    this.#proposals.rejectAll(new UkvError("IO_ERROR", `Group ${this.groupId} stopped`, { cause: error }));
  }

  /**
   * TEST ONLY: work the Ready contract says must wait for persist, done before it (a mutation the
   * simulator must catch). Returns the messages still to send after persist.
   */
  #testOnlyBreakOrder(ready: Ready): Message[] {
    const testOnly = this.#options.testOnly;
    if (testOnly?.applyBeforePersist === true && ready.snapshot === null && this.#snapshotInFlight === null) {
      for (const entry of ready.committedEntries) this.#applyQueue.push(entry);
      this.#applyQueued();
    }
    if (testOnly?.ackBeforePersist !== true) return ready.messages;
    const isAck = (message: Message): boolean => message.type === MessageType.AppendResponse && !message.reject;
    this.#send(ready.messages.filter(isAck));
    return ready.messages.filter((message) => !isAck(message));
  }

  /** Applies every queued committed entry (those covered by an installed snapshot are skipped). */
  #applyQueued(): void {
    if (this.#applyQueue.length === 0) return;
    const queued = this.#applyQueue;
    this.#applyQueue = [];
    const entries = queued.filter((entry) => entry.index > this.#appliedIndex);
    if (entries.length === 0) return;
    this.#apply(entries);
    this.#options.onApplied?.(this.#appliedIndex);
    this.#reads.applied(this.#appliedIndex);
    this.#checkRemoval();
  }

  /** Starts a snapshot in the background when one is due; the apply queue holds entries meanwhile. */
  #maybeStartSnapshot(): void {
    if (this.#snapshotInFlight !== null || this.#installingSnapshot || this.#closed) return;
    // An in-memory base is worth saving even with nothing applied since (a cold split child).
    const wanted = this.#snapshotWanted && (this.#appliedIndex > this.#snapshotIndex || this.#baseDurable !== null);
    if (!wanted && this.#appliedIndex - this.#snapshotIndex < this.#options.snapshotEntriesThreshold) return;
    if (this.#splitBasesPending > 0) {
      // Once per child created: the store then asks its unlisted replicas (this one too, if it
      // is a child itself) for snapshots, which come back here; telling it again on each would
      // spin until the child's base is durable (found by the simulator).
      if (!this.#snapshotDeferralReported) {
        this.#snapshotDeferralReported = true;
        this.#options.onSnapshotDeferred?.();
      }
      return;
    }
    if (this.#clock.nowMs() < this.#snapshotRetryAfterMs) return;
    this.#snapshotWanted = false;
    this.#snapshotInFlight = this.#takeSnapshot()
      .catch((error: unknown) => this.#stop(error, "raft group stopped after a snapshot error"))
      .finally(() => {
        this.#snapshotInFlight = null;
        if (this.#closed) return;
        this.#applyQueued();
        this.#scheduleDrain();
      });
  }

  /** False when the replica closed before it could install (nothing changed). */
  async #installSnapshot(snapshot: Snapshot): Promise<boolean> {
    // No snapshot of our own may start until this one is in: between the core's log moving past
    // the applied index and the applied index following it, one would read a compacted term
    // (LogCompactedError, stopping the group: simulator seeds 256 and 801).
    this.#installingSnapshot = true;
    try {
      return await this.#installSnapshotNow(snapshot);
    } finally {
      this.#installingSnapshot = false;
    }
  }

  async #installSnapshotNow(snapshot: Snapshot): Promise<boolean> {
    const { index, term } = snapshot.metadata;
    while (this.#snapshotInFlight !== null) await this.#snapshotInFlight;
    // Resetting the log drops the split entries that the children's in-memory bases still need:
    // a crash after it left a child that no replay could rebuild, so the store held its records
    // and that shard lost this member for good (found by the simulator porting the store's child
    // order: seeds 256, 1703). The leader's snapshot waits until the children are saved.
    await this.whenSplitChildrenSaved();
    if (this.#closed) return false;
    // Only now does the received file become the snapshot a restart opens from (see
    // ReplicaSnapshots.createIncoming): before the wait, a crash restarted this replica past a
    // split its children still needed replayed.
    const info = await this.#snapshots.installReceived(index, term);
    const loaded = await this.#snapshots.load(info);
    this.#storage.applySnapshot(snapshot);
    // The log before the snapshot is gone, and what followed it came from an old leader: the
    // WAL restarts right after the snapshot.
    await this.#log.reset(index);
    this.#appliedIndex = index;
    this.#snapshotIndex = index;
    const fromFile = decodeMembership(loaded.metadata);
    this.#membership = { conf: snapshot.metadata.conf, addresses: fromFile.addresses, ...(fromFile.range === undefined ? {} : { range: fromFile.range }) };
    this.#membershipIndex = index;
    this.#wasMember ||= this.#isMember();
    this.#syncPeers();
    this.#logger.info({ event: "snapshot_installed", index, term, keyCount: this.table.count() });
    this.#options.probe?.snapshotInstalled(index);
    this.#options.metrics?.snapshotInstalled();
    // A split child's in-memory base is replaced by a durable one.
    this.#baseDurable?.resolve(true);
    this.#baseDurable = null;
    return true;
  }

  #send(messages: Message[]): void {
    const plain: Message[] = [];
    for (const message of messages) {
      if (message.type === MessageType.Snapshot) this.#sendSnapshot(message);
      else plain.push(message);
    }
    if (plain.length > 0) this.#options.transport.send(this.groupId, plain);
  }

  #sendSnapshot(message: Message): void {
    assert(message.snapshot !== null, "a snapshot message carries snapshot metadata");
    const { index, conf } = message.snapshot.metadata;
    if (!conf.voters.includes(message.to) && !conf.learners.includes(message.to)) {
      // A member refuses a snapshot that predates its own addition (it could not tell it is in
      // the group), so a new member needs a snapshot taken after it was added: take one now.
      this.#raw.reportSnapshot(message.to, false);
      this.#snapshotWanted = true;
      this.#scheduleDrain();
      return;
    }
    const info = this.#snapshots.find(index);
    if (info === null) {
      this.#raw.reportSnapshot(message.to, false);
      // An in-memory base (a split child's) has no file to send: make one.
      if (this.#baseDurable !== null) this.requestSnapshot();
      return;
    }
    this.#logger.info({ event: "snapshot_sending", to: message.to, index, sizeBytes: info.sizeBytes });
    this.#options.transport.sendSnapshot(this.groupId, message, info).then(
      () => {
        this.#logger.info({ event: "snapshot_sent", to: message.to, index });
        this.#options.metrics?.snapshotSent();
        this.#raw.reportSnapshot(message.to, true);
        this.#scheduleDrain();
      },
      (error: unknown) => {
        this.#logger.warn({ event: "snapshot_send_failed", to: message.to, index, err: error });
        this.#raw.reportSnapshot(message.to, false);
        this.#scheduleDrain();
      },
    );
  }

  #apply(entries: Entry[]): void {
    let ops: TableOp[] = [];
    let sequences: number[] = [];
    const transform = this.#options.transformBatch;
    const flush = (): void => {
      const finalOps = transform === undefined || ops.length === 0 ? ops : transform(ops, (key) => this.table.get(key));
      if (finalOps.length > 0) this.table.applyBatch(finalOps);
      for (const sequence of sequences) this.#proposals.resolve(sequence);
      ops = [];
      sequences = [];
    };
    for (const entry of entries) {
      assert(entry.index === this.#appliedIndex + 1, "committed entries apply in order, without gaps");
      if (entry.type === EntryType.ConfChange) {
        flush();
        this.#applyConfChange(entry);
      } else if (commandOpOf(entry.data) === CommandOp.BatchSet) {
        const batch = decodeBatchSetCommand(entry.data);
        const stray = batch.keys.find((key) => !this.ownsKey(key));
        if (stray !== undefined) {
          // Proposed before a split moved some of its keys away: none of it applies (a batch is
          // atomic), and the loader learns that it was not applied (STALE_EPOCH: route again).
          if (batch.proposerId === this.nodeId) this.#proposals.reject(batch.sequence, this.staleRangeError(stray));
        } else {
          // The whole batch joins one apply step (no flush inside it): atomic for readers.
          for (let index = 0; index < batch.keys.length; index++) ops.push({ kind: "set", key: batch.keys[index] as Uint8Array, value: batch.values[index] as Uint8Array });
          if (batch.proposerId === this.nodeId) sequences.push(batch.sequence);
          if (ops.length >= 4096) flush();
        }
      } else if (entry.data.byteLength > 0) {
        const command = decodeCommand(entry.data);
        if (command.op === CommandOp.Split) {
          flush();
          this.#applySplit(entry.index, command);
          this.#appliedIndex = entry.index;
          this.#options.probe?.entryApplied(entry);
          continue;
        }
        if (command.op === CommandOp.Flush) {
          flush();
          this.table.clear();
          if (command.proposerId === this.nodeId) this.#proposals.resolve(command.sequence);
          this.#appliedIndex = entry.index;
          this.#options.probe?.entryApplied(entry);
          continue;
        }
        const keyed = command.op === CommandOp.Keyed ? decodeKeyedTransaction(command.value) : null;
        const stray = (keyed === null ? [command.key] : keysOfTransaction(keyed)).find((key) => !this.ownsKey(key));
        if (stray !== undefined) {
          // Proposed before a split moved the key to another shard, committed after it: the
          // other shard owns it now, so it is not applied here and its proposer learns that it
          // was not (STALE_EPOCH: safe to route again).
          if (command.proposerId === this.nodeId) this.#proposals.reject(command.sequence, this.staleRangeError(stray));
          this.#appliedIndex = entry.index;
          this.#options.probe?.entryApplied(entry);
          continue;
        }
        if (keyed !== null) {
          // Reads the table as the entries before left it: everything pending goes in first.
          flush();
          const result = executeKeyedTransaction(keyed, (key) => this.table.get(key));
          if (result.ops.length > 0) this.table.applyBatch(result.ops);
          if (command.proposerId === this.nodeId) this.#proposals.resolve(command.sequence, encodeKeyedReply(result.reply));
          this.#appliedIndex = entry.index;
          this.#options.probe?.entryApplied(entry);
          continue;
        }
        ops.push(
          command.op === CommandOp.Set
            ? { kind: "set", key: command.key, value: command.value }
            : { kind: "delete", key: command.key },
        );
        if (command.proposerId === this.nodeId) sequences.push(command.sequence);
        if (ops.length >= 4096) flush();
      }
      this.#appliedIndex = entry.index;
      this.#options.probe?.entryApplied(entry);
    }
    flush();
  }

  /**
   * The split at `index`, the same on every replica: the range keeps [start, at - 1], the keys of
   * [at, end] leave the table and go to the store with the child's range and membership. A split
   * of another version (proposed twice, or replayed over a newer range) changes nothing.
   */
  #applySplit(index: number, command: Command): void {
    const payload = decodeSplitPayload(command);
    const range = this.#membership.range;
    const mine = command.proposerId === this.nodeId;
    if (range === undefined || range.version !== payload.expectedVersion || payload.at <= range.start || payload.at > range.end) {
      const why = range === undefined ? "it owns no range" : `its range is ${formatRange(range)}`;
      this.#logger.info({ event: "split_skipped", index, childId: payload.childId, at: formatHash(payload.at), expectedVersion: payload.expectedVersion, why });
      if (mine) this.#proposals.reject(command.sequence, new UkvError("STALE_EPOCH", `Split of shard ${this.groupId} at version ${payload.expectedVersion} not applied: ${why}`));
      return;
    }
    const { parent, child } = splitRange(range, payload.at);
    // The one O(keys) step inside the apply: a single native pass moving the child's entries to
    // a new table (docs/design.md, "Split"); everything else (copy to disk, the child's start)
    // happens in the store after it, while this replica keeps applying.
    const takeStartedMs = this.#clock.nowMs();
    const childState = this.table.takeHashRange(payload.at, range.end);
    const takeMs = Math.round(this.#clock.nowMs() - takeStartedMs);
    this.#membership = { ...this.#membership, range: parent };
    const childMembership: GroupMembership = { ...cloneMembership(this.#membership), range: child };
    this.#logger.info({ event: "split_applied", index, childId: payload.childId, parent: formatRange(parent), child: formatRange(child), movedKeyCount: childState.count(), takeMs });
    const onSplit = this.#options.onSplit;
    if (onSplit !== undefined) {
      this.#splitChildrenPending++;
      this.#splitBasesPending++;
      onSplit({ childId: payload.childId, splitIndex: index, membership: childMembership, stateMachine: childState })
        .then(
          async (created) => {
            this.#splitChildrenPending--;
            // Once per child opened, not per split applied: a deferral reported before the child
            // was open asked the store for nothing, and the parent never snapshotted again
            // (simulator seed 1562: a learner added later never got a snapshot).
            this.#snapshotDeferralReported = false;
            if (!this.#closed) this.#maybeStartSnapshot();
            try {
              await created?.baseDurable;
            } catch (error) {
              // Not known durable: this replica must keep the split in its log, so it stops here.
              this.#stop(error, "the base of a split child could not be made durable", { childId: payload.childId });
            }
          },
          (error: unknown) => {
            // The child is not on this store: stop this replica, so a restart replays the split.
            this.#splitChildrenPending--;
            this.#stop(error, "the child of a split could not be created", { childId: payload.childId });
          },
        )
        .finally(() => {
          this.#splitBasesPending--;
          if (this.#splitBasesPending === 0) {
            this.#splitBasesSaved?.resolve();
            this.#splitBasesSaved = null;
          }
          if (!this.#closed) this.#maybeStartSnapshot();
        });
    } else {
      childState.close();
    }
    if (mine) this.#proposals.resolve(command.sequence);
  }

  #applyConfChange(entry: Entry): void {
    const change = decodeConfChange(entry.data);
    const conf = this.#raw.applyConfChange(change);
    const addresses = new Map(this.#membership.addresses);
    const address = decodeMemberAddress(change.context);
    if (change.type === ConfChangeType.RemoveNode) addresses.delete(change.nodeId);
    else if (address !== null) addresses.set(change.nodeId, address);
    this.#membership = { ...this.#membership, conf, addresses };
    this.#membershipIndex = entry.index;
    this.#wasMember ||= this.#isMember();
    this.#syncPeers();
    this.#logger.info({
      event: "membership_changed",
      index: entry.index,
      change: ConfChangeType[change.type],
      member: change.nodeId,
      voters: conf.voters,
      learners: conf.learners,
    });
    const waiter = this.#membershipWaiters.get(membershipWaiterKey(change.type, change.nodeId));
    if (waiter !== undefined) {
      waiter.timer.cancel();
      this.#membershipWaiters.delete(membershipWaiterKey(change.type, change.nodeId));
      waiter.resolve();
    }
    // Our own removal counts once nothing newer is known: a replica re-added to a store replays
    // the log from the start (its id is the store's), old removal of itself included, and must
    // not delete itself for an entry that later ones undo. Checked after each applied batch.
    if (change.type === ConfChangeType.RemoveNode && change.nodeId === this.nodeId) this.#removalAppliedIndex = entry.index;
  }

  /** After a batch: a removal of this replica stands when it is still out and nothing newer is committed. */
  #checkRemoval(): void {
    if (this.#removalAppliedIndex === 0 || this.#removed) return;
    if (this.#isMember()) {
      this.#removalAppliedIndex = 0;
      return;
    }
    if (this.#appliedIndex < this.#raw.termAndCommit().commit) return;
    const index = this.#removalAppliedIndex;
    this.#removalAppliedIndex = 0;
    this.#onRemoved(index);
  }

  /**
   * The metadata group knows a newer membership of this group that excludes this member: it was
   * removed while it could not hear of it (a leader stops replicating to a removed member at
   * once, so the member may never apply its own removal).
   */
  removedElsewhere(confIndex: number): void {
    if (this.#removed || confIndex <= this.#membershipIndex) return;
    // A replica that never was a member may be one made for an add-replica whose learner add has
    // not reached it yet: it goes only once it stayed outside for a while. Never a member, it never
    // counted in a quorum, so deleting it cannot lose an acknowledged write (and should its add
    // commit after all, rerunning add-replica places the replica again).
    const graceMs = Math.max(neverMemberRemovalGraceMsMin, neverMemberRemovalGraceElections * this.#options.tickMs * this.#options.electionTicks);
    const graceLeftMs = this.#openedMs + graceMs - this.#clock.nowMs();
    if (!this.#wasMember && graceLeftMs > 0) {
      // The metadata may report nothing new for long: look again when the grace is over.
      this.#neverMemberTimer ??= this.#clock.setTimer(() => {
        this.#neverMemberTimer = null;
        if (!this.#closed && !this.#isMember()) this.removedElsewhere(confIndex);
      }, graceLeftMs);
      return;
    }
    this.#logger.warn({ event: "removal_learned_from_meta", confIndex, membershipIndex: this.#membershipIndex });
    this.#onRemoved(confIndex);
  }

  #isMember(): boolean {
    return this.#membership.conf.voters.includes(this.nodeId) || this.#membership.conf.learners.includes(this.nodeId);
  }

  /** Removed from the group: stop ticking (no elections that could disturb it) and stop serving. */
  #onRemoved(index: number): void {
    this.#removed = true;
    this.#logger.warn({ event: "removed_from_group", index }, `node ${this.nodeId} was removed from group ${this.groupId}: it serves nothing more`);
    this.#proposals.rejectAll(this.#removedError());
    this.#reads.rejectAll(this.#removedError());
    this.#options.onRemoved?.();
  }

  #removedError(): UkvError {
    return new UkvError("NOT_LEADER", `Node ${this.nodeId} was removed from group ${this.groupId}`, {
      data: { leaderId: this.#leader, leaderAddress: this.#membership.addresses.get(this.#leader)?.clientAddress ?? null },
    });
  }

  /** Keeps the transport's peer list equal to the group's membership. */
  #syncPeers(): void {
    this.#options.onMembershipChanged?.(cloneMembership(this.#membership));
  }

  async #takeSnapshot(): Promise<void> {
    const threshold = this.#options.snapshotEntriesThreshold;
    assert(this.#applyQueue.length === 0, "the snapshot is of everything applied, nothing queued");
    const index = this.#appliedIndex;
    const term = this.#storage.term(index);
    let info: Awaited<ReturnType<ReplicaSnapshots["save"]>>;
    try {
      info = await this.#snapshots.save({ index, term, metadata: encodeMembership(this.#membership) });
    } catch (error) {
      // A snapshot only shortens the log: a full or failing disk must not stop the group (found
      // by the chaos disk-full nemesis). Nothing changed yet; try again after a pause.
      if (!isUkvError(error, "DISK_FULL") && !isUkvError(error, "IO_ERROR")) throw error;
      this.#logger.warn({ event: "snapshot_failed", index, err: error });
      this.#snapshotRetryAfterMs = this.#clock.nowMs() + snapshotRetryDelayMs;
      return;
    }
    // A cold split child saves its in-memory base: the core has that snapshot already.
    if (index > this.#snapshotIndex) this.#storage.createSnapshot(index, this.#membership.conf, new Uint8Array(0));
    // Keep a tail of the log so a follower that is slightly behind catches up by log, not snapshot.
    const compactIndex = Math.max(this.#storage.firstIndex() - 1, index - Math.floor(threshold / 4));
    if (compactIndex >= this.#storage.firstIndex()) {
      this.#storage.compact(compactIndex);
      await this.#log.compact(compactIndex);
    }
    this.#snapshotIndex = index;
    this.#logger.info({ event: "snapshot_taken", index, term, sizeBytes: info.sizeBytes, compactIndex });
    this.#options.metrics?.snapshotTaken();
    this.#baseDurable?.resolve(true);
    this.#baseDurable = null;
  }

  /** Returns whether this replica stopped leading. */
  #onSoftState(role: Role, leader: number): boolean {
    const wasLeader = this.#role === Role.Leader;
    if (role !== this.#role || leader !== this.#leader) {
      this.#logger.info({ event: "role_changed", role, leader, term: this.#raw.status().term });
    }
    if (role !== this.#role) this.#options.probe?.roleChanged(role, this.#raw.termAndCommit().term);
    const leaderChanged = leader !== this.#leader;
    if (leaderChanged && leader !== 0) this.#options.metrics?.leaderChanged();
    this.#role = role;
    this.#leader = leader;
    if (leaderChanged) this.#options.onLeaderChanged?.(leader);
    return wasLeader && role !== Role.Leader;
  }
}

/** A Ready taken from the core and not finished yet. */
interface InFlightReady {
  ready: Ready;
  /** What is sent once the Ready is durable (a leader sent its messages when it took the Ready). */
  messages: Message[];
  batch: { entries: GroupLogEntry[]; hardState: GroupHardState } | null;
  /** The append made for this Ready (null: nothing to write, or a snapshot not installed yet). */
  persisted: Promise<void> | null;
  startedMs: number;
  /** This Ready ended our leadership: proposals below this sequence fail when it finishes (0: none). */
  rejectProposalsBelow: number;
}

function cloneMembership(membership: GroupMembership): GroupMembership {
  return {
    conf: { voters: [...membership.conf.voters], learners: [...membership.conf.learners] },
    addresses: new Map([...membership.addresses].map(([id, address]) => [id, { ...address }])),
    ...(membership.range === undefined ? {} : { range: { ...membership.range } }),
  };
}

function membershipWaiterKey(type: ConfChangeType, nodeId: number): string {
  return `${type}/${nodeId}`;
}

/** Election jitter differs per replica but replays per (store, group). */
function seedFor(nodeId: number, groupId: number): number {
  return ((nodeId * 2654435761) ^ (groupId * 40503)) >>> 0;
}

/** The fields of a Quiesce message that are not filled per receiver. */
const quiesceTemplate: Omit<Message, "from" | "to" | "term" | "commit" | "index"> = {
  type: MessageType.Quiesce,
  logTerm: 0,
  entries: [],
  reject: false,
  rejectHint: 0,
  rejectHintTerm: 0,
  snapshot: null,
  context: new Uint8Array(0),
};
