// One simulated cluster member: its disk (survives crashes) and its volatile parts (Raft core,
// in-memory storage, state machine, inbox). It drives the Ready contract: persist hard state,
// snapshot and entries (possibly slowly: the member then waits for its disk, taking no input and
// no ticks), then send messages, then apply the snapshot and committed entries, then advance.
// The checkers see every persisted batch, commit, apply and leadership change, every read's value
// (served once the member applied up to the read's index), and what a crash leaves on the disk.
// A run may name a driver mutation (mutations.ts) that breaks this order on purpose.
import { assert } from "../util/assert.ts";
import { Prng } from "../util/prng.ts";
import { EntryType, MessageType, Role, type ConfState, type Entry, type Message, type Ready } from "../raft/types.ts";
import type { SafetyChecker } from "./checker.ts";
import type { SimCore, SimRaftNode, SimStorage } from "./core.ts";
import { SimDisk, type DiskWrite } from "./disk.ts";
import type { SimMutation } from "./mutations.ts";
import { SimStateMachine } from "./state-machine.ts";
import type { SimStats } from "./stats.ts";
import type { Trace } from "./trace.ts";

/** Readies handled back to back in one tick; the core settles far sooner. */
export const readyLoopCountMax = 64;
/** Packets waiting for a busy member; beyond this its inbox drops, like a full socket buffer. */
export const inboxPacketsMax = 4096;
/** Confirmed reads waiting for the apply to reach their index; beyond this a read is dropped (the client times out). */
export const pendingReadsMax = 1024;

const textDecoder = new TextDecoder();
const textEncoder = new TextEncoder();

interface PendingRead {
  context: string;
  index: number;
}

export type InboxItem =
  | { kind: "message"; message: Message }
  | { kind: "unreachable"; peer: number }
  | { kind: "snapshot-status"; peer: number; ok: boolean };

export interface MemberHost {
  readonly nowTicks: number;
  readonly checker: SafetyChecker;
  readonly trace: Trace;
  readonly core: SimCore;
  /** TEST ONLY: the deliberate bug of this run, or null. */
  readonly mutation: SimMutation | null;
  readonly stats: SimStats;
  /** Sends a message from this member (a forwarded request may keep its origin in message.from). */
  send(sender: number, message: Message): void;
  /** Whether this member's clock misses this tick (timers drift apart between machines). */
  tickSkipped(): boolean;
  /** Ticks the next write takes; 0 lands it at once. */
  writeDelayTicks(): number;
  /** Called after each committed entry is applied (conf changes, client values, probes). */
  entryApplied(member: SimMember, entry: Entry): void;
}

export class SimMember {
  readonly id: number;
  readonly disk: SimDisk;
  #host: MemberHost;
  #random: Prng;
  #node: SimRaftNode | null = null;
  #storage: SimStorage | null = null;
  #stateMachine = new SimStateMachine();
  #conf: ConfState = { voters: [], learners: [] };
  #inbox: InboxItem[] = [];
  #pendingReady: Ready | null = null;
  /** Messages of the pending Ready still to send once its write lands. */
  #pendingMessages: Message[] = [];
  /** Whether the pending Ready's committed entries were already applied (mutation only). */
  #pendingApplied = false;
  #pendingReads: PendingRead[] = [];
  #commitIndex = 0;
  #role: Role = Role.Follower;
  #decommissioned = false;

  constructor(id: number, bootConf: ConfState, host: MemberHost, seed: number) {
    this.id = id;
    this.disk = new SimDisk(bootConf, { dropHardStateSync: host.mutation === "drop-fsync" });
    this.#host = host;
    this.#random = new Prng(seed);
  }

  get live(): boolean {
    return this.#node !== null;
  }

  get decommissioned(): boolean {
    return this.#decommissioned;
  }

  /** Entries of the write in flight, if any. */
  get pendingEntryCount(): number {
    return this.disk.pending?.write.entries.length ?? 0;
  }

  /** Waiting for a slow write: takes no input and no ticks until it lands. */
  get busy(): boolean {
    return this.#pendingReady !== null;
  }

