// One `ukv node` process: the store (its replicas, transport and log) plus what faces clients:
// the topology watched from the metadata group, the routing built into every store, the raw
// client listener, the RESP listener, and the reports to the metadata group. A store that joins
// at run time registers its addresses with the metadata group first. Shut down in the reverse
// order: stop accepting, drain answers, stop reporting, close the store.
import { MetaTopologySource } from "../client/meta-topology.ts";
import { storeDataDir, type ClusterConfig } from "../config/cluster-config.ts";
import { layoutFromConfig, metaGroupId } from "../meta/meta-service.ts";
import type { RespBackend } from "../router/resp/resp-context.ts";
import { RespServer } from "../router/resp/resp-server.ts";
import type { RespServerStats } from "../router/resp/resp-context.ts";
import { availableParallelism } from "node:os";
import { ReadPool } from "./read-pool.ts";
import { RouterServer } from "../router/router-server.ts";
import { GroupClient } from "../client/group-client.ts";
import { dialRaftPortForWrites } from "../client/member-pool.ts";
import { KvServer } from "../transport/kv-server.ts";
import { parseAddress } from "../transport/socket-util.ts";
import type { Topology as MetaTopology, StoreInfo } from "../transport/topology-wire.ts";
import { rangeFromJson, rangeToJson } from "../ring/range-map.ts";
import type { TopologyShard } from "../client/topology.ts";
import { coordinatorSettings, decisionKinds } from "../client/balance-plan.ts";
import { Coordinator } from "./coordinator.ts";
import { UkvError } from "../util/errors.ts";
import { ClusterMonitor, type MonitorShard, type MonitorTarget } from "../dashboard/cluster-monitor.ts";
import { StoreHttpServer } from "../dashboard/http-server.ts";
import { storeSnapshot } from "../dashboard/store-snapshot.ts";
import { StoreMetrics } from "../metrics/store-metrics.ts";
import type { KvRequest, KvResponse } from "../transport/kv-protocol.ts";
import { Store, type StoreOptions } from "./store.ts";
import { ActiveExpiry } from "./active-expiry.ts";
import { StoreReporter } from "./store-reporter.ts";
import { StoreService } from "./store-service.ts";

const registerRetryMs = 500;
const registerAttemptCountMax = 120;
/** How often a store looks for shards the metadata says it is a member of but it does not host. */
const adoptCheckIntervalMs = 2000;

export class StoreProcess {
  readonly store: Store;
  readonly service: StoreService;
  readonly clientPort: number;
  readonly respPort: number | null;
  readonly httpPort: number | null;
  readonly #http: StoreHttpServer | null;
  readonly #metrics: StoreMetrics | null;
  readonly #topology: MetaTopologySource;
  readonly #router: RouterServer;
  readonly #server: ClientListener;
  readonly #resp: RespListener | null;
  readonly #reporter: StoreReporter;
  readonly #expiry: ActiveExpiry;
  readonly #adoptTimer: ReturnType<typeof setInterval>;
  readonly #coordinator: Coordinator | null;
  #closing: Promise<void> | null = null;

  private constructor(parts: {
    store: Store;
    service: StoreService;
    topology: MetaTopologySource;
    router: RouterServer;
    server: ClientListener;
    clientPort: number;
    resp: RespListener | null;
    reporter: StoreReporter;
    expiry: ActiveExpiry;
    adoptTimer: ReturnType<typeof setInterval>;
    coordinator: Coordinator | null;
    http: StoreHttpServer | null;
    metrics: StoreMetrics | null;
  }) {
    this.store = parts.store;
    this.service = parts.service;
    this.#topology = parts.topology;
    this.#router = parts.router;
    this.#server = parts.server;
    this.clientPort = parts.clientPort;
    this.#resp = parts.resp;
    this.respPort = parts.resp?.port ?? null;
    this.#reporter = parts.reporter;
    this.#expiry = parts.expiry;
    this.#adoptTimer = parts.adoptTimer;
    this.#coordinator = parts.coordinator;
    this.#http = parts.http;
    this.httpPort = parts.http?.port ?? null;
    this.#metrics = parts.metrics;
  }

