// Randomized safety check of the core under an asynchronous caller: each node keeps a Ready
// outstanding for a random time (stepping, ticking and proposing meanwhile), messages are
// dropped, duplicated and reordered, nodes crash (losing the unpersisted Ready) and restart,
// and storages compact. Invariants: one leader per term (Election Safety) and one entry per
// applied index across all nodes (State Machine Safety). Then, healed, the cluster must converge.
import { expect, test } from "bun:test";
import { defaultRaftConfig } from "../../../src/raft/config.ts";
import { MemoryStorage } from "../../../src/raft/memory-storage.ts";
import { ProposalDroppedError, RawNode } from "../../../src/raft/raw-node.ts";
import { MessageType, Role, type Message, type NodeId, type Ready } from "../../../src/raft/types.ts";
import { Prng } from "../../../src/util/prng.ts";

const voters = [1, 2, 3, 4, 5];
/** More seeds by hand: UKV_RAFT_SEEDS=500 bun test test/unit/raft/random-safety.test.ts */
const seedCount = Number(process.env.UKV_RAFT_SEEDS ?? 12);
const faultStepCount = 10_000;
const healRoundCount = 2000;
const inFlightMax = 300;

interface SimNode {
  id: NodeId;
  storage: MemoryStorage;
  node: RawNode;
  outstanding: Ready | null;
  up: boolean;
}

interface SeedOutcome {
  termsWithLeader: number;
  appliedIndexes: number;
  snapshotsInstalled: number;
}

