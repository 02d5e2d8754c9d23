// The RESP data commands: GET, SET (NX, XX, GET; no TTL), DEL, EXISTS, MGET, MSET, DBSIZE. Each
// key is one routed request (the router's per-member pipelining batches them per shard); a
// multi-key command routes at most respMultiKeyInflightCountMax keys at once. Multi-key commands
// are not atomic across shards (nor across keys of one shard): on an error some keys may be done.
// SET NX/XX/GET and DEL read the key through the leader first (DEL to count what it removed),
// under the router's key lock.
import { respMultiKeyInflightCountMax } from "../../util/limits.ts";
import { keyName, mapBounded, replyFromKvError, send, type CommandContext, type CommandSpec } from "./resp-context.ts";
import { arrayReply, bulkReply, errorReply, integerReply, nullBulkReply, okReply, type RespReply } from "./resp-encoder.ts";

const emptyBytes = new Uint8Array(0);

type ReadResult = { value: Uint8Array | null } | { error: RespReply };

async function readKey(context: CommandContext, key: Uint8Array, linearizable: boolean): Promise<ReadResult> {
  const response = await send(context, { op: "GET", key, value: emptyBytes, linearizable });
  if (response.code === "OK") return { value: response.value };
  if (response.code === "NOT_FOUND") return { value: null };
  return { error: replyFromKvError(response) };
}

/** A read a client asked for (GET, MGET, EXISTS): counted as a keyspace hit or miss for INFO, as Redis does. */
async function lookupKey(context: CommandContext, key: Uint8Array): Promise<ReadResult> {
  const result = await readKey(context, key, context.linearizable);
  const { stats } = context;
  if ("value" in result) {
    if (result.value === null) stats.keyspaceMissCountTotal = (stats.keyspaceMissCountTotal ?? 0) + 1;
    else stats.keyspaceHitCountTotal = (stats.keyspaceHitCountTotal ?? 0) + 1;
  }
  return result;
}

async function writeKey(context: CommandContext, op: "SET" | "DELETE", key: Uint8Array, value: Uint8Array): Promise<RespReply | null> {
  const response = await send(context, { op, key, value, linearizable: false });
  return response.code === "OK" ? null : replyFromKvError(response);
}

async function get(context: CommandContext, args: readonly Uint8Array[]): Promise<RespReply> {
  const result = await lookupKey(context, args[1] ?? emptyBytes);
  return "error" in result ? result.error : bulkReply(result.value);
}

interface SetOptions {
  condition: "always" | "absent" | "present";
  returnOld: boolean;
}

/** The options of SET, or the error to answer. */
export function parseSetOptions(args: readonly Uint8Array[]): SetOptions | RespReply {
  const options: SetOptions = { condition: "always", returnOld: false };
  for (let index = 3; index < args.length; index++) {
    const word = keyName(args[index] ?? emptyBytes).toUpperCase();
    if (word === "NX" || word === "XX") {
      if (options.condition !== "always") return errorReply("ERR syntax error");
      options.condition = word === "NX" ? "absent" : "present";
    } else if (word === "GET") {
      options.returnOld = true;
    } else if (word === "KEEPTTL") {
      // No key has a TTL, so keeping it is what happens anyway.
    } else if (word === "EX" || word === "PX" || word === "EXAT" || word === "PXAT") {
      return errorReply(`ERR not supported: SET ${word} (ukv has no key expiry yet)`);
    } else {
      return errorReply("ERR syntax error");
    }
  }
  return options;
}

async function set(context: CommandContext, args: readonly Uint8Array[]): Promise<RespReply> {
  const key = args[1] ?? emptyBytes;
  const value = args[2] ?? emptyBytes;
  const options = parseSetOptions(args);
  if ("type" in options) return options;
  if (options.condition === "always" && !options.returnOld) return (await writeKey(context, "SET", key, value)) ?? okReply;
  return context.keyLocks.run(key, async () => {
    const old = await readKey(context, key, true);
    if ("error" in old) return old.error;
    const skipped = (options.condition === "absent" && old.value !== null) || (options.condition === "present" && old.value === null);
    if (!skipped) {
      const failed = await writeKey(context, "SET", key, value);
      if (failed !== null) return failed;
    }
    if (options.returnOld) return bulkReply(old.value);
    return skipped ? nullBulkReply : okReply;
  });
}

