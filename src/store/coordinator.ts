// The coordinator (PD's job in TiKV), run by the store that leads the metadata group when the
// config enables it (`coordinator.enabled`): every intervalMs it plans from the topology the
// metadata replica here holds (client/balance-plan.ts: splits above the thresholds, moves off
// drained stores and towards equal replica counts, leader transfers) and runs the plan through the
// same admin steps as `ukv admin split | move | transfer-leader`, one decision at a time, each
// logged with its reason before it runs. One round at a time; a failed step ends the round (the
// next round plans again from the topology then, so an interrupted move is resumed).
import { AdminClient } from "../client/admin-client.ts";
import { formatDecision, planBalance, type CoordinatorSettings, type Decision } from "../client/balance-plan.ts";
import { ShardLoad } from "../client/shard-load.ts";
import type { Topology } from "../transport/topology-wire.ts";
import type { Logger } from "../util/log.ts";
import { metaGroupId } from "../meta/meta-service.ts";
import type { Store } from "./store.ts";

/** How long a shard whose load-based split failed is left out of load-based splits. */
const loadSplitHoldMs = 60_000;

export class Coordinator {
  readonly #store: Store;
  readonly #metaAddresses: string[];
  readonly #settings: CoordinatorSettings;
  readonly #logger: Logger;
  readonly #timer: ReturnType<typeof setInterval>;
  /** Writes/s and reads/s of each shard between the stores' reports. */
  readonly #load = new ShardLoad();
  /** Shard id -> until when a failed load-based split of it is not planned again. */
  readonly #loadSplitsHeld = new Map<number, number>();
  /** Each decision's outcome once its step ends (the store's metrics). */
  readonly #onDecision: (kind: Decision["kind"], result: "ok" | "failed") => void;
  #round: Promise<void> | null = null;
  #admin: AdminClient | null = null;
  #stopped = false;

  constructor(store: Store, metaAddresses: string[], settings: CoordinatorSettings, onDecision: (kind: Decision["kind"], result: "ok" | "failed") => void = () => undefined) {
    this.#store = store;
    this.#onDecision = onDecision;
    this.#metaAddresses = metaAddresses;
    this.#settings = settings;
    this.#logger = store.logger.child({ component: "coordinator" });
    this.#timer = setInterval(() => this.#tick(), settings.intervalMs);
  }

  #tick(): void {
    const meta = this.#store.meta;
    if (this.#stopped || this.#round !== null || meta === null || this.#store.replica(metaGroupId)?.isLeader() !== true) return;
    this.#round = this.#runRound(meta.topology()).finally(() => {
      this.#round = null;
    });
  }

  async #runRound(topology: Topology): Promise<void> {
    const nowMs = Date.now();
    for (const [shardId, untilMs] of this.#loadSplitsHeld) if (untilMs <= nowMs) this.#loadSplitsHeld.delete(shardId);
    const decisions = planBalance({ topology, settings: this.#settings, ...this.#load.observe(topology), loadSplitsHeld: new Set(this.#loadSplitsHeld.keys()) });
    if (decisions.length === 0) return;
    this.#admin ??= new AdminClient(this.#metaAddresses);
    for (const decision of decisions) {
      if (this.#stopped || this.#store.replica(metaGroupId)?.isLeader() !== true) return;
      this.#logger.info({ event: "coordinator_decision", ...decision }, formatDecision(decision));
      try {
        await this.#admin.execute([decision]);
        this.#onDecision(decision.kind, "ok");
      } catch (error) {
        this.#onDecision(decision.kind, "failed");
        // A load split is refused most likely because the load is on one key, which no split
        // divides: planned again, it would end each round that sees the load before any move (and
        // allocate an id). It is held, and the round goes on; any other step ends the round.
        const held = decision.kind === "split" && decision.byLoad === true;
        if (held) this.#loadSplitsHeld.set(decision.shardId, Date.now() + loadSplitHoldMs);
        const next = held ? `not planned again for ${loadSplitHoldMs / 1000} s` : "planned again next round";
        this.#logger.warn({ event: "coordinator_step_failed", ...decision, err: error }, `${formatDecision(decision)}: failed, ${next}`);
        if (!held) return;
      }
    }
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    clearInterval(this.#timer);
    this.#admin?.close();
    await this.#round?.catch(() => undefined);
  }
}
