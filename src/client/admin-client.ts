// Membership administration of a shard from the outside (`ukv admin ...`): finds the shard and the
// stores in the metadata topology, sends ADMIN requests to the shard's leader store (GroupClient
// follows redirects and waits, bounded, for a moving lead), and drives the add-replica sequence: create an empty replica on the target store,
// add it as a learner, wait until it caught up, promote it to voter.
import { KvClient } from "../transport/kv-client.ts";
import type { KvResponse } from "../transport/kv-protocol.ts";
import { fetchTopology, findShard } from "../transport/meta-api.ts";
import { GroupClient } from "./group-client.ts";
import type { StoreInfo, Topology, TopologyShard } from "../transport/topology-wire.ts";
import { formatRange, rangeFromJson, type KeyRangeJson } from "../ring/range-map.ts";
import { formatDecision, planBalance, type CoordinatorSettings, type Decision } from "./balance-plan.ts";
import { isUkvError, UkvError } from "../util/errors.ts";

const encoder = new TextEncoder();
const catchUpPollMs = 200;
export const catchUpWaitMsDefault = 120_000;
const layoutWaitMsMax = 10_000;
/** How long an admin request waits for a shard without a reachable leader to get one. */
const leaderWaitMsMax = 10_000;

interface LeaderStatus {
  role: string;
  voters: number[];
  learners: number[];
  lastIndex: number;
  progress: Record<string, { match: number }>;
  range: KeyRangeJson | null;
}

export interface AdminProgress {
  (line: string): void;
}

export class AdminClient {
  readonly #meta: GroupClient;
  readonly #progress: AdminProgress;

  constructor(metaAddresses: string[], progress: AdminProgress = () => undefined) {
    this.#meta = new GroupClient(metaAddresses, { timeoutMs: 3000 });
    this.#progress = progress;
  }