  /** `options.joining`: a store not in the config, which registers with the metadata group first. */
  static async start(options: StoreOptions): Promise<StoreProcess> {
    const { config, logger } = options;
    // Made before the store opens: each replica takes its metric hooks as it opens. The store and
    // the listeners it reads at scrape time exist by the time anything scrapes.
    const parts: { store: Store | null; server: ClientListener | null; resp: RespListener | null } = { store: null, server: null, resp: null };
    const replicasOf = (): ReturnType<Store["replicas"]> => parts.store?.replicas() ?? [];
    const connectionCounts = (): { client: number; resp: number } => ({ client: parts.server?.connectionCount ?? 0, resp: parts.resp?.stats.connectionCount ?? 0 });
    const metrics = config.metricsEnabled
      ? new StoreMetrics({
          storeId: options.storeId,
          dir: options.dataDir ?? storeDataDir(config, options.storeId),
          replicas: replicasOf,
          logStats: () => parts.store?.logStats() ?? { appendCount: 0, syncCount: 0, bytesWritten: 0, segmentCount: 0 },
          connectionCounts,
        })
      : null;
    let store: Store;
    try {
      store = await Store.open(metrics === null ? options : { ...options, replicaMetrics: (groupId) => metrics.replicaHooks(groupId), onSplitApplied: metrics.splitApplied });
    } catch (error) {
      metrics?.close();
      throw error;
    }
    parts.store = store;
    if (metrics !== null) store.observeLogBatches(metrics.logBatchDurable);
    const metaAddresses = metaStoreAddresses(config);
    let service: StoreService | null = null;
    let lastMeta: MetaTopology | null = null;
    const topology = new MetaTopologySource({
      metaAddresses,
      fallback: layoutFromConfig(config),
      logger,
      onUpdate: (meta) => {
        lastMeta = meta;
        onTopology(store, meta);
      },
    });
    const started: { close(): Promise<void> }[] = [];
    try {
      service = new StoreService(store);
      const local = service;
      const serve = (request: KvRequest): Promise<KvResponse> => local.handle(request);
      const handler = metrics === null ? serve : metrics.timedKvHandler(serve);
      const clientListen = parseAddress(store.self.clientAddress);
      // The client protocol on the Raft port, served on this thread: other stores send their
      // writes here (dialAddressOf below). Its own listener is the client port's (readPoolSize 0)
      // or none (the read pool's Workers own that port, one thread hop from here).
      const kvServer = new KvServer({ host: clientListen.host, port: clientListen.port, handler, logger, password: config.requirepass ?? null });
      store.transport.onClientConnection = (connection) => kvServer.adopt(connection);
      started.push(kvServer);
      let onRefusalsChanged = (_shardId: number): void => undefined;
      const router = await RouterServer.start({
        electionTimeoutMs: config.electionTicks * config.tickMs,
        topologySource: topology,
        listen: null,
        // One STATUS per store a second: with thousands of shards a store's answer is large.
        probeIntervalMs: 1000,
        // Retries inside the cluster are cheap, and the local replica names a new leader as soon as
        // it hears of it: retry often enough to reach it within a tick of its election.
        backoffMsMax: config.tickMs,
        // A probe waits behind the requests a busy store is answering: allow it an election timeout.
        probeTimeoutMs: config.electionTicks * config.tickMs,
        local: {
          tryServe: (shardId, request) => local.tryServe(shardId, request),
          leaderOf: (shardId) => local.leaderOf(shardId),
          knowsLeader: (shardId) => local.knowsLeader(shardId),
          waitForLeader: (shardId, timeoutMs) => local.waitForLeader(shardId, timeoutMs),
        },
        // The read pool starts after the router: bound late.
        onRefusalsChanged: (shardId) => onRefusalsChanged(shardId),
        // Follower GETs to a store's client port, where its read pool answers them; everything else
        // must reach that store's Raft thread, so straight to its Raft port.
        dialAddressOf: dialRaftPortForWrites((address) => store.raftAddressOfClient(address)),
        logger,
      });
      started.push(router);
      service.attachRouter(router);
      // INFO's used_memory: the bytes of the tables of every replica this store hosts.
      const backend: RespBackend = {
        route: (request) => router.route(request),
        routeShard: (shardId, request) => router.routeShard(shardId, request),
        shardIds: () => router.shardIds(),
        shardIdOf: (key) => router.shardIdOf(key),
        view: () => router.view(),
        tableBytesUsed: () => store.replicas().reduce((sum, { runtime }) => sum + runtime.table.bytesUsed(), 0),
      };
      const observe = metrics === null ? {} : { observeCommand: metrics.observeRespCommand };
      const respListen = store.self.respAddress === null ? null : parseAddress(store.self.respAddress);
      const readPoolSize = config.readPoolSize ?? Math.max(0, availableParallelism() - 1);
      let server: ClientListener;
      let clientPort: number;
      let resp: RespListener | null = null;
      if (readPoolSize === 0) {
        parts.server = kvServer;
        clientPort = (await kvServer.start()).port;
        server = kvServer;
        if (respListen !== null) {
          resp = await RespServer.start({ backend, host: respListen.host, port: respListen.port, logger, requirepass: config.requirepass ?? null, ...observe });
          started.push(resp);
        }
      } else {
        // The Workers own both client-facing ports (store/read-pool.ts); this thread answers what they forward.
        const pool = await ReadPool.start({
          size: readPoolSize,
          resp: respListen,
          client: { ...clientListen, handler },
          backend,
          logger,
          requirepass: config.requirepass ?? null,
          replicas: () => store.replicas(),
          refuses: (shardId) => router.refuses(shardId),
          countKeysRead: (shardId, count) => store.countKeysRead(shardId, count),
          sampleLoad: (shardId, hash) => store.sampleLoad(shardId, hash),
          ...observe,
          ...(metrics === null ? {} : { countPoolReads: metrics.countPoolReads }),
        });
        started.push(pool);
        onRefusalsChanged = (shardId) => pool.noteRefusalsChanged(shardId);
        clientPort = pool.clientPort;
        server = { get connectionCount() { return pool.kvConnectionCount; }, close: () => Promise.all([pool.close(), kvServer.close()]).then(() => undefined) };
        parts.server = server;
        const respPort = pool.respPort;
        if (respPort !== null) resp = { port: respPort, stats: pool.stats, close: () => pool.close() };
      }
      parts.resp = resp;
      let http: StoreHttpServer | null = null;
      if (store.self.httpAddress !== null) {
        const httpListen = parseAddress(store.self.httpAddress);
        const snapshot = () => storeSnapshot({ storeId: store.storeId, replicas: replicasOf, connectionCounts }, metrics);
        const monitor = new ClusterMonitor({
          selfId: store.storeId,
          local: snapshot,
          targets: () => monitorTargets(config, lastMeta?.layout?.stores ?? [], topology.current().shards.values()),
          shards: () => monitorShards(config, topology.current().shards.values(), lastMeta),
        });
        http = StoreHttpServer.start({ host: httpListen.host, port: httpListen.port, metrics, snapshot, monitor, logger });
        started.push(http);
      }
      if (options.joining !== undefined) await register(store, metaAddresses);
      const reporter = new StoreReporter(store, metaAddresses);
      const expiry = new ActiveExpiry({ replicas: () => store.replicas(), logger });
      store.onReplicasChanged = () => reporter.reportSoon();
      void topology.start({ firstWaitMs: 0 });
      logger.info({ event: "store_serving", store: store.storeId, clientPort, respPort: resp?.port ?? null, httpPort: http?.port ?? null, raftPort: store.raftPort }, "store serving");
      // Also between topology changes: a parent replica may catch up past a split at any time.
      const adoptTimer = setInterval(() => {
        if (lastMeta !== null) adoptMissingReplicas(store, lastMeta);
      }, adoptCheckIntervalMs);
      const settings = coordinatorSettings(config.coordinator);
      // Every metadata store runs one; only the one leading the metadata group plans and acts.
      const coordinator = settings.enabled && store.meta !== null ? new Coordinator(store, metaAddresses, settings, metrics?.coordinatorDecisionCounter(decisionKinds)) : null;
      expiry.start();
      return new StoreProcess({ store, service, topology, router, server, clientPort, resp, reporter, expiry, adoptTimer, coordinator, http, metrics });
    } catch (error) {
      for (const part of started.reverse()) await part.close().catch(() => undefined);
      await topology.close();
      await store.close();
      metrics?.close();
      throw error;
    }
  }