  get role(): Role {
    return this.#role;
  }

  get conf(): ConfState {
    return this.#conf;
  }

  get appliedIndex(): number {
    return this.#stateMachine.appliedIndex;
  }

  get node(): SimRaftNode {
    assert(this.#node !== null, "only a live member has a core");
    return this.#node;
  }

  get storage(): SimStorage {
    assert(this.#storage !== null, "only a live member has storage");
    return this.#storage;
  }

  term(): number {
    return this.#node === null ? this.disk.hardState.term : this.#node.status().term;
  }

  /** Builds the volatile parts from the disk alone, as a process does after a crash. */
  start(): void {
    assert(!this.live && !this.#decommissioned, "a member starts only when down and still in service");
    const core = this.#host.core;
    const storage = core.newStorage(this.disk.bootConf);
    const snapshot = this.disk.snapshot;
    this.#stateMachine = new SimStateMachine();
    if (snapshot !== null) {
      storage.applySnapshot(snapshot);
      this.#stateMachine.restore(snapshot.data);
      assert(this.#stateMachine.appliedIndex === snapshot.metadata.index, "a snapshot's image matches its index");
    }
    storage.setHardState(this.disk.hardState);
    storage.append(this.disk.entriesAfterSnapshot());
    this.#storage = storage;
    this.#conf = storage.initialState().conf;
    this.#commitIndex = this.disk.hardState.commit;
    this.#role = Role.Follower;
    this.#inbox = [];
    this.#node = core.newNode({
      id: this.id,
      storage,
      random: new Prng(this.#random.nextUint32()),
      applied: this.#stateMachine.appliedIndex,
      mutation: this.#host.mutation,
    });
  }

  /** Loses everything volatile and any write still in flight (or all but a torn prefix of its entries). */
  crash(tornEntryCount: number = 0): boolean {
    assert(this.live, "only a live member crashes");
    this.#node = null;
    this.#storage = null;
    this.#pendingReady = null;
    this.#pendingMessages = [];
    this.#pendingApplied = false;
    this.#pendingReads = [];
    this.#inbox = [];
    this.#role = Role.Follower;
    const lostWrite = this.disk.crash(tornEntryCount);
    this.#host.checker.appliedWithinDurable(this.id, this.#stateMachine.appliedIndex, this.disk.durableIndex, "crash");
    return lostWrite;
  }

  /** Stops the member for good: it was removed from the cluster. */
  decommission(): void {
    if (this.live) this.crash();
    this.#decommissioned = true;
  }

  /**
   * A client's linearizable read here: ReadIndex through the leader, answered once this member
   * applied up to the confirmed index. Throws the core's refusal when there is no leader.
   */
  read(context: string): void {
    if (this.#host.mutation === "follower-read" && this.#role !== Role.Leader) {
      // Deliberately unsafe: the follower's own state, which may lag what the cluster committed.
      this.#pendingReads.push({ context, index: this.#stateMachine.appliedIndex });
      this.#servePendingReads();
      return;
    }
    this.node.readIndex(textEncoder.encode(context));
  }

  receive(item: InboxItem): boolean {
    if (!this.live || this.#inbox.length >= inboxPacketsMax) return false;
    this.#inbox.push(item);
    return true;
  }

  /** One tick of the member's loop: land a slow write, take input, tick the core, drain Readies. */
  runTick(): void {
    if (!this.live) return;
    if (this.#pendingReady !== null) {
      const write = this.disk.completeDue(this.#host.nowTicks);
      if (write === null) return;
      const ready = this.#pendingReady;
      const messages = this.#pendingMessages;
      const applied = this.#pendingApplied;
      this.#pendingReady = null;
      this.#pendingMessages = [];
      this.#pendingApplied = false;
      this.#afterPersist(ready, write, messages, applied);
      if (!this.live) return;
    }
    const inbox = this.#inbox;
    this.#inbox = [];
    for (const item of inbox) this.#deliver(item);
    if (!this.#host.tickSkipped()) this.node.tick();
    this.drainReady();
  }

  /** Handles Readies until the core has none or a slow write blocks the member. */
  drainReady(): void {
    for (let count = 0; count < readyLoopCountMax; count++) {
      if (!this.live || this.busy || !this.node.hasReady()) return;
      this.#handleReady(this.node.ready());
    }
    assert(!this.live || this.busy || !this.node.hasReady(), "the core settles within readyLoopCountMax Readies");
  }

  /** Snapshots the state machine at the applied index and compacts the log up to compactIndex. */
  snapshotAndCompact(retainEntries: number): boolean {
    const appliedIndex = this.#stateMachine.appliedIndex;
    if (!this.live || this.busy || appliedIndex <= this.disk.snapshotIndex) return false;
    const snapshot = this.storage.createSnapshot(appliedIndex, this.#conf, this.#stateMachine.snapshotData());
    this.disk.saveLocalSnapshot(snapshot);
    const compactIndex = appliedIndex - Math.min(retainEntries, appliedIndex - 1);
    const compacts = compactIndex >= this.storage.firstIndex();
    if (compacts) {
      this.storage.compact(compactIndex);
      this.disk.compact(compactIndex);
    }
    const detail = compacts ? `at ${appliedIndex}, log compacted up to ${compactIndex}` : `at ${appliedIndex}, log kept from ${this.storage.firstIndex()}`;
    this.#host.trace.record(this.#host.nowTicks, "snapshot", this.id, detail);
    return true;
  }

  #deliver(item: InboxItem): void {
    const node = this.node;
    if (item.kind === "unreachable") {
      node.reportUnreachable(item.peer);
      return;
    }
    if (item.kind === "snapshot-status") {
      node.reportSnapshot(item.peer, item.ok);
      return;
    }
    try {
      node.step(item.message);
    } catch (error) {
      // A forwarded proposal that finds no leader is refused: the client retries elsewhere.
      if (!(item.message.type === MessageType.Propose && this.#host.core.isProposalDropped(error))) throw error;
    }
  }

  #handleReady(ready: Ready): void {
    const write: DiskWrite = { hardState: ready.hardState, snapshot: ready.snapshot, entries: ready.entries };
    const hasWrite = write.hardState !== null || write.snapshot !== null || write.entries.length > 0;
    const delayTicks = hasWrite ? this.#host.writeDelayTicks() : 0;
    if (delayTicks > 0) {
      this.disk.beginWrite(write, this.#host.nowTicks + delayTicks);
      this.#pendingReady = ready;
      this.#pendingMessages = ready.messages;
      this.#host.trace.record(this.#host.nowTicks, "persist", this.id, `slow write of ${ready.entries.length} entries, lands in ${delayTicks} ticks`);
      this.#breakOrderWhileWriting(ready);
      return;
    }
    if (hasWrite) this.disk.persist(write);
    this.#afterPersist(ready, write, ready.messages, false);
  }

  /** TEST ONLY driver mutations: work the contract says must wait for the write, done before it lands. */
  #breakOrderWhileWriting(ready: Ready): void {
    const mutation = this.#host.mutation;
    if (mutation === "ack-before-persist") {
      const acks = this.#pendingMessages.filter((message) => message.type === MessageType.AppendResponse);
      this.#pendingMessages = this.#pendingMessages.filter((message) => message.type !== MessageType.AppendResponse);
      for (const message of acks) this.#send(message);
    } else if (mutation === "apply-before-persist" && ready.snapshot === null) {
      this.#pendingApplied = true;
      for (const entry of ready.committedEntries) {
        if (!this.live) return;
        this.#applyEntry(entry);
      }
    }
  }

  /** Steps 1b-4 of the Ready contract, once the write is durable. */
  #afterPersist(ready: Ready, write: DiskWrite, messages: readonly Message[], alreadyApplied: boolean): void {
    const host = this.#host;
    const storage = this.storage;
    if (write.snapshot !== null) storage.applySnapshot(write.snapshot);
    if (write.entries.length > 0) storage.append(write.entries);
    if (write.hardState !== null) storage.setHardState(write.hardState);
    host.checker.entriesPersisted(this.id, write.entries, this.disk);
    this.#observeCommit();
    if (ready.softState !== null) this.#observeRole(ready.softState.role);
    for (const message of messages) this.#send(message);
    if (ready.snapshot !== null) this.#applySnapshot(ready);
    for (const entry of alreadyApplied ? [] : ready.committedEntries) {
      if (!this.live) return;
      this.#applyEntry(entry);
    }
    if (!this.live) return;
    for (const readState of ready.readStates) {
      if (this.#pendingReads.length >= pendingReadsMax) break;
      this.#pendingReads.push({ context: textDecoder.decode(readState.context), index: readState.index });
    }
    this.#servePendingReads();
    this.node.advance(ready);
  }

  /**
   * Every message leaves through here, so the checker sees each acknowledgment against the disk.
   * Only acks of the member's current term are checked: within one Ready a member may ack a
   * deposed leader's entries and then, on a newer leader's Append, replace them before the write
   * lands (seed 912 of the first sweep with this check). That ack names entries of an older term
   * that a newer leader already superseded; checking it would report the core's normal behaviour.
   */
  #send(message: Message): void {
    const isAck = message.type === MessageType.AppendResponse && !message.reject;
    if (isAck && message.term === this.term()) this.#host.checker.appendAcknowledged(this.id, message.index, this.disk.lastIndex);
    this.#host.send(this.id, message);
  }

  /** Answers the confirmed reads whose index is applied, with the state machine's image now. */
  #servePendingReads(): void {
    const host = this.#host;
    const appliedIndex = this.#stateMachine.appliedIndex;
    const waiting: PendingRead[] = [];
    for (const read of this.#pendingReads) {
      if (read.index > appliedIndex) {
        waiting.push(read);
        continue;
      }
      host.checker.readServed(this.id, read.context, read.index, { appliedIndex, digest: this.#stateMachine.digest });
      host.stats.readsServed += 1;
      host.trace.record(host.nowTicks, "read-state", this.id, `${read.context} at index ${read.index}, state at ${appliedIndex}`);
    }
    this.#pendingReads = waiting;
  }

  #observeCommit(): void {
    const commitIndex = this.disk.hardState.commit;
    if (commitIndex <= this.#commitIndex) return;
    this.#host.checker.commitAdvanced(this.id, this.disk.hardState.term, this.#commitIndex, commitIndex, this.disk);
    this.#host.trace.record(this.#host.nowTicks, "commit", this.id, `${this.#commitIndex} -> ${commitIndex}`);
    this.#commitIndex = commitIndex;
  }

  #observeRole(role: Role): void {
    const host = this.#host;
    if (role === this.#role) return;
    this.#role = role;
    const term = this.node.status().term;
    host.trace.record(host.nowTicks, "role", this.id, `${role} in term ${term}`);
    if (role !== Role.Leader) return;
    host.stats.elections += 1;
    host.checker.leaderElected(this.id, term);
    host.checker.leaderLogComplete(this.id, term, this.disk);
  }

  #applySnapshot(ready: Ready): void {
    const snapshot = ready.snapshot;
    assert(snapshot !== null, "called with a snapshot");
    this.#stateMachine.restore(snapshot.data);
    assert(this.#stateMachine.appliedIndex === snapshot.metadata.index, "a snapshot's image matches its index");
    this.#conf = snapshot.metadata.conf;
    this.#host.checker.snapshotApplied(this.id, snapshot.metadata.index, this.#stateMachine.digest);
    this.#host.stats.snapshotsInstalled += 1;
    this.#host.trace.record(this.#host.nowTicks, "apply", this.id, `snapshot at ${snapshot.metadata.index}`);
  }

  #applyEntry(entry: Entry): void {
    this.#host.checker.appliedWithinDurable(this.id, entry.index, this.disk.durableIndex, "apply");
    this.#stateMachine.apply(entry);
    this.#host.checker.entryApplied(this.id, entry, this.#stateMachine.digest);
    if (entry.type === EntryType.ConfChange) {
      const change = this.#host.core.decodeConfChange(entry.data);
      this.#conf = this.node.applyConfChange(change);
    }
    this.#host.entryApplied(this, entry);
  }
}
