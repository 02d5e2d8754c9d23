// Who leads each shard, as last learned from STATUS answers and NOT_LEADER hints. A guess, never
// the truth: a wrong entry costs one NOT_LEADER hop or one failed attempt, after which the caller
// forgets it. Entries are kept per topology epoch: a new epoch clears the cache, since members
// may have moved.
import type { TopologyMember, TopologyShard } from "./topology.ts";

export interface CachedLeader {
  memberId: number;
  address: string;
  /** Term the leadership was seen in; 0 when learned from a hint without a term. */
  term: number;
}

/** The fields of a member's STATUS JSON the routing reads (src/node GroupStatus has more). */
export interface MemberStatus {
  nodeId: number;
  role: string;
  term: number;
  /** The member's view of its group's leader; 0 = none known. */
  leader: number;
  commitIndex: number;
  appliedIndex: number;
  lastIndex: number;
  snapshotIndex: number;
  keyCount: number;
}

function isFiniteNumber(value: unknown): value is number {
  return typeof value === "number" && Number.isFinite(value);
}

/** The STATUS JSON of a member, or null when it is not one (the caller treats that as no answer). */
export function parseMemberStatus(statusJson: string): MemberStatus | null {
  let data: unknown;
  try {
    data = JSON.parse(statusJson);
  } catch {
    return null;
  }
  if (typeof data !== "object" || data === null) return null;
  const record = data as Record<string, unknown>;
  const numberFields = ["nodeId", "term", "leader", "commitIndex", "appliedIndex", "lastIndex", "snapshotIndex", "keyCount"] as const;
  for (const field of numberFields) if (!isFiniteNumber(record[field])) return null;
  if (typeof record.role !== "string") return null;
  return {
    nodeId: record.nodeId as number,
    role: record.role,
    term: record.term as number,
    leader: record.leader as number,
    commitIndex: record.commitIndex as number,
    appliedIndex: record.appliedIndex as number,
    lastIndex: record.lastIndex as number,
    snapshotIndex: record.snapshotIndex as number,
    keyCount: record.keyCount as number,
  };
}

/**
 * A store's STATUS JSON (`{ storeId, groups: [<a replica's status>...] }`, the answer to a STATUS
 * without a shard) as each hosted group's status, by group id; empty when it is not one.
 */
export function parseStoreStatus(statusJson: string): Map<number, MemberStatus> {
  const statuses = new Map<number, MemberStatus>();
  let data: unknown;
  try {
    data = JSON.parse(statusJson);
  } catch {
    return statuses;
  }
  const groups = (data as { groups?: unknown } | null)?.groups;
  if (!Array.isArray(groups)) return statuses;
  for (const group of groups) {
    const groupId = (group as { groupId?: unknown } | null)?.groupId;
    const status = parseMemberStatus(JSON.stringify(group));
    if (typeof groupId === "number" && status !== null) statuses.set(groupId, status);
  }
  return statuses;
}

/**
 * A replica's status in the answer to a STATUS tagged with its group: the replica's own for a data
 * shard; for the metadata group (group 0, the untagged STATUS) the store answers for every replica
 * it hosts, and group 0's entry is the one. Null when the answer holds none.
 */
export function parseGroupStatus(statusJson: string, groupId: number): MemberStatus | null {
  if (groupId === 0) return parseStoreStatus(statusJson).get(0) ?? null;
  return parseMemberStatus(statusJson);
}

/**
 * The leader named by a set of STATUS answers of one shard: a member that says it leads, in the
 * highest term (an old leader cut off from the others may still believe it leads in a lower
 * term); failing that, the leader most answers agree on, in the highest term. Null if none. The
 * leader's address comes from the shard's members by id, else from `addressByMemberId` (who
 * answered as which replica: members known by address alone).
 */
export function leaderFromStatuses(shard: TopologyShard, statuses: readonly MemberStatus[], addressByMemberId: ReadonlyMap<number, string> = new Map()): CachedLeader | null {
  let best: { memberId: number; term: number; self: boolean } | null = null;
  for (const status of statuses) {
    const self = status.role === "leader";
    const memberId = self ? status.nodeId : status.leader;
    if (memberId === 0) continue;
    const better = best === null || status.term > best.term || (status.term === best.term && self && !best.self);
    if (better) best = { memberId, term: status.term, self };
  }
  if (best === null) return null;
  const member = shard.members.find((candidate) => candidate.id === best.memberId);
  const address = member?.clientAddress ?? addressByMemberId.get(best.memberId);
  return address === undefined ? null : { memberId: best.memberId, address, term: best.term };
}

export class LeaderCache {
  readonly #leaders = new Map<number, CachedLeader>();
  #epoch: number;

  constructor(epoch: number) {
    this.#epoch = epoch;
  }

  /** Clears everything when the topology moved to another epoch. */
  syncEpoch(epoch: number): void {
    if (epoch === this.#epoch) return;
    this.#epoch = epoch;
    this.#leaders.clear();
  }

  get(shardId: number): CachedLeader | null {
    return this.#leaders.get(shardId) ?? null;
  }

  /** Takes `leader` unless the cache holds a leader seen in a higher term. */
  offer(shardId: number, leader: CachedLeader): void {
    const current = this.#leaders.get(shardId);
    if (current !== undefined && current.term > leader.term && leader.term !== 0) return;
    this.#leaders.set(shardId, leader);
  }

  /** A NOT_LEADER hint: the member at `address` leads now (if it is a member of the shard). */
  offerHint(shard: TopologyShard, address: string): CachedLeader | null {
    const member: TopologyMember | undefined = shard.members.find((candidate) => candidate.clientAddress === address);
    if (member === undefined) return null;
    const current = this.#leaders.get(shard.id);
    const leader = { memberId: member.id, address: member.clientAddress, term: current?.term ?? 0 };
    this.#leaders.set(shard.id, leader);
    return leader;
  }

  /** Forgets the leader of `shardId` if it is still `address` (another request may have moved on). */
  forget(shardId: number, address: string): void {
    if (this.#leaders.get(shardId)?.address === address) this.#leaders.delete(shardId);
  }

  entries(): [number, CachedLeader][] {
    return [...this.#leaders.entries()];
  }
}