  /** Clean shutdown: stop taking requests, drain answers, stop reporting, close the store. */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      this.store.logger.info({ event: "store_stopping" });
      // Long-polls parked on the metadata replica first: the listeners' drain would wait them out.
      await this.store.meta?.stop();
      await this.#http?.close();
      await this.#resp?.close();
      await this.#server.close();
      await this.#router.close();
      this.#expiry.stop();
      await this.#coordinator?.stop();
      await this.#reporter.stop();
      clearInterval(this.#adoptTimer);
      await this.#topology.close();
      await this.store.close();
      this.#metrics?.close();
      this.store.logger.info({ event: "store_stopped" });
    })();
    return this.#closing;
  }
}

/** The RESP listener: on this thread (RespServer), or the read pool's Workers (ReadPool, FR3.2). */
type RespListener = { readonly port: number; readonly stats: RespServerStats; close(): Promise<void> };
/** The raw client-protocol listener: KvServer on this thread, or the read pool's Workers. */
type ClientListener = { readonly connectionCount: number; close(): Promise<void> };

/** The client addresses of the metadata stores (what every store, router and client asks). */
export function metaStoreAddresses(config: ClusterConfig): string[] {
  return config.metaStores.map((id) => {
    const store = config.stores.find((candidate) => candidate.id === id);
    if (store === undefined) throw new UkvError("CONFIG_INVALID", `metaStores names unknown store ${id}`);
    return store.advertised.clientAddress;
  });
}

