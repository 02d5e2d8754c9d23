// The simulated cluster: members, the network between them, the clients and the operator. Each
// tick it injects the seed's faults (crash, restart, partition, heal, slow disk), runs the client
// workload (proposals, ReadIndex, leadership transfer, snapshots, membership changes), delivers
// due packets and runs every live member's loop, in ascending id order so a seed replays exactly.
import { assert } from "../util/assert.ts";
import { Prng } from "../util/prng.ts";
import { ConfChangeType, EntryType, MessageType, Role, type ConfChange, type ConfState, type Entry, type Message } from "../raft/types.ts";
import { SafetyChecker } from "./checker.ts";
import { VirtualClock } from "./clock.ts";
import type { SimCore } from "./core.ts";
import type { SimMutation } from "./mutations.ts";
import { SimMember, type MemberHost } from "./member.ts";
import { SimNetwork, type NetworkFaults } from "./network.ts";
import type { SimOptions } from "./options.ts";
import { emptySimStats, type SimStats } from "./stats.ts";
import type { Trace } from "./trace.ts";

/** Members ever created in one run (initial ones plus additions). */
export const memberCountMax = 9;
/** Voters the operator keeps between: never removes below the low mark, never adds above the high. */
export const votersCountMin = 3;
export const votersCountMax = 5;
/** A conf change not applied within this many ticks is presumed lost and may be replaced. */
export const confChangeTimeoutTicks = 100;
/** Entries a snapshot leaves in the log at most, for followers that are a little behind. */
export const snapshotRetainEntriesMax = 20;

const textEncoder = new TextEncoder();
const textDecoder = new TextDecoder();
const probePrefix = "probe-";

/** A message on the wire; `from` is the sending member, which a forwarded request's message.from may not be. */
export interface Packet {
  from: number;
  to: number;
  message: Message;
}

export const calmNetwork: NetworkFaults = {
  lossProbability: 0,
  duplicateProbability: 0,
  reorderProbability: 0,
  delayTicksMin: 1,
  delayTicksMax: 2,
};


export class SimCluster implements MemberHost {
  readonly options: SimOptions;
  readonly core: SimCore;
  readonly checker = new SafetyChecker();
  readonly trace: Trace;
  readonly clock = new VirtualClock();
  readonly network: SimNetwork<Packet>;
  readonly mutation: SimMutation | null;
  readonly members = new Map<number, SimMember>();
  readonly stats: SimStats = emptySimStats();
  /** Faults and workload are on in the safety phase, off in the liveness phase. */
  faultsOn = true;
  readonly #random: Prng;
  readonly #proposed = new Set<string>();
  #valueCount = 0;
  #pendingConfChange: { change: ConfChange; proposedAtTicks: number } | null = null;
  #nextMemberId: number;
  readonly #genesisConf: ConfState;
  /** Index of the first applied liveness probe, once any member applied one. */
  probeIndex = 0;