/** The first error among `results`, else null. */
function firstError(results: readonly ReadResult[]): RespReply | null {
  for (const result of results) if ("error" in result) return result.error;
  return null;
}

async function del(context: CommandContext, args: readonly Uint8Array[]): Promise<RespReply> {
  const keys = args.slice(1);
  const results = await mapBounded(keys, respMultiKeyInflightCountMax, (key) =>
    context.keyLocks.run(key, async (): Promise<ReadResult> => {
      const old = await readKey(context, key, true);
      if ("error" in old) return old;
      const failed = await writeKey(context, "DELETE", key, emptyBytes);
      return failed === null ? old : { error: failed };
    }),
  );
  return firstError(results) ?? integerReply(results.filter((result) => "value" in result && result.value !== null).length);
}

async function readMany(context: CommandContext, keys: readonly Uint8Array[]): Promise<ReadResult[]> {
  return mapBounded(keys, respMultiKeyInflightCountMax, (key) => lookupKey(context, key));
}

async function exists(context: CommandContext, args: readonly Uint8Array[]): Promise<RespReply> {
  const results = await readMany(context, args.slice(1));
  return firstError(results) ?? integerReply(results.filter((result) => "value" in result && result.value !== null).length);
}

async function mget(context: CommandContext, args: readonly Uint8Array[]): Promise<RespReply> {
  const results = await readMany(context, args.slice(1));
  return firstError(results) ?? arrayReply(results.map((result) => bulkReply("value" in result ? result.value : null)));
}

async function mset(context: CommandContext, args: readonly Uint8Array[]): Promise<RespReply> {
  if (args.length % 2 !== 1) return errorReply("ERR wrong number of arguments for 'mset' command");
  const pairIndexes: number[] = [];
  for (let index = 1; index < args.length; index += 2) pairIndexes.push(index);
  const failures = await mapBounded(pairIndexes, respMultiKeyInflightCountMax, (index) => writeKey(context, "SET", args[index] ?? emptyBytes, args[index + 1] ?? emptyBytes));
  return failures.find((failure) => failure !== null) ?? okReply;
}

/** Keys over all shards: each shard's leader count (else the highest a member reported), as of the last health probe. */
export function dbSize(context: CommandContext): number {
  let keyCount = 0;
  for (const shard of context.backend.view().shards) {
    const leader = shard.members.find((member) => member.id === shard.leader?.memberId && member.keyCount !== null);
    keyCount += leader?.keyCount ?? Math.max(0, ...shard.members.map((member) => member.keyCount ?? 0));
  }
  return keyCount;
}

const keyed = { firstKeyIndex: 1, lastKeyIndex: 1, keyStep: 1 } as const;
const allKeys = { firstKeyIndex: 1, lastKeyIndex: -1, keyStep: 1 } as const;

export const dataCommands: readonly CommandSpec[] = [
  { name: "get", arity: 2, flags: ["readonly", "fast"], ...keyed, write: false, group: "string", summary: "Returns the value of a key (follower read unless CLIENT READMODE linearizable)", run: get },
  { name: "set", arity: -3, flags: ["write", "denyoom"], ...keyed, write: true, group: "string", summary: "Sets a key after commit on its shard (NX, XX, GET; no expiry)", run: set },
  { name: "del", arity: -2, flags: ["write"], ...allKeys, write: true, group: "keyspace", summary: "Deletes keys, returns how many existed (not atomic across keys)", run: del },
  { name: "exists", arity: -2, flags: ["readonly", "fast"], ...allKeys, write: false, group: "keyspace", summary: "Counts the given keys that exist", run: exists },
  { name: "mget", arity: -2, flags: ["readonly", "fast"], ...allKeys, write: false, group: "string", summary: "Returns the values of keys", run: mget },
  { name: "mset", arity: -3, flags: ["write", "denyoom"], firstKeyIndex: 1, lastKeyIndex: -1, keyStep: 2, write: true, group: "string", summary: "Sets keys (split per shard, not atomic across shards)", run: mset },
  { name: "dbsize", arity: 1, flags: ["readonly", "fast"], firstKeyIndex: 0, lastKeyIndex: 0, keyStep: 0, write: false, group: "server", summary: "Keys over all shards, as of the last health probe", run: (context) => integerReply(dbSize(context)) },
];
