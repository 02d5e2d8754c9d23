// The RESP data commands: GET, EXISTS, MGET (one routed read per key: follower reads unless the
// connection reads linearizably), STRLEN, TYPE, DBSIZE, and DEL, UNLINK, MSET: one keyed command per
// shard (resp-keyed.ts), so atomic among the keys of one shard, not across shards; on an error
// some shards may be done. At most respMultiKeyInflightCountMax requests of one command are routed
// at once. SET and the other read-modify-write commands are in resp-string-commands.ts.
import { ascii, ExpiryKind, KeyedOp, SetCondition, type KeyedReply, type KeyedStep } from "../../kv/keyed-commands.ts";
import { keyedStepCountMax, respMultiKeyInflightCountMax, valueSizeBytesMax } from "../../util/limits.ts";
import { mapBounded, replyFromKvError, send, type CommandContext, type CommandSpec, type TransactionPart } from "./resp-context.ts";
import { respFromKeyed, runKeyed, runOne } from "./resp-keyed.ts";
import { wrongTypeMessage } from "../../kv/stored-value.ts";
import { arrayReply, bulkReply, errorReply, integerReply, okReply, type RespReply } from "./resp-encoder.ts";

const emptyBytes = new Uint8Array(0);

/** `wrongType`: the key holds a list or hash (value null): GET and STRLEN answer WRONGTYPE, MGET nil, EXISTS counts it. */
type ReadResult = { value: Uint8Array | null; wrongType?: boolean } | { error: RespReply };

async function readKey(context: CommandContext, key: Uint8Array, linearizable: boolean): Promise<ReadResult> {
  const response = await send(context, { op: "GET", key, value: emptyBytes, linearizable });
  if (response.code === "OK") return { value: response.value };
  if (response.code === "NOT_FOUND") return { value: null };
  if (response.code === "WRONG_TYPE") return { value: null, wrongType: true };
  return { error: replyFromKvError(response) };
}

/** A read a client asked for (GET, MGET, EXISTS): counted as a keyspace hit or miss for INFO, as Redis does. */
async function lookupKey(context: CommandContext, key: Uint8Array): Promise<ReadResult> {
  const result = await readKey(context, key, context.linearizable);
  const { stats } = context;
  if ("value" in result) {
    if (result.value === null && result.wrongType !== true) stats.keyspaceMissCountTotal = (stats.keyspaceMissCountTotal ?? 0) + 1;
    else stats.keyspaceHitCountTotal = (stats.keyspaceHitCountTotal ?? 0) + 1;
  }
  return result;
}

const wrongTypeReply = errorReply(wrongTypeMessage);

async function get(context: CommandContext, args: readonly Uint8Array[]): Promise<RespReply> {
  const result = await lookupKey(context, args[1] ?? emptyBytes);
  if ("error" in result) return result.error;
  return result.wrongType === true ? wrongTypeReply : bulkReply(result.value);
}

/** The first error among `results`, else null. */
function firstError(results: readonly ReadResult[]): RespReply | null {
  for (const result of results) if ("error" in result) return result.error;
  return null;
}

/** Bytes a step adds to its keyed command (key, first argument, framing): chunks stay well under keyedCommandSizeBytesMax. */
function stepSizeBytes(step: KeyedStep): number {
  return step.key.byteLength + (step.args[0]?.byteLength ?? 0) + 64;
}

