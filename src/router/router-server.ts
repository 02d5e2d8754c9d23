// The request routing built into every store, and the optional stateless proxy (`ukv router`)
// over the same code: it routes each request like the smart client does (range map -> shard -> leader
// or follower), pipelined per store connection, with a bounded queue per shard. Inside a store,
// `local` serves what needs no hop (a follower read of a shard with a replica here, a write to a
// shard led here) before anything goes over the network. Shard health (FR1.3) gates every request: a shard without quorum is
// answered SHARD_UNAVAILABLE "shard N unavailable: no quorum" at once, with a CRITICAL log line
// per request, while the other shards keep serving. STATUS to the router returns its view as JSON.
import type { CachedLeader } from "../client/leader-cache.ts";
import { isMemberFailure, MemberPool } from "../client/member-pool.ts";
import { ShardRouting, type RouteFields, type RoutingGate } from "../client/shard-routing.ts";
import type { TopologyShard, TopologySource } from "../client/topology.ts";
import { makeKvResponse, type KvRequest, type KvResponse } from "../transport/kv-protocol.ts";
import { KvServer } from "../transport/kv-server.ts";
import { assert } from "../util/assert.ts";
import { routerShardInflightCountMax, routerShardWaitingCountMax } from "../util/limits.ts";
import type { Logger } from "../util/log.ts";
import { HealthGate } from "./health-gate.ts";
import { ShardHealthMonitor, type ShardHealth } from "./shard-health.ts";
import { ShardQueue } from "./shard-queue.ts";
import { noQuorumMessage, UnavailableLog } from "./unavailable-log.ts";

/** What a store can serve without a hop; null = route it over the network. */
export interface LocalReplicas {
  tryServe(shardId: number, request: RouteFields): Promise<KvResponse> | null;
  /** The leader this store's replica of the shard follows, when it has one and knows it. */
  leaderOf(shardId: number): CachedLeader | null;
  /**
   * This store's replica of the shard knows a current leader (itself or another): first-hand
   * evidence of quorum that overrides a health probe which merely timed out on a busy store.
   */
  knowsLeader(shardId: number): boolean;
  /** Resolves when this store's replica of the shard learns of a leader, or after timeoutMs. */
  waitForLeader?(shardId: number, timeoutMs: number): Promise<void>;
}

export interface RouterServerOptions {
  /** The cluster's requirepass, required of the raw-protocol listener's clients. */
  password?: string | null;
  electionTimeoutMs: number;
  topologySource: TopologySource;
  /** The raw-protocol listener of `ukv router`; null inside a store (the store's own listener calls handle()). */
  listen: { host: string; /** 0 = ephemeral. */ port: number } | null;
  local?: LocalReplicas;
  logger: Logger;
  /** Default 500. */
  probeIntervalMs?: number;
  /** Default 400. */
  probeTimeoutMs?: number;
  /** Default: two of the longest randomized election timeouts, 2 x 2 x electionTicks x tickMs. */
  noLeaderLimitMs?: number;
  /** Per request to one member. Default 2000. */
  requestTimeoutMs?: number;
  /** Where requests to a member are sent when not to its client address (MemberPoolOptions.dialAddressOf). */
  dialAddressOf?: (address: string, fields: Omit<KvRequest, "id">) => string;
  /** Default 3000. */
  retryWindowMs?: number;
  /** Longest pause between retries while a shard elects a leader. Default: the routing's (400 ms). */
  backoffMsMax?: number;
  inflightCountMax?: number;
  waitingCountMax?: number;
  /** Default 5000. */
  summaryIntervalMs?: number;
  /**
   * Called when a shard's health changes state and when a request is refused for no quorum: a store
   * whose read pool serves reads off its own thread must stop serving that shard now, not at its
   * next routing refresh.
   */
  onRefusalsChanged?: (shardId: number) => void;
}