/** The stores the dashboard samples: the config's, those registered since (`ukv node --join`, with the HTTP address they gave), and any other member of a shard. */
export function monitorTargets(config: ClusterConfig, registered: readonly StoreInfo[], shards: Iterable<{ members: readonly { id: number }[] }>): MonitorTarget[] {
  const targets = new Map<number, MonitorTarget>(config.stores.map((store) => [store.id, { id: store.id, httpAddress: store.advertisedHttpAddress }]));
  for (const store of registered) if (!targets.has(store.id)) targets.set(store.id, { id: store.id, httpAddress: store.httpAddress ?? null });
  for (const shard of shards) for (const member of shard.members) if (!targets.has(member.id)) targets.set(member.id, { id: member.id, httpAddress: null });
  return [...targets.values()].sort((a, b) => a.id - b.id);
}

/** The metadata group (as shard 0) and every data shard of the current topology, with its range and the learners the metadata lists (moves in flight). */
function monitorShards(config: ClusterConfig, shards: Iterable<TopologyShard>, meta: MetaTopology | null): MonitorShard[] {
  const learners = new Map((meta?.layout?.shards ?? []).map((shard) => [shard.id, (shard.learners ?? []).map((member) => member.id)]));
  const list: MonitorShard[] = [{ id: metaGroupId, members: [...config.metaStores], learners: [], range: null }];
  for (const shard of shards) {
    list.push({ id: shard.id, members: shard.members.map((member) => member.id), learners: learners.get(shard.id) ?? [], range: shard.range === undefined ? null : rangeToJson(shard.range) });
  }
  return list.sort((a, b) => a.id - b.id);
}

/** A newer topology: dial stores that joined, and learn of removals this store could not hear of. */
function onTopology(store: Store, meta: MetaTopology): void {
  if (meta.layout !== null) store.learnStores(meta.layout.stores);
  adoptMissingReplicas(store, meta);
  for (const { groupId, runtime } of store.replicas()) {
    if (groupId === metaGroupId) continue;
    const report = meta.memberships[String(groupId)];
    if (report === undefined) continue;
    if (!report.voters.includes(store.storeId) && !report.learners.includes(store.storeId)) runtime.removedElsewhere(report.confIndex);
  }
}

/** Shards the metadata says this store is a member of but it does not host (see Store.adoptMissingReplica). */
function adoptMissingReplicas(store: Store, meta: MetaTopology): void {
  for (const shard of meta.layout?.shards ?? []) {
    if (store.replica(shard.id) !== null) continue;
    const report = meta.memberships[String(shard.id)];
    if (report === undefined) continue;
    const addresses = new Map(Object.entries(report.addresses).map(([id, address]) => [Number(id), { raftAddress: address.raftAddress, clientAddress: address.clientAddress }]));
    for (const member of [...shard.members, ...(shard.learners ?? [])]) {
      if (!addresses.has(member.id)) addresses.set(member.id, { raftAddress: member.raftAddress, clientAddress: member.clientAddress });
    }
    const membership = { conf: { voters: [...report.voters], learners: [...report.learners] }, addresses, range: rangeFromJson(shard.range) };
    void store.adoptMissingReplica(shard.id, membership).catch((error: unknown) => store.logger.warn({ event: "replica_adopt_failed", shard: shard.id, err: error }));
  }
}

/** A joining store makes its addresses known before anyone can place a replica on it. */
async function register(store: Store, metaAddresses: string[]): Promise<void> {
  const client = new GroupClient(metaAddresses, { timeoutMs: 2000 });
  try {
    let last = "";
    for (let attemptIndex = 0; attemptIndex < registerAttemptCountMax; attemptIndex++) {
      const response = await client.request({
        op: "ADMIN",
        key: new Uint8Array(0),
        value: new TextEncoder().encode(JSON.stringify({ action: "register-store", store: store.storeInfo() })),
        linearizable: false,
        shard: 0,
      });
      if (response.code === "OK") {
        store.logger.info({ event: "store_registered", store: store.storeId });
        return;
      }
      if (response.code === "BAD_REQUEST") throw new UkvError("CONFIG_INVALID", `The metadata group refused store ${store.storeId}: ${response.message}`);
      last = `${response.code} ${response.message}`;
      await Bun.sleep(registerRetryMs);
    }
    throw new UkvError("UNAVAILABLE", `Could not register store ${store.storeId} with the metadata group: ${last}`);
  } finally {
    client.close();
  }
}
