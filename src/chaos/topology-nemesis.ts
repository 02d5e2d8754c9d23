// The split and move nemeses: the auto-sharding admin commands run while other faults come and go.
//   split - `ukv admin split --shard S` of a random shard, at its median key hash or, half the
//           time, `--at HASH` at a random point inside its range (from its leader's STATUS). The
//           harness then follows the metadata group (ChaosCluster.followTopology): the new shard
//           joins its groups and the range map becomes the metadata's.
//   move  - `ukv admin move --shard S --from A --to B` of a random voter A of a random shard onto
//           a running store B that holds no replica of it.
// Both may fail or time out under the other faults. A split then completes or is abandoned on its
// own (its new shard appears in the metadata or never does; the final topology check judges the
// result). A move is resumable: a failed one is remembered and rerun once the faults are healed
// (resumeMoves), when it must complete; the harness's membership of the shard is the leader's word.
import type { ChaosCluster, GroupStatusLike } from "./chaos-cluster.ts";
import { askableStores, leaderStatus, runAdmin, type MembershipRecorder } from "./membership-nemesis.ts";
import { formatHash, rangeFromJson, type KeyRange } from "../ring/range-map.ts";
import type { Prng } from "../util/prng.ts";
import { assert } from "../util/assert.ts";

/** A split waits for the new shard in the metadata (the admin command's own bound is 10 s) after its apply. */
const splitWaitMs = 60_000;
/** A move is an add-replica (catch-up by snapshot, promotion) then a remove-replica. */
const moveWaitMs = 90_000;
const leaderStatusWaitMs = 15_000;
/** After a split, the harness reads the metadata again until it lists the new shard, this many times. */
const followAttemptCountMax = 10;
const followRetryDelayMs = 500;
/** Shards a run may split up to: bounds the stores' work in long runs (a split beyond it is skipped and recorded). */
export const splitShardCountMax = 128;

export interface TopologyNemesisArgs {
  cluster: ChaosCluster;
  binaryPath: string;
  prng: Prng;
  record: MembershipRecorder;
}

/** A move that failed under faults: rerun after the heal. */
export interface PendingMove {
  shardId: number;
  fromStoreId: number;
  toStoreId: number;
}

/** A split whose outcome the admin command did not report: the final topology check tells which it became. */
export interface UnsettledSplit {
  shardId: number;
  /** The new shard's id, when the command got as far as allocating it. */
  childId: number | null;
}

/** Makes the harness's membership of `shardId` the leader's (voters and learners); false when no leader answered. */
function adoptLeaderMembership(cluster: ChaosCluster, shardId: number, leader: GroupStatusLike | null): boolean {
  if (leader === null || !Array.isArray(leader.voters)) return false;
  const truth = new Set([...leader.voters, ...(leader.learners ?? [])]);
  for (const storeId of cluster.group(shardId).replicas) if (!truth.has(storeId)) cluster.dropReplica(shardId, storeId);
  for (const storeId of truth) cluster.admitReplica(shardId, storeId);
  return true;
}

/** A uniform hash in (range.start, range.end]: a legal `--at` of the range (null when the range has one hash). */
export function splitPointInside(range: KeyRange, prng: Prng): bigint | null {
  const width = range.end - range.start;
  if (width < 1n) return null;
  const random = (BigInt(prng.nextUint32()) << 32n) | BigInt(prng.nextUint32());
  const at = range.start + 1n + (random % width);
  assert(at > range.start && at <= range.end, "the split point is inside the range");
  return at;
}

/** One split of a random shard; every step is recorded. Returns the split when its outcome is unknown. */
export async function splitShard(args: TopologyNemesisArgs): Promise<UnsettledSplit | null> {
  const { cluster, prng, record } = args;
  const shardIds = cluster.shardIds;
  if (shardIds.length >= splitShardCountMax) {
    record(`split skipped: ${shardIds.length} shards, the run's bound is ${splitShardCountMax}`, []);
    return null;
  }
  const shardId = shardIds[prng.nextInt(shardIds.length)]!;
  const useAt = prng.chance(0.5);
  const leader = await leaderStatus(cluster, shardId, askableStores(cluster, shardId, []), leaderStatusWaitMs);
  const range = leader?.range === undefined || leader.range === null ? cluster.ranges.rangeOf(shardId) : rangeFromJson(leader.range);
  const at = useAt && range !== null ? splitPointInside(range, prng) : null;
  const targets = [...cluster.group(shardId).replicas];
  record(`split shard ${shardId} ${at === null ? "at its median key hash" : `at ${formatHash(at)}`} (split)`, targets);
  const outcome = await runAdmin(cluster, args.binaryPath, ["split", "--shard", String(shardId), ...(at === null ? [] : ["--at", formatHash(at)])], splitWaitMs);
  const allocated = /new shard id (\d+) allocated/.exec(outcome.fullOutput);
  const childId = allocated === null ? null : Number(allocated[1]);
  const added = await cluster.followTopology();
  // The metadata replica the harness asked may trail the one the admin command saw: a little more time.
  for (let attemptIndex = 0; attemptIndex < followAttemptCountMax && childId !== null && !cluster.shardIds.includes(childId); attemptIndex++) {
    await Bun.sleep(followRetryDelayMs);
    added.push(...(await cluster.followTopology()));
  }
  const addedText = added.length === 0 ? "no new shard in the metadata yet" : `the metadata lists shard ${added.join(", ")}: followed`;
  if (outcome.exitCode === 0) {
    record(`shard ${shardId} split (new shard ${childId ?? "?"}): ${outcome.output}; ${addedText}`, targets);
    return null;
  }
  record(`split of shard ${shardId} failed (${outcome.output}); new shard id ${childId ?? "not allocated"}; ${addedText}`, targets);
  return { shardId, childId };
}

