// The FR1.3 rule: a shard is unavailable when fewer than a majority of its members answer, or no
// leader was seen for longer than the limit; and the leader of a probe round is the self-declared
// leader of the highest term.
import { describe, expect, test } from "bun:test";
import { assessShard, leaderOfProbe, type MemberProbe } from "../../../src/router/shard-health.ts";

function probe(id: number, role: string | null, term = 1): MemberProbe {
  if (role === null) return { id, address: `127.0.0.1:${id}`, reachable: false, status: null };
  return {
    id,
    address: `127.0.0.1:${id}`,
    reachable: true,
    status: { nodeId: id, role, term, leader: 0, commitIndex: 0, appliedIndex: 0, lastIndex: 0, snapshotIndex: 0, keyCount: 0 },
  };
}

describe("assessShard", () => {
  test("fewer than a majority of members reachable is no quorum", () => {
    const base = { memberCount: 3, leaderSeenMs: 1000, nowMs: 1000, noLeaderLimitMs: 2000 };
    expect(assessShard({ ...base, reachableCount: 3 }).available).toBe(true);
    expect(assessShard({ ...base, reachableCount: 2 }).available).toBe(true);
    const lost = assessShard({ ...base, reachableCount: 1 });
    expect(lost.available).toBe(false);
    expect(lost.detail).toBe("1 of 3 members reachable, a majority is 2");
    expect(assessShard({ ...base, memberCount: 5, reachableCount: 2 }).available).toBe(false);
    expect(assessShard({ ...base, memberCount: 5, reachableCount: 3 }).available).toBe(true);
  });

  test("no leader for longer than the limit is unavailable even with every member reachable", () => {
    const base = { memberCount: 3, reachableCount: 3, leaderSeenMs: 1000, noLeaderLimitMs: 2000 };
    expect(assessShard({ ...base, nowMs: 3000 }).available).toBe(true);
    const stuck = assessShard({ ...base, nowMs: 3001 });
    expect(stuck.available).toBe(false);
    expect(stuck.detail).toBe("no leader for 2001 ms (limit 2000 ms)");
  });
});

describe("leaderOfProbe", () => {
  test("the self-declared leader of the highest term wins over a stale one", () => {
    expect(leaderOfProbe([probe(1, "leader", 3), probe(2, "leader", 5), probe(3, "follower", 5)])).toEqual({ leaderId: 2, term: 5 });
    expect(leaderOfProbe([probe(2, "leader", 5), probe(1, "leader", 3)])).toEqual({ leaderId: 2, term: 5 });
  });

  test("no member claiming leadership means no leader", () => {
    expect(leaderOfProbe([probe(1, "candidate", 4), probe(2, null), probe(3, "follower", 3)])).toEqual({ leaderId: 0, term: 4 });
  });
});
