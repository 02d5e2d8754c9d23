// One `ukv node` process: the store (its replicas, transport and log) plus what faces clients:
// the topology watched from the metadata group, the routing built into every store, the raw
// client listener, the RESP listener, and the reports to the metadata group. A store that joins
// at run time registers its addresses with the metadata group first. Shut down in the reverse
// order: stop accepting, drain answers, stop reporting, close the store.
import { MetaTopologySource } from "../client/meta-topology.ts";
import type { ClusterConfig } from "../config/cluster-config.ts";
import { layoutFromConfig, metaGroupId } from "../meta/meta-service.ts";
import type { RespBackend } from "../router/resp/resp-context.ts";
import { RespServer } from "../router/resp/resp-server.ts";
import { RouterServer } from "../router/router-server.ts";
import { GroupClient } from "../client/group-client.ts";
import { KvServer } from "../transport/kv-server.ts";
import { parseAddress } from "../transport/socket-util.ts";
import type { Topology as MetaTopology } from "../transport/topology-wire.ts";
import { UkvError } from "../util/errors.ts";
import { Store, type StoreOptions } from "./store.ts";
import { ActiveExpiry } from "./active-expiry.ts";
import { StoreReporter } from "./store-reporter.ts";
import { StoreService } from "./store-service.ts";

const registerRetryMs = 500;
const registerAttemptCountMax = 120;

export class StoreProcess {
  readonly store: Store;
  readonly service: StoreService;
  readonly clientPort: number;
  readonly respPort: number | null;
  readonly #topology: MetaTopologySource;
  readonly #router: RouterServer;
  readonly #server: KvServer;
  readonly #resp: RespServer | null;
  readonly #reporter: StoreReporter;
  readonly #expiry: ActiveExpiry;
  #closing: Promise<void> | null = null;

  private constructor(parts: {
    store: Store;
    service: StoreService;
    topology: MetaTopologySource;
    router: RouterServer;
    server: KvServer;
    clientPort: number;
    resp: RespServer | null;
    reporter: StoreReporter;
    expiry: ActiveExpiry;
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
  }

  /** `options.joining`: a store not in the config, which registers with the metadata group first. */
  static async start(options: StoreOptions): Promise<StoreProcess> {
    const { config, logger } = options;
    const store = await Store.open(options);
    const metaAddresses = metaStoreAddresses(config);
    let service: StoreService | null = null;
    const topology = new MetaTopologySource({
      metaAddresses,
      fallback: layoutFromConfig(config),
      logger,
      onUpdate: (meta) => onTopology(store, meta),
    });
    const started: { close(): Promise<void> }[] = [];
    try {
      service = new StoreService(store, topology);
      const local = service;
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
        },
        logger,
      });
      started.push(router);
      service.attachRouter(router);
      const clientListen = parseAddress(store.self.clientAddress);
      const server = new KvServer({ host: clientListen.host, port: clientListen.port, handler: (request) => local.handle(request), logger });
      const { port: clientPort } = await server.start();
      started.push(server);
      let resp: RespServer | null = null;
      if (store.self.respAddress !== null) {
        const respListen = parseAddress(store.self.respAddress);
        // INFO's used_memory: the bytes of the tables of every replica this store hosts.
        const backend: RespBackend = {
          route: (request) => router.route(request),
          routeShard: (shardId, request) => router.routeShard(shardId, request),
          shardIds: () => router.shardIds(),
          shardIdOf: (key) => router.shardIdOf(key),
          view: () => router.view(),
          tableBytesUsed: () => store.replicas().reduce((sum, { runtime }) => sum + runtime.table.bytesUsed(), 0),
        };
        resp = await RespServer.start({ backend, host: respListen.host, port: respListen.port, logger, requirepass: config.requirepass ?? null });
        started.push(resp);
      }
      if (options.joining !== undefined) await register(store, metaAddresses);
      const reporter = new StoreReporter(store, metaAddresses);
      const expiry = new ActiveExpiry({ replicas: () => store.replicas(), logger });
      store.onReplicasChanged = () => reporter.reportSoon();
      void topology.start({ firstWaitMs: 0 });
      logger.info({ event: "store_serving", store: store.storeId, clientPort, respPort: resp?.port ?? null, raftPort: store.raftPort }, "store serving");
      expiry.start();
      return new StoreProcess({ store, service, topology, router, server, clientPort, resp, reporter, expiry });
    } catch (error) {
      for (const part of started.reverse()) await part.close().catch(() => undefined);
      await topology.close();
      await store.close();
      throw error;
    }
  }

  /** Clean shutdown: stop taking requests, drain answers, stop reporting, close the store. */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      this.store.logger.info({ event: "store_stopping" });
      // Long-polls parked on the metadata replica first: the listeners' drain would wait them out.
      await this.store.meta?.stop();
      await this.#resp?.close();
      await this.#server.close();
      await this.#router.close();
      this.#expiry.stop();
      await this.#reporter.stop();
      await this.#topology.close();
      await this.store.close();
      this.store.logger.info({ event: "store_stopped" });
    })();
    return this.#closing;
  }
}

/** The client addresses of the metadata stores (what every store, router and client asks). */
export function metaStoreAddresses(config: ClusterConfig): string[] {
  return config.metaStores.map((id) => {
    const store = config.stores.find((candidate) => candidate.id === id);
    if (store === undefined) throw new UkvError("CONFIG_INVALID", `metaStores names unknown store ${id}`);
    return store.advertised.clientAddress;
  });
}

/** A newer topology: dial stores that joined, and learn of removals this store could not hear of. */
function onTopology(store: Store, meta: MetaTopology): void {
  if (meta.layout !== null) store.learnStores(meta.layout.stores);
  for (const { groupId, runtime } of store.replicas()) {
    if (groupId === metaGroupId) continue;
    const report = meta.memberships[String(groupId)];
    if (report === undefined) continue;
    if (!report.voters.includes(store.storeId) && !report.learners.includes(store.storeId)) runtime.removedElsewhere(report.confIndex);
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