function runSeed(seed: number): SeedOutcome {
  const prng = new Prng(seed);
  const leaderOfTerm = new Map<number, NodeId>();
  const appliedAt = new Map<number, string>();
  const nodes = new Map<NodeId, SimNode>();
  let inFlight: Message[] = [];
  let proposalSequence = 0;
  let snapshotsInstalled = 0;
  const isolated = new Set<NodeId>();
  const decoder = new TextDecoder();

  const start = (id: NodeId, storage: MemoryStorage): void => {
    const config = defaultRaftConfig({ id, storage, random: new Prng(seed * 31 + id + proposalSequence) });
    config.maxSizePerMsgBytes = 256;
    config.maxInflightMsgs = 4;
    nodes.set(id, { id, storage, node: new RawNode(config), outstanding: null, up: true });
  };
  for (const id of voters) start(id, new MemoryStorage({ conf: { voters, learners: [] } }));

  /** The transport's duty: a snapshot that will never arrive is reported as failed. */
  const reportLost = (m: Message): void => {
    const sender = nodes.get(m.from);
    if (m.type === MessageType.Snapshot && sender !== undefined && sender.up) sender.node.reportSnapshot(m.to, false);
  };

  const checkLeaders = (): void => {
    for (const n of nodes.values()) {
      if (!n.up) continue;
      const status = n.node.status();
      if (status.role !== Role.Leader) continue;
      const known = leaderOfTerm.get(status.term);
      if (known !== undefined && known !== n.id) throw new Error(`seed ${seed}: two leaders in term ${status.term}: ${known}, ${n.id}`);
      leaderOfTerm.set(status.term, n.id);
    }
  };

  const finish = (n: SimNode): void => {
    const ready = n.outstanding;
    if (ready === null) return;
    if (ready.hardState !== null) n.storage.setHardState(ready.hardState);
    if (ready.snapshot !== null) {
      n.storage.applySnapshot(ready.snapshot);
      snapshotsInstalled++;
    }
    n.storage.append(ready.entries);
    for (const m of ready.messages) inFlight.push(m);
    for (const entry of ready.committedEntries) {
      const key = `${entry.term}:${decoder.decode(entry.data)}`;
      const existing = appliedAt.get(entry.index);
      if (existing !== undefined && existing !== key) {
        throw new Error(`seed ${seed}: index ${entry.index} applied as ${existing} and ${key}`);
      }
      appliedAt.set(entry.index, key);
    }
    n.outstanding = null;
    n.node.advance(ready);
  };

  const step = (faults: boolean): void => {
    // Faults are temporary: crashed nodes restart and partitions heal after a while.
    for (const other of nodes.values()) if (!other.up && prng.chance(0.01)) start(other.id, other.storage);
    if (isolated.size > 0 && prng.chance(0.01)) isolated.clear();
    const roll = prng.nextInt(100);
    const ids = [...nodes.keys()];
    const n = nodes.get(ids[prng.nextInt(ids.length)] as NodeId) as SimNode;
    if (roll < 45) {
      // Deliver a random in-flight message (reordering), maybe dropping or duplicating it.
      if (inFlight.length === 0) return;
      // Mostly in order, sometimes any message (reordering).
      const position = prng.chance(0.8) ? 0 : prng.nextInt(inFlight.length);
      const m = inFlight[position] as Message;
      const duplicate = faults && prng.chance(0.05);
      if (!duplicate) inFlight.splice(position, 1);
      const target = nodes.get(m.to);
      const partitioned = isolated.has(m.from) || isolated.has(m.to);
      const delivered = !partitioned && !(faults && prng.chance(0.1)) && target !== undefined && target.up;
      if (delivered) target.node.step(m);
      // The transport reports the fate of a snapshot to the sender, as the runtime does.
      const sender = nodes.get(m.from);
      if (m.type === MessageType.Snapshot && sender !== undefined && sender.up) sender.node.reportSnapshot(m.to, delivered);
      if (!delivered && sender !== undefined && sender.up && prng.chance(0.5)) sender.node.reportUnreachable(m.to);
    } else if (roll < 47) {
      // Time passes for everyone.
      for (const other of nodes.values()) if (other.up) other.node.tick();
    } else if (roll < 72) {
      if (n.up && n.outstanding === null && n.node.hasReady()) n.outstanding = n.node.ready();
    } else if (roll < 90) {
      if (n.up) finish(n);
    } else if (roll < 95) {
      const leader = [...nodes.values()].find((other) => other.up && other.node.status().role === Role.Leader);
      if (leader === undefined) return;
      try {
        leader.node.propose(new TextEncoder().encode(`p${proposalSequence++}`));
      } catch (error) {
        if (!(error instanceof ProposalDroppedError)) throw error;
      }
    } else if (roll < 96) {
      if (!faults) return;
      // Partition: isolate one node (at most two at a time); healed below.
      if (isolated.size < 2) isolated.add(n.id);
    } else if (roll < 97) {
      if (!faults) return;
      // Crash (at most two down at a time): the outstanding Ready was never persisted.
      const downCount = [...nodes.values()].filter((other) => !other.up).length;
      if (n.up && downCount < 2) {
        n.up = false;
        n.outstanding = null;
      }
    } else {
      // Compact up to what this node durably applied.
      if (!n.up || n.outstanding !== null) return;
      const applied = n.node.status().applied;
      const snapshotIndex = n.storage.snapshot().metadata.index;
      if (applied > snapshotIndex && applied <= n.storage.lastIndex()) {
        n.storage.createSnapshot(applied, { voters, learners: [] }, new Uint8Array(0));
        n.storage.compact(applied);
      }
    }
    checkLeaders();
  };

  for (let i = 0; i < faultStepCount; i++) {
    step(true);
    // A bounded network: the oldest messages are lost when too many are in flight.
    if (inFlight.length > inFlightMax) {
      for (const lost of inFlight.slice(0, inFlight.length - inFlightMax)) reportLost(lost);
      inFlight = inFlight.slice(-inFlightMax);
    }
  }
  // Liveness: restart everyone, heal the network (in-flight messages lost), and run rounds of
  // persist -> deliver in order -> tick until a leader commits a final proposal everywhere.
  for (const n of nodes.values()) if (!n.up) start(n.id, n.storage);
  isolated.clear();
  for (const lost of inFlight) reportLost(lost);
  inFlight = [];
  let finalIndex = 0;
  let finalTerm = 0;
  for (let round = 0; round < healRoundCount; round++) {
    for (const n of nodes.values()) {
      finish(n);
      if (n.node.hasReady()) n.outstanding = n.node.ready();
      finish(n);
    }
    const batch = inFlight;
    inFlight = [];
    for (const m of batch) {
      nodes.get(m.to)?.node.step(m);
      if (m.type === MessageType.Snapshot) nodes.get(m.from)?.node.reportSnapshot(m.to, true);
    }
    if (round % 5 === 0) for (const n of nodes.values()) n.node.tick();
    checkLeaders();
    const leader = [...nodes.values()].find((n) => n.node.status().role === Role.Leader);
    // A proposal can be lost when leadership changes before it commits: propose again then.
    if (leader !== undefined && leader.node.status().term !== finalTerm) finalIndex = 0;
    if (finalIndex === 0 && leader !== undefined) {
      leader.node.propose(new TextEncoder().encode("final"));
      finalIndex = leader.node.status().lastIndex;
      finalTerm = leader.node.status().term;
    } else if (finalIndex > 0 && [...nodes.values()].every((n) => n.node.status().applied >= finalIndex)) {
      return { termsWithLeader: leaderOfTerm.size, appliedIndexes: appliedAt.size, snapshotsInstalled };
    }
  }
  const states = [...nodes.values()].map((n) => JSON.stringify({ ...n.node.status(), progress: [...n.node.status().progress], up: n.up, out: n.outstanding !== null, hasReady: n.outstanding === null && n.node.hasReady() }));
  throw new Error(`seed ${seed}: no convergence (final index ${finalIndex}, inFlight ${inFlight.length})\n${states.join("\n")}`);
}

test("election safety and state machine safety hold under drops, reordering, crashes and async persistence", () => {
  let termsWithLeader = 0;
  let appliedIndexes = 0;
  let snapshotsInstalled = 0;
  for (let seed = 1; seed <= seedCount; seed++) {
    const outcome = runSeed(seed);
    termsWithLeader += outcome.termsWithLeader;
    appliedIndexes += outcome.appliedIndexes;
    snapshotsInstalled += outcome.snapshotsInstalled;
  }
  // The faults must actually exercise leader changes, replication and snapshots.
  expect(termsWithLeader).toBeGreaterThan(seedCount * 2);
  expect(appliedIndexes).toBeGreaterThan(seedCount * 20);
  expect(snapshotsInstalled).toBeGreaterThan(0);
}, 600_000);
