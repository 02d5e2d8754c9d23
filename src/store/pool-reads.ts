// What a read-pool Worker answers by itself (FR3.2): GET, MGET and EXISTS of keys whose shard has a
// replica on this store, read from that replica's table through its own native handle (the Swiss
// table's shared_mutex lets every Worker read while the Raft thread applies). Anything else, or any
// doubt, is null: the command goes to the Raft thread, which answers it as it always did.
//
// The routing (which replicas, their ranges and table epochs) comes from the Raft thread by
// message and may trail it; correctness does not depend on it being fresh: every lookup names the
// epoch the routing was built at, and the native side refuses it (under the read lock) once a
// split moved keys out, a snapshot replaced the content, or the replica closed (Table.getManyAt).
// A table freed by the Raft thread stays alive while a Worker handle holds it (shared_ptr), so a
// late reader finds it retired, never freed.
import { liveValue, ValueType, type StoredValue } from "../kv/stored-value.ts";
import { keyHash } from "../ring/key-hash.ts";
import { arrayReply, bulkReply, integerReply, type RespReply } from "../router/resp/resp-encoder.ts";
import { Table } from "../storage/table.ts";
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

interface AttachedReplica extends PoolReplica {
  table: Table;
}

/** Keys of one MGET/EXISTS answered here at most (longer ones go to the Raft thread). */
export const poolReadKeyCountMax = 1024;

const getName = 0x676574; // "get"

export class PoolReads {
  #replicas: AttachedReplica[] = [];
  readonly counts: PoolReadCounts = { hits: 0, misses: 0, get: 0, mget: 0, exists: 0, kvGet: 0, kvShardGet: 0 };
  /** Keys read per shard since the last stats message (the coordinator's load-based splits). */
  readonly keysReadByShard = new Map<number, number>();
  /** One in loadSampleStride keys read, by hash, per shard since the last stats message (at most loadSampleCountMax each). */
  readonly hashesByShard = new Map<number, bigint[]>();
  #readCount = 0;

  /** Replaces the routing: attaches new tables, closes the handles of tables no longer listed. */
  setRouting(replicas: readonly PoolReplica[]): void {
    const byTable = new Map(this.#replicas.map((replica) => [replica.tableId, replica.table]));
    const next: AttachedReplica[] = [];
    for (const replica of replicas) {
      let table = byTable.get(replica.tableId) ?? null;
      if (table === null) {
        try {
          table = Table.attach(replica.tableId);
        } catch {
          continue; // closed since the routing was taken: its reads go to the Raft thread
        }
      } else {
        byTable.delete(replica.tableId);
      }
      next.push({ ...replica, table });
    }
    for (const table of byTable.values()) table.close();
    this.#replicas = next;
  }

  get replicaCount(): number {
    return this.#replicas.length;
  }

  close(): void {
    for (const replica of this.#replicas) replica.table.close();
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

  /**
   * A GET of the raw client protocol: the live payload, null when absent or expired, or undefined
   * when this thread cannot answer (no replica here owns the key, the request names another shard,
   * a stale epoch, an undecodable value): the Raft thread answers that one.
   */
  readKey(key: Uint8Array, shardId: number, nowMs: number): Uint8Array | null | undefined {
    if (key.byteLength > keySizeBytesMax || this.#replicas.length === 0) return undefined;
    const hash = keyHash(key);
    const owner = this.#ownerOf(hash);
    if (owner === null || (shardId !== 0 && owner.shardId !== shardId)) return undefined;
    const stored = owner.table.getManyAt(owner.epoch, [key]);
    if (stored === null) return undefined;
    const live = stringPayload(stored[0] ?? null, nowMs);
    if (live === undefined) return undefined;
    if (shardId === 0) this.counts.kvGet++;
    else this.counts.kvShardGet++;
    this.#countKeysRead(owner.shardId, hash);
    return live;
  }

  /** The live payloads of `keys` (null: absent or expired), or null if any key cannot be read here. */
  #read(keys: Uint8Array[], nowMs: number): (Uint8Array | null)[] | null {
    if (this.#replicas.length === 0) return null;
    const owners: AttachedReplica[] = [];
    const hashes: bigint[] = [];
    for (const key of keys) {
      if (key.byteLength > keySizeBytesMax) return null; // the Raft thread gives the error
      const hash = keyHash(key);
      const owner = this.#ownerOf(hash);
      if (owner === null) return null;
      owners.push(owner);
      hashes.push(hash);
    }
    const first = owners[0] as AttachedReplica;
    let stored: (Uint8Array | null)[] | null;
    if (owners.every((owner) => owner === first)) {
      stored = first.table.getManyAt(first.epoch, keys);
    } else {
      stored = [];
      for (const [index, owner] of owners.entries()) {
        const one = owner.table.getManyAt(owner.epoch, [keys[index] as Uint8Array]);
        if (one === null) return null;
        stored.push(one[0] ?? null);
      }
    }
    if (stored === null) return null;
    const values: (Uint8Array | null)[] = [];
    for (const bytes of stored) {
      const live = stringPayload(bytes, nowMs);
      if (live === undefined) return null;
      values.push(live);
    }
    for (const value of values) {
      if (value === null) this.counts.misses++;
      else this.counts.hits++;
    }
    owners.forEach((owner, index) => this.#countKeysRead(owner.shardId, hashes[index] as bigint));
    return values;
  }

  #countKeysRead(shardId: number, hash: bigint): void {
    this.keysReadByShard.set(shardId, (this.keysReadByShard.get(shardId) ?? 0) + 1);
    if (++this.#readCount % loadSampleStride !== 0) return;
    let hashes = this.hashesByShard.get(shardId);
    if (hashes === undefined) this.hashesByShard.set(shardId, (hashes = []));
    if (hashes.length < loadSampleCountMax) hashes.push(hash);
  }

  #ownerOf(hash: bigint): AttachedReplica | null {
    for (const replica of this.#replicas) if (hash >= replica.start && hash <= replica.end) return replica;
    return null;
  }
}

/**
 * A string's live payload, null when absent or expired, or undefined when this thread must not
 * answer: a list or hash (GET answers WRONGTYPE, MGET nil, by the Raft thread's rules) or a value
 * it cannot decode (the Raft thread reports it).
 */
function stringPayload(bytes: Uint8Array | null, nowMs: number): Uint8Array | null | undefined {
  let live: StoredValue | null;
  try {
    live = liveValue(bytes, nowMs);
  } catch {
    return undefined;
  }
  if (live === null) return null;
  return live.type === ValueType.String ? live.payload : undefined;
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
