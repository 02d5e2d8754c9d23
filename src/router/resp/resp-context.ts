// What RESP commands run against: the router's routing (RespBackend: the same health gate and
// per-shard queues as the raw listener), the connection's session (protocol, name, read mode,
// MULTI/WATCH state), the listener's counters (for INFO). Also the mapping of routing answers to
// RESP errors, which docs/resp.md documents. Read-modify-write commands hold no lock here: each is
// one command in its shard's log (resp-keyed.ts).
import type { RouteFields } from "../../client/shard-routing.ts";
import type { KeyedReply, KeyedStep, KeyedWatch } from "../../kv/keyed-commands.ts";
import { checkKvRequest, type KvResponse } from "../../transport/kv-protocol.ts";
import { assert } from "../../util/assert.ts";
import type { RouterView } from "../router-server.ts";
import { errorReply, type RespProtocol, type RespReply } from "./resp-encoder.ts";

export interface RespBackend {
  /** One GET, SET or DELETE through the router's gate and shard queue; never rejects. */
  route(request: RouteFields): Promise<KvResponse>;
  shardIdOf(key: Uint8Array): number;
  /** A request for a whole shard (SCAN, FLUSH) to its leader, through the same gate and queue; never rejects. */
  routeShard(shardId: number, request: RouteFields): Promise<KvResponse>;
  /** The shards of the current topology, by id. */
  shardIds(): number[];
  view(): RouterView;
  /** Bytes held by the tables of the replicas in this process (a store); absent in a router, which holds none. */
  tableBytesUsed?(): number;
}

export type ReadMode = "follower" | "linearizable";

export interface RespSession {
  id: number;
  protocol: RespProtocol;
  name: string | null;
  libName: string | null;
  libVersion: string | null;
  readMode: ReadMode;
  /** Set by QUIT: the connection closes once this command's reply is written. */
  closeAfterReply: boolean;
  /** Between MULTI and EXEC/DISCARD: the queued commands; dirty after a command refused while queueing. */
  multi: { parts: TransactionPart[]; dirty: boolean } | null;
  /** WATCHed keys (latin1 name) with their stored bytes when watched; EXEC checks them in its log entry. */
  watches: Map<string, KeyedWatch>;
  /** The password the server requires (null: none). */
  requirepass: string | null;
  /** AUTH (or HELLO AUTH) succeeded, or no password is required. */
  authenticated: boolean;
}

/** A command inside MULTI/EXEC: its steps in the transaction's one log entry, and its reply from theirs. */
export interface TransactionPart {
  steps: KeyedStep[];
  reply(replies: readonly KeyedReply[]): RespReply;
}

export function newSession(id: number, requirepass: string | null = null): RespSession {
  return { id, protocol: 2, name: null, libName: null, libVersion: null, readMode: "follower", closeAfterReply: false, multi: null, watches: new Map(), requirepass, authenticated: requirepass === null };
}

export interface RespServerStats {
  /** Date.now() at start, for uptime. */
  startedAtMs: number;
  port: number;
  connectionCount: number;
  connectionCountTotal: number;
  commandCountTotal: number;
  rejectedConnectionCountTotal: number;
  /** Reads of an existing key by GET, MGET, EXISTS (INFO keyspace_hits); counted by the data commands. */
  keyspaceHitCountTotal?: number;
  /** Reads of a missing key by GET, MGET, EXISTS (INFO keyspace_misses). */
  keyspaceMissCountTotal?: number;
  /** Commands answered by the read pool's Workers themselves (INFO ukv_pool_reads); absent without a pool. */
  poolReadCountTotal?: number;
}

export interface CommandContext {
  backend: RespBackend;
  session: RespSession;
  stats: RespServerStats;
  /** GETs of this command go through the leader: READMODE linearizable, or the key has a write pending on this connection. */
  linearizable: boolean;
}

