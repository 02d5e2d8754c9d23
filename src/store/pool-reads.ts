// What a read-pool Worker answers by itself (FR3.2): GET, MGET and EXISTS of keys whose shard has a
// replica on this store, read from that replica's table (the Swiss table's shared_mutex lets every
// Worker read while the Raft thread applies). Anything else, or any doubt, is not answered here:
// the command goes to the Raft thread, which answers it as it always did.
//
// The routing (which replicas, their ranges and table epochs) comes from the Raft thread by
// message and may trail it; correctness does not depend on it being fresh: the native read route
// (storage/read-route.ts) checks each table's epoch against the one the routing was built at, under
// the table's read lock, and refuses a key once a split moved keys out, a snapshot replaced the
// content, or the replica closed. A table freed by the Raft thread stays allocated while a route
// holds it, so a late reader finds it retired, never freed.
//
// Pipelined GETs (answerGets) go through one native call per run of GETs and are written to the
// connection's RESP writer straight from the route's value buffer: no object per key.
import { livePayloadStart, payloadExpired } from "../kv/stored-value.ts";
import { keyHash } from "../ring/key-hash.ts";
import { arrayReply, bulkReply, integerReply, type RespProtocol, type RespReply, type RespWriter } from "../router/resp/resp-encoder.ts";
import { ReadRoute, type RouteLookup } from "../storage/read-route.ts";
import { keySizeBytesMax } from "../util/limits.ts";
import { loadSampleCountMax, loadSampleStride } from "./load-sample.ts";

/** One data replica of the store, as the Raft thread saw it (read-pool-wire.ts carries it). */
export interface PoolReplica {
  shardId: number;
  tableId: number;
  start: bigint;
  end: bigint;
  /** Table.epoch() when this was taken, in the same Raft-thread turn as the range. */
  epoch: number;
}

export interface PoolReadCounts {
  hits: number;
  misses: number;
  /** Commands answered, by name. */
  get: number;
  mget: number;
  exists: number;
  /** GETs of the raw client protocol: routed by this store (shard 0), and naming a shard (smart clients, other stores). */
  kvGet: number;
  kvShardGet: number;
}

/** Keys of one MGET/EXISTS answered here at most (longer ones go to the Raft thread). */
export const poolReadKeyCountMax = 1024;

const getName = 0x676574; // "get"

export class PoolReads {
  #replicas: readonly PoolReplica[] = [];
  #route: ReadRoute | null = null;
  readonly counts: PoolReadCounts = { hits: 0, misses: 0, get: 0, mget: 0, exists: 0, kvGet: 0, kvShardGet: 0 };
  /** Keys read per shard since the last stats message (the coordinator's load-based splits). */
  readonly keysReadByShard = new Map<number, number>();
  /** One in loadSampleStride keys read, by hash, per shard since the last stats message (at most loadSampleCountMax each). */
  readonly hashesByShard = new Map<number, bigint[]>();
  #readCount = 0;

  /** Replaces the routing (a new native route; the old one drops its table references). */
  setRouting(replicas: readonly PoolReplica[]): void {
    const route = ReadRoute.create(replicas);
    this.#route?.close();
    this.#route = route;
    this.#replicas = replicas.map((replica) => ({ ...replica }));
  }

  get replicaCount(): number {
    return this.#replicas.length;
  }

  close(): void {
    this.#route?.close();
    this.#route = null;
    this.#replicas = [];
  }

  /**
   * The reply to `args` if this thread can give it now (a follower read, FR4.3), else null.
   * `args[0]` is the command name, any case.
   */
  answer(args: readonly Uint8Array[], nowMs: number): RespReply | null {
    const kind = commandKind(args[0]);
    if (kind === null) return null;
    if (kind === "get") {
      if (args.length !== 2) return null;
      const values = this.#read(args.slice(1), nowMs);
      if (values === null) return null;
      this.counts.get++;
      return bulkReply(values[0] ?? null);
    }
    if (args.length < 2 || args.length - 1 > poolReadKeyCountMax) return null;
    const values = this.#read(args.slice(1), nowMs);
    if (values === null) return null;
    this.counts[kind]++;
    if (kind === "mget") return arrayReply(values.map((value) => bulkReply(value)));
    return integerReply(values.filter((value) => value !== null).length);
  }

  /** True when `args` is a GET of one key: what answerGets takes. */
  static isGet(args: readonly Uint8Array[]): boolean {
    return args.length === 2 && commandKind(args[0]) === "get";
  }

