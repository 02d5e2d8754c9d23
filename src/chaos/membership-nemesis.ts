// The membership nemesis moves replicas between stores: for a random shard, either add a replica
// on a running store that holds none of it (`ukv admin add-replica --store N`: the store creates an
// empty replica, which joins as a learner, catches up and is promoted to voter) or, when the shard
// has more than 3 voters, remove a random one (`ukv admin remove-replica`; removing the leader's
// replica makes it hand over first; the store deletes the removed replica and keeps running). The
// harness's membership (where follower reads go, what settling and convergence look at) follows
// each change: an added replica counts once promoted, a removed one leaves at once. When an admin
// command fails (a timeout, no leader) the outcome is unknown: the shard leader's own STATUS
// (voters, learners) decides, and reconcileMembership makes the harness agree with the leaders
// once the faults are healed.
import type { ChaosCluster, GroupStatusLike } from "./chaos-cluster.ts";
import type { Prng } from "../util/prng.ts";

/** add-replica waits this long for catch-up and promotion before the harness gives up on it. */
const addReplicaWaitMs = 60_000;
const removeReplicaWaitMs = 30_000;
const leaderStatusWaitMs = 15_000;
/** A shard never drops below this many voters (the admin refuses it without --force). */
const voterCountMin = 3;

export interface MembershipRecorder {
  (action: string, targets: number[]): void;
}

interface MembershipArgs {
  cluster: ChaosCluster;
  binaryPath: string;
  prng: Prng;
  record: MembershipRecorder;
}

export interface AdminOutcome {
  exitCode: number;
  /** The last two lines (and, on failure, the exit code or signal): what the schedule records. */
  output: string;
  /** Everything it printed. */
  fullOutput: string;
}

/** Runs `ukv admin ...` as a child process (the event loop keeps serving the clients); SIGKILL after `waitMs`. */
export async function runAdmin(cluster: ChaosCluster, binaryPath: string, args: string[], waitMs: number): Promise<AdminOutcome> {
  const child = Bun.spawn([binaryPath, "admin", ...args, "--config", cluster.configPath], { stdout: "pipe", stderr: "pipe" });
  const timer = setTimeout(() => child.kill("SIGKILL"), waitMs);
  try {
    const [stdout, stderr, exitCode] = await Promise.all([new Response(child.stdout).text(), new Response(child.stderr).text(), child.exited]);
    const fullOutput = `${stdout}${stderr}`.trim();
    const output = fullOutput.split("\n").slice(-2).join(" | ");
    return { exitCode, fullOutput, output: exitCode === 0 ? output : `exit ${exitCode}${child.signalCode === null ? "" : ` (${String(child.signalCode)})`}: ${output}` };
  } finally {
    clearTimeout(timer);
  }
}

/** The status of the shard's leader as its replicas on `storeIds` report it (null: none found in time). */
export async function leaderStatus(cluster: ChaosCluster, shardId: number, storeIds: readonly number[], waitMs: number): Promise<GroupStatusLike | null> {
  const deadline = Date.now() + waitMs;
  for (;;) {
    const statuses = await Promise.all(storeIds.map((id) => cluster.groupStatus(id, shardId)));
    const leader = statuses.find((status) => status?.role === "leader" && Array.isArray(status.voters)) ?? null;
    if (leader !== null) return leader;
    if (Date.now() > deadline) return null;
    await Bun.sleep(200);
  }
}

/** The serving stores that hold (or may hold) a replica of the shard: who may know its leader. */
export function askableStores(cluster: ChaosCluster, shardId: number, extraIds: readonly number[]): number[] {
  return [...new Set([...cluster.group(shardId).replicas, ...extraIds])].filter((id) => cluster.isServing(id));
}

/** One membership change of a random shard; every step is recorded. */
export async function changeMembership(args: MembershipArgs): Promise<void> {
  const { cluster, prng } = args;
  const shardIds = cluster.shardIds;
  const shardId = shardIds[prng.nextInt(shardIds.length)]!;
  const leader = await leaderStatus(cluster, shardId, askableStores(cluster, shardId, []), leaderStatusWaitMs);
  const voterCount = leader?.voters?.length ?? cluster.group(shardId).replicas.length;
  if (voterCount > voterCountMin) await removeReplica(args, shardId, leader);
  else await addReplica(args, shardId, leader);
}

