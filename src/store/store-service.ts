// The client API of a store (raw protocol; RESP reaches the same routing through the router):
//   GET/SET/DELETE/KEYED, shard 0 routed by the store: served by its own replica when that needs no
//                                hop (follower read of a shard held here, write to a shard led
//                                here), else sent to the shard's leader store, tagged with the shard
//   GET/SET/DELETE/KEYED, shard S served by this store's replica of S, or NOT_LEADER / WRONG_SHARD
//                                (no replica here) / STALE_EPOCH (a key is outside the range the
//                                replica owns now); never forwarded again, never applied for a key
//                                S does not own
//   STATUS, shard 0 / S          the store with every replica / the replica of S
//   ADMIN, shard 0               store administration: create a replica (add-replica's first step),
//                                the typed metadata writes (store reports, store registration,
//                                a shard id for a split's new shard)
//   ADMIN, shard S               membership administration of S, answered by its leader
//   TOPOLOGY                     the metadata group's topology (metadata stores only)
// Errors become protocol codes here.
import type { CachedLeader } from "../client/leader-cache.ts";
import type { RouteFields } from "../client/shard-routing.ts";
import type { RouterServer } from "../router/router-server.ts";
import type { KvRequest, KvResponse } from "../transport/kv-protocol.ts";
import { kvResponseFromError, makeKvResponse } from "../transport/kv-protocol.ts";
import type { StoreInfo, StoreReport } from "../transport/topology-wire.ts";
import { isUkvError, UkvError } from "../util/errors.ts";
import { metaGroupId } from "../meta/meta-service.ts";
import { parseAdminRequest, runAdminRequest, type AdminRequest } from "../node/admin.ts";
import { CommandOp } from "../node/command.ts";
import type { GroupRuntime, GroupSummary } from "../node/group-runtime.ts";
import { decodeKeyedTransaction, keysOfTransaction, withNow } from "../kv/keyed-commands.ts";
import { decodeMembership } from "../node/log-codec.ts";
import { decodeShardScanRequest, encodeShardScanPage, scanLayoutTag, type ShardScanRequest } from "../kv/shard-scan.ts";
import { encodeStoredValue, liveValue, storedValueHeaderSizeBytesMax, ValueType, wrongTypeMessage } from "../kv/stored-value.ts";
import { keyHash } from "../ring/key-hash.ts";
import { loadSampleStride } from "./load-sample.ts";
import type { Store } from "./store.ts";

const encoder = new TextEncoder();
/** Mixed into scan layouts (see #scan): differs between processes. */
const layoutNonce = Math.floor(Math.random() * 2 ** 40);
const decoder = new TextDecoder();

/** Store-level admin requests (ADMIN with shard 0), JSON in the request value. */
export type StoreAdminRequest =
  | { action: "create-replica"; shardId: number; membership: unknown }
  | { action: "meta-report"; report: StoreReport }
  | { action: "register-store"; store: StoreInfo }
  | { action: "allocate-shard-id"; token: string }
  | { action: "set-drain"; storeId: number; draining: boolean };

export class StoreService {
  readonly #store: Store;
  #router: RouterServer | null = null;
  /** Key operations served here: one in loadSampleStride is sampled for load-based splits. */
  #accessCount = 0;