/** Steps of one shard, in chunks one log entry holds (a chunk is atomic; chunks of one shard apply in order). */
function chunksByShard(context: CommandContext, steps: readonly KeyedStep[]): KeyedStep[][] {
  const byShard = new Map<number, { chunks: KeyedStep[][]; lastSizeBytes: number }>();
  for (const step of steps) {
    const shardId = context.backend.shardIdOf(step.key);
    let shard = byShard.get(shardId);
    if (shard === undefined) byShard.set(shardId, (shard = { chunks: [[]], lastSizeBytes: 0 }));
    let last = shard.chunks[shard.chunks.length - 1] as KeyedStep[];
    const sizeBytes = stepSizeBytes(step);
    if (last.length >= keyedStepCountMax || (last.length > 0 && shard.lastSizeBytes + sizeBytes > valueSizeBytesMax)) {
      shard.chunks.push((last = []));
      shard.lastSizeBytes = 0;
    }
    last.push(step);
    shard.lastSizeBytes += sizeBytes;
  }
  return [...byShard.values()].flatMap((shard) => shard.chunks);
}

/** Runs steps over any shards: one keyed command per shard chunk; the replies in step order, or the first error. */
async function runByShard(context: CommandContext, steps: readonly KeyedStep[]): Promise<{ replies: KeyedReply[] } | { error: RespReply }> {
  const chunks = chunksByShard(context, steps);
  const results = await mapBounded(chunks, respMultiKeyInflightCountMax, (chunk) => runKeyed(context, chunk));
  const replyByStep = new Map<KeyedStep, KeyedReply>();
  for (const [index, result] of results.entries()) {
    if ("error" in result) return result;
    const chunk = chunks[index] as KeyedStep[];
    chunk.forEach((step, stepIndex) => replyByStep.set(step, result.replies[stepIndex] ?? { kind: "nil" }));
  }
  return { replies: steps.map((step) => replyByStep.get(step) ?? { kind: "nil" }) };
}

async function del(context: CommandContext, args: readonly Uint8Array[]): Promise<RespReply> {
  const result = await runByShard(context, args.slice(1).map((key) => ({ op: KeyedOp.Delete, key, args: [] })));
  if ("error" in result) return result.error;
  const firstErrorReply = result.replies.find((reply) => reply.kind === "error");
  if (firstErrorReply !== undefined) return respFromKeyed(firstErrorReply);
  return integerReply(result.replies.reduce((sum, reply) => sum + (reply.kind === "int" ? Number(reply.value) : 0), 0));
}

async function readMany(context: CommandContext, keys: readonly Uint8Array[]): Promise<ReadResult[]> {
  return mapBounded(keys, respMultiKeyInflightCountMax, (key) => lookupKey(context, key));
}

async function exists(context: CommandContext, args: readonly Uint8Array[]): Promise<RespReply> {
  const results = await readMany(context, args.slice(1));
  return firstError(results) ?? integerReply(results.filter((result) => "value" in result && (result.value !== null || result.wrongType === true)).length);
}

async function mget(context: CommandContext, args: readonly Uint8Array[]): Promise<RespReply> {
  const results = await readMany(context, args.slice(1));
  return firstError(results) ?? arrayReply(results.map((result) => bulkReply("value" in result ? result.value : null)));
}

async function mset(context: CommandContext, args: readonly Uint8Array[]): Promise<RespReply> {
  const part = msetPart(args);
  if ("type" in part) return part;
  const result = await runByShard(context, part.steps);
  if ("error" in result) return result.error;
  const failed = result.replies.find((reply) => reply.kind === "error");
  return failed === undefined ? okReply : respFromKeyed(failed);
}

async function strlen(context: CommandContext, args: readonly Uint8Array[]): Promise<RespReply> {
  const result = await lookupKey(context, args[1] ?? emptyBytes);
  if ("error" in result) return result.error;
  return result.wrongType === true ? wrongTypeReply : integerReply(result.value?.byteLength ?? 0);
}

