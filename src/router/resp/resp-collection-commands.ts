// The RESP list and hash commands: LPUSH, RPUSH, LPUSHX, RPUSHX, LPOP, RPOP, LLEN, LRANGE, LINDEX,
// LSET, LREM, LTRIM; HSET, HMSET, HSETNX, HGET, HMGET, HDEL, HEXISTS, HLEN, HGETALL, HKEYS, HVALS,
// HINCRBY. Each is one keyed command in its key's shard log (resp-keyed.ts), run by the state
// machine on every replica (src/kv/keyed-commands.ts, collections.ts); here only the arguments are
// checked, with Redis's error texts, and the elements packed into one argument.
import { encodeElements } from "../../kv/collections.ts";
import { ascii, KeyedOp, parseInt64, type KeyedReply, type KeyedStep } from "../../kv/keyed-commands.ts";
import { type CommandContext, type CommandSpec, type TransactionPart } from "./resp-context.ts";
import { errorReply, mapReply, okReply, type RespReply } from "./resp-encoder.ts";
import { respFromKeyed, runKeyed } from "./resp-keyed.ts";

const emptyBytes = new Uint8Array(0);
const notInteger = errorReply("ERR value is not an integer or out of range");

function single(step: KeyedStep, map: (reply: KeyedReply) => RespReply = respFromKeyed): TransactionPart {
  return { steps: [step], reply: (replies) => (replies[0] === undefined ? errorReply("ERR no reply from the shard") : map(replies[0])) };
}

function isReply(value: object): value is RespReply {
  return "type" in value;
}

async function runPart(context: CommandContext, part: TransactionPart | RespReply): Promise<RespReply> {
  if (isReply(part)) return part;
  const result = await runKeyed(context, part.steps);
  return "error" in result ? result.error : part.reply(result.replies);
}

function keyedSpec(spec: Omit<CommandSpec, "run" | "transaction" | "firstKeyIndex" | "lastKeyIndex" | "keyStep">, transaction: (args: readonly Uint8Array[]) => TransactionPart | RespReply): CommandSpec {
  return { ...spec, firstKeyIndex: 1, lastKeyIndex: 1, keyStep: 1, transaction, run: (context, args) => runPart(context, transaction(args)) };
}

const key = (args: readonly Uint8Array[]): Uint8Array => args[1] ?? emptyBytes;

function push(side: "l" | "r", onlyIfExists: boolean) {
  return (args: readonly Uint8Array[]): TransactionPart => single({ op: KeyedOp.ListPush, key: key(args), args: [ascii(side), ascii(onlyIfExists ? 1 : 0), encodeElements(args.slice(2))] });
}

function pop(side: "l" | "r", name: string) {
  return (args: readonly Uint8Array[]): TransactionPart | RespReply => {
    if (args.length > 3) return errorReply(`ERR wrong number of arguments for '${name}' command`);
    if (args.length === 2) return single({ op: KeyedOp.ListPop, key: key(args), args: [ascii(side), emptyBytes] });
    const count = parseInt64(args[2] ?? emptyBytes);
    if (count === null || count < 0n) return errorReply("ERR value is out of range, must be positive");
    return single({ op: KeyedOp.ListPop, key: key(args), args: [ascii(side), ascii(count)] });
  };
}

/** Integer arguments checked here (Redis's error), passed on as text. */
function withIntegers(op: KeyedOp, positions: readonly number[]) {
  return (args: readonly Uint8Array[]): TransactionPart | RespReply => {
    for (const position of positions) if (parseInt64(args[position] ?? emptyBytes) === null) return notInteger;
    return single({ op, key: key(args), args: args.slice(2) });
  };
}

function hset(name: "hset" | "hmset") {
  return (args: readonly Uint8Array[]): TransactionPart | RespReply => {
    if (args.length < 4 || args.length % 2 !== 0) return errorReply(`ERR wrong number of arguments for '${name}' command`);
    const step: KeyedStep = { op: KeyedOp.HashSet, key: key(args), args: [encodeElements(args.slice(2)), ascii("set")] };
    return name === "hset" ? single(step) : single(step, (reply) => (reply.kind === "error" ? respFromKeyed(reply) : okReply));
  };
}

function fieldsStep(op: KeyedOp) {
  return (args: readonly Uint8Array[]): TransactionPart => single({ op, key: key(args), args: [encodeElements(args.slice(2))] });
}

function oneStep(op: KeyedOp, extra: readonly string[] = []) {
  return (args: readonly Uint8Array[]): TransactionPart => single({ op, key: key(args), args: [...args.slice(2), ...extra.map(ascii)] });
}

/** HGETALL answers a map (RESP3), field then value (a flat array in RESP2). */
function hgetall(args: readonly Uint8Array[]): TransactionPart {
  return single({ op: KeyedOp.HashGetAll, key: key(args), args: [ascii("all")] }, (reply) => {
    if (reply.kind !== "array" || reply.items === null) return respFromKeyed(reply);
    const entries: [RespReply, RespReply][] = [];
    for (let index = 0; index + 1 < reply.items.length; index += 2) entries.push([respFromKeyed(reply.items[index] as KeyedReply), respFromKeyed(reply.items[index + 1] as KeyedReply)]);
    return mapReply(entries);
  });
}

