// The client API of a store (raw protocol; RESP reaches the same routing through the router):
//   GET/SET/DELETE/KEYED, shard 0 routed by the store: served by its own replica when that needs no
//                                hop (follower read of a shard held here, write to a shard led
//                                here), else sent to the shard's leader store, tagged with the shard
//   GET/SET/DELETE/KEYED, shard S served by this store's replica of S, or NOT_LEADER / WRONG_SHARD;
//                                never forwarded again, and never applied for a key S does not own
//   STATUS, shard 0 / S          the store with every replica / the replica of S
//   ADMIN, shard 0               store administration: create a replica (add-replica's first step),
//                                the typed metadata writes (store reports, store registration)
//   ADMIN, shard S               membership administration of S, answered by its leader
//   TOPOLOGY                     the metadata group's topology (metadata stores only)
// Errors become protocol codes here.
import { shardOfKey, type TopologySource } from "../client/topology.ts";
import type { CachedLeader } from "../client/leader-cache.ts";
import type { RouteFields } from "../client/shard-routing.ts";
import type { RouterServer } from "../router/router-server.ts";
import type { KvRequest, KvResponse } from "../transport/kv-protocol.ts";
import { kvResponseFromError, makeKvResponse } from "../transport/kv-protocol.ts";
import type { StoreInfo, StoreReport } from "../transport/topology-wire.ts";
import { isUkvError, UkvError } from "../util/errors.ts";
import { metaGroupId } from "../meta/meta-service.ts";
import { parseAdminRequest, runAdminRequest } from "../node/admin.ts";
import { CommandOp } from "../node/command.ts";
import type { GroupRuntime, GroupSummary } from "../node/group-runtime.ts";
import { decodeKeyedTransaction, keysOfTransaction, withNow } from "../kv/keyed-commands.ts";
import { decodeMembership } from "../node/log-codec.ts";
import { decodeShardScanRequest, encodeShardScanPage, type ShardScanRequest } from "../kv/shard-scan.ts";
import { encodeStoredValue, liveValue, storedValueHeaderSizeBytesMax } from "../kv/stored-value.ts";
import type { Store } from "./store.ts";

const encoder = new TextEncoder();
/** Mixed into scan layouts (see #scan): differs between processes. */
const layoutNonce = Math.floor(Math.random() * 2 ** 40);
const decoder = new TextDecoder();

/** Store-level admin requests (ADMIN with shard 0), JSON in the request value. */
export type StoreAdminRequest =
  | { action: "create-replica"; shardId: number; membership: unknown }
  | { action: "meta-report"; report: StoreReport }
  | { action: "register-store"; store: StoreInfo };

export class StoreService {
  readonly #store: Store;
  readonly #topology: TopologySource;
  #router: RouterServer | null = null;

  constructor(store: Store, topology: TopologySource) {
    this.#store = store;
    this.#topology = topology;
  }

  attachRouter(router: RouterServer): void {
    this.#router = router;
  }

