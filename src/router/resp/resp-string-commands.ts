// The RESP read-modify-write and expiry commands: SET (NX, XX, GET, KEEPTTL, EX, PX, EXAT, PXAT),
// SETNX, SETEX, PSETEX, GETSET, GETDEL, GETEX, INCR, INCRBY, DECR, DECRBY, INCRBYFLOAT, APPEND,
// MSETNX, EXPIRE, PEXPIRE, EXPIREAT, PEXPIREAT (NX, XX, GT, LT), TTL, PTTL, EXPIRETIME,
// PEXPIRETIME, PERSIST. Each is one keyed command in its shard's log (resp-keyed.ts), run by the
// state machine with the leader's clock; here only the arguments are checked and encoded, with
// Redis's error texts.
import { ascii, ExpireCondition, ExpiryKind, KeyedOp, parseInt64, SetCondition, type KeyedStep } from "../../kv/keyed-commands.ts";
import { storedPayloadSizeBytesMax } from "../../kv/stored-value.ts";
import { keyName, replyFromKvError, send, type CommandContext, type CommandSpec, type TransactionPart } from "./resp-context.ts";
import { errorReply, integerReply, okReply, type RespReply } from "./resp-encoder.ts";
import { crossSlotReply, oneShard, respFromKeyed, runKeyed } from "./resp-keyed.ts";

const emptyBytes = new Uint8Array(0);
const notInteger = errorReply("ERR value is not an integer or out of range");
const syntaxError = errorReply("ERR syntax error");
/** Deadlines stay exact in the f64 the stored value holds (and far beyond any real use). */
const expiryMsMax = 2n ** 52n;

const word = (arg: Uint8Array | undefined): string => keyName(arg ?? emptyBytes).toUpperCase();

interface Expiry {
  kind: ExpiryKind;
  ms: bigint;
}

/**
 * An expiry argument in ms (unit: "s" or "ms"; absolute: EXAT/PXAT/EXPIREAT), or the error.
 * `positive`: SET/SETEX/GETEX refuse zero and negative times as Redis does; EXPIRE takes them (the key goes).
 */
function parseExpiry(arg: Uint8Array | undefined, unit: "s" | "ms", absolute: boolean, commandName: string, positive: boolean): Expiry | RespReply {
  const value = parseInt64(arg ?? emptyBytes);
  if (value === null) return notInteger;
  const invalid = errorReply(`ERR invalid expire time in '${commandName}' command`);
  if (positive && value <= 0n) return invalid;
  const ms = unit === "s" ? value * 1000n : value;
  if (ms > expiryMsMax || ms < -expiryMsMax) return invalid;
  return { kind: absolute ? ExpiryKind.Absolute : ExpiryKind.Relative, ms };
}

function isReply(value: object): value is RespReply {
  return "type" in value;
}

function setStep(key: Uint8Array, value: Uint8Array, condition: SetCondition, returnOld: boolean, expiry: Expiry): KeyedStep {
  return { op: KeyedOp.Set, key, args: [value, ascii(condition), ascii(returnOld ? 1 : 0), ascii(expiry.kind), ascii(expiry.ms)] };
}

const noExpiry: Expiry = { kind: ExpiryKind.None, ms: 0n };

/** SET's options as a step, or the error to answer. */
export function parseSet(args: readonly Uint8Array[]): KeyedStep | RespReply {
  let condition = SetCondition.Always;
  let returnOld = false;
  let expiry: Expiry | null = null;
  for (let index = 3; index < args.length; index++) {
    const option = word(args[index]);
    if (option === "NX" || option === "XX") {
      if (condition !== SetCondition.Always) return syntaxError;
      condition = option === "NX" ? SetCondition.IfAbsent : SetCondition.IfPresent;
    } else if (option === "GET") {
      returnOld = true;
    } else if (option === "KEEPTTL") {
      if (expiry !== null) return syntaxError;
      expiry = { kind: ExpiryKind.Keep, ms: 0n };
    } else if (option === "EX" || option === "PX" || option === "EXAT" || option === "PXAT") {
      if (expiry !== null || index + 1 >= args.length) return syntaxError;
      const parsed = parseExpiry(args[++index], option.startsWith("E") ? "s" : "ms", option.endsWith("AT"), "set", true);
      if (isReply(parsed)) return parsed;
      expiry = parsed;
    } else {
      return syntaxError;
    }
  }
  return setStep(args[1] ?? emptyBytes, args[2] ?? emptyBytes, condition, returnOld, expiry ?? noExpiry);
}

