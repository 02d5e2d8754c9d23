// The one loop that follows a Raft group's leader, for every client of a group: the smart client
// and the router (data shards, routed by key), every store's routing, and GroupClient (the
// metadata group, and admin requests to one shard). Writes, admin requests and linearizable reads
// go to the group's leader: the store's own replica's view first (inside a store), then the
// leader cache, then a discovery (STATUS to every member at once, shared by a burst of requests);
// NOT_LEADER hints are followed at once (a few hops in a row), failures and elections retried
// with short backoff, for at most `retryWindowMs`. Follower reads (and TOPOLOGY, which any
// metadata replica answers from what it applied) round-robin over the members not known to be
// down, with the leader path as the fallback. A `gate` lets the router refuse a request for a
// shard it knows is unavailable, checked before every attempt, so a request never waits out the
// retry window on a dead shard.
//
// Why this loop and not GroupClient's old one: this one already had everything a group client
// needs (hints, discovery, a time bound, backoff, a leader cache shared by all requests) and the
// data path depends on its details (the local replica's view, the gate, WRONG_SHARD refreshes);
// GroupClient needed only two additions, both here: a group whose members are known by address
// alone (discovery maps the leader a STATUS names to the address that answered as it), and the
// metadata group's STATUS shape (an untagged STATUS answers for the whole store). Without a
// topology (a GroupClient) requests name their group and members; nothing is routed by key.
//
// A SET or DELETE retried after a TIMEOUT or a broken connection may be applied twice; both are
// idempotent on the final state (same key, same value), so the retry is safe for this API.
import type { KvRequest, KvResponse } from "../transport/kv-protocol.ts";
import { makeKvResponse } from "../transport/kv-protocol.ts";
import { assert } from "../util/assert.ts";
import { LeaderCache, leaderFromStatuses, parseGroupStatus, type CachedLeader, type MemberStatus } from "./leader-cache.ts";
import { isMemberFailure, type MemberPool } from "./member-pool.ts";
import { shardOfKey, type TopologyShard, type TopologySource } from "./topology.ts";

export type RouteFields = Omit<KvRequest, "id">;

/** Refuses a request for a shard (an answer to return as is), or null to let it through. */
export type RoutingGate = (shard: TopologyShard, request: RouteFields) => KvResponse | null;

export interface ShardRoutingOptions {
  /** Keys to shards, and each shard's members. Absent for a GroupClient: requests name their group and members. */
  topology?: TopologySource;
  pool: MemberPool;
  /** How long writes keep retrying (elections, redirects) before the last answer is returned. Default 3000. */
  retryWindowMs?: number;
  /** First backoff between retries; doubles up to backoffMsMax. Default 25, or backoffMsMax when that is less. */
  backoffMsMin?: number;
  /** Default 400. */
  backoffMsMax?: number;
  /** A member that failed within this window (and has not answered since) gets no follower reads. Default 2000. */
  failureQuarantineMs?: number;
  gate?: RoutingGate;
  /**
   * Inside a store: the leader its own replica of the shard follows (null when it holds none or
   * knows none). Fresher than any cache after an election, and free: consulted before the cache.
   */
  localLeader?: (shardId: number) => CachedLeader | null;
  /**
   * Inside a store: waits between retries end early when the store's replica of the shard learns
   * of a leader (an election), instead of sleeping out the whole backoff.
   */
  waitForLeader?: (shardId: number, timeoutMs: number) => Promise<void>;
}

export const retryWindowMsDefault = 3000;
/** Bound on attempts of one request, whatever the window: redirects plus retries. */
export const routeAttemptCountMax = 64;
/** NOT_LEADER hints followed in a row without backoff (a hint chain longer than this is a loop). */
const hintHopCountMax = 3;

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

export class ShardRouting {
  readonly #topology: TopologySource | null;
  readonly #pool: MemberPool;
  readonly #leaders: LeaderCache;
  readonly #retryWindowMs: number;
  readonly #backoffMsMin: number;
  readonly #backoffMsMax: number;
  readonly #failureQuarantineMs: number;
  readonly #gate: RoutingGate | null;
  readonly #localLeader: ((shardId: number) => CachedLeader | null) | null;
  readonly #waitForLeader: ((shardId: number, timeoutMs: number) => Promise<void>) | null;
  readonly #discoveries = new Map<number, Promise<CachedLeader | null>>();
  readonly #readCursors = new Map<number, number>();