  constructor(store: Store) {
    this.#store = store;
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
          return makeKvResponse(request.id, "OK", { statusJson: JSON.stringify(await this.#shardAdmin(shardId, parseAdminRequest(request.value))) });
        case "BATCH_SET":
          return await this.#batchSet(shardId, request);
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
    // Cheap checks only: this runs for every request the store's router sees.
    if (runtime === null || runtime.isRemoved()) return null;
    const followerRead = request.op === "GET" && !request.linearizable;
    if (!followerRead && !runtime.isLeader()) return null;
    // serveLocal still checks the key against the replica's own range: the router's topology
    // may trail a split, and the parent's table no longer holds the keys that moved.
    return this.serveLocal(shardId, { ...request, id: 0 });
  }

  knowsLeader(shardId: number): boolean {
    const runtime = this.#store.replica(shardId);
    return runtime !== null && runtime.leaderId() !== 0 && !runtime.isRemoved();
  }

  /** Resolves when this store's replica of `shardId` learns of a leader, or after timeoutMs. */
  waitForLeader(shardId: number, timeoutMs: number): Promise<void> {
    return this.#store.waitForLeader(shardId, timeoutMs);
  }

  /** The leader this store's replica of `shardId` follows (another store), or null. */
  leaderOf(shardId: number): CachedLeader | null {
    const runtime = this.#store.replica(shardId);
    if (runtime === null || runtime.isLeader()) return null;
    const leaderId = runtime.leaderId();
    if (leaderId === 0) return null;
    const address = runtime.memberClientAddress(leaderId);
    return address === null ? null : { memberId: leaderId, address, term: runtime.currentTerm() };
  }

  /** A GET, SET, DELETE or KEYED for shard `shardId`, served by this store's replica of it. */
  async serveLocal(shardId: number, request: KvRequest): Promise<KvResponse> {
    try {
      const runtime = this.#replicaOf(shardId);
      if (request.op === "SCAN") return makeKvResponse(request.id, "OK", { value: this.#scan(runtime, decodeShardScanRequest(request.value)) });
      if (request.op === "FLUSH") {
        // A FLUSH names no key: the whole shard, whatever its range.
        await runtime.write(CommandOp.Flush, new Uint8Array(0), new Uint8Array(0), []);
        return makeKvResponse(request.id, "OK");
      }
      // The replica's own range decides, not this store's view of the topology (which trails a
      // split): a key it does not own is STALE_EPOCH, and a write is checked again when applied.
      const keyed = request.op === "KEYED" ? decodeKeyedTransaction(request.value) : null;
      const keys = keyed === null ? [request.key] : keysOfTransaction(keyed);
      for (const key of keys) if (!runtime.ownsKey(key)) throw runtime.staleRangeError(key);
      if (++this.#accessCount % loadSampleStride === 0 && keys[0] !== undefined) this.#store.sampleLoad(shardId, keyHash(keys[0]));
      switch (request.op) {
        case "GET": {
          const stored = request.linearizable ? await runtime.readLinearizable(request.key) : runtime.read(request.key);
          this.#store.countKeysRead(shardId, 1);
          const value = liveValue(stored, Date.now());
          if (value === null) return makeKvResponse(request.id, "NOT_FOUND");
          // A list or hash is no string: GET answers as Redis does (MGET and EXISTS map it).
          if (value.type !== ValueType.String) return makeKvResponse(request.id, "WRONG_TYPE", { message: wrongTypeMessage });
          return makeKvResponse(request.id, "OK", { value: value.payload });
        }
        case "SET":
          await runtime.write(CommandOp.Set, request.key, encodeStoredValue(request.value, null));
          return makeKvResponse(request.id, "OK");
        case "DELETE":
          await runtime.write(CommandOp.Delete, request.key, new Uint8Array(0));
          return makeKvResponse(request.id, "OK");
        case "KEYED": {
          // The leader's clock, fixed now: every replica runs the transaction with this "now".
          const result = await runtime.write(CommandOp.Keyed, request.key, withNow(request.value, Date.now()), keys);
          return makeKvResponse(request.id, "OK", { value: result });
        }
        default:
          return makeKvResponse(request.id, "BAD_REQUEST", { message: `${request.op} is not a key operation` });
      }
    } catch (error) {
      return errorResponse(request.id, error);
    }
  }

  /**
   * A BATCH_SET for shard `shardId` (the protocol checked its limits and that it names a shard):
   * proposed whole by this store's replica if it leads, else NOT_LEADER. Every key must be in the
   * replica's range, or the whole batch is STALE_EPOCH: a batch is never split or forwarded.
   */
  async #batchSet(shardId: number, request: KvRequest): Promise<KvResponse> {
    const runtime = this.#replicaOf(shardId);
    // Stored values carry their header (kv/stored-value.ts): a loaded key never expires.
    await runtime.writeBatch(request.batchKeys ?? [], (request.batchValues ?? []).map((value) => encodeStoredValue(value, null)));
    return makeKvResponse(request.id, "OK");
  }

  /**
   * A page of the leader's table walk (the leader's: a cursor is only valid on one replica's
   * table). A cursor whose tag is not that of its segment's layout (the segment split or rehashed,
   * or another leader answers) walks again from that segment's start: it starts at or before the
   * cursor's, so a key present throughout is still returned (maybe twice, as SCAN allows).
   */
  #scan(runtime: GroupRuntime, request: ShardScanRequest): Uint8Array {
    if (!runtime.isLeader()) throw runtime.notLeaderError();
    const walk = (slot: number) => runtime.table.scan(slot, request.slotCountMax, request.entryCountMax, storedValueHeaderSizeBytesMax);
    let page = walk(request.randomStart ? runtime.table.positionAtFraction(Math.random()) : request.slot);
    if (!request.randomStart && request.layoutTag !== 0 && scanLayoutTag(this.#cursorLayout(page.startLayout)) !== request.layoutTag && page.startSegment !== request.slot) {
      page = walk(page.startSegment);
    }
    const nowMs = Date.now();
    const keys: Uint8Array[] = [];
    const types: ValueType[] = [];
    page.keys.forEach((key, index) => {
      const value = liveValue(page.values[index] ?? null, nowMs);
      // A list's chunks are part of its value, not keys (kv/list-store.ts).
      if (value === null || value.type === ValueType.ListChunk) return;
      keys.push(key);
      types.push(value.type);
    });
    return encodeShardScanPage({ layout: this.#cursorLayout(page.layout), next: page.next, capacity: page.capacity, keyCount: runtime.table.count(), keys, types });
  }

  /**
   * A table layout as cursors see it. The layout number restarts with the process: mixed with this
   * process's nonce, a cursor from a previous leader (or incarnation) is never taken for one of this table's.
   */
  #cursorLayout(layout: number): number {
    return (layout * 1_000_003 + layoutNonce) % 2 ** 48;
  }

  /**
   * A shard's admin request on its leader. A split whose child id this store already hosts (or is
   * creating) is a resend whose first answer was lost with a leader: splitting again would give
   * the same id to a second range, so it is refused, and the admin command reports it.
   */
  async #shardAdmin(shardId: number, admin: AdminRequest): Promise<Record<string, unknown>> {
    const runtime = this.#replicaOf(shardId);
    if (admin.action === "split" && (this.#store.replica(admin.childId) !== null || runtime.splitPending())) {
      throw new UkvError("BAD_REQUEST", `Shard ${shardId} already split off shard ${admin.childId} (or is creating it): see ukv status`);
    }
    if (admin.action === "split" && admin.at === "load") {
      const range = runtime.range();
      const at = range === null ? null : this.#store.loadSplitPoint(shardId, range);
      if (at === null) {
        throw new UkvError("BAD_REQUEST", `Shard ${shardId}'s sampled load has no cut with load on both sides (too few accesses seen here, or all on one key): not split`);
      }
      return runAdminRequest(runtime, { ...admin, at });
    }
    return runAdminRequest(runtime, admin);
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
      case "set-drain":
        await this.#metaLeader().setDraining(admin.storeId, admin.draining);
        return makeKvResponse(request.id, "OK");
      case "allocate-shard-id":
        return makeKvResponse(request.id, "OK", { statusJson: JSON.stringify({ shardId: await this.#metaLeader().allocateShardId(admin.token) }) });
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
    case "set-drain":
      if (!Number.isSafeInteger(request.storeId) || (request.storeId as number) <= 0 || typeof request.draining !== "boolean") throw new UkvError("BAD_REQUEST", "set-drain needs a positive storeId and draining true or false");
      return { action: "set-drain", storeId: request.storeId as number, draining: request.draining };
    case "allocate-shard-id":
      if (typeof request.token !== "string" || !/^[0-9a-zA-Z-]{8,64}$/.test(request.token)) throw new UkvError("BAD_REQUEST", "allocate-shard-id needs a token of 8..64 letters, digits or dashes");
      return { action: "allocate-shard-id", token: request.token };
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
