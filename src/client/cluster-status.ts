// One STATUS round over every store of the cluster: what `ukv status` prints and what `ukv cluster
// up` waits on. A store answers for every replica it hosts, so the round costs one request per
// store however many shards there are; stores are asked at once, each with its own timeout, so one
// dead or paused store costs one timeout.
import { parseStoreStatus, type MemberStatus } from "./leader-cache.ts";
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

/** Shard id under which the metadata group's replicas are reported (its group id; data shard ids start at 1). */
export const metaShardId = 0;

export async function collectMemberReports(layout: ClusterLayout, options: { timeoutMs: number }): Promise<MemberReport[]> {
  const pool = new MemberPool({ requestTimeoutMs: options.timeoutMs, connectTimeoutMs: options.timeoutMs });
  try {
    const addresses = new Set(layout.shards.flatMap((shard) => shard.members.map((member) => member.clientAddress)));
    const answers = new Map<string, { statuses: Map<number, MemberStatus>; error: string | null }>();
    await Promise.all(
      [...addresses].map(async (address) => {
        const answer = await pool.send(address, { op: "STATUS", key: emptyBytes, value: emptyBytes, linearizable: false });
        const statuses = answer.code === "OK" ? parseStoreStatus(answer.statusJson) : new Map<number, MemberStatus>();
        answers.set(address, { statuses, error: answer.code === "OK" ? null : `${answer.code}: ${answer.message}` });
      }),
    );
    return layout.shards.flatMap((shard) =>
      shard.members.map((member): MemberReport => {
        const answer = answers.get(member.clientAddress);
        const status = answer?.statuses.get(shard.id) ?? null;
        const error = status !== null ? null : (answer?.error ?? `the store holds no replica of ${shard.id === metaShardId ? "the metadata group" : `shard ${shard.id}`}`);
        return { shardId: shard.id, memberId: member.id, address: member.clientAddress, status, error };
      }),
    );
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
