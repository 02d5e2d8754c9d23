// The run's shape and fault rates, all drawn from the seed (as tigerbeetle's VOPR does), so one
// number replays a run and a sweep covers calm clusters as well as hostile ones.
import { Prng } from "../util/prng.ts";
import type { NetworkFaults } from "./network.ts";

export interface SimOptions {
  seed: number;
  /** Stores at the start; each hosts a replica of every group. */
  memberCount: number;
  /** Raft groups, each with a replica on every initial store (sharing its log and network endpoint). */
  groupCount: number;
  /** Ticks of the safety phase, with faults. */
  safetyTicks: number;
  /** Tick budget of the liveness phase: a leader and a committed probe on every live member. */
  livenessTicksMax: number;
  network: NetworkFaults;
  /** Per tick: a new partition (one member isolated, a split, or one-way cuts). */
  partitionProbability: number;
  /** Per tick: every link restored. */
  healProbability: number;
  /** Per tick: one live store crashes (every replica it hosts). */
  crashProbability: number;
  /** Per tick: one crashed member restarts. */
  restartProbability: number;
  /** Crashed members at once, at most. */
  crashedCountMax: number;
  /** Per member and tick: its clock misses the tick (clock drift between machines). */
  tickSkipProbability: number;
  /** Per Ready: its write is slow and lands some ticks later. */
  slowDiskProbability: number;
  slowDiskTicksMax: number;
  /** Per tick: a client proposes a value. */
  proposeProbability: number;
  /** The driver snapshots its state machine (and compacts its log) after this many applied entries. */
  snapshotEntriesThreshold: number;
  /** Per tick: a ReadIndex request. */
  readProbability: number;
  /** Per tick: the leader is asked to transfer leadership. */
  transferProbability: number;
  /** Per tick: a membership change (add learner, promote, remove); 0 when the seed has none. */
  confChangeProbability: number;
  /** Proposal ceiling per run, keeping logs and checker maps small. */
  proposalCountMax: number;
  /** The driver's quiescence: idle groups stop ticking after this many ticks (0 = never). */
  quiesceAfterTicks: number;
  /**
   * Per tick: the operator splits a group (issue 14). When above 0 the groups own hash ranges
   * and the workload routes every key to the group owning it; at 0 they own none (as before).
   */
  splitProbability: number;
}

export function pickSimOptions(seed: number): SimOptions {
  const random = new Prng(seed ^ 0x5eed0f75);
  const between = (low: number, high: number): number => low + random.nextFloat() * (high - low);
  const sometimes = (p: number, low: number, high: number): number => (random.chance(p) ? between(low, high) : 0);
  const memberCount = random.chance(0.5) ? 3 : 5;
  const groupCount = 1 + random.nextInt(3);
  const delayTicksMax = 1 + random.nextInt(5);
  return {
    seed,
    memberCount,
    groupCount,
    safetyTicks: 300 + random.nextInt(500),
    livenessTicksMax: 300,
    network: {
      lossProbability: sometimes(0.7, 0, 0.2),
      duplicateProbability: sometimes(0.5, 0, 0.1),
      reorderProbability: sometimes(0.5, 0, 0.2),
      delayTicksMin: 1,
      delayTicksMax,
    },
    partitionProbability: sometimes(0.7, 0, 0.03),
    healProbability: between(0.01, 0.1),
    crashProbability: sometimes(0.7, 0, 0.03),
    restartProbability: between(0.02, 0.2),
    crashedCountMax: 1 + random.nextInt(memberCount === 3 ? 2 : 3),
    tickSkipProbability: sometimes(0.4, 0, 0.3),
    slowDiskProbability: sometimes(0.6, 0, 0.4),
    slowDiskTicksMax: 1 + random.nextInt(8),
    proposeProbability: between(0.05, 0.5),
    snapshotEntriesThreshold: random.chance(0.7) ? 4 + random.nextInt(40) : 1000,
    readProbability: sometimes(0.6, 0, 0.1),
    transferProbability: sometimes(0.5, 0, 0.02),
    confChangeProbability: sometimes(0.3, 0.01, 0.05),
    proposalCountMax: 400,
    // Drawn last, so adding it left every earlier rate of every seed as it was.
    quiesceAfterTicks: random.chance(0.5) ? 10 : 0,
    // Drawn after it, for the same reason.
    splitProbability: sometimes(0.5, 0.005, 0.03),
  };
}

export function formatSimOptions(options: SimOptions): string[] {
  const p = (value: number): string => value.toFixed(3);
  const n = options.network;
  return [
    `seed=${options.seed} members=${options.memberCount} groups=${options.groupCount} safetyTicks=${options.safetyTicks} livenessTicksMax=${options.livenessTicksMax}`,
    `network: loss=${p(n.lossProbability)} duplicate=${p(n.duplicateProbability)} reorder=${p(n.reorderProbability)} delayTicks=${n.delayTicksMin}..${n.delayTicksMax}`,
    `partition=${p(options.partitionProbability)} heal=${p(options.healProbability)} crash=${p(options.crashProbability)} restart=${p(options.restartProbability)} crashedCountMax=${options.crashedCountMax}`,
    `tickSkip=${p(options.tickSkipProbability)} slowDisk=${p(options.slowDiskProbability)} slowDiskTicksMax=${options.slowDiskTicksMax}`,
    `propose=${p(options.proposeProbability)} snapshotEntries=${options.snapshotEntriesThreshold} read=${p(options.readProbability)} transfer=${p(options.transferProbability)} confChange=${p(options.confChangeProbability)} proposalCountMax=${options.proposalCountMax} quiesceAfterTicks=${options.quiesceAfterTicks} split=${p(options.splitProbability)}`,
  ];
}