  constructor(options: ShardRoutingOptions) {
    this.#topology = options.topology ?? null;
    this.#pool = options.pool;
    this.#leaders = new LeaderCache(this.#topology?.current().epoch ?? 0);
    this.#retryWindowMs = options.retryWindowMs ?? retryWindowMsDefault;
    this.#backoffMsMax = options.backoffMsMax ?? 400;
    // The default never exceeds an explicit maximum: a store passes its tick (1..10000 ms), and
    // a tick under 25 ms failed the ordering assert below at start.
    this.#backoffMsMin = options.backoffMsMin ?? Math.min(25, this.#backoffMsMax);
    this.#failureQuarantineMs = options.failureQuarantineMs ?? 2000;
    this.#gate = options.gate ?? null;
    this.#localLeader = options.localLeader ?? null;
    this.#waitForLeader = options.waitForLeader ?? null;
    assert(this.#retryWindowMs >= 0, "the retry window is not negative");
    assert(this.#backoffMsMin > 0 && this.#backoffMsMin <= this.#backoffMsMax, "backoff bounds are ordered");
  }

  /** The shard owning `key` in the current topology. */
  shardFor(key: Uint8Array): TopologyShard {
    assert(this.#topology !== null, "routing by key needs a topology");
    return shardOfKey(this.#topology.current(), key);
  }

  /** Routes a GET, SET or DELETE to its shard; never rejects. */
  route(request: RouteFields): Promise<KvResponse> {
    assert(request.op !== "STATUS", "STATUS names a member, not a key");
    return this.routeToShard(this.shardFor(request.key), request);
  }

  routeToShard(shard: TopologyShard, fields: RouteFields): Promise<KvResponse> {
    this.#syncEpoch();
    // Tagged with its shard and the range version it was routed by: the store that gets it serves
    // it from that replica or says why not (NOT_LEADER, WRONG_SHARD, STALE_EPOCH), and never
    // forwards it again.
    const request = tagged(fields, shard);
    const anyMember = (request.op === "GET" && !request.linearizable) || request.op === "TOPOLOGY";
    if (anyMember) return this.#followerRead(shard, request);
    return this.#viaLeader(shard, request);
  }

  /** The cached leader of `shardId`, or null. */
  cachedLeader(shardId: number): CachedLeader | null {
    return this.#leaders.get(shardId);
  }

  /** Feeds a STATUS answer seen elsewhere (the router's health probes) into the leader cache. */
  noteStatuses(shard: TopologyShard, statuses: readonly MemberStatus[]): void {
    const leader = leaderFromStatuses(shard, statuses);
    if (leader !== null) this.#leaders.offer(shard.id, leader);
  }

  /** Asks every member of `shard` for STATUS at once and caches the leader they name. */
  discoverLeader(shard: TopologyShard): Promise<CachedLeader | null> {
    let discovery = this.#discoveries.get(shard.id);
    if (discovery === undefined) {
      // One discovery per shard at a time: a burst of requests during an election shares it.
      discovery = this.#discover(shard).finally(() => this.#discoveries.delete(shard.id));
      this.#discoveries.set(shard.id, discovery);
    }
    return discovery;
  }

  async #discover(shard: TopologyShard): Promise<CachedLeader | null> {
    const answers = await Promise.all(
      shard.members.map((member) => this.#pool.send(member.clientAddress, { op: "STATUS", key: new Uint8Array(0), value: new Uint8Array(0), linearizable: false, shard: shard.id })),
    );
    const statuses: MemberStatus[] = [];
    // Who answered as which replica: a GroupClient knows its members by address alone.
    const addressByMemberId = new Map<number, string>();
    answers.forEach((answer, memberIndex) => {
      const status = answer.code === "OK" ? parseGroupStatus(answer.statusJson, shard.id) : null;
      if (status === null) return;
      statuses.push(status);
      addressByMemberId.set(status.nodeId, shard.members[memberIndex]!.clientAddress);
    });
    // A store that holds no replica of the shard any more: our placement is stale. Re-read it in
    // the background (not awaited: every request waiting on this discovery would wait on the
    // metadata group too); the caller's later attempts route by the newer placement.
    if (answers.some((answer) => answer.code === "WRONG_SHARD")) void this.#topology?.refresh().catch(() => undefined);
    const leader = leaderFromStatuses(shard, statuses, addressByMemberId);
    if (leader !== null) this.#leaders.offer(shard.id, leader);
    return this.#leaders.get(shard.id);
  }

  #syncEpoch(): void {
    if (this.#topology !== null) this.#leaders.syncEpoch(this.#topology.current().epoch);
  }

  /** `shard` as the current topology has it (members move between epochs); the leader cache follows the epoch. */
  #currentShard(shard: TopologyShard): TopologyShard {
    if (this.#topology === null) return shard;
    const topology = this.#topology.current();
    this.#leaders.syncEpoch(topology.epoch);
    return topology.shards.get(shard.id) ?? shard;
  }

  #backoffMs(retryIndex: number): number {
    return Math.min(this.#backoffMsMax, this.#backoffMsMin * 2 ** Math.min(retryIndex, 16));
  }

  async #viaLeader(routedShard: TopologyShard, routedRequest: RouteFields): Promise<KvResponse> {
    const deadlineMs = this.#pool.nowMs() + this.#retryWindowMs;
    let shard = routedShard;
    let request = routedRequest;
    let retryIndex = 0;
    let hopCount = 0;
    let last: KvResponse | null = null;
    let localRejectedAddress: string | null = null;
    for (let attemptIndex = 0; attemptIndex < routeAttemptCountMax; attemptIndex++) {
      // Each attempt routes by the newest placement (a WRONG_SHARD refresh, or the watch moved on).
      if (attemptIndex > 0) {
        shard = this.#currentShard(shard);
        request = tagged(request, shard);
      }
      const refused = this.#gate?.(shard, request) ?? null;
      if (refused !== null) return refused;
      // The local replica's view first, unless it still names a store that failed this request
      // (it lags a new leader until it hears of the election).
      const localView = this.#localLeader?.(shard.id) ?? null;
      const local: CachedLeader | null = localView !== null && localView.address !== localRejectedAddress ? localView : null;
      const leader = local ?? this.#leaders.get(shard.id) ?? (await this.discoverLeader(shard));
      if (leader !== null) {
        const response = await this.#pool.send(leader.address, request);
        if (local !== null && (response.code === "NOT_LEADER" || isMemberFailure(response))) localRejectedAddress = local.address;
        if (response.code === "NOT_LEADER") {
          const hinted = response.leaderAddress === "" || response.leaderAddress === leader.address ? null : this.#leaders.offerHint(shard, response.leaderAddress);
          if (hinted === null) this.#leaders.forget(shard.id, leader.address);
          else if (hopCount++ < hintHopCountMax) continue; // a known new leader: go at once
        } else if (isMemberFailure(response)) {
          this.#leaders.forget(shard.id, leader.address);
          // A write whose outcome is unknown (TIMEOUT: it may still commit; UNAVAILABLE: refused
          // mid-way, e.g. a full disk, its entry possibly in the log) is never sent again: a second
          // copy could apply after another client's later write. Only answers that prove nothing
          // was proposed (NOT_LEADER, WRONG_SHARD, UNREACHABLE before sending) are retried.
          if (isWrite(request) && response.code !== "UNREACHABLE") return response;
        } else if (response.code === "WRONG_SHARD") {
          // Our placement is stale: re-read it (bounded by the retry window), then route again.
          this.#leaders.forget(shard.id, leader.address);
          await this.#topology?.refresh().catch(() => undefined);
        } else if (response.code === "STALE_EPOCH" && this.#topology !== null && hasKey(request)) {
          // A split moved the key to another shard (nothing was applied): re-read the ranges and
          // route the key again, to the shard that owns it now once the metadata lists it.
          await this.#topology.refresh().catch(() => undefined);
          const owner = this.shardFor(request.key);
          if (owner.id !== shard.id) {
            shard = owner;
            request = tagged(request, shard);
            last = response;
            hopCount = 0;
            continue;
          }
        } else {
          return response;
        }
        last = response;
      }
      // A closed pool answers UNREACHABLE at once: retrying would only hold its closer up.
      if (this.#pool.nowMs() >= deadlineMs || this.#pool.closed) break;
      const backoffMs = this.#backoffMs(retryIndex++);
      await (this.#waitForLeader === null ? sleep(backoffMs) : this.#waitForLeader(shard.id, backoffMs));
      hopCount = 0;
    }
    const reason = last === null ? "no leader found" : `last answer ${last.code}${last.message === "" ? "" : `: ${last.message}`}`;
    return makeKvResponse(0, "UNAVAILABLE", { message: `Shard ${shard.id} did not accept the ${request.op} within ${this.#retryWindowMs} ms: ${reason}` });
  }

  async #followerRead(shard: TopologyShard, request: RouteFields): Promise<KvResponse> {
    const memberCount = shard.members.length;
    const cursor = this.#readCursors.get(shard.id) ?? 0;
    this.#readCursors.set(shard.id, (cursor + 1) % memberCount);
    for (let offset = 0; offset < memberCount; offset++) {
      const member = shard.members[(cursor + offset) % memberCount];
      assert(member !== undefined, "the cursor stays within the members");
      if (this.#pool.failedRecently(member.clientAddress, this.#failureQuarantineMs)) continue;
      const refused = this.#gate?.(shard, request) ?? null;
      if (refused !== null) return refused;
      const response = await this.#pool.send(member.clientAddress, request);
      // The key moved to another shard: the leader path re-reads the ranges and routes it again.
      if (response.code === "STALE_EPOCH") return this.#viaLeader(shard, request);
      if (!isMemberFailure(response) && response.code !== "NOT_LEADER" && response.code !== "WRONG_SHARD") return response;
    }
    // Every member failed or is quarantined: the leader path retries through an election.
    return this.#viaLeader(shard, request);
  }
}

/** `fields` tagged with `shard` and the version of its range it is routed by. */
function tagged(fields: RouteFields, shard: TopologyShard): RouteFields {
  return { ...fields, shard: shard.id, rangeVersion: shard.range?.version ?? 0 };
}

function hasKey(request: RouteFields): boolean {
  return request.op === "GET" || request.op === "SET" || request.op === "DELETE" || request.op === "KEYED";
}

/** SET, DELETE, KEYED, FLUSH and BATCH_SET: applying one twice, at different times, is not the same as applying it once. */
function isWrite(request: RouteFields): boolean {
  return request.op === "SET" || request.op === "DELETE" || request.op === "KEYED" || request.op === "FLUSH" || request.op === "BATCH_SET";
}