export interface RouterShardView {
  shardId: number;
  state: string;
  detail: string | null;
  leader: { memberId: number; address: string; term: number } | null;
  reachableCount: number;
  memberCount: number;
  inflightCount: number;
  waitingCount: number;
  refusedQueueFullCount: number;
  refusedNoQuorumCount: number;
  members: { id: number; address: string; reachable: boolean; role: string | null; term: number | null; commitIndex: number | null; appliedIndex: number | null; keyCount: number | null }[];
}

export interface RouterView {
  role: "router";
  port: number;
  epoch: number;
  shards: RouterShardView[];
}

export class RouterServer {
  readonly port: number;
  readonly #topology: TopologySource;
  readonly #pool: MemberPool;
  readonly #routing: ShardRouting;
  readonly #monitor: ShardHealthMonitor;
  readonly #healthGate: HealthGate;
  readonly #queues: Map<number, ShardQueue>;
  readonly #alerts: UnavailableLog;
  readonly #server: KvServer | null;
  readonly #local: LocalReplicas | null;
  readonly #logger: Logger;
  #gate: RoutingGate | null = null;
  #closing: Promise<void> | null = null;

  private constructor(parts: {
    port: number;
    topology: TopologySource;
    pool: MemberPool;
    routing: ShardRouting;
    monitor: ShardHealthMonitor;
    healthGate: HealthGate;
    queues: Map<number, ShardQueue>;
    alerts: UnavailableLog;
    server: KvServer | null;
    local: LocalReplicas | null;
    logger: Logger;
  }) {
    this.port = parts.port;
    this.#topology = parts.topology;
    this.#pool = parts.pool;
    this.#routing = parts.routing;
    this.#monitor = parts.monitor;
    this.#healthGate = parts.healthGate;
    this.#queues = parts.queues;
    this.#alerts = parts.alerts;
    this.#server = parts.server;
    this.#local = parts.local;
    this.#logger = parts.logger;
  }

  static async start(options: RouterServerOptions): Promise<RouterServer> {
    const logger = options.logger.child({ component: "router" });
    const topology = options.topologySource;
    const pool = new MemberPool({ requestTimeoutMs: options.requestTimeoutMs ?? 2000, ...(options.dialAddressOf === undefined ? {} : { dialAddressOf: options.dialAddressOf }) });
    const alerts = new UnavailableLog({ logger, summaryIntervalMs: options.summaryIntervalMs ?? 5000, nowMs: () => pool.nowMs() });
    let monitor: ShardHealthMonitor | null = null;
    const healthGate = new HealthGate({
      health: (shardId) => {
        assert(monitor !== null, "the monitor exists before any request is routed");
        return monitor.health(shardId);
      },
      ...(options.local === undefined ? {} : { knowsLeader: (shardId: number) => options.local?.knowsLeader(shardId) === true }),
      nowMs: () => pool.nowMs(),
    });
    const gate = (shard: TopologyShard, request: RouteFields): KvResponse | null => {
      if (monitor === null || !healthGate.refuses(shard.id)) return null;
      alerts.refused({ shardId: shard.id, op: request.op, keySizeBytes: request.key.byteLength, detail: monitor.health(shard.id).detail });
      options.onRefusalsChanged?.(shard.id);
      return makeKvResponse(0, "SHARD_UNAVAILABLE", { message: noQuorumMessage(shard.id) });
    };
    const routing = new ShardRouting({
      topology,
      pool,
      gate,
      ...(options.retryWindowMs === undefined ? {} : { retryWindowMs: options.retryWindowMs }),
      ...(options.backoffMsMax === undefined ? {} : { backoffMsMax: options.backoffMsMax }),
      ...(options.local === undefined ? {} : { localLeader: (shardId: number) => options.local?.leaderOf(shardId) ?? null }),
      ...(options.local?.waitForLeader === undefined ? {} : { waitForLeader: options.local.waitForLeader.bind(options.local) }),
    });
    const electionTimeoutMs = options.electionTimeoutMs;
    monitor = new ShardHealthMonitor({
      pool,
      topology: () => topology.current(),
      probeIntervalMs: options.probeIntervalMs ?? 500,
      probeTimeoutMs: options.probeTimeoutMs ?? 400,
      noLeaderLimitMs: options.noLeaderLimitMs ?? 4 * electionTimeoutMs,
      onProbed: (shard, health, previous) => {
        routing.noteStatuses(shard, health.members.flatMap((member) => (member.status === null ? [] : [member.status])));
        logHealthChange(logger, health, previous);
        if (health.state !== previous.state) options.onRefusalsChanged?.(shard.id);
      },
    });
    const queues = new Map<number, ShardQueue>();
    for (const shardId of topology.current().shards.keys()) {
      queues.set(shardId, new ShardQueue({
        inflightCountMax: options.inflightCountMax ?? routerShardInflightCountMax,
        waitingCountMax: options.waitingCountMax ?? routerShardWaitingCountMax,
      }));
    }
    let router: RouterServer | null = null;
    const listen = options.listen;
    const server =
      listen === null
        ? null
        : new KvServer({
            host: listen.host,
            port: listen.port,
            logger,
            password: options.password ?? null,
            handler: (request) => {
              if (router === null) return Promise.resolve(makeKvResponse(request.id, "UNAVAILABLE", { message: "Router is starting" }));
              return router.handle(request);
            },
          });
    const port = server === null ? 0 : (await server.start()).port;
    router = new RouterServer({ port, topology, pool, routing, monitor, healthGate, queues, alerts, server, local: options.local ?? null, logger });
    router.#gate = gate;
    monitor.start();
    if (listen !== null) logger.info({ event: "router_started", host: listen.host, port, shards: [...queues.keys()] }, "router serving");
    return router;
  }

