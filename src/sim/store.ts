// One simulated store: a process hosting replicas of several Raft groups, each run by the real
// driver (src/node/group-runtime.ts) over the store's simulated IO: one shared log on one disk
// (disk.ts), snapshot files, one network endpoint, and a StoreClock on the virtual time. The
// simulator has no Ready loop of its own: what it checks is what the driver does.
// A crash takes the whole store down (every replica's volatile state, timers and writes in
// flight; a torn write may keep a prefix of the shared log's unsynced records); a restart
// recovers every group in the manifest from the disk alone, as src/store/store.ts does.
// A split applied by a replica here creates the child's replica from the keys it took in the real
// store's order (src/store/store.ts): the parent's commit and the child's log reset and hard state
// (slow writes like any other), then the child opens at once over its in-memory base
// (src/node/split-child.ts), and the manifest lists it only once its first snapshot is durable.
// A restart holds an unlisted child's records in the log, and the parent's replay of the split
// rebuilds the child's base under them. The parent's driver keeps its log (no snapshot of its own
// or from its leader) until its children's bases are durable, and the store deletes a removed
// replica only then (GroupRuntime.whenSplitChildrenSaved). As in the real store, a snapshot
// received from the leader becomes a snapshot file only when the driver installs it (a restart
// forgets it before: src/sim/replica-state.ts), and a restarted replica refuses the leader's
// snapshots until it applied the committed entries it recovered (GroupRuntime.receiveSnapshot).
// The checkers see through the driver's probe (roles, applies, snapshots installed), the disk
// (persisted entries and commit indexes, what a crash keeps) and the transport (every ack).
import { assert } from "../util/assert.ts";
import type { Logger } from "../util/log.ts";
import { EntryType, MessageType, Role, type Entry, type Message } from "../raft/types.ts";
import { CommandOp, commandOpOf, decodeCommand } from "../node/command.ts";
import { decodeKeyedTransaction, keysOfTransaction } from "../kv/keyed-commands.ts";
import { GroupRuntime, type ReplicaTestOnlyOptions, type SplitChild } from "../node/group-runtime.ts";
import { splitCampaignDelayTicks, splitChildBase } from "../node/split-child.ts";
import type { GroupRecovery } from "../storage/store-log.ts";
import type { KeyRange } from "../ring/range-map.ts";
import { keyHash } from "../ring/key-hash.ts";
import { entryFromWal, type GroupMembership } from "../node/log-codec.ts";
import type { ReplicaTransport, SnapshotRef } from "../node/replica-io.ts";
import type { SafetyChecker } from "./checker.ts";
import { StoreClock, tickMs, type VirtualClock } from "./clock.ts";
import { SimGroupLog, SimStoreDisk, type DiskRecord } from "./disk.ts";
import { SimKv, SimReplicaState } from "./replica-state.ts";
import type { SimMutation } from "./mutations.ts";
import type { SimStats } from "./stats.ts";
import type { Trace } from "./trace.ts";

/** Raft timing of every simulated replica (ticks). */
export const electionTicks = 10;
export const heartbeatTicks = 1;

/** A packet on the simulated wire between two stores, tagged with its group. */
export interface Packet {
  from: number;
  to: number;
  groupId: number;
  message: Message;
  /** A snapshot transfer: the file's bytes, and the sender's promise to settle. */
  snapshot: { bytes: Uint8Array; settle(ok: boolean): void } | null;
}

