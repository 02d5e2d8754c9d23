// The FR1.3 rule: a shard is unavailable when fewer than a majority of its members answer, or no
// leader was seen for longer than the limit; and the leader of a probe round is the self-declared
// leader of the highest term.
import { describe, expect, test } from "bun:test";
import type { MemberPool } from "../../../src/client/member-pool.ts";
import type { Topology, TopologyShard } from "../../../src/client/topology.ts";
import type { KvResponse } from "../../../src/transport/kv-protocol.ts";
import { assessShard, leaderOfProbe, ShardHealthMonitor, type MemberProbe } from "../../../src/router/shard-health.ts";

function probe(id: number, role: string | null, term = 1): MemberProbe {
  if (role === null) return { id, address: `127.0.0.1:${id}`, reachable: false, status: null, missedCount: 1 };
  return {
    id,
    address: `127.0.0.1:${id}`,
    reachable: true,
    missedCount: 0,
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

describe("ShardHealthMonitor", () => {
  /** Shard 7 on stores 1-3; `answering` says which stores answer STATUS in the next round. */
  function monitorOf(answering: Set<number>): ShardHealthMonitor {
    const shard: TopologyShard = { id: 7, members: [1, 2, 3].map((id) => ({ id, clientAddress: `127.0.0.1:${id}` })) };
    const topology: Topology = { epoch: 1, ranges: undefined as never, shards: new Map([[7, shard]]) };
    const pool = {
      nowMs: () => 1000,
      send: async (address: string): Promise<KvResponse> => {
        const id = Number(address.split(":")[1]);
        if (!answering.has(id)) return { id: 0, code: "TIMEOUT", message: "no answer" } as unknown as KvResponse;
        const group = { groupId: 7, nodeId: id, role: id === 1 ? "leader" : "follower", term: 2, leader: 1, commitIndex: 5, appliedIndex: 5, lastIndex: 5, snapshotIndex: 0, keyCount: 0 };
        return { id: 0, code: "OK", statusJson: JSON.stringify({ groups: [group] }) } as unknown as KvResponse;
      },
    } as unknown as MemberPool;
    return new ShardHealthMonitor({ pool, topology: () => topology, probeIntervalMs: 500, probeTimeoutMs: 400, noLeaderLimitMs: 2000, onProbed: () => {} });
  }

  test("a quorum is lost only when a majority missed two rounds in a row, not on one late answer", async () => {
    const answering = new Set([1, 2, 3]);
    const monitor = monitorOf(answering);
    await monitor.probeAll();
    expect(monitor.health(7).state).toBe("available");
    answering.delete(2);
    answering.delete(3);
    await monitor.probeAll(); // one round late (an overloaded store): still counted
    expect(monitor.health(7).state).toBe("available");
    expect(monitor.health(7).reachableCount).toBe(3);
    await monitor.probeAll(); // the second miss in a row: gone
    expect(monitor.health(7).state).toBe("unavailable");
    expect(monitor.health(7).detail).toBe("1 of 3 members reachable, a majority is 2");
    answering.add(2);
    await monitor.probeAll();
    expect(monitor.health(7).state).toBe("available");
  });

  test("the no-leader clock starts at the first round without a leader, not at the last round with one", async () => {
    const world = { nowMs: 1000, leaderId: 1 };
    const shard: TopologyShard = { id: 7, members: [1, 2, 3].map((id) => ({ id, clientAddress: `127.0.0.1:${id}` })) };
    const topology: Topology = { epoch: 1, ranges: undefined as never, shards: new Map([[7, shard]]) };
    const pool = {
      nowMs: () => world.nowMs,
      send: async (address: string): Promise<KvResponse> => {
        const id = Number(address.split(":")[1]);
        const group = { groupId: 7, nodeId: id, role: id === world.leaderId ? "leader" : "follower", term: 2, leader: world.leaderId, commitIndex: 5, appliedIndex: 5, lastIndex: 5, snapshotIndex: 0, keyCount: 0 };
        return { id: 0, code: "OK", statusJson: JSON.stringify({ groups: [group] }) } as unknown as KvResponse;
      },
    } as unknown as MemberPool;
    const monitor = new ShardHealthMonitor({ pool, topology: () => topology, probeIntervalMs: 500, probeTimeoutMs: 400, noLeaderLimitMs: 2000, onProbed: () => {} });
    await monitor.probeAll(); // t=1000: leader 1
    world.leaderId = 0; // its store dies just after this round
    world.nowMs = 1500;
    await monitor.probeAll(); // the first round without a leader: the clock starts here
    world.nowMs = 3400;
    await monitor.probeAll(); // 1,900 ms since then (2,400 since the last leader seen): still electing
    expect(monitor.health(7).state).toBe("available");
    world.nowMs = 3600;
    await monitor.probeAll();
    expect(monitor.health(7).state).toBe("unavailable");
    expect(monitor.health(7).detail).toBe("no leader for 2100 ms (limit 2000 ms)");
  });

  test("members that never answered count as unreachable from the first round", async () => {
    const monitor = monitorOf(new Set([1]));
    await monitor.probeAll();
    expect(monitor.health(7).state).toBe("unavailable");
  });
});