/** A part of one step whose reply is the step's, optionally mapped. */
function single(step: KeyedStep, map: (reply: RespReply) => RespReply = (reply) => reply): TransactionPart {
  return { steps: [step], reply: (replies) => map(replies[0] === undefined ? errorReply("ERR no reply from the shard") : respFromKeyed(replies[0])) };
}

/** Runs a command's part on its own: one log entry. */
export async function runPart(context: CommandContext, part: TransactionPart | RespReply): Promise<RespReply> {
  if (isReply(part)) return part;
  if (part.steps.length === 0) return part.reply([]);
  const result = await runKeyed(context, part.steps);
  return "error" in result ? result.error : part.reply(result.replies);
}

function setPart(args: readonly Uint8Array[]): TransactionPart | RespReply {
  const step = parseSet(args);
  return isReply(step) ? step : single(step);
}

async function set(context: CommandContext, args: readonly Uint8Array[]): Promise<RespReply> {
  const step = parseSet(args);
  if (isReply(step)) return step;
  // A plain SET reads nothing: the plain SET command (which also clears a deadline) is enough.
  if (args.length === 3) {
    const value = args[2] ?? emptyBytes;
    if (value.byteLength > storedPayloadSizeBytesMax) return errorReply(`ERR Value too large: ${value.byteLength} bytes, limit ${storedPayloadSizeBytesMax}`);
    const response = await send(context, { op: "SET", key: step.key, value, linearizable: false });
    return response.code === "OK" ? okReply : replyFromKvError(response);
  }
  return runPart(context, single(step));
}

function setWithExpiry(args: readonly Uint8Array[], unit: "s" | "ms", name: string): TransactionPart | RespReply {
  const expiry = parseExpiry(args[2], unit, false, name, true);
  if (isReply(expiry)) return expiry;
  return single(setStep(args[1] ?? emptyBytes, args[3] ?? emptyBytes, SetCondition.Always, false, expiry));
}

function setnx(args: readonly Uint8Array[]): TransactionPart {
  return single(setStep(args[1] ?? emptyBytes, args[2] ?? emptyBytes, SetCondition.IfAbsent, false, noExpiry), (reply) => (reply.type === "error" ? reply : integerReply(reply.type === "simple" ? 1 : 0)));
}

function incrBy(key: Uint8Array, delta: bigint | RespReply): TransactionPart | RespReply {
  return typeof delta === "bigint" ? single({ op: KeyedOp.IncrBy, key, args: [ascii(delta)] }) : delta;
}

function deltaOf(arg: Uint8Array | undefined, negate: boolean): bigint | RespReply {
  const delta = parseInt64(arg ?? emptyBytes);
  if (delta === null) return notInteger;
  // DECRBY of the smallest int64 has no positive counterpart (Redis says so too).
  if (negate && delta === -(2n ** 63n)) return errorReply("ERR decrement would overflow");
  return negate ? -delta : delta;
}

function getex(args: readonly Uint8Array[]): TransactionPart | RespReply {
  let expiry: Expiry = noExpiry;
  let seen = false;
  for (let index = 2; index < args.length; index++) {
    const option = word(args[index]);
    if (seen) return syntaxError;
    seen = true;
    if (option === "PERSIST") {
      expiry = { kind: ExpiryKind.Keep, ms: 0n };
    } else if (option === "EX" || option === "PX" || option === "EXAT" || option === "PXAT") {
      if (index + 1 >= args.length) return syntaxError;
      const parsed = parseExpiry(args[++index], option.startsWith("E") ? "s" : "ms", option.endsWith("AT"), "getex", true);
      if (isReply(parsed)) return parsed;
      expiry = parsed;
    } else {
      return syntaxError;
    }
  }
  return single({ op: KeyedOp.GetEx, key: args[1] ?? emptyBytes, args: [ascii(expiry.kind), ascii(expiry.ms)] });
}