/** One move of a random replica onto a store without one; returns the move when it must be resumed. */
export async function moveReplica(args: TopologyNemesisArgs): Promise<PendingMove | null> {
  const { cluster, prng, record } = args;
  const shardIds = cluster.shardIds;
  const shardId = shardIds[prng.nextInt(shardIds.length)]!;
  const leader = await leaderStatus(cluster, shardId, askableStores(cluster, shardId, []), leaderStatusWaitMs);
  const voters = leader?.voters ?? cluster.group(shardId).replicas;
  const holders = new Set([...cluster.group(shardId).replicas, ...voters, ...(leader?.learners ?? [])]);
  const candidates = cluster.storeIds.filter((id) => !holders.has(id) && cluster.isServing(id));
  if (candidates.length === 0 || voters.length === 0) {
    record(`move of shard ${shardId} skipped: no serving store without a replica of it`, []);
    return null;
  }
  const fromStoreId = voters[prng.nextInt(voters.length)]!;
  const toStoreId = candidates[prng.nextInt(candidates.length)]!;
  const move: PendingMove = { shardId, fromStoreId, toStoreId };
  record(`move the replica of shard ${shardId} from store ${fromStoreId}${leader?.leader === fromStoreId ? " (the leader's)" : ""} to store ${toStoreId} (move)`, [fromStoreId, toStoreId]);
  const outcome = await runMove(args, move);
  if (outcome.exitCode === 0) {
    cluster.admitReplica(shardId, toStoreId);
    cluster.dropReplica(shardId, fromStoreId);
    record(`shard ${shardId} moved from store ${fromStoreId} to store ${toStoreId}: ${outcome.output}`, [fromStoreId, toStoreId]);
    return null;
  }
  const now = await leaderStatus(cluster, shardId, askableStores(cluster, shardId, [toStoreId]), leaderStatusWaitMs);
  const adopted = adoptLeaderMembership(cluster, shardId, now);
  if (!adopted) cluster.admitReplica(shardId, toStoreId); // no leader to ask: counted until reconciled
  record(`move of shard ${shardId} failed (${outcome.output}); ${adopted ? `members now ${cluster.group(shardId).replicas.join(",")}` : `no leader to ask: store ${toStoreId} counted until reconciled`}; resumed after the heal`, [fromStoreId, toStoreId]);
  return move;
}

function runMove(args: { cluster: ChaosCluster; binaryPath: string }, move: PendingMove): ReturnType<typeof runAdmin> {
  return runAdmin(args.cluster, args.binaryPath, ["move", "--shard", String(move.shardId), "--from", String(move.fromStoreId), "--to", String(move.toStoreId)], moveWaitMs);
}

/**
 * After the heal: each failed move is run again (a move is resumable) while it is still under way
 * (its source still a member, or its target only a learner). A move that fails now, with no fault
 * left, is a problem; one that other changes overtook (its target removed by the membership
 * nemesis, say) is a note. Either way the harness then takes the leader's membership.
 */
export async function resumeMoves(args: Omit<TopologyNemesisArgs, "prng">, moves: readonly PendingMove[]): Promise<{ notes: string[]; problems: string[] }> {
  const { cluster, record } = args;
  const notes: string[] = [];
  const problems: string[] = [];
  for (const move of moves) {
    const what = `move of shard ${move.shardId} from store ${move.fromStoreId} to store ${move.toStoreId}`;
    const before = await leaderStatus(cluster, move.shardId, askableStores(cluster, move.shardId, cluster.storeIds), leaderStatusWaitMs);
    if (before === null) {
      problems.push(`${what}: no leader to resume it with`);
      continue;
    }
    const voters = before.voters ?? [];
    const learners = before.learners ?? [];
    const underWay = voters.includes(move.fromStoreId) || learners.includes(move.toStoreId);
    const done = !voters.includes(move.fromStoreId) && !learners.includes(move.fromStoreId) && voters.includes(move.toStoreId);
    if (!underWay) {
      notes.push(`${what}: ${done ? "completed by its first run" : `overtaken by other changes (voters ${voters.join(",")}, learners ${learners.join(",") || "none"})`}`);
      adoptLeaderMembership(cluster, move.shardId, before);
      continue;
    }
    record(`resume the ${what} (move, after the heal)`, [move.fromStoreId, move.toStoreId]);
    const outcome = await runMove(args, move);
    record(`resumed ${what}: ${outcome.output}`, [move.fromStoreId, move.toStoreId]);
    if (outcome.exitCode === 0) notes.push(`${what}: resumed and completed`);
    else problems.push(`${what} could not be resumed after the faults were healed: ${outcome.output}`);
    const after = await leaderStatus(cluster, move.shardId, askableStores(cluster, move.shardId, cluster.storeIds), leaderStatusWaitMs);
    adoptLeaderMembership(cluster, move.shardId, after);
  }
  return { notes, problems };
}
