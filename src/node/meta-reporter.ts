// A data member's reports to the metadata group: its health every second, and, while it leads
// its shard, the leadership (shard, node, term) at once on winning and every second after, so a
// lost report is repaired. Reports are ordinary writes to the meta group; its apply rules drop
// stale leadership (lower term) and count changes in the topology epoch. A cluster without a
// reachable meta group keeps serving: failures are logged, rate-limited, and retried.
import type { ClusterConfig } from "../config/cluster-config.ts";
import { GroupClient } from "../transport/group-client.ts";
import { fetchTopology } from "../transport/meta-api.ts";
import type { Logger } from "../util/log.ts";
import type { GroupRuntime } from "./group-runtime.ts";

export const reportIntervalMs = 1000;
const leadershipPollMs = 100;
const failureLogIntervalMs = 30_000;
const retryDelayMsMax = 10_000;

const encoder = new TextEncoder();

export class MetaReporter {
  readonly #runtime: GroupRuntime;
  readonly #client: GroupClient;
  readonly #logger: Logger;
  readonly #timer: ReturnType<typeof setInterval>;
  #lastReportMs = 0;
  #reportedLeaderTerm = -1;
  #reportedMembershipIndex = -1;
  #inFlight: Promise<void> | null = null;
  #lastFailureLogMs = 0;
  #retryAfterMs = 0;
  #retryDelayMs = reportIntervalMs;
  #stopped = false;

  private constructor(runtime: GroupRuntime, addresses: string[], logger: Logger) {
    this.#runtime = runtime;
    this.#logger = logger;
    this.#client = new GroupClient(addresses, { timeoutMs: 1000 });
    this.#timer = setInterval(() => this.#poll(), leadershipPollMs);
  }

  /** Null-object when the config has no meta group (a lone shard). */
  static start(args: { config: ClusterConfig; runtime: GroupRuntime; logger: Logger }): { stop(): Promise<void> } {
    const addresses = args.config.meta.members.map((member) => member.clientAddress);
    if (addresses.length === 0) return { stop: async () => undefined };
    return new MetaReporter(args.runtime, addresses, args.logger);
  }

  #poll(): void {
    if (this.#stopped || this.#inFlight !== null) return;
    const status = this.#runtime.status();
    const wonLeadership =
      status.role === "leader" && (status.term !== this.#reportedLeaderTerm || status.membershipIndex !== this.#reportedMembershipIndex);
    if (Date.now() < this.#retryAfterMs) return; // the meta group was unreachable: back off
    if (!wonLeadership && Date.now() - this.#lastReportMs < reportIntervalMs) return;
    this.#inFlight = this.#report().finally(() => {
      this.#inFlight = null;
    });
  }

  async #report(): Promise<void> {
    const status = this.#runtime.status();
    if (status.removed) return;
    if (status.role !== "leader") await this.#checkStillMember(status.groupId);
    this.#lastReportMs = Date.now();
    const writes: [string, unknown][] = [];
    if (status.role === "leader") {
      writes.push([`leader/${status.groupId}`, { nodeId: status.nodeId, term: status.term }]);
      // The membership, versioned by the log index that set it: the meta group keeps the newest.
      writes.push([
        `membership/${status.groupId}`,
        { confIndex: status.membershipIndex, voters: status.voters, learners: status.learners, addresses: status.addresses },
      ]);
    }
    writes.push([
      `health/${status.nodeId}`,
      {
        nodeId: status.nodeId,
        shardId: status.groupId,
        role: status.role,
        term: status.term,
        leader: status.leader,
        commitIndex: status.commitIndex,
        appliedIndex: status.appliedIndex,
        keyCount: status.keyCount,
        reportedAtMs: this.#lastReportMs,
      },
    ]);
    for (const [key, value] of writes) {
      const response = await this.#client.request({
        op: "SET",
        key: encoder.encode(key),
        value: encoder.encode(JSON.stringify(value)),
        linearizable: false,
      });
      if (response.code !== "OK") {
        this.#logFailure(response.code, response.message);
        // Unreachable meta members cost a connect per attempt: wait longer each time, bounded.
        this.#retryAfterMs = Date.now() + this.#retryDelayMs;
        this.#retryDelayMs = Math.min(retryDelayMsMax, this.#retryDelayMs * 2);
        return;
      }
      this.#retryDelayMs = reportIntervalMs;
      if (key.startsWith("leader/") && this.#reportedLeaderTerm !== status.term) {
        this.#reportedLeaderTerm = status.term;
        this.#logger.info({ event: "leadership_reported", term: status.term });
      }
      if (key.startsWith("membership/")) this.#reportedMembershipIndex = status.membershipIndex;
    }
  }

  /** A follower cut off by its own removal learns of it from the metadata group. */
  async #checkStillMember(groupId: number): Promise<void> {
    const topology = await fetchTopology(this.#client).catch(() => null);
    const report = topology?.memberships?.[String(groupId)];
    if (report === undefined) return;
    const nodeId = this.#runtime.nodeId;
    if (!report.voters.includes(nodeId) && !report.learners.includes(nodeId)) this.#runtime.removedElsewhere(report.confIndex);
  }

  #logFailure(code: string, message: string): void {
    if (Date.now() - this.#lastFailureLogMs < failureLogIntervalMs) return;
    this.#lastFailureLogMs = Date.now();
    this.#logger.warn({ event: "meta_report_failed", code, reason: message }, "cannot report to the metadata group");
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    clearInterval(this.#timer);
    await this.#inFlight;
    this.#client.close();
  }
}