/** EXPIRE-family arguments as a step, or the error. */
export function parseExpire(args: readonly Uint8Array[], unit: "s" | "ms", absolute: boolean, name: string): KeyedStep | RespReply {
  const expiry = parseExpiry(args[2], unit, absolute, name, false);
  if (isReply(expiry)) return expiry;
  const flags = new Set(args.slice(3).map(word));
  for (const flag of flags) if (!["NX", "XX", "GT", "LT"].includes(flag)) return errorReply(`ERR Unsupported option ${flag}`);
  if (flags.has("NX") && (flags.has("XX") || flags.has("GT") || flags.has("LT"))) return errorReply("ERR NX and XX, GT or LT options at the same time are not compatible");
  if (flags.has("GT") && flags.has("LT")) return errorReply("ERR GT and LT options at the same time are not compatible");
  // GT already needs a deadline (none counts as infinite), so XX adds nothing to it; XX with LT does.
  const condition = flags.has("NX")
    ? ExpireCondition.Nx
    : flags.has("GT")
      ? ExpireCondition.Gt
      : flags.has("LT")
        ? flags.has("XX")
          ? ExpireCondition.XxLt
          : ExpireCondition.Lt
        : flags.has("XX")
          ? ExpireCondition.Xx
          : ExpireCondition.Always;
  return { op: KeyedOp.Expire, key: args[1] ?? emptyBytes, args: [ascii(expiry.kind), ascii(expiry.ms), ascii(condition)] };
}

function expirePart(unit: "s" | "ms", absolute: boolean, name: string) {
  return (args: readonly Uint8Array[]): TransactionPart | RespReply => {
    const step = parseExpire(args, unit, absolute, name);
    return isReply(step) ? step : single(step);
  };
}

function ttlPart(unit: "s" | "ms", form: "ttl" | "time") {
  return (args: readonly Uint8Array[]): TransactionPart => single({ op: KeyedOp.Ttl, key: args[1] ?? emptyBytes, args: [ascii(unit), ascii(form)] });
}

function msetnxPart(args: readonly Uint8Array[]): TransactionPart | RespReply {
  if (args.length % 2 !== 1) return errorReply("ERR wrong number of arguments for 'msetnx' command");
  const steps: KeyedStep[] = [];
  for (let index = 1; index < args.length; index += 2) steps.push(setStep(args[index] ?? emptyBytes, args[index + 1] ?? emptyBytes, SetCondition.Always, false, noExpiry));
  const first = steps[0]?.key ?? emptyBytes;
  return { steps: [{ op: KeyedOp.SetIfNoneExist, key: first, args: [ascii(steps.length)] }, ...steps], reply: (replies) => (replies[0] === undefined ? errorReply("ERR no reply from the shard") : respFromKeyed(replies[0])) };
}

async function msetnx(context: CommandContext, args: readonly Uint8Array[]): Promise<RespReply> {
  const part = msetnxPart(args);
  if (isReply(part)) return part;
  if (oneShard(context, part.steps.map((step) => step.key)) === null) return crossSlotReply;
  return runPart(context, part);
}

const keyed = { firstKeyIndex: 1, lastKeyIndex: 1, keyStep: 1 } as const;
const oneStep = (op: KeyedOp) => (args: readonly Uint8Array[]): TransactionPart => single({ op, key: args[1] ?? emptyBytes, args: [] });
const write = { flags: ["write"], write: true } as const;
const writeFast = { flags: ["write", "fast"], write: true } as const;
const readFast = { flags: ["readonly", "fast"], write: false } as const;

/** A spec whose run is its transaction part run alone. */
function keyedSpec(spec: Omit<CommandSpec, "run" | "transaction">, transaction: (args: readonly Uint8Array[]) => TransactionPart | RespReply): CommandSpec {
  return { ...spec, transaction, run: (context, args) => runPart(context, transaction(args)) };
}