  async handle(request: KvRequest): Promise<KvResponse> {
    try {
      const shardId = request.shard ?? 0;
      switch (request.op) {
        case "TOPOLOGY":
          return await this.#topologyAnswer(request);
        case "STATUS":
          return makeKvResponse(request.id, "OK", { statusJson: JSON.stringify(shardId === 0 ? this.storeStatus() : this.#replicaOf(shardId).status()) });
        case "ADMIN":
          if (shardId === 0) return await this.#storeAdmin(request);
          return makeKvResponse(request.id, "OK", { statusJson: JSON.stringify(await runAdminRequest(this.#replicaOf(shardId), parseAdminRequest(request.value))) });
        default:
          if (shardId !== 0) return await this.serveLocal(shardId, request);
          if (this.#router === null) return makeKvResponse(request.id, "UNAVAILABLE", { message: `Store ${this.#store.storeId} is starting` });
          return await this.#router.handle(request);
      }
    } catch (error) {
      return errorResponse(request.id, error);
    }
  }

  /** The router's hook: serve without a hop when this store can, else null. */
  tryServe(shardId: number, request: RouteFields): Promise<KvResponse> | null {
    const runtime = this.#store.replica(shardId);
    if (runtime === null) return null;
    const status = runtime.status();
    if (status.removed) return null;
    const followerRead = request.op === "GET" && !request.linearizable;
    if (!followerRead && !runtime.isLeader()) return null;
    return this.serveLocal(shardId, { ...request, id: 0 });
  }

  knowsLeader(shardId: number): boolean {
    const runtime = this.#store.replica(shardId);
    return runtime !== null && runtime.leaderId() !== 0 && !runtime.summary().removed;
  }

  /** The leader this store's replica of `shardId` follows (another store), or null. */
  leaderOf(shardId: number): CachedLeader | null {
    const runtime = this.#store.replica(shardId);
    if (runtime === null || runtime.isLeader()) return null;
    const leaderId = runtime.leaderId();
    if (leaderId === 0) return null;
    const address = runtime.membership().addresses.get(leaderId)?.clientAddress;
    return address === undefined ? null : { memberId: leaderId, address, term: runtime.summary().term };
  }

  /** A GET, SET, DELETE or KEYED for shard `shardId`, served by this store's replica of it. */
  async serveLocal(shardId: number, request: KvRequest): Promise<KvResponse> {
    try {
      const runtime = this.#replicaOf(shardId);
      if (request.op === "SCAN") return makeKvResponse(request.id, "OK", { value: this.#scan(runtime, decodeShardScanRequest(request.value)) });
      if (request.op === "FLUSH") {
        await runtime.write(CommandOp.Flush, new Uint8Array(0), new Uint8Array(0));
        return makeKvResponse(request.id, "OK");
      }
      const keyed = request.op === "KEYED" ? decodeKeyedTransaction(request.value) : null;
      for (const key of keyed === null ? [request.key] : keysOfTransaction(keyed)) this.#checkOwner(shardId, key);
      switch (request.op) {
        case "GET": {
          const stored = request.linearizable ? await runtime.readLinearizable(request.key) : runtime.read(request.key);
          const value = liveValue(stored, Date.now());
          return value === null ? makeKvResponse(request.id, "NOT_FOUND") : makeKvResponse(request.id, "OK", { value: value.payload });
        }
        case "SET":
          await runtime.write(CommandOp.Set, request.key, encodeStoredValue(request.value, null));
          return makeKvResponse(request.id, "OK");
        case "DELETE":
          await runtime.write(CommandOp.Delete, request.key, new Uint8Array(0));
          return makeKvResponse(request.id, "OK");
        case "KEYED": {
          // The leader's clock, fixed now: every replica runs the transaction with this "now".
          const result = await runtime.write(CommandOp.Keyed, request.key, withNow(request.value, Date.now()));
          return makeKvResponse(request.id, "OK", { value: result });
        }
        default:
          return makeKvResponse(request.id, "BAD_REQUEST", { message: `${request.op} is not a key operation` });
      }
    } catch (error) {
      return errorResponse(request.id, error);
    }
  }

  /** A page of the leader's table walk (the leader's: a cursor is only valid on one replica's table). */
  #scan(runtime: GroupRuntime, request: ShardScanRequest): Uint8Array {
    if (!runtime.isLeader()) throw runtime.notLeaderError();
    const page = runtime.table.scan(request.slot, request.slotCountMax, request.entryCountMax, storedValueHeaderSizeBytesMax);
    const nowMs = Date.now();
    const keys = page.keys.filter((_, index) => liveValue(page.values[index] ?? null, nowMs) !== null);
    // The layout number restarts with the process: mixed with this process's nonce, a cursor from
    // a previous leader (or incarnation) is never taken for one of this table's.
    const layout = (page.layout * 1_000_003 + layoutNonce) % 2 ** 48;
    return encodeShardScanPage({ layout, next: page.next, capacity: page.capacity, keyCount: runtime.table.count(), keys });
  }

  #checkOwner(shardId: number, key: Uint8Array): void {
    const owner = shardOfKey(this.#topology.current(), key).id;
    if (owner !== shardId) {
      throw new UkvError("WRONG_SHARD", `Key belongs to shard ${owner}, not ${shardId} (topology epoch ${this.#topology.current().epoch})`, { data: { shardId: owner } });
    }
  }

  /** The store and a summary of each replica (STATUS with shard S has a replica's full status). */
  storeStatus(): { role: "store"; storeId: number; address: StoreInfo; groups: GroupSummary[]; log: ReturnType<Store["logStats"]> } {
    return {
      role: "store",
      storeId: this.#store.storeId,
      address: this.#store.storeInfo(),
      groups: this.#store.replicas().map(({ runtime }) => runtime.summary()),
      log: this.#store.logStats(),
    };
  }

  #replicaOf(shardId: number): GroupRuntime {
    const runtime = this.#store.replica(shardId);
    if (runtime === null) {
      throw new UkvError("WRONG_SHARD", `Store ${this.#store.storeId} holds no replica of ${shardId === metaGroupId ? "the metadata group" : `shard ${shardId}`}`);
    }
    return runtime;
  }

  async #topologyAnswer(request: KvRequest): Promise<KvResponse> {
    const meta = this.#store.meta;
    if (meta === null) {
      const metaStores = this.#store.config.metaStores.join(", ");
      return makeKvResponse(request.id, "BAD_REQUEST", { message: `Store ${this.#store.storeId} holds no metadata replica: ask a metadata store (${metaStores})` });
    }
    const text = decoder.decode(request.value);
    const knownEpoch = text === "" ? null : Number(text);
    const body = await meta.answerTopology(knownEpoch !== null && Number.isFinite(knownEpoch) ? knownEpoch : null);
    return makeKvResponse(request.id, "OK", { statusJson: JSON.stringify(body) });
  }

  async #storeAdmin(request: KvRequest): Promise<KvResponse> {
    const admin = parseStoreAdminRequest(request.value);
    switch (admin.action) {
      case "create-replica": {
        if (admin.shardId === metaGroupId) throw new UkvError("BAD_REQUEST", "The metadata group's replicas are the configured metadata stores");
        const membership = decodeMembership(encoder.encode(JSON.stringify(admin.membership)));
        await this.#store.createReplica(admin.shardId, membership);
        return makeKvResponse(request.id, "OK", { statusJson: JSON.stringify({ done: "create-replica", shardId: admin.shardId }) });
      }
      case "meta-report":
        await this.#metaLeader().report(admin.report);
        return makeKvResponse(request.id, "OK");
      case "register-store":
        await this.#metaLeader().registerStore(admin.store);
        return makeKvResponse(request.id, "OK");
    }
  }

  /** The metadata service, when this store leads the metadata group (writes go through its leader). */
  #metaLeader(): NonNullable<Store["meta"]> {
    const meta = this.#store.meta;
    const runtime = this.#store.replica(metaGroupId);
    if (meta === null || runtime === null) {
      throw new UkvError("NOT_LEADER", `Store ${this.#store.storeId} holds no metadata replica`, { data: { leaderAddress: "" } });
    }
    if (!runtime.isLeader()) throw runtime.notLeaderError();
    return meta;
  }
}

export function parseStoreAdminRequest(bytes: Uint8Array): StoreAdminRequest {
  let parsed: unknown;
  try {
    parsed = JSON.parse(decoder.decode(bytes));
  } catch (error) {
    throw new UkvError("BAD_REQUEST", "Store admin request is not JSON", { cause: error });
  }
  const request = parsed as Record<string, unknown> | null;
  if (request === null || typeof request !== "object") throw new UkvError("BAD_REQUEST", "Store admin request must be an object");
  switch (request.action) {
    case "create-replica":
      if (!Number.isSafeInteger(request.shardId) || (request.shardId as number) <= 0) throw new UkvError("BAD_REQUEST", "create-replica needs a positive shardId");
      return { action: "create-replica", shardId: request.shardId as number, membership: request.membership };
    case "meta-report":
      if (request.report === null || typeof request.report !== "object") throw new UkvError("BAD_REQUEST", "meta-report needs a report");
      return { action: "meta-report", report: request.report as StoreReport };
    case "register-store": {
      const store = request.store as StoreInfo | null;
      if (store === null || typeof store !== "object" || !Number.isSafeInteger(store.id) || typeof store.raftAddress !== "string" || typeof store.clientAddress !== "string") {
        throw new UkvError("BAD_REQUEST", "register-store needs a store {id, raftAddress, clientAddress, respAddress}");
      }
      return { action: "register-store", store };
    }
    default:
      throw new UkvError("BAD_REQUEST", `Unknown store admin action: ${String(request.action)}`);
  }
}

function errorResponse(id: number, error: unknown): KvResponse {
  if (isUkvError(error, "CLOSED") || isUkvError(error, "DISK_FULL") || isUkvError(error, "IO_ERROR")) {
    return makeKvResponse(id, "UNAVAILABLE", { message: error.message });
  }
  return kvResponseFromError(id, error);
}
