// Health of each shard as the router sees it (PRD FR1.3): every probeIntervalMs, a STATUS to every
// member of every shard. A shard is unavailable ("no quorum") when fewer than a majority of its
// members answered either of the last two probes (no majority can elect or commit), or when no member has
// reported a leader for longer than noLeaderLimitMs (about two election timeouts: an election that
// long has failed). Until its first probe completes a shard counts as available, so the router
// does not refuse traffic during its own start-up. The probe answers also feed the leader cache.
import type { MemberStatus } from "../client/leader-cache.ts";
import { parseMemberStatus, parseStoreStatus } from "../client/leader-cache.ts";
import type { MemberPool } from "../client/member-pool.ts";
import type { Topology, TopologyShard } from "../client/topology.ts";
import { assert } from "../util/assert.ts";

export type ShardState = "unknown" | "available" | "unavailable";

export interface MemberProbe {
  id: number;
  address: string;
  reachable: boolean;
  /** Null when unreachable. */
  status: MemberStatus | null;
  /** Probe rounds in a row this member has not answered (0 when it answered this one). */
  missedCount: number;
}

/**
 * A member counts toward a shard's quorum until it misses this many probe rounds in a row: one
 * STATUS answered late by an overloaded store must not turn a healthy shard "unavailable" and
 * refuse its requests (seen at load average 50: 49 CLUSTERDOWN in a second); a store really gone
 * is noticed one round later.
 */
export const missedRoundsUnreachable = 2;

export interface ShardHealth {
  shardId: number;
  state: ShardState;
  /** Why unavailable, for logs, e.g. "1 of 3 members reachable, a majority is 2"; null otherwise. */
  detail: string | null;
  memberCount: number;
  reachableCount: number;
  /** Member id of the leader seen in the last probe; 0 if none. */
  leaderId: number;
  term: number;
  /** Clock time of the last round that saw a leader or followed one that did (or the monitor's start); for the no-leader rule. */
  leaderSeenMs: number;
  probedMs: number | null;
  members: MemberProbe[];
}

export interface ShardAssessment {
  available: boolean;
  detail: string | null;
}

/** The FR1.3 rule on one probe round (pure). */
export function assessShard(args: { memberCount: number; reachableCount: number; leaderSeenMs: number; nowMs: number; noLeaderLimitMs: number }): ShardAssessment {
  const majority = Math.floor(args.memberCount / 2) + 1;
  if (args.reachableCount < majority) {
    return { available: false, detail: `${args.reachableCount} of ${args.memberCount} members reachable, a majority is ${majority}` };
  }
  const noLeaderMs = args.nowMs - args.leaderSeenMs;
  if (noLeaderMs > args.noLeaderLimitMs) {
    return { available: false, detail: `no leader for ${Math.round(noLeaderMs)} ms (limit ${args.noLeaderLimitMs} ms)` };
  }
  return { available: true, detail: null };
}

/** The leader a probe round shows: a member saying it leads, in the highest term. */
export function leaderOfProbe(probes: readonly MemberProbe[]): { leaderId: number; term: number } {
  let leaderId = 0;
  let leaderTerm = -1;
  let term = 0;
  for (const probe of probes) {
    const status = probe.status;
    if (status === null) continue;
    term = Math.max(term, status.term);
    if (status.role === "leader" && status.term > leaderTerm) {
      leaderId = status.nodeId;
      leaderTerm = status.term;
    }
  }
  return { leaderId, term };
}

export interface ShardHealthMonitorOptions {
  pool: MemberPool;
  topology: () => Topology;
  probeIntervalMs: number;
  /** A member not answering STATUS within this counts as unreachable. */
  probeTimeoutMs: number;
  noLeaderLimitMs: number;
  /** Called after each probe round of a shard (leader cache, state-change logs). */
  onProbed(shard: TopologyShard, health: ShardHealth, previous: ShardHealth): void;
}

const emptyBytes = new Uint8Array(0);

/** How soon a round follows one that judged a shard unavailable (at most the probe interval). */
const unavailableRecheckMs = 200;

export class ShardHealthMonitor {
  readonly #options: ShardHealthMonitorOptions;
  readonly #health = new Map<number, ShardHealth>();
  readonly #probing = new Set<number>();
  #probingAll = false;
  #timer: ReturnType<typeof setInterval> | null = null;
  #lastRoundMs = 0;

  constructor(options: ShardHealthMonitorOptions) {
    assert(options.probeIntervalMs > 0 && options.probeTimeoutMs > 0, "probe timings are positive");
    assert(options.noLeaderLimitMs > options.probeIntervalMs, "the no-leader limit spans more than one probe");
    this.#options = options;
  }