export interface StoreHost {
  readonly clock: VirtualClock;
  readonly trace: Trace;
  readonly stats: SimStats;
  readonly logger: Logger;
  /** TEST ONLY: the driver's deliberate bugs of this run (none in a normal run). */
  readonly testOnly: ReplicaTestOnlyOptions | undefined;
  /** The driver snapshots after this many applied entries. */
  readonly snapshotEntriesThreshold: number;
  /** The driver's quiescence setting (0 = off). */
  readonly quiesceAfterTicks: number;
  checker(groupId: number): SafetyChecker;
  /**
   * Records the run's failure (a checker's SimViolation or an unexpected error) raised inside a
   * callback of the driver, which must not swallow it; the runner ends the run at the end of the step.
   */
  fail(error: unknown): void;
  /** Puts a packet on the network (it may be lost); false when it never left. */
  send(packet: Packet): boolean;
  /** Ticks the next record takes to land; 0 lands it this tick. */
  writeDelayTicks(): number;
  /** Called after each committed entry a replica applied (conf changes, client values, probes). */
  entryApplied(store: SimStore, groupId: number, entry: Entry): void;
  /** Called when a replica's group stopped on an error (a crash of the run). */
  groupStopped(store: SimStore, groupId: number, error: unknown): void;
  /** The run's deliberate bug, if any (the split ones live in this store's creation of a child). */
  readonly mutation: SimMutation | null;
  /** A replica here applied a split: `parent` is its range now, `child` the range the store creates the child with. */
  splitApplied(store: SimStore, parentId: number, parent: KeyRange, childId: number, child: KeyRange): void;
  /** The store opens a split child's replica over these keys (its base, not yet durable: the manifest lists it later). */
  childCreated(store: SimStore, childId: number, membership: GroupMembership, state: SimKv): void;
}

export interface SimReplica {
  readonly groupId: number;
  readonly runtime: GroupRuntime;
  readonly state: SimReplicaState;
  /** The commit index it recovered: until it applied that far, its restart is still replaying its log. */
  readonly recoveredCommit: number;
  role: Role;
  /** The store is deleting it (waiting for its split children's bases). */
  deleting: boolean;
}

export class SimStore {
  readonly id: number;
  readonly disk: SimStoreDisk;
  readonly #host: StoreHost;
  #clock: StoreClock | null = null;
  /** Bumped at each start: callbacks of an earlier incarnation are ignored. */
  #incarnation = 0;
  readonly replicas = new Map<number, SimReplica>();
  /** Groups whose replica here is being opened (GroupRuntime.open is async). */
  readonly #opening = new Set<number>();
  /** Split children being created, until their replica is open. */
  readonly #creating = new Set<number>();
  /** Split children created here and not yet listed in the manifest (their base not yet durable). */
  readonly #unlisted = new Set<number>();
  /** After a restart: the log records of unlisted children, held for their parent's replay of the split. */
  readonly #held = new Map<number, GroupRecovery>();
  /**
   * Replicas to delete (removed from their group): each waits for its split children's bases, and
   * for a restart's replay of its log; a crash keeps them for the next incarnation.
   */
  readonly #deletions = new Set<number>();
  /** Children whose creation a crash interrupted (the stats count those a replay created later). */
  readonly #interrupted = new Set<number>();
  /** Applied index of each replica, kept for the durability check at a crash. */
  readonly #appliedBeforeCrash = new Map<number, number>();

  constructor(id: number, host: StoreHost, options: { dropEverySecondSync: boolean }) {
    this.id = id;
    this.#host = host;
    this.disk = new SimStoreDisk(options);
  }

  get live(): boolean {
    return this.#clock !== null;
  }

  /** A split child created here is not listed yet: its apply happened, its base is not durable. */
  get creatingChild(): boolean {
    return this.#unlisted.size > 0;
  }

  get busy(): boolean {
    return this.#opening.size > 0 || this.#creating.size > 0;
  }

  /**
   * The store hosts the group: listed, open, being created, or with records in its log that no
   * deletion marked (a split child held for its parent's replay, even while the store is down).
   */
  hosts(groupId: number): boolean {
    return this.disk.manifest.has(groupId) || this.replicas.has(groupId) || this.#creating.has(groupId) || (this.disk.hasLog(groupId) && !this.disk.removed.has(groupId));
  }