function hincrby(args: readonly Uint8Array[]): TransactionPart | RespReply {
  if (parseInt64(args[3] ?? emptyBytes) === null) return notInteger;
  return single({ op: KeyedOp.HashIncrBy, key: key(args), args: [args[2] ?? emptyBytes, args[3] ?? emptyBytes] });
}

const write = { flags: ["write", "denyoom"], write: true } as const;
const writeFast = { flags: ["write", "fast"], write: true } as const;
const read = { flags: ["readonly"], write: false } as const;
const readFast = { flags: ["readonly", "fast"], write: false } as const;
const wholeValue = " (rewrites the whole value: O(size))";

export const collectionCommands: readonly CommandSpec[] = [
  keyedSpec({ name: "lpush", arity: -3, ...write, group: "list", summary: `Prepends elements, returns the length${wholeValue}` }, push("l", false)),
  keyedSpec({ name: "rpush", arity: -3, ...write, group: "list", summary: `Appends elements, returns the length${wholeValue}` }, push("r", false)),
  keyedSpec({ name: "lpushx", arity: -3, ...write, group: "list", summary: "LPUSH only if the list exists" }, push("l", true)),
  keyedSpec({ name: "rpushx", arity: -3, ...write, group: "list", summary: "RPUSH only if the list exists" }, push("r", true)),
  keyedSpec({ name: "lpop", arity: -2, ...writeFast, group: "list", summary: "Removes and returns the first elements" }, pop("l", "lpop")),
  keyedSpec({ name: "rpop", arity: -2, ...writeFast, group: "list", summary: "Removes and returns the last elements" }, pop("r", "rpop")),
  keyedSpec({ name: "llen", arity: 2, ...readFast, group: "list", summary: "The length of a list (through the log)" }, oneStep(KeyedOp.ListLen)),
  keyedSpec({ name: "lrange", arity: 4, ...read, group: "list", summary: "Elements from start to stop (through the log)" }, withIntegers(KeyedOp.ListRange, [2, 3])),
  keyedSpec({ name: "lindex", arity: 3, ...read, group: "list", summary: "The element at an index (through the log)" }, withIntegers(KeyedOp.ListIndex, [2])),
  keyedSpec({ name: "lset", arity: 4, ...write, group: "list", summary: "Sets the element at an index" }, withIntegers(KeyedOp.ListSet, [2])),
  keyedSpec({ name: "lrem", arity: 4, ...write, group: "list", summary: "Removes elements equal to one (count > 0 from the head, < 0 from the tail, 0 all)" }, withIntegers(KeyedOp.ListRem, [2])),
  keyedSpec({ name: "ltrim", arity: 4, ...write, group: "list", summary: "Keeps only the elements from start to stop" }, withIntegers(KeyedOp.ListTrim, [2, 3])),
  keyedSpec({ name: "hset", arity: -4, ...write, group: "hash", summary: `Sets fields, returns how many were added${wholeValue}` }, hset("hset")),
  keyedSpec({ name: "hmset", arity: -4, ...write, group: "hash", summary: "HSET answering OK" }, hset("hmset")),
  keyedSpec({ name: "hsetnx", arity: 4, ...writeFast, group: "hash", summary: "Sets a field only if absent: 1 if set" }, (args) => single({ op: KeyedOp.HashSet, key: key(args), args: [encodeElements(args.slice(2, 4)), ascii("nx")] })),
  keyedSpec({ name: "hget", arity: 3, ...readFast, group: "hash", summary: "The value of a field (through the log)" }, oneStep(KeyedOp.HashGet)),
  keyedSpec({ name: "hmget", arity: -3, ...readFast, group: "hash", summary: "The values of fields (through the log)" }, fieldsStep(KeyedOp.HashMGet)),
  keyedSpec({ name: "hdel", arity: -3, ...writeFast, group: "hash", summary: "Deletes fields, returns how many existed" }, fieldsStep(KeyedOp.HashDel)),
  keyedSpec({ name: "hexists", arity: 3, ...readFast, group: "hash", summary: "1 if the field exists" }, oneStep(KeyedOp.HashExists)),
  keyedSpec({ name: "hlen", arity: 2, ...readFast, group: "hash", summary: "The number of fields" }, oneStep(KeyedOp.HashLen)),
  keyedSpec({ name: "hgetall", arity: 2, ...read, group: "hash", summary: "Fields and values, in insertion order" }, hgetall),
  keyedSpec({ name: "hkeys", arity: 2, ...read, group: "hash", summary: "The fields, in insertion order" }, oneStep(KeyedOp.HashGetAll, ["keys"])),
  keyedSpec({ name: "hvals", arity: 2, ...read, group: "hash", summary: "The values, in insertion order" }, oneStep(KeyedOp.HashGetAll, ["vals"])),
  keyedSpec({ name: "hincrby", arity: 4, ...writeFast, group: "hash", summary: "Adds an int64 to a field" }, hincrby),
];
