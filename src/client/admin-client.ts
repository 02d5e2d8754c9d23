// Membership administration of a shard from the outside (`ukv admin ...`): finds the shard and the
// stores in the metadata topology, sends ADMIN requests to the shard's leader store (GroupClient
// follows redirects and waits, bounded, for a moving lead), and drives the add-replica sequence: create an empty replica on the target store,
// add it as a learner, wait until it caught up, promote it to voter.
import { KvClient } from "../transport/kv-client.ts";
import type { KvResponse } from "../transport/kv-protocol.ts";
import { fetchTopology, findShard } from "../transport/meta-api.ts";
import { GroupClient } from "./group-client.ts";
import type { StoreInfo, Topology, TopologyShard } from "../transport/topology-wire.ts";
import { UkvError } from "../util/errors.ts";

const encoder = new TextEncoder();
const catchUpPollMs = 200;
export const catchUpWaitMsDefault = 120_000;
const layoutWaitMsMax = 10_000;
/** How long an admin request waits for a shard without a reachable leader to get one. */
const leaderWaitMsMax = 10_000;

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
        if (Date.now() > deadline) throw error;
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

  async #leaderStatus(client: GroupClient, shardId: number): Promise<{ role: string; voters: number[]; learners: number[]; lastIndex: number; progress: Record<string, { match: number }> }> {
    const response = await client.request({ op: "STATUS", key: new Uint8Array(0), value: new Uint8Array(0), linearizable: false, shard: shardId });
    if (response.code !== "OK") throw new UkvError("SHARD_UNAVAILABLE", `Shard leader did not answer STATUS: ${response.code}`);
    return JSON.parse(response.statusJson) as { role: string; voters: number[]; learners: number[]; lastIndex: number; progress: Record<string, { match: number }> };
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

  async transferLeader(args: { shardId: number; toStoreId: number }): Promise<void> {
    const { client } = await this.#shardClient(args.shardId);
    try {
      await this.#admin(client, args.shardId, { action: "transfer-leader", nodeId: args.toStoreId });
      this.#progress(`shard ${args.shardId} is led by store ${args.toStoreId}`);
    } finally {
      client.close();
    }
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

function adminAnswer(response: KvResponse): Record<string, unknown> {
  if (response.code !== "OK") throw new UkvError(response.code === "TIMEOUT" ? "TIMEOUT" : "BAD_REQUEST", response.message || response.code);
  return JSON.parse(response.statusJson) as Record<string, unknown>;
}
