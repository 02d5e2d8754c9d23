// The membership nemesis: for a random shard, either add a replica (start a spare slot's process
// with `ukv node --join`, then `ukv admin add-replica`: learner -> catch-up -> voter) or, when the
// shard has more than 3 voters, remove a random member (`ukv admin remove-replica`; removing the
// leader makes it hand over first) and stop its process. The harness's membership (what clients
// send follower reads to, what settling and convergence look at) follows each change: a spare
// counts once promoted, a removed member leaves at once. When an admin command fails (a timeout,
// no leader) the outcome is unknown: the shard leader's own STATUS (voters, learners) decides, and
// reconcileMembership makes the harness agree with the leaders once the faults are healed.
import type { ChaosCluster, GroupLayout, GroupStatusLike } from "./chaos-cluster.ts";
import type { Prng } from "../util/prng.ts";
import { assert } from "../util/assert.ts";

/** add-replica waits this long for catch-up and promotion before the harness gives up on it. */
const addReplicaWaitMs = 60_000;
const removeReplicaWaitMs = 30_000;
const leaderStatusWaitMs = 15_000;
/** A shard never drops below this many voters (the admin refuses it without --force). */
const voterCountMin = 3;

export interface MembershipRecorder {
  (action: string, targets: number[]): void;
}

interface AdminOutcome {
  exitCode: number;
  output: string;
}

/** Runs `ukv admin ...` as a child process (the event loop keeps serving the clients). */
async function runAdmin(cluster: ChaosCluster, binaryPath: string, args: string[], waitMs: number): Promise<AdminOutcome> {
  const child = Bun.spawn([binaryPath, "admin", ...args, "--config", cluster.configPath], { stdout: "pipe", stderr: "pipe" });
  const timer = setTimeout(() => child.kill("SIGKILL"), waitMs);
  try {
    const [stdout, stderr, exitCode] = await Promise.all([new Response(child.stdout).text(), new Response(child.stderr).text(), child.exited]);
    const output = `${stdout}${stderr}`.trim().split("\n").slice(-2).join(" | ");
    return { exitCode, output: exitCode === 0 ? output : `exit ${exitCode}${child.signalCode === null ? "" : ` (${String(child.signalCode)})`}: ${output}` };
  } finally {
    clearTimeout(timer);
  }
}

/** The status of the shard's leader as seen from the members the harness knows (null: none found). */
async function leaderStatus(cluster: ChaosCluster, candidateIds: readonly number[], waitMs: number): Promise<GroupStatusLike | null> {
  const deadline = Date.now() + waitMs;
  for (;;) {
    const statuses = await Promise.all(candidateIds.map((id) => cluster.groupStatus(id)));
    const leader = statuses.find((status) => status?.role === "leader" && Array.isArray(status.voters)) ?? null;
    if (leader !== null) return leader;
    if (Date.now() > deadline) return null;
    await Bun.sleep(200);
  }
}

function shardGroup(cluster: ChaosCluster, shardId: number): GroupLayout {
  const group = cluster.groups.find((candidate) => candidate.groupId === shardId);
  assert(group !== undefined, "a shard the cluster has");
  return group;
}

/** The running members the harness counts, plus `extraIds`: who may know the leader. */
function candidatesOf(cluster: ChaosCluster, shardId: number, extraIds: readonly number[]): number[] {
  const group = shardGroup(cluster, shardId);
  return [...new Set([...group.members.map((member) => member.id), ...extraIds])].filter((id) => cluster.isRunning(id));
}

/** One membership change of a random shard; every step is recorded. */
export async function changeMembership(args: { cluster: ChaosCluster; binaryPath: string; prng: Prng; record: MembershipRecorder }): Promise<void> {
  const { cluster, prng, record } = args;
  const shards = cluster.groups.filter((group) => group.groupId !== 0);
  const shard = shards[prng.nextInt(shards.length)]!;
  const leader = await leaderStatus(cluster, candidatesOf(cluster, shard.groupId, []), leaderStatusWaitMs);
  const voterCount = leader?.voters?.length ?? shard.members.length;
  if (voterCount > voterCountMin) await removeReplica(args, shard.groupId);
  else await addReplica(args, shard.groupId);
}