  constructor(options: SimOptions, core: SimCore, trace: Trace, mutation: SimMutation | null) {
    this.options = options;
    this.core = core;
    this.trace = trace;
    this.mutation = mutation;
    this.#random = new Prng(options.seed);
    this.network = new SimNetwork<Packet>(new Prng(this.#random.nextUint32()), options.network);
    const voters = Array.from({ length: options.memberCount }, (_, i) => i + 1);
    this.#genesisConf = { voters, learners: [] };
    for (const id of voters) this.#addMember(id, this.#genesisConf);
    this.#nextMemberId = options.memberCount + 1;
    for (const member of this.members.values()) member.start();
  }

  get nowTicks(): number {
    return this.clock.nowTicks;
  }

  // ---- MemberHost ----

  send(sender: number, message: Message): void {
    this.stats.messagesSent += 1;
    const outcome = this.network.send({ from: sender, to: message.to, message }, this.nowTicks);
    this.trace.recordMessage(this.nowTicks, outcome === "queued" ? "send" : "drop", sender, message, outcome);
    if (outcome === "queued") return;
    this.stats.messagesDropped += 1;
    // The transport learns a snapshot did not go through; etcd needs this to leave snapshot state.
    if (message.type === MessageType.Snapshot) this.#report(sender, { kind: "snapshot-status", peer: message.to, ok: false });
  }

  tickSkipped(): boolean {
    return this.faultsOn && this.#random.chance(this.options.tickSkipProbability);
  }

  writeDelayTicks(): number {
    if (!this.faultsOn || !this.#random.chance(this.options.slowDiskProbability)) return 0;
    return 1 + this.#random.nextInt(this.options.slowDiskTicksMax);
  }

  entryApplied(member: SimMember, entry: Entry): void {
    if (entry.type === EntryType.ConfChange) {
      this.stats.confChangesApplied += 1;
      this.#confChangeApplied(member, this.core.decodeConfChange(entry.data));
      return;
    }
    if (entry.data.length === 0) return;
    const value = textDecoder.decode(entry.data);
    this.checker.entryProposed(member.id, entry, this.#proposed.has(value));
    if (value.startsWith(probePrefix) && this.probeIndex === 0) this.probeIndex = entry.index;
  }

  // ---- the tick ----

  /** One tick: faults and workload, packet delivery, then every live member's loop. */
  runTick(): void {
    const nowTicks = this.clock.advance();
    if (this.faultsOn) {
      this.#injectFaults();
      this.#runWorkload();
    }
    this.#deliverPackets(nowTicks);
    for (const member of this.members.values()) member.runTick();
  }

  /** The live leader of the highest term, if any. */
  leader(): SimMember | null {
    let best: SimMember | null = null;
    let bestTerm = -1;
    for (const member of this.members.values()) {
      if (!member.live || member.role !== Role.Leader) continue;
      const term = member.term();
      if (term > bestTerm) {
        best = member;
        bestTerm = term;
      }
    }
    return best;
  }

  /** Heals every fault for the liveness phase: links, network, disks, crashed members. */
  healAll(): void {
    this.faultsOn = false;
    this.network.heal();
    this.network.setFaults(calmNetwork);
    this.trace.record(this.nowTicks, "heal", 0, "liveness phase: all links, calm network, fast disks");
    for (const member of this.members.values()) {
      if (member.live || member.decommissioned) continue;
      member.start();
      this.stats.restarts += 1;
      this.trace.record(this.nowTicks, "restart", member.id, `term ${member.disk.hardState.term}, log to ${member.disk.lastIndex}`);
    }
  }

  /**
   * Every member snapshots what it applied, as a node does every N entries. A leader sends its
   * latest snapshot to a follower it cannot feed from the log, and a newcomer refuses a snapshot
   * taken before it joined (its id is not in the snapshot's configuration), so without fresh
   * snapshots a member added after the last one could never catch up (etcd behaves the same).
   */
  snapshotAll(): void {
    for (const member of this.members.values()) {
      if (member.snapshotAndCompact(this.#random.nextInt(snapshotRetainEntriesMax + 1))) this.stats.snapshots += 1;
    }
  }

  /** Proposes a liveness probe through the leader; returns whether the leader took it. */
  proposeProbe(leader: SimMember): boolean {
    const value = `${probePrefix}${this.#valueCount++}`;
    return this.#propose(leader, value);
  }

  // ---- faults ----

  #injectFaults(): void {
    const options = this.options;
    const random = this.#random;
    if (random.chance(options.crashProbability)) this.#crashOne();
    if (random.chance(options.restartProbability)) this.#restartOne();
    if (random.chance(options.partitionProbability)) this.#partition();
    if (this.network.cutLinkCount > 0 && random.chance(options.healProbability)) {
      this.network.heal();
      this.trace.record(this.nowTicks, "heal", 0, "all links restored");
    }
  }

  #crashOne(): void {
    const down = this.#inService().filter((member) => !member.live).length;
    if (down >= this.options.crashedCountMax) return;
    const member = this.#pick(this.#inService().filter((m) => m.live));
    if (member === null) return;
    const pendingEntryCount = member.pendingEntryCount;
    const tornEntryCount = pendingEntryCount > 0 && this.#random.chance(0.5) ? this.#random.nextInt(pendingEntryCount) + 1 : 0;
    const lostWrite = member.crash(tornEntryCount);
    this.stats.crashes += 1;
    if (lostWrite) this.stats.writesLost += 1;
    if (tornEntryCount > 0) this.stats.writesTorn += 1;
    const detail = !lostWrite ? "no write in flight" : tornEntryCount > 0 ? `slow write torn after ${tornEntryCount} of ${pendingEntryCount} entries` : "a slow write is lost";
    this.trace.record(this.nowTicks, "crash", member.id, detail);
  }

  #restartOne(): void {
    const member = this.#pick(this.#inService().filter((m) => !m.live));
    if (member === null) return;
    member.start();
    this.stats.restarts += 1;
    this.trace.record(this.nowTicks, "restart", member.id, `term ${member.disk.hardState.term}, log to ${member.disk.lastIndex}`);
  }

  #partition(): void {
    const ids = [...this.members.keys()];
    const shape = this.#random.nextInt(3);
    this.stats.partitions += 1;
    if (shape === 0) {
      const id = ids[this.#random.nextInt(ids.length)] as number;
      this.network.isolate(id, ids);
      this.trace.record(this.nowTicks, "partition", id, "isolated");
      return;
    }
    if (shape === 1) {
      const shuffled = this.#shuffle(ids);
      const cut = 1 + this.#random.nextInt(shuffled.length - 1);
      const groups = [shuffled.slice(0, cut).sort(byNumber), shuffled.slice(cut).sort(byNumber)];
      this.network.partition(groups);
      this.trace.record(this.nowTicks, "partition", 0, `split ${JSON.stringify(groups)}`);
      return;
    }
    const links = 1 + this.#random.nextInt(3);
    const cuts: string[] = [];
    for (let i = 0; i < links; i++) {
      const from = ids[this.#random.nextInt(ids.length)] as number;
      const to = ids[this.#random.nextInt(ids.length)] as number;
      if (from === to) continue;
      this.network.cutLink(from, to);
      cuts.push(`${from}->${to}`);
    }
    this.trace.record(this.nowTicks, "partition", 0, `one-way cuts ${cuts.join(" ")}`);
  }

  // ---- workload ----

  #runWorkload(): void {
    const options = this.options;
    const random = this.#random;
    if (this.stats.proposals < options.proposalCountMax && random.chance(options.proposeProbability)) this.#clientPropose();
    if (random.chance(options.snapshotProbability)) this.#snapshotOne();
    if (random.chance(options.readProbability)) this.#readIndex();
    if (random.chance(options.transferProbability)) this.#transferLeader();
    if (random.chance(options.confChangeProbability)) this.#changeMembership();
  }

  #clientPropose(): void {
    const leader = this.leader();
    const target = leader !== null && this.#random.chance(0.7) ? leader : this.#pick(this.#ready());
    if (target === null || target.busy) return;
    this.stats.proposals += 1;
    this.#propose(target, `value-${this.#valueCount++}`);
  }

  #propose(member: SimMember, value: string): boolean {
    this.#proposed.add(value);
    try {
      member.node.propose(textEncoder.encode(value));
    } catch (error) {
      if (!this.core.isProposalDropped(error)) throw error;
      this.trace.record(this.nowTicks, "propose", member.id, `${value} dropped`);
      return false;
    }
    this.trace.record(this.nowTicks, "propose", member.id, value);
    member.drainReady();
    return true;
  }

  #snapshotOne(): void {
    const member = this.#pick(this.#ready());
    if (member === null) return;
    if (member.snapshotAndCompact(this.#random.nextInt(snapshotRetainEntriesMax + 1))) this.stats.snapshots += 1;
  }

  #readIndex(): void {
    const member = this.#pick(this.#ready());
    if (member === null) return;
    const context = `read-${this.stats.reads}`;
    this.stats.reads += 1;
    this.checker.readIssued(context);
    try {
      member.read(context);
    } catch (error) {
      if (!this.core.isProposalDropped(error)) throw error;
      this.trace.record(this.nowTicks, "read", member.id, `${context} dropped`);
      return;
    }
    this.trace.record(this.nowTicks, "read", member.id, `${context} after commit ${this.checker.commitIndexMax}`);
    member.drainReady();
  }

  #transferLeader(): void {
    const leader = this.leader();
    if (leader === null || leader.busy) return;
    const to = this.#pick(leader.conf.voters.filter((id) => id !== leader.id));
    if (to === null) return;
    this.trace.record(this.nowTicks, "transfer", leader.id, `to n${to}`);
    leader.node.transferLeader(to);
    leader.drainReady();
  }

  // ---- membership ----

  #changeMembership(): void {
    const pending = this.#pendingConfChange;
    if (pending !== null && this.nowTicks - pending.proposedAtTicks < confChangeTimeoutTicks) return;
    const leader = this.leader();
    if (leader === null || leader.busy) return;
    const change = this.#nextConfChange(leader);
    if (change === null) return;
    this.stats.confChanges += 1;
    try {
      leader.node.proposeConfChange(change);
    } catch (error) {
      if (!this.core.isProposalDropped(error)) throw error;
      this.trace.record(this.nowTicks, "conf-change", leader.id, `${describeConfChange(change)} dropped`);
      return;
    }
    this.#pendingConfChange = { change, proposedAtTicks: this.nowTicks };
    this.trace.record(this.nowTicks, "conf-change", leader.id, `proposed ${describeConfChange(change)}`);
    leader.drainReady();
  }