  start(): void {
    assert(this.#timer === null, "start is called once");
    void this.#probeRound();
    // A shard judged unavailable is probed again sooner: a verdict from a round that saw peers
    // still starting (or a busy store) must not refuse requests for a whole interval.
    const recheckMs = Math.min(unavailableRecheckMs, this.#options.probeIntervalMs);
    this.#timer = setInterval(() => {
      const sinceMs = this.#options.pool.nowMs() - this.#lastRoundMs;
      const anyUnavailable = [...this.#health.values()].some((health) => health.state === "unavailable");
      if (sinceMs >= this.#options.probeIntervalMs || (anyUnavailable && sinceMs >= recheckMs)) void this.#probeRound();
    }, recheckMs);
  }

  #probeRound(): Promise<void> {
    this.#lastRoundMs = this.#options.pool.nowMs();
    return this.probeAll();
  }

  stop(): void {
    if (this.#timer !== null) clearInterval(this.#timer);
    this.#timer = null;
  }

  /** The health of `shardId` (an "unknown" record before its first probe). */
  health(shardId: number): ShardHealth {
    let health = this.#health.get(shardId);
    if (health === undefined) {
      const shard = this.#options.topology().shards.get(shardId);
      health = {
        shardId,
        state: "unknown",
        detail: null,
        memberCount: shard?.members.length ?? 0,
        reachableCount: 0,
        leaderId: 0,
        term: 0,
        leaderSeenMs: this.#options.pool.nowMs(),
        probedMs: null,
        members: [],
      };
      this.#health.set(shardId, health);
    }
    return health;
  }

  /**
   * One probe round over every shard: one STATUS per store (it answers for every replica it
   * hosts), not one per replica, so the cost grows with the stores, not with the shards. A round
   * still out when the next is due is skipped.
   */
  async probeAll(): Promise<void> {
    if (this.#probingAll) return;
    this.#probingAll = true;
    try {
      const shards = [...this.#options.topology().shards.values()];
      const addresses = new Set(shards.flatMap((shard) => shard.members.map((member) => member.clientAddress)));
      const { pool, probeTimeoutMs } = this.#options;
      const byAddress = new Map<string, Map<number, MemberStatus>>();
      await Promise.all(
        [...addresses].map(async (address) => {
          const answer = await pool.send(address, { op: "STATUS", key: emptyBytes, value: emptyBytes, linearizable: false }, probeTimeoutMs);
          if (answer.code === "OK") byAddress.set(address, parseStoreStatus(answer.statusJson));
        }),
      );
      for (const shard of shards) {
        const members = shard.members.map((member): MemberProbe => {
          const statuses = byAddress.get(member.clientAddress);
          const status = statuses?.get(shard.id) ?? null;
          return { id: member.id, address: member.clientAddress, reachable: status !== null, status, missedCount: 0 };
        });
        this.#record(shard, members);
      }
    } finally {
      this.#probingAll = false;
    }
  }

  async probeShard(shard: TopologyShard): Promise<ShardHealth> {
    this.#probing.add(shard.id);
    try {
      const { pool, probeTimeoutMs } = this.#options;
      const members = await Promise.all(
        shard.members.map(async (member): Promise<MemberProbe> => {
          const answer = await pool.send(member.clientAddress, { op: "STATUS", key: emptyBytes, value: emptyBytes, linearizable: false, shard: shard.id }, probeTimeoutMs);
          const status = answer.code === "OK" ? parseMemberStatus(answer.statusJson) : null;
          return { id: member.id, address: member.clientAddress, reachable: status !== null, status, missedCount: 0 };
        }),
      );
      return this.#record(shard, members);
    } finally {
      this.#probing.delete(shard.id);
    }
  }

  #record(shard: TopologyShard, members: MemberProbe[]): ShardHealth {
    const previous = this.health(shard.id);
    const nowMs = this.#options.pool.nowMs();
    for (const member of members) {
      if (member.reachable) continue;
      const before = previous.members.find((probe) => probe.id === member.id);
      member.missedCount = (before?.missedCount ?? missedRoundsUnreachable - 1) + 1;
    }
    const { leaderId, term } = leaderOfProbe(members);
    // A leader seen by the previous round may have lived until just before this one: the no-leader
    // clock starts at the first round without one, not at the last round with one (a probe
    // interval earlier, which read a normal election after a leader's store died as a failed one:
    // CI saw a split test's writes refused so for one round).
    const leaderSeenMs = leaderId !== 0 || previous.leaderId !== 0 ? nowMs : previous.leaderSeenMs;
    const reachableCount = members.filter((member) => member.missedCount < missedRoundsUnreachable).length;
    const assessment = assessShard({ memberCount: shard.members.length, reachableCount, leaderSeenMs, nowMs, noLeaderLimitMs: this.#options.noLeaderLimitMs });
    const health: ShardHealth = {
      shardId: shard.id,
      state: assessment.available ? "available" : "unavailable",
      detail: assessment.detail,
      memberCount: shard.members.length,
      reachableCount,
      leaderId,
      term,
      leaderSeenMs,
      probedMs: nowMs,
      members,
    };
    this.#health.set(shard.id, health);
    this.#options.onProbed(shard, health, previous);
    return health;
  }
}