  /** Boots the store: every group of its manifest is recovered from the disk alone. */
  async start(): Promise<void> {
    assert(!this.live, "a store starts only when down");
    this.#incarnation += 1;
    this.#clock = new StoreClock(this.#host.clock);
    // Records of a group the manifest does not list: a removed group's go; a split child's whose
    // base was not durable stay, held until the parent's replay of the split rebuilds that base.
    for (const groupId of this.disk.unlistedLogs()) {
      const recovery = this.disk.recovery(groupId);
      if (this.disk.removed.has(groupId) || recovery === null) this.disk.dropLog(groupId);
      else this.#held.set(groupId, recovery);
    }
    const opens = [...this.disk.manifest].map(([groupId, membership]) => this.#open(groupId, membership));
    await Promise.all(opens);
  }

  /** Creates a replica of a group that this store did not host (the operator's add-replica). */
  async addReplica(groupId: number, membership: GroupMembership): Promise<void> {
    assert(this.live && !this.disk.manifest.has(groupId), "a live store adds a group it does not host");
    this.disk.manifest.set(groupId, membership);
    await this.#open(groupId, membership);
  }

  /**
   * The replica was removed from its group: the store deletes it (its log and files), as the real
   * store does once no split child needs its log any more. Not hosted right now (the store down,
   * the replica opening or held), it is deleted once it opened and replayed its log. False when
   * its deletion was asked already.
   */
  deleteReplica(groupId: number): boolean {
    if (this.#deletions.has(groupId)) return false;
    this.#deletions.add(groupId);
    const replica = this.replicas.get(groupId);
    if (replica !== undefined) this.#deleteWhenChildrenSaved(replica);
    return true;
  }

  #deleteWhenChildrenSaved(replica: SimReplica): void {
    if (!this.#deletionDue(replica)) return;
    replica.deleting = true;
    const saved = replica.runtime.whenSplitChildrenSaved();
    if (saved === null) this.#delete(replica);
    else void saved.then(() => this.#delete(replica));
  }

  #delete(replica: SimReplica): void {
    const { groupId } = replica;
    // A crash since the wait began: the next incarnation deletes it.
    if (this.replicas.get(groupId) !== replica || !this.#deletions.delete(groupId)) return;
    this.disk.forgetGroup(groupId);
    this.replicas.delete(groupId);
    this.#unlisted.delete(groupId);
    this.#appliedBeforeCrash.delete(groupId);
    void replica.runtime.close();
    void this.#groupLog(groupId, this.#incarnation).remove();
  }

  /** Whole-store crash; returns the records lost. */
  crash(tornRecordCount: number): number {
    assert(this.live, "only a live store crashes");
    this.#clock?.kill();
    this.#clock = null;
    if (this.#unlisted.size > 0) this.#host.stats.splitCrashes += 1;
    for (const childId of this.#unlisted) this.#interrupted.add(childId);
    this.replicas.clear();
    this.#opening.clear();
    this.#creating.clear();
    this.#unlisted.clear();
    this.#held.clear();
    const lost = this.disk.crash(tornRecordCount);
    for (const [groupId, appliedIndex] of this.#appliedBeforeCrash) {
      this.#host.checker(groupId).appliedWithinDurable(this.id, appliedIndex, this.disk.durableIndex(groupId), "crash");
    }
    this.#appliedBeforeCrash.clear();
    return lost;
  }

  /** One tick of every replica (unless the store's clock misses it). */
  tick(skipped: boolean): void {
    if (!this.live || skipped) return;
    for (const replica of this.replicas.values()) replica.runtime.tick();
  }

  /** Lands due disk writes and runs due timers and deferred calls; returns whether anything happened. */
  runDue(): boolean {
    const clock = this.#clock;
    if (clock === null) return false;
    const landed = this.disk.landDue(this.#host.clock.nowTicks);
    const ran = clock.runDue();
    return landed + ran > 0;
  }

  /** A packet arrived for this store. */
  deliver(packet: Packet): boolean {
    const replica = this.replicas.get(packet.groupId);
    if (!this.live || replica === undefined) return false;
    if (packet.snapshot === null) {
      replica.runtime.step([packet.message]);
      return true;
    }
    const snapshot = packet.snapshot;
    replica.runtime.receiveSnapshot(packet.message, chunksOf(snapshot.bytes)).then(
      () => snapshot.settle(true),
      () => snapshot.settle(false),
    );
    return true;
  }

  /** The store heard nothing from `peer` for an election timeout (store-level liveness, as src/store/store.ts). */
  peerSuspected(peer: number): void {
    for (const replica of this.replicas.values()) replica.runtime.peerSuspected(peer);
  }

  reportUnreachable(groupId: number, peer: number): void {
    this.replicas.get(groupId)?.runtime.reportUnreachable(peer);
  }

  /**
   * Opens a replica of the group, from what the disk holds of it; `child`: a split child's, over
   * the keys its split took (its in-memory base) and the log records it continues.
   */
  async #open(groupId: number, membership: GroupMembership, child?: { keys: SimKv; recovery: GroupRecovery }): Promise<SimReplica | null> {
    const incarnation = this.#incarnation;
    const clock = this.#clock;
    assert(clock !== null, "a live store opens its groups");
    const host = this.#host;
    const state = new SimReplicaState(
      groupId,
      this.disk,
      () => {
        if (this.#incarnation === incarnation) host.stats.snapshots += 1;
      },
      child?.keys,
      host.mutation === "received-snapshot-at-once",
    );
    const base = child === undefined ? undefined : splitChildBase().inMemoryBase;
    if (child !== undefined && base !== undefined) state.tracker.startAt(base.index, child.keys.contentDigest());
    let replica: SimReplica | null = null;
    // Callbacks of a crashed incarnation, or of a replica the store deleted (its Ready in flight
    // may still finish), reach nothing: that process, or that replica, is gone.
    const current = (): boolean => this.#incarnation === incarnation && this.#clock === clock && (replica === null || this.replicas.get(groupId) === replica);
    const guard = (body: () => void): void => {
      try {
        body();
      } catch (error) {
        host.fail(error);
      }
    };
    this.#opening.add(groupId);
    const runtime = await GroupRuntime.open({
      nodeId: this.id,
      groupId,
      initialMembership: membership,
      log: this.#groupLog(groupId, incarnation),
      recovery: child?.recovery ?? this.disk.recovery(groupId),
      state,
      transport: this.#transport(groupId, current, () => replica),
      clock,
      randomSeed: (this.id * 2654435761 + groupId * 40503 + incarnation * 97) >>> 0,
      logger: host.logger.child({ node: this.id, shard: groupId }),
      tickMs,
      electionTicks,
      heartbeatTicks,
      snapshotEntriesThreshold: host.snapshotEntriesThreshold,
      requestTimeoutMs: 200 * tickMs,
      quiesceAfterTicks: host.quiesceAfterTicks,
      onSplit: (split) => this.#createSplitChild(split, groupId, () => replica),
      onSnapshotDeferred: () => {
        if (current()) this.#requestChildBaseSnapshots();
      },
      ...(base === undefined ? {} : { inMemoryBase: base }),
      onRemoved: () => {
        if (current()) host.trace.record(host.clock.nowTicks, "decommission", this.id, "applied its own removal", groupId);
      },
      probe: {
        roleChanged: (role, term) => guard(() => {
          if (!current() || replica === null) return;
          replica.role = role;
          host.trace.record(host.clock.nowTicks, "role", this.id, `${role} in term ${term}`, groupId);
          if (role !== Role.Leader) return;
          host.stats.elections += 1;
          const checker = host.checker(groupId);
          checker.leaderElected(this.id, term);
          checker.leaderLogComplete(this.id, term, this.disk.durable(groupId));
        }),
        committed: (term, commitIndex) => guard(() => {
          if (current()) this.#observeCommit(groupId, term, commitIndex);
        }),
        entryApplied: (entry) => guard(() => {
          if (!current()) return;
          const checker = host.checker(groupId);
          checker.appliedWithinDurable(this.id, entry.index, this.disk.durableIndex(groupId), "apply");
          state.tracker.apply(entry);
          const outcome = keyedOutcome(entry, (key) => state.stateMachine.get(key));
          if (outcome !== null) state.tracker.mix(outcome);
          this.#appliedBeforeCrash.set(groupId, entry.index);
          checker.entryApplied(this.id, entry, state.tracker.digest);
          host.entryApplied(this, groupId, entry);
          this.#deleteIfReplayed(replica);
        }),
        snapshotInstalled: (index) => guard(() => {
          if (!current()) return;
          this.#appliedBeforeCrash.set(groupId, index);
          host.checker(groupId).snapshotApplied(this.id, index, state.tracker.digest);
          host.stats.snapshotsInstalled += 1;
          host.trace.record(host.clock.nowTicks, "apply", this.id, `snapshot at ${index}`, groupId);
          this.#deleteIfReplayed(replica);
        }),
        stopped: (error) => {
          if (current()) host.groupStopped(this, groupId, error);
        },
      },
      ...(host.testOnly === undefined ? {} : { testOnly: host.testOnly }),
    });
    if (!current()) return null;
    this.#opening.delete(groupId);
    replica = { groupId, runtime, state, recoveredCommit: runtime.summary().commitIndex, role: Role.Follower, deleting: false };
    this.replicas.set(groupId, replica);
    this.#appliedBeforeCrash.set(groupId, state.tracker.appliedIndex);
    this.#deleteIfReplayed(replica);
    return replica;
  }

  /**
   * A deletion waits until the replica replayed the log it recovered: until then the splits in it
   * have not recreated their children, and none would wait for them.
   */
  #deletionDue(replica: SimReplica): boolean {
    return !replica.deleting && this.#deletions.has(replica.groupId) && replica.runtime.summary().appliedIndex >= replica.recoveredCommit;
  }

  /** A deletion waiting for the replica to open and replay its log starts now (outside the apply that got there). */
  #deleteIfReplayed(replica: SimReplica | null): void {
    if (replica !== null && this.#deletionDue(replica)) this.#clock?.defer(() => this.#deleteWhenChildrenSaved(replica));
  }

  /** A parent's snapshot or deletion waits for its split children's bases: every unlisted replica here takes a snapshot now. */
  #requestChildBaseSnapshots(): void {
    for (const [groupId, replica] of this.replicas) if (!this.disk.manifest.has(groupId)) replica.runtime.requestSnapshot();
  }

  /**
   * The child of a split a replica of `parentId` applied here, in the real store's order
   * (src/store/store.ts, #createSplitChild): a child the store hosts, or removed, is left as it is
   * (a replayed split); one whose records a restart held is rebuilt over them (or only listed, if
   * its first snapshot was durable already); a new one writes the parent's commit and its own log
   * reset and hard state (one batch of the store log, in that order). It opens at once over the
   * keys the split took, and the manifest lists it when its first snapshot is durable (the
   * returned baseDurable). Mutations "split-drops-key" and "split-overlaps" break it here, for the
   * checkers to catch.
   */
  async #createSplitChild(child: SplitChild, parentId: number, parentReplica: () => SimReplica | null): Promise<void | { baseDurable: Promise<void> }> {
    const host = this.#host;
    const incarnation = this.#incarnation;
    const { childId } = child;
    assert(child.stateMachine instanceof SimKv, "a simulated replica's split child holds a simulated table");
    const keys = child.stateMachine;
    let membership = child.membership;
    assert(membership.range !== undefined, "a split child owns a range");
    if (host.mutation === "split-drops-key") {
      const dropped = [...keys.map.keys()].filter((key) => key.startsWith("key-")).sort()[0];
      if (dropped !== undefined) keys.map.delete(dropped);
    }
    if (host.mutation === "split-overlaps") membership = { ...membership, range: { ...membership.range, start: membership.range.start - 1n } };
    const parent = parentReplica();
    const parentRange = parent?.runtime.range() ?? null;
    assert(parent !== null && parentRange !== null, "a split applies in a replica the store opened, which owns a range");
    try {
      host.splitApplied(this, parentId, parentRange, childId, membership.range as KeyRange);
    } catch (error) {
      // A checker's violation ends the run; thrown from here, the driver would only stop the parent.
      host.fail(error);
      keys.close();
      return;
    }
    host.stats.splitsApplied += 1;
    if (this.replicas.has(childId) || this.disk.manifest.has(childId) || this.disk.removed.has(childId) || this.#creating.has(childId) || this.#opening.has(childId)) {
      keys.close();
      return;
    }
    const held = this.#held.get(childId) ?? null;
    this.#held.delete(childId);
    let replica: SimReplica | null;
    if (held !== null && this.disk.snapshots.has(childId)) {
      // Its first snapshot became durable just before a crash (the manifest not written yet).
      keys.close();
      this.disk.manifest.set(childId, membership);
      replica = await this.#open(childId, membership);
    } else {
      replica = await this.#createFromBase(childId, parentId, parent, membership, keys, held);
    }
    if (replica === null || this.#clock === null) return;
    if (parentReplica()?.runtime.isLeader() === true) {
      this.#clock.setTimer(() => this.replicas.get(childId)?.runtime.campaignIfLeaderless(), tickMs * splitCampaignDelayTicks);
    }
    return { baseDurable: this.#listWhenBaseDurable(replica, membership) };
  }

  /** Opens the child over its in-memory base: over the records a restart held, or over new ones. */
  async #createFromBase(childId: number, parentId: number, parent: SimReplica, membership: GroupMembership, keys: SimKv, held: GroupRecovery | null): Promise<SimReplica | null> {
    const host = this.#host;
    const incarnation = this.#incarnation;
    this.#creating.add(childId);
    this.#unlisted.add(childId);
    const base = splitChildBase();
    let recovery = base.recovery;
    if (held !== null && (held.hardState !== null || held.entries.length > 0)) {
      // Its votes and entries are still in the log (start-up held them): they continue the base
      // the replay just rebuilt.
      recovery = held;
      host.trace.record(host.clock.nowTicks, "split", this.id, `rebuilding g${childId} from g${parentId}'s replay (${keys.count()} keys)`, childId);
    } else {
      // A new child (or leftovers of a creation a crash interrupted before it wrote anything).
      this.disk.snapshots.delete(childId);
      const log = this.#groupLog(childId, incarnation);
      host.trace.record(host.clock.nowTicks, "split", this.id, `creating g${childId} from g${parentId} (${keys.count()} keys)`, childId);
      await Promise.all([parent.runtime.makeCommitDurable(), log.reset(base.inMemoryBase.index), log.append({ entries: [], hardState: base.hardState })]);
      if (this.#incarnation !== incarnation) return null;
    }
    try {
      host.childCreated(this, childId, membership, keys);
    } catch (error) {
      host.fail(error);
      return null;
    }
    host.stats.childrenCreated += 1;
    if (this.#interrupted.delete(childId)) host.stats.splitReplays += 1;
    const replica = await this.#open(childId, membership, { keys, recovery });
    if (replica !== null) this.#creating.delete(childId);
    return replica;
  }

  /** The manifest lists a split child once a snapshot of it is durable (a replay of the split then leaves it alone). */
  async #listWhenBaseDurable(replica: SimReplica, membership: GroupMembership): Promise<void> {
    const durable = await replica.runtime.whenBaseDurable();
    if (!durable || this.replicas.get(replica.groupId) !== replica) return;
    this.disk.manifest.set(replica.groupId, membership);
    this.#unlisted.delete(replica.groupId);
  }

  /** The group's log in the shared log: every record lands at a tick the host picks, in order. */
  #groupLog(groupId: number, incarnation: number): SimGroupLog {
    const host = this.#host;
    return new SimGroupLog(groupId, this.disk, (record: DiskRecord): Promise<void> => {
      // A write from a replica of a crashed incarnation, or of a deleted replica, never reaches the disk.
      const hosted = this.replicas.has(groupId) || this.#opening.has(groupId) || this.#creating.has(groupId);
      const gone = this.#incarnation !== incarnation || !this.live || (record.kind !== "remove" && !hosted);
      if (gone) return new Promise<void>(() => undefined);
      const delayTicks = host.writeDelayTicks();
      const nowTicks = host.clock.nowTicks;
      const done = this.disk.write(record, nowTicks + delayTicks);
      const checker = host.checker(groupId);
      void done.then(() => {
        if (record.kind !== "append") return;
        const image = this.disk.durable(groupId);
        try {
          if (record.entries.length > 0) checker.entriesPersisted(this.id, record.entries.map(entryFromWal), image);
        } catch (error) {
          host.fail(error);
        }
      });
      if (delayTicks > 0 && record.kind === "append") {
        host.trace.record(nowTicks, "persist", this.id, `slow write of ${record.entries.length} entries, lands in ${delayTicks} ticks`, groupId);
      }
      return done;
    });
  }

  /** Per group, the highest commit index the driver reported (a restart reports from its recovered one). */
  readonly #commitSeen = new Map<number, number>();

  /** The core's commit index grew: every entry up to it is committed, forever, and on this disk. */
  #observeCommit(groupId: number, term: number, commitIndex: number): void {
    const seen = this.#commitSeen.get(groupId) ?? 0;
    if (commitIndex <= seen) return;
    const host = this.#host;
    host.checker(groupId).commitAdvanced(this.id, term, seen, commitIndex, this.disk.durable(groupId));
    host.trace.record(host.clock.nowTicks, "commit", this.id, `${seen} -> ${commitIndex}`, groupId);
    this.#commitSeen.set(groupId, commitIndex);
  }

  /**
   * Every message leaves through here, so the checker sees each acknowledgment against the disk.
   * Only acks of the replica's current term are checked: within one Ready a member may ack a
   * deposed leader's entries and then, on a newer leader's Append, replace them before the write
   * lands (seed 912 of the first sweep with this check).
   */
  #transport(groupId: number, current: () => boolean, replicaOf: () => SimReplica | null): ReplicaTransport {
    const host = this.#host;
    const packetOf = (message: Message, snapshot: Packet["snapshot"]): Packet => ({ from: this.id, to: message.to, groupId, message, snapshot });
    return {
      send: (_groupId, messages) => {
        if (!current()) return;
        const term = replicaOf()?.runtime.summary().term;
        for (const message of messages) {
          const isAck = message.type === MessageType.AppendResponse && !message.reject;
          try {
            if (isAck && message.term === term) host.checker(groupId).appendAcknowledged(this.id, message.index, this.disk.durable(groupId).lastIndex);
          } catch (error) {
            host.fail(error);
          }
          host.send(packetOf(message, null));
        }
      },
      sendSnapshot: (_groupId, message, ref: SnapshotRef) =>
        new Promise<void>((resolve, reject) => {
          const bytes = SimReplicaState.fileBytes(this.disk, groupId, ref);
          if (!current() || bytes === null) {
            reject(new Error("Snapshot file is gone"));
            return;
          }
          const settle = (ok: boolean): void => (ok ? resolve() : reject(new Error("Snapshot not delivered")));
          if (!host.send(packetOf(message, { bytes, settle }))) settle(false);
        }),
    };
  }
}

async function* chunksOf(bytes: Uint8Array): AsyncIterable<Uint8Array> {
  yield bytes;
}

/**
 * A keyed command's outcome: the stored bytes of every key it names, after it applied (null for
 * other entries). Replicas that executed it differently (a nondeterministic state machine) get
 * different digests, which the checker compares.
 */
function keyedOutcome(entry: Entry, read: (key: Uint8Array) => Uint8Array | null): Uint8Array | null {
  if (entry.type !== EntryType.Normal || entry.data.byteLength === 0) return null;
  if (commandOpOf(entry.data) !== CommandOp.Keyed) return null;
  const command = decodeCommand(entry.data);
  const parts: Uint8Array[] = [];
  for (const key of keysOfTransaction(decodeKeyedTransaction(command.value))) parts.push(key, read(key) ?? new Uint8Array([0xff]));
  return Buffer.concat(parts);
}
