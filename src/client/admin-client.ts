// Membership administration of a shard from the outside (`ukv admin ...`): finds the shard in the
// metadata topology, sends ADMIN requests to its leader (following redirects), and drives the
// add-replica sequence: add as learner, wait until it caught up, promote to voter.
import { GroupClient } from "../transport/group-client.ts";
import { fetchTopology, findShard } from "../transport/meta-api.ts";
import type { TopologyShard } from "../transport/topology-wire.ts";
import { UkvError } from "../util/errors.ts";

const encoder = new TextEncoder();
const catchUpPollMs = 200;
export const catchUpWaitMsDefault = 120_000;
const layoutWaitMsMax = 10_000;

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

  /** The shard as the metadata group knows it; waits (bounded) while meta has no layout yet (just started). */
  async shard(shardId: number): Promise<TopologyShard> {
    const deadline = Date.now() + layoutWaitMsMax;
    for (;;) {
      const topology = await fetchTopology(this.#meta).catch((error: unknown) => {
        if (Date.now() > deadline) throw error;
        return null;
      });
      if (topology !== null && (topology.layout !== null || Date.now() > deadline)) return findShard(topology, shardId);
      await Bun.sleep(200);
    }
  }

  async #shardClient(shardId: number): Promise<GroupClient> {
    const shard = await this.shard(shardId);
    const addresses = [...shard.members, ...(shard.learners ?? [])].map((member) => member.clientAddress).filter((address) => address !== "");
    return new GroupClient(addresses, { timeoutMs: 15_000 });
  }

  async #admin(client: GroupClient, request: Record<string, unknown>): Promise<Record<string, unknown>> {
    const response = await client.request({ op: "ADMIN", key: new Uint8Array(0), value: encoder.encode(JSON.stringify(request)), linearizable: false });
    if (response.code !== "OK") throw new UkvError(response.code === "TIMEOUT" ? "TIMEOUT" : "BAD_REQUEST", response.message || response.code);
    return JSON.parse(response.statusJson) as Record<string, unknown>;
  }

  async #leaderStatus(client: GroupClient): Promise<{ lastIndex: number; progress: Record<string, { match: number }> }> {
    const response = await client.request({ op: "STATUS", key: new Uint8Array(0), value: new Uint8Array(0), linearizable: false });
    if (response.code !== "OK") throw new UkvError("SHARD_UNAVAILABLE", `Shard leader did not answer STATUS: ${response.code}`);
    return JSON.parse(response.statusJson) as { lastIndex: number; progress: Record<string, { match: number }> };
  }

  /** Adds a member as a learner, waits for it to catch up, then promotes it (unless noWait). */
  async addReplica(args: { shardId: number; nodeId: number; raftAddress: string; clientAddress: string; noWait?: boolean; waitMsMax?: number }): Promise<void> {
    const client = await this.#shardClient(args.shardId);
    try {
      await this.#admin(client, { action: "add-learner", nodeId: args.nodeId, raftAddress: args.raftAddress, clientAddress: args.clientAddress });
      this.#progress(`node ${args.nodeId} added to shard ${args.shardId} as a learner`);
      if (args.noWait === true) return;
      const deadline = Date.now() + (args.waitMsMax ?? catchUpWaitMsDefault);
      let lastReportMs = 0;
      for (;;) {
        const status = await this.#leaderStatus(client);
        const match = status.progress[String(args.nodeId)]?.match ?? 0;
        const lag = Math.max(0, status.lastIndex - match);
        if (Date.now() - lastReportMs > 1000) {
          this.#progress(`catching up: ${match}/${status.lastIndex} (${lag} entries behind)`);
          lastReportMs = Date.now();
        }
        const promoted = await this.#admin(client, { action: "promote", nodeId: args.nodeId }).then(
          () => true,
          (error: unknown) => {
            if (error instanceof UkvError && error.message.includes("not promoted yet")) return false;
            throw error;
          },
        );
        if (promoted) break;
        if (Date.now() > deadline) throw new UkvError("TIMEOUT", `Node ${args.nodeId} did not catch up in time (${lag} entries behind); it stays a learner`);
        await Bun.sleep(catchUpPollMs);
      }
      this.#progress(`node ${args.nodeId} promoted to voter of shard ${args.shardId}`);
    } finally {
      client.close();
    }
  }

  async removeReplica(args: { shardId: number; nodeId: number; force?: boolean }): Promise<void> {
    const client = await this.#shardClient(args.shardId);
    try {
      // Removing the leader: it first hands leadership over and answers NOT_LEADER; the group
      // client then follows the redirect and the new leader does the removal.
      await this.#admin(client, { action: "remove", nodeId: args.nodeId, force: args.force === true });
      this.#progress(`node ${args.nodeId} removed from shard ${args.shardId}`);
    } finally {
      client.close();
    }
  }

  async transferLeader(args: { shardId: number; toNodeId: number }): Promise<void> {
    const client = await this.#shardClient(args.shardId);
    try {
      await this.#admin(client, { action: "transfer-leader", nodeId: args.toNodeId });
      this.#progress(`shard ${args.shardId} is led by node ${args.toNodeId}`);
    } finally {
      client.close();
    }
  }

  close(): void {
    this.#meta.close();
  }
}