  /** The router's view: per shard its health, leader, queue and members as last probed. */
  /** Whether the health gate refuses requests for `shardId` now (no quorum, and no leader known here): the read pool stops answering it. */
  refuses(shardId: number): boolean {
    return this.#healthGate.refuses(shardId);
  }

  view(): RouterView {
    const topology = this.#topology.current();
    const shards: RouterShardView[] = [];
    for (const shard of topology.shards.values()) {
      const health = this.#monitor.health(shard.id);
      const queue = this.#queueOf(shard.id);
      shards.push({
        shardId: shard.id,
        state: health.state,
        detail: health.detail,
        leader: this.#routing.cachedLeader(shard.id),
        reachableCount: health.reachableCount,
        memberCount: shard.members.length,
        inflightCount: queue.inflightCount,
        waitingCount: queue.waitingCount,
        refusedQueueFullCount: queue.refusedCount,
        refusedNoQuorumCount: this.#alerts.refusedCount(shard.id),
        members: shard.members.map((member) => {
          const probe = health.members.find((candidate) => candidate.id === member.id);
          const status = probe?.status ?? null;
          return {
            id: member.id,
            address: member.clientAddress,
            reachable: probe?.reachable ?? false,
            role: status?.role ?? null,
            term: status?.term ?? null,
            commitIndex: status?.commitIndex ?? null,
            appliedIndex: status?.appliedIndex ?? null,
            keyCount: status?.keyCount ?? null,
          };
        }),
      });
    }
    return { role: "router", port: this.port, epoch: topology.epoch, shards };
  }

  /** Routes one GET, SET or DELETE exactly as the raw listener does (health gate, shard queue); never rejects. For the RESP listener. */
  route(request: RouteFields): Promise<KvResponse> {
    return this.handle({ ...request, id: 0 });
  }

  /** The shard owning `key` in the current topology. */
  shardIdOf(key: Uint8Array): number {
    return this.#routing.shardFor(key).id;
  }