async function addReplica(args: { cluster: ChaosCluster; binaryPath: string; record: MembershipRecorder }, shardId: number): Promise<void> {
  const { cluster, record } = args;
  const spare = cluster.takeSpare(shardId);
  if (spare === null) {
    record(`add to shard ${shardId} skipped: no spare slot left`, []);
    return;
  }
  cluster.start(spare.id);
  record(`add node ${spare.id} to shard ${shardId} (joiner started, add-replica)`, [spare.id]);
  const outcome = await runAdmin(cluster, args.binaryPath, ["add-replica", "--shard", String(shardId), "--node", String(spare.id), "--raft-addr", spare.raftAddress, "--client-addr", spare.clientAddress], addReplicaWaitMs);
  if (outcome.exitCode === 0) {
    cluster.admitMember(spare.id);
    record(`node ${spare.id} promoted to voter of shard ${shardId}: ${outcome.output}`, [spare.id]);
    return;
  }
  // Unknown outcome: it may be a learner or a voter by now. A voter counts; anything else is
  // taken out again (a learner is removed) so the harness's membership stays the shard's.
  const leader = await leaderStatus(cluster, candidatesOf(cluster, shardId, [spare.id]), leaderStatusWaitMs);
  if (leader?.voters?.includes(spare.id) === true) {
    cluster.admitMember(spare.id);
    record(`add-replica failed (${outcome.output}) but node ${spare.id} is a voter: counted`, [spare.id]);
  } else if (leader?.learners?.includes(spare.id) === true) {
    const removed = await runAdmin(cluster, args.binaryPath, ["remove-replica", "--shard", String(shardId), "--node", String(spare.id)], removeReplicaWaitMs);
    if (removed.exitCode === 0) await cluster.retire(spare.id);
    else cluster.admitMember(spare.id);
    record(`add-replica failed (${outcome.output}); learner ${spare.id} ${removed.exitCode === 0 ? "removed and stopped" : `left a learner, counted (remove: ${removed.output})`}`, [spare.id]);
  } else if (leader !== null) {
    await cluster.retire(spare.id);
    record(`add-replica failed (${outcome.output}); node ${spare.id} is not a member: stopped`, [spare.id]);
  } else {
    // No leader to ask: count it; reconcileMembership settles the question after the heal.
    cluster.admitMember(spare.id);
    record(`add-replica failed (${outcome.output}); no leader to ask: node ${spare.id} counted until reconciled`, [spare.id]);
  }
}

async function removeReplica(args: { cluster: ChaosCluster; binaryPath: string; prng: Prng; record: MembershipRecorder }, shardId: number): Promise<void> {
  const { cluster, prng, record } = args;
  const group = shardGroup(cluster, shardId);
  const victim = group.members[prng.nextInt(group.members.length)]!.id;
  record(`remove node ${victim} from shard ${shardId} (remove-replica)`, [victim]);
  const outcome = await runAdmin(cluster, args.binaryPath, ["remove-replica", "--shard", String(shardId), "--node", String(victim)], removeReplicaWaitMs);
  if (outcome.exitCode === 0) {
    await cluster.retire(victim);
    record(`node ${victim} removed from shard ${shardId} and stopped: ${outcome.output}`, [victim]);
    return;
  }
  const leader = await leaderStatus(cluster, candidatesOf(cluster, shardId, []), leaderStatusWaitMs);
  const stillMember = leader === null || leader.voters?.includes(victim) === true || leader.learners?.includes(victim) === true;
  if (!stillMember) await cluster.retire(victim);
  record(`remove-replica failed (${outcome.output}); node ${victim} ${stillMember ? "kept" : "is gone from the shard: stopped"}`, [victim]);
}

/**
 * After the heal: each shard's leader says who its members are (voters and learners); the
 * harness's membership is made to agree. Returns a note per disagreement (empty = none), and a
 * problem per shard that shows no leader.
 */
export async function reconcileMembership(cluster: ChaosCluster, waitMs: number): Promise<{ notes: string[]; problems: string[] }> {
  const notes: string[] = [];
  const problems: string[] = [];
  for (const shard of cluster.groups.filter((group) => group.groupId !== 0)) {
    const leader = await leaderStatus(cluster, candidatesOf(cluster, shard.groupId, []), waitMs);
    if (leader === null) {
      problems.push(`shard ${shard.groupId}: no leader to reconcile the membership with`);
      continue;
    }
    const truth = new Set([...(leader.voters ?? []), ...(leader.learners ?? [])]);
    for (const member of [...shard.members]) {
      if (truth.has(member.id)) continue;
      notes.push(`shard ${shard.groupId}: node ${member.id} is not a member any more: stopped`);
      await cluster.retire(member.id);
    }
    for (const id of truth) {
      if (cluster.isCurrentMember(id)) continue;
      if (cluster.isRunning(id) && !cluster.isRetired(id)) {
        cluster.admitMember(id);
        notes.push(`shard ${shard.groupId}: node ${id} is a member: counted`);
      } else notes.push(`shard ${shard.groupId}: the leader counts node ${id} as a member, but the harness stopped it (the shard runs one voter short)`);
    }
  }
  return { notes, problems };
}