  /** Promote a learner; else add a learner or remove a voter (never the leader). */
  #nextConfChange(leader: SimMember): ConfChange | null {
    const { voters, learners } = leader.conf;
    const context = new Uint8Array(0);
    const learner = learners.find((id) => this.members.get(id)?.decommissioned === false);
    if (learner !== undefined) return { type: ConfChangeType.AddVoter, nodeId: learner, context };
    const canAdd = voters.length < votersCountMax && this.#nextMemberId <= memberCountMax;
    const canRemove = voters.length > votersCountMin;
    if (canAdd && (!canRemove || this.#random.chance(0.5))) {
      const id = this.#nextMemberId++;
      // The newcomer starts with an empty log and the genesis configuration, the state at index 0
      // that every member shares: replaying the log from index 1 on top of it (or installing a
      // snapshot) yields the true configuration. Starting from an empty configuration instead,
      // it would apply AddLearner/AddVoter of itself and believe it is the only voter.
      this.#addMember(id, this.#genesisConf).start();
      this.trace.record(this.nowTicks, "restart", id, "new member, empty");
      return { type: ConfChangeType.AddLearner, nodeId: id, context };
    }
    if (!canRemove) return null;
    const victim = this.#pick(voters.filter((id) => id !== leader.id));
    return victim === null ? null : { type: ConfChangeType.RemoveNode, nodeId: victim, context };
  }

