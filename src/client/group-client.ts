// A client for one Raft group reached through the client addresses of its members (no topology):
// the metadata group (TOPOLOGY and the store-level ADMIN writes, shard 0), and admin requests to
// one shard (ADMIN and STATUS with shard S). Each request names its group in `shard`.
//
// It follows the leader with ShardRouting's loop, the only one there is (shard-routing.ts has
// why): the request goes to the group's leader (cached, or discovered by STATUS), NOT_LEADER hints
// are followed, failures and elections retried with backoff for at most `retryWindowMs`; TOPOLOGY
// is answered by any member (a metadata replica answers from what it applied, with or without a
// leader). A hint is followed only to an address in the list: a caller that may be told of a
// member it did not list (a replica added a moment ago) lists every store; a store without a
// replica of the group answers WRONG_SHARD, and the loop tries another.
import type { KvRequest, KvResponse } from "../transport/kv-protocol.ts";
import { assert } from "../util/assert.ts";
import { MemberPool } from "./member-pool.ts";
import { retryWindowMsDefault, ShardRouting } from "./shard-routing.ts";
import type { TopologyMember } from "./topology.ts";

export const groupRequestTimeoutMsDefault = 2000;

export interface GroupClientOptions {
  /** Per request to one member. Default groupRequestTimeoutMsDefault. */
  timeoutMs?: number;
  /** How long a request keeps following the leader (elections, redirects) before its last answer. Default retryWindowMsDefault. */
  retryWindowMs?: number;
}

export class GroupClient {
  readonly addresses: readonly string[];
  /** Known by address alone (id 0): discovery learns which member is which from its STATUS. */
  readonly #members: readonly TopologyMember[];
  readonly #pool: MemberPool;
  readonly #routing: ShardRouting;

  constructor(addresses: readonly string[], options: GroupClientOptions = {}) {
    assert(addresses.length > 0, "a group has at least one member address");
    const timeoutMs = options.timeoutMs ?? groupRequestTimeoutMsDefault;
    this.addresses = [...addresses];
    this.#members = this.addresses.map((clientAddress) => ({ id: 0, clientAddress }));
    this.#pool = new MemberPool({ requestTimeoutMs: timeoutMs, connectTimeoutMs: Math.min(1000, timeoutMs) });
    this.#routing = new ShardRouting({ pool: this.#pool, retryWindowMs: options.retryWindowMs ?? retryWindowMsDefault });
  }

  /** Sends to the leader of the group `fields.shard` names (0: the metadata group), following it; never rejects. */
  request(fields: Omit<KvRequest, "id">): Promise<KvResponse> {
    return this.#routing.routeToShard({ id: fields.shard ?? 0, members: this.#members }, fields);
  }

  close(): void {
    this.#pool.close();
  }
}