async function type(context: CommandContext, args: readonly Uint8Array[]): Promise<RespReply> {
  const key = args[1] ?? emptyBytes;
  const result = await readKey(context, key, context.linearizable);
  if ("error" in result) return result.error;
  // Not a string: the state machine names the type (through the log).
  if (result.wrongType === true) return runOne(context, { op: KeyedOp.Type, key, args: [] });
  return { type: "simple", text: result.value === null ? "none" : "string" };
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

/** Inside MULTI: one step per key, the replies combined as the command answers. */
function perKey(op: KeyedOp, combine: (replies: readonly KeyedReply[]) => RespReply) {
  return (args: readonly Uint8Array[]): TransactionPart => ({ steps: args.slice(1).map((key) => ({ op, key, args: [] })), reply: combine });
}

function sumOf(replies: readonly KeyedReply[]): RespReply {
  const failed = replies.find((reply) => reply.kind === "error");
  if (failed !== undefined) return respFromKeyed(failed);
  return integerReply(replies.reduce((sum, reply) => sum + (reply.kind === "int" ? Number(reply.value) : 0), 0));
}

function firstOf(replies: readonly KeyedReply[]): RespReply {
  return replies[0] === undefined ? errorReply("ERR no reply from the shard") : respFromKeyed(replies[0]);
}

function msetPart(args: readonly Uint8Array[]): TransactionPart | RespReply {
  if (args.length % 2 !== 1) return errorReply("ERR wrong number of arguments for 'mset' command");
  const steps: KeyedStep[] = [];
  for (let index = 1; index < args.length; index += 2) {
    steps.push({ op: KeyedOp.Set, key: args[index] ?? emptyBytes, args: [args[index + 1] ?? emptyBytes, ascii(SetCondition.Always), ascii(0), ascii(ExpiryKind.None), ascii(0)] });
  }
  return { steps, reply: (replies) => replies.map(respFromKeyed).find((reply) => reply.type === "error") ?? okReply };
}

const keyed = { firstKeyIndex: 1, lastKeyIndex: 1, keyStep: 1 } as const;
const allKeys = { firstKeyIndex: 1, lastKeyIndex: -1, keyStep: 1 } as const;

export const dataCommands: readonly CommandSpec[] = [
  { name: "get", arity: 2, flags: ["readonly", "fast"], ...keyed, write: false, group: "string", summary: "Returns the value of a key (follower read unless CLIENT READMODE linearizable)", run: get, transaction: perKey(KeyedOp.Get, firstOf) },
  { name: "del", arity: -2, flags: ["write"], ...allKeys, write: true, group: "keyspace", summary: "Deletes keys, returns how many existed (atomic per shard, not across shards)", run: del, transaction: perKey(KeyedOp.Delete, sumOf) },
  { name: "unlink", arity: -2, flags: ["write", "fast"], ...allKeys, write: true, group: "keyspace", summary: "DEL (deletion is never deferred: values are freed at apply)", run: del, transaction: perKey(KeyedOp.Delete, sumOf) },
  { name: "strlen", arity: 2, flags: ["readonly", "fast"], ...keyed, write: false, group: "string", summary: "The length of a value, 0 when absent", run: strlen, transaction: perKey(KeyedOp.Strlen, firstOf) },
  { name: "type", arity: 2, flags: ["readonly", "fast"], ...keyed, write: false, group: "keyspace", summary: "string, list, hash or none", run: type, transaction: perKey(KeyedOp.Type, firstOf) },
  { name: "exists", arity: -2, flags: ["readonly", "fast"], ...allKeys, write: false, group: "keyspace", summary: "Counts the given keys that exist", run: exists, transaction: perKey(KeyedOp.Exists, sumOf) },
  { name: "mget", arity: -2, flags: ["readonly", "fast"], ...allKeys, write: false, group: "string", summary: "Returns the values of keys", run: mget, transaction: perKey(KeyedOp.Get, (replies) => arrayReply(replies.map(respFromKeyed))) },
  { name: "mset", arity: -3, flags: ["write", "denyoom"], firstKeyIndex: 1, lastKeyIndex: -1, keyStep: 2, write: true, group: "string", summary: "Sets keys (one log entry per shard: atomic per shard up to 4096 keys, not across shards)", run: mset, transaction: msetPart },
];
