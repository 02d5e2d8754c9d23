// One simulated cluster member: its disk (survives crashes) and its volatile parts (Raft core,
// in-memory storage, state machine, inbox). It drives the Ready contract: persist hard state,
// snapshot and entries (possibly slowly: the member then waits for its disk, taking no input and
// no ticks), then send messages, then apply the snapshot and committed entries, then advance.
// The checkers see every persisted batch, commit, apply and leadership change.
import { assert } from "../util/assert.ts";
import { Prng } from "../util/prng.ts";
import { EntryType, MessageType, Role, type ConfState, type Entry, type Message, type Ready } from "../raft/types.ts";
import type { SafetyChecker } from "./checker.ts";
import type { SimCore, SimRaftNode, SimStorage } from "./core.ts";
import { SimDisk, type DiskWrite } from "./disk.ts";
import { SimStateMachine } from "./state-machine.ts";
import type { SimStats } from "./stats.ts";
import type { Trace } from "./trace.ts";

/** Readies handled back to back in one tick; the core settles far sooner. */
export const readyLoopCountMax = 64;
/** Packets waiting for a busy member; beyond this its inbox drops, like a full socket buffer. */
export const inboxPacketsMax = 4096;

const textDecoder = new TextDecoder();

export type InboxItem =
  | { kind: "message"; message: Message }
  | { kind: "unreachable"; peer: number }
  | { kind: "snapshot-status"; peer: number; ok: boolean };

export interface MemberHost {
  readonly nowTicks: number;
  readonly checker: SafetyChecker;
  readonly trace: Trace;
  readonly core: SimCore;
  readonly unsafeCommit: boolean;
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
  #commitIndex = 0;
  #role: Role = Role.Follower;
  #decommissioned = false;

  constructor(id: number, bootConf: ConfState, host: MemberHost, seed: number) {
    this.id = id;
    this.disk = new SimDisk(bootConf);
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
      unsafeCommit: this.#host.unsafeCommit,
    });
  }

  /** Loses everything volatile and any write still in flight (or all but a torn prefix of its entries). */
  crash(tornEntryCount: number = 0): boolean {
    assert(this.live, "only a live member crashes");
    this.#node = null;
    this.#storage = null;
    this.#pendingReady = null;
    this.#inbox = [];
    this.#role = Role.Follower;
    return this.disk.crash(tornEntryCount);
  }

  /** Stops the member for good: it was removed from the cluster. */
  decommission(): void {
    if (this.live) this.crash();
    this.#decommissioned = true;
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
      this.#pendingReady = null;
      this.#afterPersist(ready, write);
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
      this.#host.trace.record(this.#host.nowTicks, "persist", this.id, `slow write of ${ready.entries.length} entries, lands in ${delayTicks} ticks`);
      return;
    }
    if (hasWrite) this.disk.persist(write);
    this.#afterPersist(ready, write);
  }

  /** Steps 1b-4 of the Ready contract, once the write is durable. */
  #afterPersist(ready: Ready, write: DiskWrite): void {
    const host = this.#host;
    const storage = this.storage;
    if (write.snapshot !== null) storage.applySnapshot(write.snapshot);
    if (write.entries.length > 0) storage.append(write.entries);
    if (write.hardState !== null) storage.setHardState(write.hardState);
    host.checker.entriesPersisted(this.id, write.entries, this.disk);
    this.#observeCommit();
    if (ready.softState !== null) this.#observeRole(ready.softState.role);
    for (const message of ready.messages) host.send(this.id, message);
    if (ready.snapshot !== null) this.#applySnapshot(ready);
    for (const entry of ready.committedEntries) {
      if (!this.live) return;
      this.#applyEntry(entry);
    }
    for (const readState of ready.readStates) {
      host.checker.readServed(this.id, textDecoder.decode(readState.context), readState.index);
      host.stats.readsServed += 1;
      host.trace.record(host.nowTicks, "read-state", this.id, `index ${readState.index}`);
    }
    if (this.live) this.node.advance(ready);
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
    this.#stateMachine.apply(entry);
    this.#host.checker.entryApplied(this.id, entry, this.#stateMachine.digest);
    if (entry.type === EntryType.ConfChange) {
      const change = this.#host.core.decodeConfChange(entry.data);
      this.#conf = this.node.applyConfChange(change);
    }
    this.#host.entryApplied(this, entry);
  }
}
