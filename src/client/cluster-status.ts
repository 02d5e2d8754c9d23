// One STATUS round over every member of every shard: what `ukv status` prints and what
// `ukv cluster up` waits on. Members are asked at once, each with its own timeout, so one dead or
// paused member costs one timeout, not one per member.
import { parseMemberStatus, type MemberStatus } from "./leader-cache.ts";
import { MemberPool } from "./member-pool.ts";
import type { ClusterLayout } from "./topology.ts";

export interface MemberReport {
  shardId: number;
  memberId: number;
  address: string;
  /** Null when the member did not answer (see `error`). */
  status: MemberStatus | null;
  error: string | null;
}

const emptyBytes = new Uint8Array(0);

/** A member's status from its STATUS JSON; a meta member wraps it as { group, topology }. */
export function memberStatusOf(statusJson: string): MemberStatus | null {
  const direct = parseMemberStatus(statusJson);
  if (direct !== null) return direct;
  try {
    const data: unknown = JSON.parse(statusJson);
    if (typeof data !== "object" || data === null || !("group" in data)) return null;
    return parseMemberStatus(JSON.stringify((data as { group: unknown }).group));
  } catch {
    return null;
  }
}

/** Shard id under which meta members are reported (config ids start at 1). */
export const metaShardId = 0;

export async function collectMemberReports(layout: ClusterLayout, options: { timeoutMs: number }): Promise<MemberReport[]> {
  const pool = new MemberPool({ requestTimeoutMs: options.timeoutMs, connectTimeoutMs: options.timeoutMs });
  try {
    const pending = layout.shards.flatMap((shard) =>
      shard.members.map(async (member): Promise<MemberReport> => {
        const answer = await pool.send(member.clientAddress, { op: "STATUS", key: emptyBytes, value: emptyBytes, linearizable: false });
        const status = answer.code === "OK" ? memberStatusOf(answer.statusJson) : null;
        const error = status !== null ? null : answer.code === "OK" ? "invalid STATUS answer" : `${answer.code}: ${answer.message}`;
        return { shardId: shard.id, memberId: member.id, address: member.clientAddress, status, error };
      }),
    );
    return await Promise.all(pending);
  } finally {
    pool.close();
  }
}

/** Shard ids of `layout` with no reachable member claiming leadership in `reports`. */
export function shardsWithoutLeader(layout: ClusterLayout, reports: readonly MemberReport[]): number[] {
  return layout.shards
    .filter((shard) => !reports.some((report) => report.shardId === shard.id && report.status?.role === "leader"))
    .map((shard) => shard.id);
}
