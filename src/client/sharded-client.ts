// The smart client: the router's routing in-process, with no proxy hop. Keys map to shards by the
// ring of the topology; writes go to the cached leader of the shard (following NOT_LEADER hints
// and retrying through an election for up to retryWindowMs); reads go round-robin to the shard's
// members not known to be down, falling back to the leader. Answers that are not OK become typed
// errors carrying the protocol code (NOT_FOUND on a GET is a null value, not an error).
import { checkKvRequest, makeKvResponse, type KvResponse } from "../transport/kv-protocol.ts";
import { UkvError, type ErrorCode } from "../util/errors.ts";
import { dialRaftPortForWrites, MemberPool } from "./member-pool.ts";
import { ShardRouting, type RouteFields } from "./shard-routing.ts";
import { StaticTopologySource, type ClusterLayout, type Topology, type TopologySource } from "./topology.ts";

export interface ShardedClientOptions {
  /** The cluster config (or any layout of shards and members); ignored when topologySource is given. */
  config?: ClusterLayout;
  topologySource?: TopologySource;
  /** Per request to one member. Default 2000. */
  requestTimeoutMs?: number;
  /** Writes retry (redirects, elections) for this long before failing. Default 3000. */
  retryWindowMs?: number;
  /**
   * Send writes (and every request but follower GETs) to the members' Raft ports, which serve the
   * client protocol on the stores' Raft threads: one thread hop less per write when the stores run
   * a read pool. Only for clients that reach the Raft ports (inside the cluster's network); members
   * whose Raft address the topology does not give are reached at their client port. Default false.
   */
  writesToRaftPorts?: boolean;
}

export const shardedClientRequestTimeoutMsDefault = 2000;

const encoder = new TextEncoder();
const emptyBytes = new Uint8Array(0);

function asBytes(data: Uint8Array | string): Uint8Array {
  return typeof data === "string" ? encoder.encode(data) : data;
}

const errorCodeByKvCode: Record<string, ErrorCode> = {
  NOT_LEADER: "NOT_LEADER",
  SHARD_UNAVAILABLE: "SHARD_UNAVAILABLE",
  KEY_TOO_LARGE: "KEY_TOO_LARGE",
  VALUE_TOO_LARGE: "VALUE_TOO_LARGE",
  BAD_REQUEST: "BAD_REQUEST",
  TIMEOUT: "TIMEOUT",
  UNREACHABLE: "UNREACHABLE",
  UNAVAILABLE: "UNAVAILABLE",
  INTERNAL: "INTERNAL",
};

/** The typed error for an answer that is neither OK nor (for GET) NOT_FOUND. */
export function errorFromResponse(op: string, response: KvResponse): UkvError {
  const code = errorCodeByKvCode[response.code] ?? "INTERNAL";
  const detail = response.message === "" ? response.code : response.message;
  return new UkvError(code, `${op} failed: ${detail}`, { data: { responseCode: response.code, leaderAddress: response.leaderAddress } });
}

export class ShardedClient {
  readonly #pool: MemberPool;
  readonly #routing: ShardRouting;
  readonly #topology: TopologySource;

  constructor(options: ShardedClientOptions) {
    const topology = options.topologySource ?? (options.config === undefined ? null : new StaticTopologySource(options.config));
    if (topology === null) throw new UkvError("BAD_REQUEST", "ShardedClient needs a config or a topologySource");
    this.#topology = topology;
    this.#pool = new MemberPool({
      requestTimeoutMs: options.requestTimeoutMs ?? shardedClientRequestTimeoutMsDefault,
      ...(options.writesToRaftPorts === true ? { dialAddressOf: dialRaftPortForWrites(raftAddressIndex(topology)) } : {}),
    });
    this.#routing = new ShardRouting({
      topology,
      pool: this.#pool,
      ...(options.retryWindowMs === undefined ? {} : { retryWindowMs: options.retryWindowMs }),
    });
  }

  /** The shard id owning `key` (for tools and tests). */
  shardOf(key: Uint8Array | string): number {
    return this.#routing.shardFor(asBytes(key)).id;
  }

  /** The value, or null when the key is absent. A follower read unless `linearizable`. */
  async get(key: Uint8Array | string, options: { linearizable?: boolean } = {}): Promise<Uint8Array | null> {
    const response = await this.#send({ op: "GET", key: asBytes(key), value: emptyBytes, linearizable: options.linearizable ?? false });
    if (response.code === "NOT_FOUND") return null;
    if (response.code !== "OK") throw errorFromResponse("GET", response);
    return response.value;
  }

  /** Resolves once the write is committed and applied by the shard's leader. */
  async set(key: Uint8Array | string, value: Uint8Array | string): Promise<void> {
    const response = await this.#send({ op: "SET", key: asBytes(key), value: asBytes(value), linearizable: false });
    if (response.code !== "OK") throw errorFromResponse("SET", response);
  }

  async delete(key: Uint8Array | string): Promise<void> {
    const response = await this.#send({ op: "DELETE", key: asBytes(key), value: emptyBytes, linearizable: false });
    if (response.code !== "OK") throw errorFromResponse("DELETE", response);
  }

  /** The topology routing follows now (shards, members, the key ring). */
  topology(): Topology {
    return this.#topology.current();
  }

  /**
   * Many SETs of shard `shardId` in one request, applied atomically in one Raft entry (`ukv
   * load`). Follows the shard's leader like any write, and like any write is never resent after
   * an answer that leaves the outcome unknown (TIMEOUT): the caller decides. Every key must be the
   * shard's (else WRONG_SHARD). The raw answer; never rejects.
   */
  batchSet(shardId: number, keys: Uint8Array[], values: Uint8Array[]): Promise<KvResponse> {
    const fields: RouteFields = { op: "BATCH_SET", key: emptyBytes, value: emptyBytes, linearizable: false, shard: shardId, batchKeys: keys, batchValues: values };
    const refused = checkKvRequest({ ...fields, id: 0 });
    if (refused !== null) return Promise.resolve(refused);
    const shard = this.#topology.current().shards.get(shardId);
    if (shard === undefined) return Promise.resolve(makeKvResponse(0, "WRONG_SHARD", { message: `No shard ${shardId} in the topology (epoch ${this.#topology.current().epoch})` }));
    return this.#routing.routeToShard(shard, fields);
  }

  /** Re-reads the topology source (a no-op for a static config). */
  refreshTopology(): Promise<void> {
    return this.#topology.refresh();
  }

  close(): void {
    this.#pool.close();
  }

  /** One GET, SET or DELETE routed by key; the raw answer (for tools that print codes). Never rejects. */
  request(request: RouteFields): Promise<KvResponse> {
    return this.#send(request);
  }

  #send(request: RouteFields): Promise<KvResponse> {
    // The protocol's own checks (empty or oversized key, oversized value) fail here, not a hop away.
    const refused = checkKvRequest({ ...request, id: 0 });
    if (refused !== null) return Promise.resolve(refused);
    return this.#routing.route(request);
  }
}

/** Client address -> Raft address of the topology's members, rebuilt when its epoch changes. */
function raftAddressIndex(topology: TopologySource): (clientAddress: string) => string | null {
  let epoch = -1;
  let index = new Map<string, string>();
  return (clientAddress) => {
    const current = topology.current();
    if (current.epoch !== epoch) {
      index = new Map();
      for (const shard of current.shards.values()) for (const member of shard.members) if (member.raftAddress !== undefined) index.set(member.clientAddress, member.raftAddress);
      epoch = current.epoch;
    }
    return index.get(clientAddress) ?? null;
  };
}
