// A client for one Raft group reached through any of its members: requests go to the member
// believed to be the leader; NOT_LEADER answers move to the hinted leader, unreachable members
// are skipped, and a group in the middle of an election is retried with a short pause, all within
// a bounded number of attempts. Used to talk to the metadata group, and to one shard.
import { assert } from "../util/assert.ts";
import { KvClient } from "./kv-client.ts";
import { makeKvResponse, type KvRequest, type KvResponse } from "./kv-protocol.ts";

export const groupAttemptCountMax = 12;
const electionPauseMs = 50;

export class GroupClient {
  readonly addresses: readonly string[];
  readonly #clients = new Map<string, KvClient>();
  readonly #timeoutMs: number;
  #targetIndex = 0;
  #closed = false;

  constructor(addresses: readonly string[], options: { timeoutMs?: number } = {}) {
    assert(addresses.length > 0, "a group has at least one member address");
    this.addresses = [...addresses];
    this.#timeoutMs = options.timeoutMs ?? 2000;
  }

  /** The address requests currently go to (the believed leader). */
  get target(): string {
    return this.addresses[this.#targetIndex % this.addresses.length]!;
  }

  #client(address: string): KvClient {
    let client = this.#clients.get(address);
    if (client === undefined) {
      client = new KvClient(address, { timeoutMs: this.#timeoutMs, connectTimeoutMs: Math.min(1000, this.#timeoutMs) });
      this.#clients.set(address, client);
    }
    return client;
  }

  /** Sends to the leader, following redirects; the last answer when every attempt failed. */
  async request(fields: Omit<KvRequest, "id">, options: { anyMember?: boolean } = {}): Promise<KvResponse> {
    let last: KvResponse = makeKvResponse(0, "UNREACHABLE", { message: "No member of the group answered" });
    for (let attemptIndex = 0; attemptIndex < groupAttemptCountMax && !this.#closed; attemptIndex++) {
      const response = await this.#client(this.target).request(fields);
      last = response;
      if (response.code === "NOT_LEADER" && !options.anyMember) {
        const hinted = this.addresses.indexOf(response.leaderAddress);
        if (hinted >= 0 && hinted !== this.#targetIndex) {
          this.#targetIndex = hinted;
          continue;
        }
        // No leader yet (election in progress) or a hint we do not know: try the next member.
        this.#targetIndex = (this.#targetIndex + 1) % this.addresses.length;
        await Bun.sleep(electionPauseMs);
        continue;
      }
      // WRONG_SHARD: that store holds no replica of the group (any more: our member list, read
      // from the topology, can trail a removal), so it cannot serve this; another member may.
      if (response.code === "UNREACHABLE" || response.code === "TIMEOUT" || response.code === "UNAVAILABLE" || response.code === "WRONG_SHARD") {
        this.#targetIndex = (this.#targetIndex + 1) % this.addresses.length;
        continue;
      }
      return response;
    }
    return last;
  }

  close(): void {
    this.#closed = true;
    for (const client of this.#clients.values()) client.close();
    this.#clients.clear();
  }
}
