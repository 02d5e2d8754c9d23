// The metadata group's replica on a metadata store: the topology state machine (apply rules in
// topology.ts), the TOPOLOGY answer over it, the typed writes stores and admin commands make
// (never raw KV writes), and the bootstrap of the layout from the static config. A TOPOLOGY whose
// value holds an epoch is a long-poll: the answer waits until the topology is newer than that
// epoch (or watchTimeoutMs passes), so routers and clients learn of a change as soon as it is
// applied here, without polling in a loop.
import type { ClusterConfig } from "../config/cluster-config.ts";
import { CommandOp } from "../node/command.ts";
import type { GroupRuntime } from "../node/group-runtime.ts";
import { equalRanges, rangeToJson } from "../ring/range-map.ts";
import type { StoreInfo, StoreReport, Topology, TopologyLayout } from "../transport/topology-wire.ts";
import { UkvError } from "../util/errors.ts";
import type { Logger } from "../util/log.ts";
import { drainKey, encodeJson, layoutKey, readTopology, reportKey, shardIdAllocKey, storeKey, topologyTransform } from "./topology.ts";

export const watchTimeoutMs = 10_000;
export const watcherCountMax = 10_000;
const bootstrapPollMs = 200;

/** The metadata group's id on the store-to-store transport (data shard ids start at 1). */
export const metaGroupId = 0;

const encoder = new TextEncoder();

export function storeInfoFromConfig(config: ClusterConfig): StoreInfo[] {
  return config.stores.map((store) => ({ id: store.id, ...store.advertised, httpAddress: store.advertisedHttpAddress }));
}

export function layoutFromConfig(config: ClusterConfig): TopologyLayout {
  const stores = storeInfoFromConfig(config);
  const byId = new Map(stores.map((store) => [store.id, store]));
  const ranges = new Map(equalRanges(config.shards.map((shard) => shard.id)).map((range) => [range.shardId, rangeToJson(range)]));
  return {
    stores,
    shards: config.shards.map((shard) => ({
      id: shard.id,
      range: ranges.get(shard.id)!,
      members: shard.replicas.map((storeId) => {
        const store = byId.get(storeId);
        if (store === undefined) throw new UkvError("CONFIG_INVALID", `Shard ${shard.id} names unknown store ${storeId}`);
        return { id: storeId, raftAddress: store.raftAddress, clientAddress: store.clientAddress };
      }),
    })),
  };
}

export class MetaService {
  readonly #config: ClusterConfig;
  readonly #logger: Logger;
  readonly #watchers = new Set<{ epoch: number; wake(): void }>();
  #runtime: GroupRuntime | null = null;
  #cachedTopology: Topology | null = null;
  #bootstrapTimer: ReturnType<typeof setInterval> | null = null;
  #bootstrapWrite: Promise<void> | null = null;
  /** Shutting down: long-polls are answered at once, so the listener can drain. */
  #stopped = false;

  constructor(config: ClusterConfig, logger: Logger) {
    this.#config = config;
    this.#logger = logger;
  }

  readonly transformBatch = topologyTransform;

