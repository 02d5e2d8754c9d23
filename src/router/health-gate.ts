// The FR1.3 refusal decision of a router (or a store routing): a shard is refused when its last
// probe round judged it without quorum, unless first-hand evidence says otherwise. Inside a store,
// its own replica knowing a current leader is such evidence, and it stays evidence against any
// verdict older than it: a store's first probe round can run before its peers listen (every
// member counts unreachable at once), and if the replica then loses its leader (the leader's
// store killed) before the next round, that stale verdict alone would refuse the shard for a
// round although a majority is up and electing (CI saw a store.test failover write refused so).
import type { ShardHealth } from "./shard-health.ts";

export interface HealthGateOptions {
  health(shardId: number): ShardHealth;
  /** This store's replica of the shard knows a current leader; absent in `ukv router`. */
  knowsLeader?: (shardId: number) => boolean;
  nowMs(): number;
}

export class HealthGate {
  readonly #options: HealthGateOptions;
  /** Per shard, when a refusal check last found the local replica knowing a leader. */
  readonly #leaderKnownMs = new Map<number, number>();

  constructor(options: HealthGateOptions) {
    this.#options = options;
  }

  /** Whether requests for `shardId` are refused now. */
  refuses(shardId: number): boolean {
    const health = this.#options.health(shardId);
    if (health.state !== "unavailable") return false;
    if (this.#options.knowsLeader?.(shardId) === true) {
      this.#leaderKnownMs.set(shardId, this.#options.nowMs());
      return false;
    }
    const leaderKnownMs = this.#leaderKnownMs.get(shardId);
    // A verdict no newer than the evidence is stale; the monitor re-probes an unavailable shard
    // within 200 ms, and a verdict from that round decides.
    return leaderKnownMs === undefined || health.probedMs === null || health.probedMs > leaderKnownMs;
  }
}