async function addReplica(args: MembershipArgs, shardId: number, leader: GroupStatusLike | null): Promise<void> {
  const { cluster, prng, record } = args;
  const holders = new Set([...cluster.group(shardId).replicas, ...(leader?.voters ?? []), ...(leader?.learners ?? [])]);
  const candidates = cluster.storeIds.filter((id) => !holders.has(id) && cluster.isServing(id));
  if (candidates.length === 0) {
    record(`add to shard ${shardId} skipped: every serving store holds a replica of it`, []);
    return;
  }
  const target = candidates[prng.nextInt(candidates.length)]!;
  record(`add a replica of shard ${shardId} on store ${target} (add-replica)`, [target]);
  const outcome = await runAdmin(cluster, args.binaryPath, ["add-replica", "--shard", String(shardId), "--store", String(target)], addReplicaWaitMs);
  if (outcome.exitCode === 0) {
    cluster.admitReplica(shardId, target);
    record(`store ${target} promoted to voter of shard ${shardId}: ${outcome.output}`, [target]);
    return;
  }
  // Unknown outcome: it may be a learner or a voter by now. A voter counts; a learner is removed
  // again, so the harness's membership stays the shard's.
  const now = await leaderStatus(cluster, shardId, askableStores(cluster, shardId, [target]), leaderStatusWaitMs);
  if (now?.voters?.includes(target) === true) {
    cluster.admitReplica(shardId, target);
    record(`add-replica failed (${outcome.output}) but store ${target} is a voter of shard ${shardId}: counted`, [target]);
  } else if (now?.learners?.includes(target) === true) {
    const removed = await runAdmin(cluster, args.binaryPath, ["remove-replica", "--shard", String(shardId), "--store", String(target)], removeReplicaWaitMs);
    if (removed.exitCode !== 0) cluster.admitReplica(shardId, target);
    record(`add-replica failed (${outcome.output}); learner on store ${target} ${removed.exitCode === 0 ? "removed" : `left a learner, counted (remove: ${removed.output})`}`, [target]);
  } else if (now !== null) {
    record(`add-replica failed (${outcome.output}); store ${target} is not a member of shard ${shardId}`, [target]);
  } else {
    // No leader to ask: count it; reconcileMembership settles the question after the heal.
    cluster.admitReplica(shardId, target);
    record(`add-replica failed (${outcome.output}); no leader of shard ${shardId} to ask: store ${target} counted until reconciled`, [target]);
  }
}

async function removeReplica(args: MembershipArgs, shardId: number, leader: GroupStatusLike | null): Promise<void> {
  const { cluster, prng, record } = args;
  const voters = leader?.voters ?? cluster.group(shardId).replicas;
  const victim = voters[prng.nextInt(voters.length)]!;
  const isLeader = leader?.leader === victim;
  record(`remove the replica of shard ${shardId} from store ${victim}${isLeader ? " (the leader's)" : ""} (remove-replica)`, [victim]);
  const outcome = await runAdmin(cluster, args.binaryPath, ["remove-replica", "--shard", String(shardId), "--store", String(victim)], removeReplicaWaitMs);
  if (outcome.exitCode === 0) {
    cluster.dropReplica(shardId, victim);
    record(`store ${victim} removed from shard ${shardId}: ${outcome.output}`, [victim]);
    return;
  }
  const now = await leaderStatus(cluster, shardId, askableStores(cluster, shardId, []), leaderStatusWaitMs);
  const stillMember = now === null || now.voters?.includes(victim) === true || now.learners?.includes(victim) === true;
  if (!stillMember) cluster.dropReplica(shardId, victim);
  record(`remove-replica failed (${outcome.output}); store ${victim} ${stillMember ? "kept" : "is gone from the shard"}`, [victim]);
}

/**
 * After the heal: each shard's leader says who its members are (voters and learners); the
 * harness's membership is made to agree. Returns a note per disagreement (empty = none), and a
 * problem per shard that shows no leader. Also notes stores that still host a replica of a shard
 * that no longer counts them (a removal they never heard of): not an error, but worth knowing.
 */
export async function reconcileMembership(cluster: ChaosCluster, waitMs: number): Promise<{ notes: string[]; problems: string[] }> {
  const notes: string[] = [];
  const problems: string[] = [];
  const truths = new Map<number, Set<number>>();
  for (const shard of cluster.shardGroups) {
    const leader = await leaderStatus(cluster, shard.groupId, askableStores(cluster, shard.groupId, cluster.storeIds), waitMs);
    if (leader === null) {
      problems.push(`shard ${shard.groupId}: no leader to reconcile the membership with`);
      continue;
    }
    const truth = new Set([...(leader.voters ?? []), ...(leader.learners ?? [])]);
    truths.set(shard.groupId, truth);
    for (const storeId of [...shard.replicas]) {
      if (truth.has(storeId)) continue;
      notes.push(`shard ${shard.groupId}: store ${storeId} is not a member any more`);
      cluster.dropReplica(shard.groupId, storeId);
    }
    for (const storeId of truth) {
      if (shard.replicas.includes(storeId)) continue;
      cluster.admitReplica(shard.groupId, storeId);
      notes.push(`shard ${shard.groupId}: store ${storeId} is a member: counted`);
    }
  }
  for (const storeId of cluster.storeIds) {
    const status = await cluster.storeStatus(storeId);
    for (const group of status?.groups ?? []) {
      const truth = group.groupId === undefined ? undefined : truths.get(group.groupId);
      if (truth === undefined || truth.has(storeId)) continue;
      notes.push(`store ${storeId} still hosts a replica of shard ${group.groupId} that is not a member (removed: ${group.removed === true}, role ${group.role})`);
    }
  }
  return { notes, problems };
}