  #confChangeApplied(member: SimMember, change: ConfChange): void {
    const pending = this.#pendingConfChange;
    if (pending !== null && pending.change.type === change.type && pending.change.nodeId === change.nodeId) this.#pendingConfChange = null;
    if (change.type !== ConfChangeType.RemoveNode) return;
    const removed = this.members.get(change.nodeId);
    if (removed === undefined || removed.decommissioned) return;
    // The removal is committed: the operator stops the removed process for good.
    removed.decommission();
    this.trace.record(this.nowTicks, "decommission", removed.id, `removed, as applied by n${member.id}`);
  }

  // ---- delivery ----

  #deliverPackets(nowTicks: number): void {
    const batch = this.network.deliverDue(nowTicks);
    for (const { from, to, message } of batch.blocked) {
      this.stats.messagesDropped += 1;
      this.trace.recordMessage(nowTicks, "drop", to, message, "link cut");
      this.#report(from, { kind: "unreachable", peer: to });
      if (message.type === MessageType.Snapshot) this.#report(from, { kind: "snapshot-status", peer: to, ok: false });
    }
    for (const { from, to, message } of batch.delivered) {
      const target = this.members.get(to);
      const accepted = target !== undefined && target.receive({ kind: "message", message });
      this.trace.recordMessage(nowTicks, accepted ? "deliver" : "drop", to, message, accepted ? "delivered" : "member down");
      if (!accepted) this.stats.messagesDropped += 1;
      if (message.type === MessageType.Snapshot) this.#report(from, { kind: "snapshot-status", peer: to, ok: accepted });
    }
  }

  /** The transport's reports reach the sending member (if it is up). */
  #report(sender: number, item: { kind: "unreachable"; peer: number } | { kind: "snapshot-status"; peer: number; ok: boolean }): void {
    this.members.get(sender)?.receive(item);
  }

  // ---- helpers ----

  #addMember(id: number, bootConf: ConfState): SimMember {
    assert(!this.members.has(id), "member ids are never reused");
    assert(this.members.size < memberCountMax, "a run creates at most memberCountMax members");
    const member = new SimMember(id, bootConf, this, this.#random.nextUint32());
    this.members.set(id, member);
    return member;
  }

  #inService(): SimMember[] {
    return [...this.members.values()].filter((member) => !member.decommissioned);
  }

  #ready(): SimMember[] {
    return [...this.members.values()].filter((member) => member.live && !member.busy);
  }

  #pick<T>(items: readonly T[]): T | null {
    if (items.length === 0) return null;
    return items[this.#random.nextInt(items.length)] as T;
  }

  #shuffle(items: readonly number[]): number[] {
    const shuffled = [...items];
    for (let i = shuffled.length - 1; i > 0; i--) {
      const j = this.#random.nextInt(i + 1);
      [shuffled[i], shuffled[j]] = [shuffled[j] as number, shuffled[i] as number];
    }
    return shuffled;
  }
}

function byNumber(a: number, b: number): number {
  return a - b;
}

export function describeConfChange(change: ConfChange): string {
  return `${ConfChangeType[change.type]} n${change.nodeId}`;
}