  /**
   * Answers the GETs of `keys` in order, writing each reply to `writer`, up to the first one this
   * thread cannot answer; returns how many it answered (the rest go to the Raft thread in order).
   */
  answerGets(keys: readonly Uint8Array[], nowMs: number, writer: RespWriter, protocol: RespProtocol): number {
    if (this.#route === null) return 0;
    let count = 0;
    while (count < keys.length && (keys[count] as Uint8Array).byteLength <= keySizeBytesMax) count++;
    if (count === 0) return 0;
    const found = this.#route.lookUp(count === keys.length ? keys : keys.slice(0, count));
    let offset = 0;
    for (let index = 0; index < count; index++) {
      const start = livePayloadAt(found, index, offset, nowMs);
      if (start === cannotAnswer) return this.#answered(index, found, keys);
      const end = (offset += Math.max(0, found.sizes[index] as number));
      if (start === noPayload) {
        writer.writeNullBulk(protocol);
        this.counts.misses++;
      } else {
        writer.writeBulkRange(found.bytes, start, end);
        this.counts.hits++;
      }
    }
    return this.#answered(count, found, keys);
  }

  /**
   * A GET of the raw client protocol: the live payload, null when absent or expired, or undefined
   * when this thread cannot answer (no replica here owns the key, the request names another shard,
   * a stale epoch, an undecodable value): the Raft thread answers that one.
   */
  readKey(key: Uint8Array, shardId: number, nowMs: number): Uint8Array | null | undefined {
    if (key.byteLength > keySizeBytesMax || this.#route === null) return undefined;
    const found = this.#route.lookUp([key]);
    const owner = this.#replicas[found.owners[0] as number];
    if (owner === undefined || (shardId !== 0 && owner.shardId !== shardId)) return undefined;
    const live = payloadOf(found, 0, 0, nowMs);
    if (live === undefined) return undefined;
    if (shardId === 0) this.counts.kvGet++;
    else this.counts.kvShardGet++;
    this.#countKeysRead(owner.shardId, key);
    return live;
  }

  /** Counts the GETs answerGets answered (the first `answered` of `keys`) and returns how many. */
  #answered(answered: number, found: RouteLookup, keys: readonly Uint8Array[]): number {
    this.counts.get += answered;
    for (let index = 0; index < answered; index++) {
      this.#countKeysRead((this.#replicas[found.owners[index] as number] as PoolReplica).shardId, keys[index] as Uint8Array);
    }
    return answered;
  }

  /** The live payloads of `keys` (null: absent or expired), or null if any key cannot be read here. */
  #read(keys: Uint8Array[], nowMs: number): (Uint8Array | null)[] | null {
    if (this.#route === null) return null;
    for (const key of keys) if (key.byteLength > keySizeBytesMax) return null; // the Raft thread gives the error
    const found = this.#route.lookUp(keys);
    const values: (Uint8Array | null)[] = [];
    let offset = 0;
    for (let index = 0; index < keys.length; index++) {
      const live = payloadOf(found, index, offset, nowMs);
      if (live === undefined) return null;
      values.push(live);
      offset += Math.max(0, found.sizes[index] as number);
    }
    for (const value of values) {
      if (value === null) this.counts.misses++;
      else this.counts.hits++;
    }
    keys.forEach((key, index) => this.#countKeysRead((this.#replicas[found.owners[index] as number] as PoolReplica).shardId, key));
    return values;
  }

  #countKeysRead(shardId: number, key: Uint8Array): void {
    this.keysReadByShard.set(shardId, (this.keysReadByShard.get(shardId) ?? 0) + 1);
    if (++this.#readCount % loadSampleStride !== 0) return;
    let hashes = this.hashesByShard.get(shardId);
    if (hashes === undefined) this.hashesByShard.set(shardId, (hashes = []));
    if (hashes.length < loadSampleCountMax) hashes.push(keyHash(key));
  }
}

/** livePayloadAt: the key is absent or expired. */
const noPayload = -1;
/**
 * livePayloadAt: this thread must not answer: not here, a list or hash (GET answers WRONGTYPE,
 * MGET nil, by the Raft thread's rules), or a value it cannot decode (the Raft thread reports it).
 */
const cannotAnswer = -2;

/**
 * Where the live string payload of key `index` of a lookup (its value at `offset`) starts in
 * found.bytes (it ends where the value does), or noPayload, or cannotAnswer.
 */
function livePayloadAt(found: RouteLookup, index: number, offset: number, nowMs: number): number {
  const size = found.sizes[index] as number;
  if (size === ReadRoute.absent) return noPayload;
  if (size < 0) return cannotAnswer;
  const start = livePayloadStart(found.bytes, found.view, offset, size, nowMs);
  if (start === payloadExpired) return noPayload;
  return start < 0 ? cannotAnswer : start;
}

/** livePayloadAt's payload as a copy; null when absent or expired; undefined when this thread must not answer. */
function payloadOf(found: RouteLookup, index: number, offset: number, nowMs: number): Uint8Array | null | undefined {
  const start = livePayloadAt(found, index, offset, nowMs);
  if (start === cannotAnswer) return undefined;
  return start === noPayload ? null : found.bytes.slice(start, offset + (found.sizes[index] as number));
}

/** get / mget / exists (any case), else null: compared on the bytes, no string per command. */
function commandKind(name: Uint8Array | undefined): "get" | "mget" | "exists" | null {
  if (name === undefined) return null;
  const lower = (index: number): number => (name[index] as number) | 0x20;
  if (name.byteLength === 3 && ((lower(0) << 16) | (lower(1) << 8) | lower(2)) === getName) return "get";
  if (name.byteLength === 4 && lower(0) === 0x6d && lower(1) === 0x67 && lower(2) === 0x65 && lower(3) === 0x74) return "mget";
  if (name.byteLength === 6 && String.fromCharCode(...Array.from(name, (byte) => byte | 0x20)) === "exists") return "exists";
  return null;
}
