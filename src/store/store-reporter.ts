// A store's reports to the metadata group: ONE typed write for the whole store (its replicas'
// health, and the leadership and membership of every group it leads) every few seconds, and at
// once when one of its replicas wins a leadership or changes membership (a lost report is
// repaired by the next periodic one). The metadata group's apply rules drop stale leadership (lower term) and older
// memberships. A cluster without a reachable metadata group keeps serving: failures are logged,
// rate-limited, and retried with backoff.
import { GroupClient } from "../client/group-client.ts";
import type { MembershipReport, StoreReport } from "../transport/topology-wire.ts";
import type { Logger } from "../util/log.ts";
import { metaGroupId } from "../meta/meta-service.ts";
import { rangeToJson } from "../ring/range-map.ts";
import { splitBaseIndex } from "../node/split-child.ts";
import type { Store } from "./store.ts";

/** Health is informational (routing follows NOT_LEADER hints): a report every few seconds is enough. */
export const reportIntervalMs = 5000;
const changePollMs = 100;
const failureLogIntervalMs = 30_000;
const retryDelayMsMax = 10_000;

const encoder = new TextEncoder();

export class StoreReporter {
  readonly #store: Store;
  readonly #client: GroupClient;
  readonly #logger: Logger;
  readonly #timer: ReturnType<typeof setInterval>;
  /** group id -> "term/membershipIndex" last reported while leading it. */
  readonly #reportedLeadership = new Map<number, string>();
  #lastReportMs = 0;
  #inFlight: Promise<void> | null = null;
  #lastFailureLogMs = 0;
  #retryAfterMs = 0;
  #retryDelayMs = reportIntervalMs;
  #stopped = false;

  constructor(store: Store, metaAddresses: string[]) {
    this.#store = store;
    this.#logger = store.logger;
    this.#client = new GroupClient(metaAddresses, { timeoutMs: 1000 });
    this.#timer = setInterval(() => this.#poll(), changePollMs);
  }

  /** Report at the next poll (a replica was created or deleted). */
  reportSoon(): void {
    this.#lastReportMs = 0;
  }

  #poll(): void {
    if (this.#stopped || this.#inFlight !== null) return;
    if (Date.now() < this.#retryAfterMs) return; // the metadata group was unreachable: back off
    if (!this.#leadershipChanged() && Date.now() - this.#lastReportMs < reportIntervalMs) return;
    this.#inFlight = this.#report().finally(() => {
      this.#inFlight = null;
    });
  }

  #leadershipChanged(): boolean {
    for (const { groupId, runtime } of this.#store.replicas()) {
      if (groupId === metaGroupId || !runtime.isLeader() || runtime.isQuiesced()) continue;
      const summary = runtime.summary();
      if (this.#reportedLeadership.get(groupId) !== `${summary.term}/${summary.membershipIndex}`) return true;
    }
    return false;
  }

  async #report(): Promise<void> {
    this.#lastReportMs = Date.now();
    const report: StoreReport = {
      storeId: this.#store.storeId,
      health: { storeId: this.#store.storeId, reportedAtMs: this.#lastReportMs, groups: [] },
      leaders: [],
      memberships: {},
      ranges: {},
    };
    const led = new Map<number, string>();
    for (const { groupId, runtime } of this.#store.replicas()) {
      if (groupId === metaGroupId) continue;
      const status = runtime.summary();
      if (status.removed) continue;
      report.health.groups.push({
        shardId: groupId,
        role: status.role,
        term: status.term,
        leader: status.leader,
        commitIndex: status.commitIndex,
        appliedIndex: status.appliedIndex,
        lastIndex: status.lastIndex,
        keyCount: status.keyCount,
        bytes: runtime.table.bytesUsed(),
        keysRead: this.#store.keysRead(groupId),
      });
      const { conf, addresses, range } = runtime.membership();
      // Not while this replica's split child is still being created: the parent's new range
      // without the child's would leave the metadata a hole (the next report carries both).
      if (range !== undefined && !runtime.splitPending()) report.ranges![String(groupId)] = rangeToJson(range);
      // A split child's first membership comes from any replica (its leader may not be elected
      // yet): the metadata lists the child only once it knows its members. Older ones are dropped.
      const splitBorn = status.membershipIndex === splitBaseIndex;
      if (status.role !== "leader" && !splitBorn) continue;
      const membership: MembershipReport = {
        confIndex: status.membershipIndex,
        voters: conf.voters,
        learners: conf.learners,
        addresses: Object.fromEntries([...addresses].map(([id, address]) => [String(id), address])),
      };
      report.memberships[String(groupId)] = membership;
      if (status.role !== "leader") continue;
      report.leaders.push({ shardId: groupId, term: status.term });
      led.set(groupId, `${status.term}/${status.membershipIndex}`);
    }
    const response = await this.#client.request({
      op: "ADMIN",
      key: new Uint8Array(0),
      value: encoder.encode(JSON.stringify({ action: "meta-report", report })),
      linearizable: false,
      shard: 0,
    });
    if (response.code !== "OK") {
      this.#logFailure(response.code, response.message);
      // Unreachable metadata stores cost a connect per attempt: wait longer each time, bounded.
      this.#retryAfterMs = Date.now() + this.#retryDelayMs;
      this.#retryDelayMs = Math.min(retryDelayMsMax, this.#retryDelayMs * 2);
      return;
    }
    this.#retryDelayMs = reportIntervalMs;
    for (const [groupId, version] of led) {
      if (this.#reportedLeadership.get(groupId) !== version) this.#logger.info({ event: "leadership_reported", shard: groupId, version });
      this.#reportedLeadership.set(groupId, version);
    }
  }

  #logFailure(code: string, message: string): void {
    if (Date.now() - this.#lastFailureLogMs < failureLogIntervalMs) return;
    this.#lastFailureLogMs = Date.now();
    this.#logger.warn({ event: "meta_report_failed", code, reason: message }, "cannot report to the metadata group");
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    clearInterval(this.#timer);
    // Closed first: a report in flight stops retrying at once instead of waiting out its window.
    this.#client.close();
    await this.#inFlight;
  }
}