export interface CommandSpec {
  /** Lower case. */
  name: string;
  /** Redis convention, counting the name: N exactly, -N at least N. */
  arity: number;
  flags: readonly string[];
  /** Key positions (Redis convention): first, last (-1 = to the end), step; 0 = no keys. */
  firstKeyIndex: number;
  lastKeyIndex: number;
  keyStep: number;
  /** Changes data: later commands of the connection on the same keys wait for it. */
  write: boolean;
  group: string;
  summary: string;
  run(context: CommandContext, args: readonly Uint8Array[]): RespReply | Promise<RespReply>;
  /** How the command runs inside MULTI/EXEC (an error reply: it answers that error in EXEC's array). Absent: refused inside MULTI. */
  transaction?(args: readonly Uint8Array[]): TransactionPart | RespReply;
}

/** The keys of `args` as the spec names them (for per-connection ordering). */
export function keysOf(spec: CommandSpec, args: readonly Uint8Array[]): Uint8Array[] {
  if (spec.firstKeyIndex === 0) return [];
  const lastIndex = spec.lastKeyIndex < 0 ? args.length + spec.lastKeyIndex : spec.lastKeyIndex;
  const keys: Uint8Array[] = [];
  for (let index = spec.firstKeyIndex; index <= lastIndex && index < args.length; index += spec.keyStep) {
    const key = args[index];
    assert(key !== undefined, "key indexes are within the arguments");
    keys.push(key);
  }
  return keys;
}

/**
 * A routing answer that is not OK (nor NOT_FOUND for a read) as a RESP error:
 * SHARD_UNAVAILABLE -> CLUSTERDOWN (the FR1.3 text "shard N unavailable: no quorum");
 * TIMEOUT, UNAVAILABLE, UNREACHABLE, NOT_LEADER -> TRYAGAIN (transient; a write may or may not have
 * been applied); KEY_TOO_LARGE, VALUE_TOO_LARGE, BAD_REQUEST, INTERNAL -> ERR.
 */
export function replyFromKvError(response: KvResponse): RespReply {
  const detail = response.message === "" ? response.code : response.message;
  switch (response.code) {
    case "SHARD_UNAVAILABLE":
      return errorReply(`CLUSTERDOWN ${detail}`);
    case "TIMEOUT":
    case "UNAVAILABLE":
    case "UNREACHABLE":
    case "NOT_LEADER":
      return errorReply(`TRYAGAIN ${response.code}: ${detail}`);
    case "KEY_TOO_LARGE":
    case "VALUE_TOO_LARGE":
    case "BAD_REQUEST":
      return errorReply(`ERR ${detail}`);
    case "WRONG_TYPE":
      // The message is Redis's own line, "WRONGTYPE Operation against ...".
      return errorReply(detail);
    default:
      return errorReply(`ERR ${response.code}: ${detail}`);
  }
}

/** The protocol's own checks (empty or oversized key or value) first, then the router. */
export function send(context: CommandContext, fields: RouteFields): Promise<KvResponse> {
  const refused = checkKvRequest({ ...fields, id: 0 });
  if (refused !== null) return Promise.resolve(refused);
  return context.backend.route(fields);
}

/** A map key for raw bytes: latin1 maps each byte to one char, so distinct keys stay distinct. */
export function keyName(key: Uint8Array): string {
  return Buffer.from(key.buffer, key.byteOffset, key.byteLength).toString("latin1");
}

/** Runs `task` over `items` with at most `inflightCountMax` at once; results in item order. */
export async function mapBounded<T, R>(items: readonly T[], inflightCountMax: number, task: (item: T) => Promise<R>): Promise<R[]> {
  assert(inflightCountMax > 0, "at least one task runs at a time");
  const results = new Array<R>(items.length);
  let nextIndex = 0;
  const worker = async (): Promise<void> => {
    while (nextIndex < items.length) {
      const index = nextIndex++;
      results[index] = await task(items[index] as T);
    }
  };
  const workers: Promise<void>[] = [];
  for (let index = 0; index < Math.min(inflightCountMax, items.length); index++) workers.push(worker());
  await Promise.all(workers);
  return results;
}