  /** The topology with a layout; waits (bounded) while meta has no layout yet (just started). */
  async topology(): Promise<Topology> {
    const deadline = Date.now() + layoutWaitMsMax;
    for (;;) {
      const topology = await fetchTopology(this.#meta).catch((error: unknown) => {
        if (Date.now() > deadline || isUkvError(error, "UNAUTHENTICATED")) throw error;
        return null;
      });
      if (topology !== null && (topology.layout !== null || Date.now() > deadline)) return topology;
      await Bun.sleep(200);
    }
  }

  /** The shard as the metadata group knows it. */
  async shard(shardId: number): Promise<TopologyShard> {
    return findShard(await this.topology(), shardId);
  }

  async #store(storeId: number): Promise<StoreInfo> {
    const topology = await this.topology();
    const store = topology.layout?.stores.find((candidate) => candidate.id === storeId);
    if (store === undefined) {
      const known = topology.layout?.stores.map((candidate) => candidate.id).join(", ") ?? "none";
      throw new UkvError("BAD_REQUEST", `Unknown store ${storeId}: the cluster has stores ${known} (a new store starts with \`ukv node --join\`)`);
    }
    return store;
  }

  async #shardClient(shardId: number): Promise<{ client: GroupClient; shard: TopologyShard }> {
    const topology = await this.topology();
    const shard = findShard(topology, shardId);
    const members = [...shard.members, ...(shard.learners ?? [])].map((member) => member.clientAddress);
    // The shard's replicas first, then every other store: the topology can trail a change (a
    // replica added or removed a moment ago), and a NOT_LEADER hint is followed only to an
    // address the client knows; a store without a replica answers WRONG_SHARD and is skipped.
    const others = (topology.layout?.stores ?? []).map((store) => store.clientAddress).filter((address) => !members.includes(address));
    const addresses = [...members, ...others].filter((address) => address !== "");
    // The window: a lead that is moving (an election, a transfer, a leader removing itself) is
    // followed until the new leader answers, bounded.
    return { client: new GroupClient(addresses, { timeoutMs: 15_000, retryWindowMs: leaderWaitMsMax }), shard };
  }

  async #admin(client: GroupClient, shardId: number, request: Record<string, unknown>): Promise<Record<string, unknown>> {
    const response = await client.request({ op: "ADMIN", key: new Uint8Array(0), value: encoder.encode(JSON.stringify(request)), linearizable: false, shard: shardId });
    return adminAnswer(response);
  }

  /** A store-level ADMIN (shard 0) to one store: no group and no leader to follow. */
  async #storeAdmin(address: string, request: Record<string, unknown>): Promise<Record<string, unknown>> {
    const client = new KvClient(address, { timeoutMs: 10_000 });
    try {
      return adminAnswer(await client.request({ op: "ADMIN", key: new Uint8Array(0), value: encoder.encode(JSON.stringify(request)), linearizable: false, shard: 0 }));
    } finally {
      client.close();
    }
  }

  async #leaderStatus(client: GroupClient, shardId: number): Promise<LeaderStatus> {
    const response = await client.request({ op: "STATUS", key: new Uint8Array(0), value: new Uint8Array(0), linearizable: false, shard: shardId });
    if (response.code !== "OK") throw new UkvError("SHARD_UNAVAILABLE", `Shard leader did not answer STATUS: ${response.code}`);
    return JSON.parse(response.statusJson) as LeaderStatus;
  }

  /**
   * Places a replica of a shard on a store: an empty replica there, added as a learner, caught up,
   * then promoted to voter (unless noWait). Each step is idempotent, so a rerun after a crash
   * continues where it stopped.
   */
  async addReplica(args: { shardId: number; storeId: number; noWait?: boolean; waitMsMax?: number }): Promise<void> {
    const store = await this.#store(args.storeId);
    const { client, shard } = await this.#shardClient(args.shardId);
    try {
      // Membership from the leader when it answers: the metadata group's copy lags a change just
      // made (right after a removal it still lists the store, and the add would wait for ever).
      const current = await this.#leaderStatus(client, args.shardId).catch(() => null);
      const isMember =
        current !== null && current.role === "leader"
          ? [...current.voters, ...current.learners].includes(args.storeId)
          : [...shard.members, ...(shard.learners ?? [])].some((member) => member.id === args.storeId);
      if (!isMember) {
        const topology = await this.topology();
        const report = topology.memberships[String(args.shardId)];
        const addresses = Object.fromEntries([...shard.members, ...(shard.learners ?? [])].map((member) => [String(member.id), { raftAddress: member.raftAddress, clientAddress: member.clientAddress }]));
        const membership = {
          voters: report?.voters ?? shard.members.map((member) => member.id),
          learners: report?.learners ?? (shard.learners ?? []).map((member) => member.id),
          addresses,
          // The leader's range when it answered (the metadata copy may trail a split): a replica
          // replaying the log from its start skips the splits older than it.
          range: current?.range ?? shard.range,
        };
        await this.#storeAdmin(store.clientAddress, { action: "create-replica", shardId: args.shardId, membership });
        this.#progress(`store ${args.storeId} created an empty replica of shard ${args.shardId}`);
        await this.#admin(client, args.shardId, { action: "add-learner", nodeId: args.storeId, raftAddress: store.raftAddress, clientAddress: store.clientAddress });
        this.#progress(`store ${args.storeId} added to shard ${args.shardId} as a learner`);
      } else {
        this.#progress(`store ${args.storeId} is a member of shard ${args.shardId} already`);
      }
      if (args.noWait === true) return;
      const deadline = Date.now() + (args.waitMsMax ?? catchUpWaitMsDefault);
      let lastReportMs = 0;
      for (;;) {
        const status = await this.#leaderStatus(client, args.shardId);
        // A voter already (a rerun after the promotion, or a repeated add): done. Only the
        // leader's word counts; a follower's STATUS may be stale, and promote redirects to it.
        if (status.role === "leader" && status.voters.includes(args.storeId)) {
          if (isMember) {
            this.#progress(`store ${args.storeId} is already a voter of shard ${args.shardId}`);
            return;
          }
          break;
        }
        const match = status.progress[String(args.storeId)]?.match ?? 0;
        const lag = Math.max(0, status.lastIndex - match);
        if (Date.now() - lastReportMs > 1000) {
          this.#progress(`catching up: ${match}/${status.lastIndex} (${lag} entries behind)`);
          lastReportMs = Date.now();
        }
        const promoted = await this.#admin(client, args.shardId, { action: "promote", nodeId: args.storeId }).then(
          () => true,
          (error: unknown) => {
            if (error instanceof UkvError && (error.message.includes("not promoted yet") || error.message.includes("is not a learner"))) return false;
            throw error;
          },
        );
        if (promoted) break;
        if (Date.now() > deadline) throw new UkvError("TIMEOUT", `Store ${args.storeId} did not catch up in time (${lag} entries behind); it stays a learner`);
        await Bun.sleep(catchUpPollMs);
      }
      this.#progress(`store ${args.storeId} promoted to voter of shard ${args.shardId}`);
    } finally {
      client.close();
    }
  }

  async removeReplica(args: { shardId: number; storeId: number; force?: boolean }): Promise<void> {
    const { client } = await this.#shardClient(args.shardId);
    try {
      // Removing the leader: it first hands leadership over and answers NOT_LEADER; the group
      // client then follows the redirect (or waits for the election) and the new leader does the removal.
      await this.#admin(client, args.shardId, { action: "remove", nodeId: args.storeId, force: args.force === true });
      this.#progress(`store ${args.storeId} removed from shard ${args.shardId}`);
    } finally {
      client.close();
    }
  }

  /**
   * Moves a shard's replica from store `fromStoreId` to `toStoreId`: the membership steps of
   * add-replica (empty replica, learner, snapshot catch-up, promotion), then removal from the
   * source (its leader hands over first), one step at a time. Every step is idempotent, so a rerun
   * after a crash (of this command, a store, or the metadata leader) continues where it stopped;
   * a replica is never copied key by key.
   */
  async move(args: { shardId: number; fromStoreId: number; toStoreId: number; waitMsMax?: number }): Promise<void> {
    if (args.fromStoreId === args.toStoreId) throw new UkvError("BAD_REQUEST", `--from and --to are the same store (${args.fromStoreId})`);
    const shard = await this.shard(args.shardId);
    const { client } = await this.#shardClient(args.shardId);
    let sourceIsMember: boolean;
    try {
      const status = await this.#leaderStatus(client, args.shardId).catch(() => null);
      const members = status !== null && status.role === "leader" ? [...status.voters, ...status.learners] : [...shard.members, ...(shard.learners ?? [])].map((member) => member.id);
      sourceIsMember = members.includes(args.fromStoreId);
      // Neither source nor target a member: nothing to move (a rerun after completion finds the target).
      if (!sourceIsMember && !members.includes(args.toStoreId)) throw new UkvError("BAD_REQUEST", `Store ${args.fromStoreId} holds no replica of shard ${args.shardId}`);
    } finally {
      client.close();
    }
    await this.addReplica({ shardId: args.shardId, storeId: args.toStoreId, ...(args.waitMsMax === undefined ? {} : { waitMsMax: args.waitMsMax }) });
    if (!sourceIsMember) {
      this.#progress(`store ${args.fromStoreId} is not a member of shard ${args.shardId} any more: the move is complete`);
      return;
    }
    await this.removeReplica({ shardId: args.shardId, storeId: args.fromStoreId }).catch((error: unknown) => {
      // Removed already by an earlier run whose answer was lost.
      if (!(error instanceof UkvError && error.message.includes("is not a member"))) throw error;
    });
    this.#progress(`shard ${args.shardId} moved from store ${args.fromStoreId} to store ${args.toStoreId}`);
  }

  /** Marks store `storeId` as being drained (or, with `draining` false, no longer). */
  async setDraining(storeId: number, draining: boolean): Promise<void> {
    await this.#store(storeId);
    adminAnswerOk(await this.#meta.request({ op: "ADMIN", key: new Uint8Array(0), value: encoder.encode(JSON.stringify({ action: "set-drain", storeId, draining })), linearizable: false, shard: 0 }));
    this.#progress(draining ? `store ${storeId} is being drained` : `store ${storeId} is no longer being drained`);
  }

  /** The coordinator's plan for the topology as the metadata group holds it now. */
  async plan(settings: CoordinatorSettings): Promise<Decision[]> {
    return planBalance({ topology: await this.topology(), settings });
  }

  /** Runs decisions one after the other (each step idempotent), printing each with its reason. */
  async execute(decisions: readonly Decision[]): Promise<void> {
    for (const decision of decisions) {
      this.#progress(formatDecision(decision));
      switch (decision.kind) {
        case "split":
          await this.split({ shardId: decision.shardId, at: decision.byLoad === true ? "load" : null });
          break;
        case "move":
          await this.move({ shardId: decision.shardId, fromStoreId: decision.from, toStoreId: decision.to });
          break;
        case "transfer-leader":
          await this.transferLeader({ shardId: decision.shardId, toStoreId: decision.to });
          break;
        case "remove":
          await this.removeReplica({ shardId: decision.shardId, storeId: decision.storeId });
          break;
      }
    }
  }

  async transferLeader(args: { shardId: number; toStoreId: number }): Promise<void> {
    const { client } = await this.#shardClient(args.shardId);
    try {
      await this.#admin(client, args.shardId, { action: "transfer-leader", nodeId: args.toStoreId });
      this.#progress(`shard ${args.shardId} is led by store ${args.toStoreId}`);
    } finally {
      client.close();
    }
  }

  /**
   * Splits a shard: the metadata group allocates the new shard's id, the shard's leader proposes
   * the split (at `at`, where its store saw the load's median for "load", or its keys' median hash), every replica applies it and creates the new
   * shard locally, and the stores report both ranges; resolves once the metadata lists the new
   * shard. Returns the split as the leader applied it.
   */
  async split(args: { shardId: number; at: bigint | "load" | null }): Promise<{ childId: number; at: string; parent: KeyRangeJson; child: KeyRangeJson }> {
    const topology = await this.topology();
    findShard(topology, args.shardId); // a clear error for an unknown shard before an id is allocated
    const token = `split-${args.shardId}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 10)}`;
    const allocation = adminAnswer(await this.#meta.request({ op: "ADMIN", key: new Uint8Array(0), value: encoder.encode(JSON.stringify({ action: "allocate-shard-id", token })), linearizable: false, shard: 0 }));
    const childId = allocation.shardId as number;
    this.#progress(`new shard id ${childId} allocated`);
    const { client } = await this.#shardClient(args.shardId);
    let result: Record<string, unknown>;
    try {
      result = await this.#admin(client, args.shardId, { action: "split", childId, ...(args.at === null ? {} : { at: args.at.toString() }) });
    } finally {
      client.close();
    }
    const parent = result.parent as KeyRangeJson;
    const child = result.child as KeyRangeJson;
    this.#progress(`shard ${args.shardId} split at ${String(result.at)}: shard ${args.shardId} keeps ${formatRange(rangeFromJson(parent))}, shard ${childId} owns ${formatRange(rangeFromJson(child))}`);
    const deadline = Date.now() + layoutWaitMsMax;
    for (;;) {
      const shards = (await this.topology()).layout?.shards ?? [];
      if (shards.some((shard) => shard.id === childId)) break;
      if (Date.now() > deadline) throw new UkvError("TIMEOUT", `The split is applied, but the metadata group does not list shard ${childId} yet: the stores report it within seconds`);
      await Bun.sleep(catchUpPollMs);
    }
    this.#progress(`the metadata group lists shard ${childId}`);
    return { childId, at: String(result.at), parent, child };
  }

  /** A snapshot of the shard taken now by its leader: where the leader's store wrote it. */
  async snapshot(args: { shardId: number }): Promise<{ store: number; index: number; term: number; path: string; sizeBytes: number }> {
    const { client } = await this.#shardClient(args.shardId);
    try {
      const answer = (await this.#admin(client, args.shardId, { action: "snapshot" })) as { store: number; index: number; term: number; path: string; sizeBytes: number };
      this.#progress(`shard ${args.shardId}: snapshot at index ${answer.index} (term ${answer.term}), ${answer.sizeBytes} bytes, on store ${answer.store}: ${answer.path}`);
      return answer;
    } finally {
      client.close();
    }
  }

  close(): void {
    this.#meta.close();
  }
}

function adminAnswerOk(response: KvResponse): void {
  if (response.code !== "OK") throw new UkvError(response.code === "TIMEOUT" || response.code === "UNAUTHENTICATED" ? response.code : "BAD_REQUEST", response.message || response.code);
}

function adminAnswer(response: KvResponse): Record<string, unknown> {
  if (response.code !== "OK") throw new UkvError(response.code === "TIMEOUT" || response.code === "UNAUTHENTICATED" ? response.code : "BAD_REQUEST", response.message || response.code);
  return JSON.parse(response.statusJson) as Record<string, unknown>;
}