  onApplied(): void {
    this.#cachedTopology = null;
    const epoch = this.topology().epoch;
    for (const watcher of this.#watchers) if (epoch > watcher.epoch) watcher.wake();
  }

  /** Binds the meta group's replica once the store opened it, and starts the layout bootstrap. */
  attach(runtime: GroupRuntime): void {
    this.#runtime = runtime;
    this.#cachedTopology = null;
    this.#bootstrapTimer = setInterval(() => this.#bootstrapLayout(), bootstrapPollMs);
  }

  topology(): Topology {
    if (this.#cachedTopology === null && this.#runtime !== null) {
      this.#cachedTopology = readTopology(this.#runtime.table.entries());
    }
    return this.#cachedTopology ?? { epoch: 0, layout: null, leaders: {}, health: {}, memberships: {}, draining: [] };
  }

  /** The TOPOLOGY answer: at once, or once the epoch passes `knownEpoch` (bounded wait). */
  async answerTopology(knownEpoch: number | null): Promise<{ group: unknown; topology: Topology }> {
    const runtime = this.#requireRuntime();
    if (knownEpoch !== null) await this.#waitForEpochAbove(knownEpoch);
    return { group: runtime.status(), topology: this.topology() };
  }

  /** A store's periodic report (typed: health, leaderships, memberships of the groups it leads). */
  async report(report: StoreReport): Promise<void> {
    await this.#requireRuntime().write(CommandOp.Set, encoder.encode(reportKey(report.storeId)), encodeJson(report));
  }

  /** A store that joined at run time makes its addresses known. */
  async registerStore(store: StoreInfo): Promise<void> {
    const known = this.topology().layout?.stores.find((candidate) => candidate.id === store.id);
    if (known !== undefined && (known.raftAddress !== store.raftAddress || known.clientAddress !== store.clientAddress)) {
      throw new UkvError("BAD_REQUEST", `Store ${store.id} is already registered with other addresses (${known.raftAddress}, ${known.clientAddress})`);
    }
    if (known !== undefined) return;
    await this.#requireRuntime().write(CommandOp.Set, encoder.encode(storeKey(store.id)), encodeJson(store));
  }

  /**
   * A new shard id for a split, allocated by the metadata group before the split is proposed (so
   * two splits never create the same shard). The same token gets the same id again: a retried
   * request after a lost answer does not burn a second id.
   */
  async allocateShardId(token: string): Promise<number> {
    const runtime = this.#requireRuntime();
    const key = encoder.encode(shardIdAllocKey(token));
    await runtime.write(CommandOp.Set, key, new Uint8Array(0));
    const value = runtime.table.get(key);
    if (value === null) throw new UkvError("INTERNAL", `Shard id allocation ${token} was applied but not recorded`);
    return Number(new TextDecoder().decode(value));
  }

  /** Marks a store as being drained (or no longer). */
  async setDraining(storeId: number, draining: boolean): Promise<void> {
    const runtime = this.#requireRuntime();
    const key = encoder.encode(drainKey(storeId));
    if (draining) await runtime.write(CommandOp.Set, key, encoder.encode("1"));
    else await runtime.write(CommandOp.Delete, key, new Uint8Array(0));
  }

  #requireRuntime(): GroupRuntime {
    if (this.#runtime === null) throw new UkvError("UNAVAILABLE", "The metadata replica of this store is starting");
    return this.#runtime;
  }

  async #waitForEpochAbove(epoch: number): Promise<void> {
    if (this.#stopped || this.topology().epoch > epoch || this.#watchers.size >= watcherCountMax) return;
    await new Promise<void>((resolve) => {
      const watcher = {
        epoch,
        wake: (): void => {
          clearTimeout(timer);
          this.#watchers.delete(watcher);
          resolve();
        },
      };
      const timer = setTimeout(watcher.wake, watchTimeoutMs);
      this.#watchers.add(watcher);
    });
  }

  /** The meta leader writes the layout from the config once, when the group holds none yet. */
  #bootstrapLayout(): void {
    const runtime = this.#runtime;
    if (runtime === null || this.#bootstrapWrite !== null || !runtime.isLeader() || this.topology().layout !== null) return;
    const layout = layoutFromConfig(this.#config);
    this.#bootstrapWrite = runtime
      .write(CommandOp.Set, encoder.encode(layoutKey), encodeJson(layout))
      .then(
        () => this.#logger.info({ event: "layout_bootstrapped", shardCount: layout.shards.length, storeCount: layout.stores.length }),
        (error: unknown) => this.#logger.warn({ event: "layout_bootstrap_failed", err: error }),
      )
      .finally(() => {
        this.#bootstrapWrite = null;
      });
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#bootstrapTimer !== null) clearInterval(this.#bootstrapTimer);
    await this.#bootstrapWrite;
    for (const watcher of [...this.#watchers]) watcher.wake();
  }
}
