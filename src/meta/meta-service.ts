// The metadata group's member role: the topology state machine (apply rules in topology.ts), the
// client API over it, and the bootstrap of the layout from the static config. STATUS answers the
// topology as JSON; a STATUS whose value holds an epoch is a long-poll: the answer waits until
// the topology is newer than that epoch (or watchTimeoutMs passes), so routers and clients
// learn of a change as soon as it is applied here, without polling in a loop.
import type { ClusterConfig } from "../config/cluster-config.ts";
import { CommandOp } from "../node/command.ts";
import type { GroupRuntime } from "../node/group-runtime.ts";
import type { GroupRole } from "../node/node-process.ts";
import { createKvHandler } from "../node/kv-service.ts";
import type { KvHandler } from "../transport/kv-server.ts";
import { makeKvResponse } from "../transport/kv-protocol.ts";
import type { Topology, TopologyLayout } from "../transport/topology-wire.ts";
import type { Logger } from "../util/log.ts";
import { encodeJson, layoutKey, readTopology, topologyTransform } from "./topology.ts";

export const watchTimeoutMs = 10_000;
export const watcherCountMax = 10_000;
const bootstrapPollMs = 200;

export const metaGroupId = 0;

export function layoutFromConfig(config: ClusterConfig): TopologyLayout {
  return {
    shards: config.shards.map((shard) => ({
      id: shard.id,
      members: shard.members.map((member) => ({ ...member })),
    })),
  };
}

export class MetaService {
  readonly #config: ClusterConfig;
  readonly #logger: Logger;
  readonly #watchers = new Set<{ epoch: number; wake(): void }>();
  #runtime: GroupRuntime | null = null;
  #cachedTopology: Topology | null = null;

  constructor(config: ClusterConfig, logger: Logger) {
    this.#config = config;
    this.#logger = logger;
  }

  role(): GroupRole {
    return {
      kind: "meta",
      transformBatch: topologyTransform,
      onApplied: () => this.#onApplied(),
      createHandler: (runtime) => this.#createHandler(runtime),
      startBackground: (runtime) => this.#startBootstrap(runtime),
    };
  }

  topology(): Topology {
    if (this.#cachedTopology === null && this.#runtime !== null) {
      this.#cachedTopology = readTopology(this.#runtime.table.entries());
    }
    return this.#cachedTopology ?? { epoch: 0, layout: null, leaders: {}, health: {}, memberships: {} };
  }

  #onApplied(): void {
    this.#cachedTopology = null;
    const epoch = this.topology().epoch;
    for (const watcher of this.#watchers) if (epoch > watcher.epoch) watcher.wake();
  }

  #createHandler(runtime: GroupRuntime): KvHandler {
    this.#runtime = runtime;
    const plain = createKvHandler(runtime);
    return async (request) => {
      if (request.op !== "STATUS") return plain(request);
      const knownEpoch = request.value.byteLength === 0 ? null : Number(new TextDecoder().decode(request.value));
      if (knownEpoch !== null && Number.isFinite(knownEpoch)) await this.#waitForEpochAbove(knownEpoch);
      const body = { group: runtime.status(), topology: this.topology() };
      return makeKvResponse(request.id, "OK", { statusJson: JSON.stringify(body) });
    };
  }

  async #waitForEpochAbove(epoch: number): Promise<void> {
    if (this.topology().epoch > epoch || this.#watchers.size >= watcherCountMax) return;
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
  #startBootstrap(runtime: GroupRuntime): { stop(): Promise<void> } {
    let writing: Promise<void> | null = null;
    const timer = setInterval(() => {
      if (writing !== null || !runtime.isLeader() || this.topology().layout !== null) return;
      const layout = layoutFromConfig(this.#config);
      writing = runtime
        .write(CommandOp.Set, new TextEncoder().encode(layoutKey), encodeJson(layout))
        .then(
          () => this.#logger.info({ event: "layout_bootstrapped", shardCount: layout.shards.length }),
          (error: unknown) => this.#logger.warn({ event: "layout_bootstrap_failed", err: error }),
        )
        .finally(() => {
          writing = null;
        });
    }, bootstrapPollMs);
    return {
      stop: async () => {
        clearInterval(timer);
        await writing;
        for (const watcher of [...this.#watchers]) watcher.wake();
      },
    };
  }
}
