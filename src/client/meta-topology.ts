// The topology from the metadata group, kept current by a long-poll watch: the source asks for a
// topology newer than the epoch it holds, the meta member answers as soon as one is applied (or
// after its watch timeout), and the source swaps its cached topology in. When the metadata group
// is unreachable, routing goes on from the cached topology (or, before the first answer, from
// the static layout it was given) and the watch retries with a bounded backoff.
import { GroupClient } from "./group-client.ts";
import { fetchTopology } from "../transport/meta-api.ts";
import type { Topology as MetaTopology } from "../transport/topology-wire.ts";
import type { Logger } from "../util/log.ts";
import { UkvError } from "../util/errors.ts";
import { topologyFromLayout, type ClusterLayout, type Topology, type TopologySource } from "./topology.ts";

const retryDelayMsMin = 100;
const retryDelayMsMax = 3000;
/** Longer than the meta group's own watch timeout, so a quiet long-poll is not a failure. */
const watchRequestTimeoutMs = 15_000;

export class MetaTopologySource implements TopologySource {
  readonly #meta: GroupClient;
  readonly #logger: Logger | null;
  #topology: Topology;
  #metaEpoch = -1;
  #stopped = false;
  #watching: Promise<void> | null = null;

  readonly #onUpdate: ((topology: MetaTopology) => void) | null;

  constructor(options: { metaAddresses: string[]; fallback: ClusterLayout; logger?: Logger; onUpdate?: (topology: MetaTopology) => void }) {
    this.#meta = new GroupClient(options.metaAddresses, { timeoutMs: watchRequestTimeoutMs });
    this.#logger = options.logger ?? null;
    this.#onUpdate = options.onUpdate ?? null;
    this.#topology = topologyFromLayout(options.fallback);
  }

  /** Without a static layout to fall back on: the metadata group must answer first. */
  static async connect(options: { metaAddresses: string[]; logger?: Logger }): Promise<MetaTopologySource> {
    const meta = new GroupClient(options.metaAddresses, { timeoutMs: 3000 });
    let first: MetaTopology;
    try {
      first = await fetchTopology(meta);
    } finally {
      meta.close();
    }
    if (first.layout === null) throw new UkvError("SHARD_UNAVAILABLE", "The metadata group holds no layout yet");
    const source = new MetaTopologySource({ metaAddresses: options.metaAddresses, fallback: first.layout, ...(options.logger === undefined ? {} : { logger: options.logger }) });
    source.#accept(first);
    source.#watching = source.#watch();
    return source;
  }

  /** Reads the topology once (bounded wait), then keeps watching it in the background. */
  async start(options: { firstWaitMs?: number } = {}): Promise<void> {
    const firstWaitMs = options.firstWaitMs ?? 5000;
    // A timer cleared once the race is decided: a pending Bun.sleep kept a process that was told
    // to stop soon after start (`ukv router` + SIGTERM) alive until firstWaitMs had passed.
    let timer: ReturnType<typeof setTimeout> | undefined;
    const waited = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, firstWaitMs);
    });
    await Promise.race([this.refresh().catch(() => undefined), waited]);
    clearTimeout(timer);
    this.#watching = this.#watch();
  }

  current(): Topology {
    return this.#topology;
  }

  async refresh(): Promise<void> {
    this.#accept(await fetchTopology(this.#meta));
  }

  async #watch(): Promise<void> {
    let delayMs = retryDelayMsMin;
    while (!this.#stopped) {
      try {
        this.#accept(await fetchTopology(this.#meta, this.#metaEpoch >= 0 ? { knownEpoch: this.#metaEpoch } : {}));
        delayMs = retryDelayMsMin;
      } catch (error) {
        if (this.#stopped) break;
        this.#logger?.warn({ event: "topology_watch_failed", err: error, retryMs: delayMs }, "metadata group unreachable: routing from the cached topology");
        await Bun.sleep(delayMs);
        delayMs = Math.min(retryDelayMsMax, delayMs * 2);
      }
    }
  }

  #accept(meta: MetaTopology): void {
    if (meta.layout === null || meta.epoch <= this.#metaEpoch) return;
    const layout: ClusterLayout = {
      shards: meta.layout.shards.map((shard) => ({
        id: shard.id,
        range: shard.range,
        members: shard.members.filter((member) => member.clientAddress !== "").map((member) => ({ id: member.id, clientAddress: member.clientAddress, raftAddress: member.raftAddress })),
      })),
    };
    this.#topology = topologyFromLayout(layout, meta.epoch);
    this.#metaEpoch = meta.epoch;
    this.#onUpdate?.(meta);
    this.#logger?.info({ event: "topology_updated", epoch: meta.epoch, shardCount: layout.shards.length });
  }

  async close(): Promise<void> {
    this.#stopped = true;
    this.#meta.close();
    await this.#watching;
  }
}
