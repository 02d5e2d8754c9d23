// FR1.3's logging: every request refused because its shard lost quorum gets one structured
// CRITICAL line (pino level "fatal", `severity: "CRITICAL"`, event "shard_unavailable", with the
// shard, the op and the key size; never the key, which may be private data). On top of that, at
// most one summary line per shard per summaryIntervalMs counts the refusals since the last one,
// so an operator scanning the log sees the rate without reading every line.
import type { Logger } from "../util/log.ts";
import { assert } from "../util/assert.ts";

export interface UnavailableLogOptions {
  logger: Logger;
  summaryIntervalMs: number;
  nowMs: () => number;
}

interface ShardSummary {
  refusedCount: number;
  refusedCountSinceSummary: number;
  summaryMs: number | null;
}

/** The answer message for a request to a shard without quorum (clients may match on it). */
export function noQuorumMessage(shardId: number): string {
  return `shard ${shardId} unavailable: no quorum`;
}

export class UnavailableLog {
  readonly #options: UnavailableLogOptions;
  readonly #summaries = new Map<number, ShardSummary>();

  constructor(options: UnavailableLogOptions) {
    assert(options.summaryIntervalMs > 0, "the summary interval is positive");
    this.#options = options;
  }

  /** Logs one refused request (always), and the shard's summary when its interval has passed. */
  refused(args: { shardId: number; op: string; keySizeBytes: number; detail: string | null }): void {
    const summary = this.#summary(args.shardId);
    summary.refusedCount++;
    summary.refusedCountSinceSummary++;
    this.#options.logger.fatal(
      { severity: "CRITICAL", event: "shard_unavailable", shard: args.shardId, op: args.op, keySizeBytes: args.keySizeBytes, detail: args.detail },
      noQuorumMessage(args.shardId),
    );
    const nowMs = this.#options.nowMs();
    if (summary.summaryMs === null || nowMs - summary.summaryMs >= this.#options.summaryIntervalMs) {
      this.#options.logger.fatal(
        {
          severity: "CRITICAL",
          event: "shard_unavailable_summary",
          shard: args.shardId,
          refusedCount: summary.refusedCountSinceSummary,
          refusedCountTotal: summary.refusedCount,
          intervalMs: summary.summaryMs === null ? 0 : Math.round(nowMs - summary.summaryMs),
          detail: args.detail,
        },
        `shard ${args.shardId} unavailable: ${summary.refusedCountSinceSummary} requests refused`,
      );
      summary.summaryMs = nowMs;
      summary.refusedCountSinceSummary = 0;
    }
  }

  /** Refusals of `shardId` since start. */
  refusedCount(shardId: number): number {
    return this.#summaries.get(shardId)?.refusedCount ?? 0;
  }

  #summary(shardId: number): ShardSummary {
    let summary = this.#summaries.get(shardId);
    if (summary === undefined) {
      summary = { refusedCount: 0, refusedCountSinceSummary: 0, summaryMs: null };
      this.#summaries.set(shardId, summary);
    }
    return summary;
  }
}