  /** Stops probing, drains the listener (bounded), closes member connections. */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      this.#monitor.stop();
      await this.#server?.close();
      this.#pool.close();
      this.#logger.info({ event: "router_stopped" });
    })();
    return this.#closing;
  }

  #queueOf(shardId: number): ShardQueue {
    const queue = this.#queues.get(shardId);
    if (queue !== undefined) return queue;
    // A shard added by a newer topology epoch gets its queue on first use.
    const created = new ShardQueue({ inflightCountMax: routerShardInflightCountMax, waitingCountMax: routerShardWaitingCountMax });
    this.#queues.set(shardId, created);
    return created;
  }

  /** Routes one request (STATUS: the router's view); never rejects. */
  async handle(request: KvRequest): Promise<KvResponse> {
    if (request.op === "STATUS") return makeKvResponse(request.id, "OK", { statusJson: JSON.stringify(this.view()) });
    if (request.op === "ADMIN" || request.op === "TOPOLOGY" || request.op === "BATCH_SET") {
      return makeKvResponse(request.id, "BAD_REQUEST", { message: `${request.op} goes to a store, not through the router` });
    }
    if (request.op === "SCAN" || request.op === "FLUSH") return { ...(await this.routeShard(request.shard ?? 0, request)), id: request.id };
    return this.#routeTo(this.#routing.shardFor(request.key), request);
  }

  /** Routes a request for a whole shard (SCAN, FLUSH) to its leader, through the same gate and queue; never rejects. */
  routeShard(shardId: number, request: RouteFields): Promise<KvResponse> {
    const shard = this.#topology.current().shards.get(shardId);
    if (shard === undefined) return Promise.resolve(makeKvResponse(0, "WRONG_SHARD", { message: `No shard ${shardId} in topology epoch ${this.#topology.current().epoch}` }));
    return this.#routeTo(shard, { ...request, id: 0, shard: shardId });
  }

  /** The shards of the current topology, by id. */
  shardIds(): number[] {
    return [...this.#topology.current().shards.keys()].sort((a, b) => a - b);
  }

  async #routeTo(shard: TopologyShard, request: KvRequest): Promise<KvResponse> {
    const gate = this.#gate;
    assert(gate !== null, "the gate is set at start");
    // Refuse before serving locally or queueing (FR1.3): a store's own minority replica must not
    // answer follower reads of a shard without quorum, and a request for a dead shard must not
    // wait behind others.
    const refused = gate(shard, request);
    if (refused !== null) return { ...refused, id: request.id };
    const local = this.#local?.tryServe(shard.id, request) ?? null;
    if (local !== null) {
      const answer = await local;
      // The local replica lost (or is handing over) the lead before proposing: route the request
      // like any forwarded one, which follows the new leader and retries within the window (a
      // client sending shard 0 asked the store to route; it must not see NOT_LEADER for it). A
      // write that was proposed and then lost its leader (TIMEOUT: outcome unknown) is answered
      // as it is: sending it again could apply it twice, after another client's later write.
      const isWrite = request.op === "SET" || request.op === "DELETE" || request.op === "KEYED" || request.op === "FLUSH";
      // STALE_EPOCH: a split moved the key (nothing applied); routing re-reads the ranges.
      const retryable = answer.code === "NOT_LEADER" || answer.code === "STALE_EPOCH" || (!isWrite && isMemberFailure(answer));
      if (!retryable) return { ...answer, id: request.id };
    }
    const queue = this.#queueOf(shard.id);
    const response = await queue.run(
      () => this.#routing.routeToShard(shard, request),
      () => makeKvResponse(request.id, "UNAVAILABLE", { message: `Shard ${shard.id} queue full: ${queue.waitingCount} requests waiting, limit reached` }),
    );
    return { ...response, id: request.id };
  }
}

function logHealthChange(logger: Logger, health: ShardHealth, previous: ShardHealth): void {
  if (health.state === previous.state) return;
  const fields = { event: "shard_health_changed", shard: health.shardId, from: previous.state, to: health.state, detail: health.detail, reachableCount: health.reachableCount, leader: health.leaderId, term: health.term };
  if (health.state === "unavailable") logger.fatal({ severity: "CRITICAL", ...fields }, noQuorumMessage(health.shardId));
  else logger.info(fields, `shard ${health.shardId} ${health.state}`);
}