export const stringCommands: readonly CommandSpec[] = [
  { name: "set", arity: -3, ...write, ...keyed, group: "string", summary: "Sets a key (NX, XX, GET, KEEPTTL, EX, PX, EXAT, PXAT): one command in its shard's log", run: set, transaction: setPart },
  keyedSpec({ name: "setnx", arity: 3, ...writeFast, ...keyed, group: "string", summary: "Sets a key only if absent: 1 if set" }, setnx),
  keyedSpec({ name: "setex", arity: 4, ...write, ...keyed, group: "string", summary: "Sets a key with a deadline in seconds" }, (args) => setWithExpiry(args, "s", "setex")),
  keyedSpec({ name: "psetex", arity: 4, ...write, ...keyed, group: "string", summary: "Sets a key with a deadline in milliseconds" }, (args) => setWithExpiry(args, "ms", "psetex")),
  keyedSpec({ name: "getset", arity: 3, ...writeFast, ...keyed, group: "string", summary: "Sets a key, returns the old value" }, (args) => single(setStep(args[1] ?? emptyBytes, args[2] ?? emptyBytes, SetCondition.Always, true, noExpiry))),
  keyedSpec({ name: "getdel", arity: 2, ...writeFast, ...keyed, group: "string", summary: "Returns a key's value and deletes it" }, oneStep(KeyedOp.GetDel)),
  keyedSpec({ name: "getex", arity: -2, ...writeFast, ...keyed, group: "string", summary: "Returns a key's value and sets or removes its deadline (through the log)" }, getex),
  keyedSpec({ name: "incr", arity: 2, ...writeFast, ...keyed, group: "string", summary: "Adds 1 to an int64 value" }, (args) => incrBy(args[1] ?? emptyBytes, 1n)),
  keyedSpec({ name: "decr", arity: 2, ...writeFast, ...keyed, group: "string", summary: "Subtracts 1 from an int64 value" }, (args) => incrBy(args[1] ?? emptyBytes, -1n)),
  keyedSpec({ name: "incrby", arity: 3, ...writeFast, ...keyed, group: "string", summary: "Adds an int64 to a value" }, (args) => incrBy(args[1] ?? emptyBytes, deltaOf(args[2], false))),
  keyedSpec({ name: "decrby", arity: 3, ...writeFast, ...keyed, group: "string", summary: "Subtracts an int64 from a value" }, (args) => incrBy(args[1] ?? emptyBytes, deltaOf(args[2], true))),
  keyedSpec({ name: "incrbyfloat", arity: 3, ...writeFast, ...keyed, group: "string", summary: "Adds a float to a value (double precision, not Redis's long double)" }, (args) => single({ op: KeyedOp.IncrByFloat, key: args[1] ?? emptyBytes, args: [args[2] ?? emptyBytes] })),
  keyedSpec({ name: "append", arity: 3, ...write, ...keyed, group: "string", summary: "Appends to a value, returns the new length" }, (args) => single({ op: KeyedOp.Append, key: args[1] ?? emptyBytes, args: [args[2] ?? emptyBytes] })),
  { name: "msetnx", arity: -3, ...write, firstKeyIndex: 1, lastKeyIndex: -1, keyStep: 2, group: "string", summary: "Sets keys only if none exists (keys of one shard, else CROSSSLOT)", run: msetnx, transaction: msetnxPart },
  keyedSpec({ name: "expire", arity: -3, ...writeFast, ...keyed, group: "keyspace", summary: "Sets a deadline in seconds from now (NX, XX, GT, LT)" }, expirePart("s", false, "expire")),
  keyedSpec({ name: "pexpire", arity: -3, ...writeFast, ...keyed, group: "keyspace", summary: "Sets a deadline in milliseconds from now (NX, XX, GT, LT)" }, expirePart("ms", false, "pexpire")),
  keyedSpec({ name: "expireat", arity: -3, ...writeFast, ...keyed, group: "keyspace", summary: "Sets a deadline as Unix seconds (NX, XX, GT, LT)" }, expirePart("s", true, "expireat")),
  keyedSpec({ name: "pexpireat", arity: -3, ...writeFast, ...keyed, group: "keyspace", summary: "Sets a deadline as Unix milliseconds (NX, XX, GT, LT)" }, expirePart("ms", true, "pexpireat")),
  keyedSpec({ name: "persist", arity: 2, ...writeFast, ...keyed, group: "keyspace", summary: "Removes a key's deadline" }, oneStep(KeyedOp.Persist)),
  keyedSpec({ name: "ttl", arity: 2, ...readFast, ...keyed, group: "keyspace", summary: "Seconds left (-1 no deadline, -2 absent), by the leader's clock through the log" }, ttlPart("s", "ttl")),
  keyedSpec({ name: "pttl", arity: 2, ...readFast, ...keyed, group: "keyspace", summary: "Milliseconds left (-1 no deadline, -2 absent), by the leader's clock through the log" }, ttlPart("ms", "ttl")),
  keyedSpec({ name: "expiretime", arity: 2, ...readFast, ...keyed, group: "keyspace", summary: "The deadline as Unix seconds (-1, -2)" }, ttlPart("s", "time")),
  keyedSpec({ name: "pexpiretime", arity: 2, ...readFast, ...keyed, group: "keyspace", summary: "The deadline as Unix milliseconds (-1, -2)" }, ttlPart("ms", "time")),
];
