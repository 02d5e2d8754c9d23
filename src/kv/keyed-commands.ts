// Read-modify-write commands of a data shard, run by the state machine: a transaction (one Raft
// entry, CommandOp.Keyed) is a list of steps on keys of one shard plus optional WATCH conditions,
// executed in order against the table by every replica at apply, with the leader's clock at
// proposal (carried in the entry) as "now". So INCR, SET NX, GETSET, APPEND, EXPIRE and MULTI/EXEC
// are atomic and give the same answer on every replica, whatever clock each replica has. The
// answer (one reply per step) goes back to the proposer's waiting client. Pure: no IO, no clock.
//
// Transaction layout (little-endian): u8 version=1 | f64 nowMs | u32 watchCount | watches | u32
// stepCount | steps. A watch: bytes key | u8 present | bytes expected stored value. A step: u8 op
// | bytes key | u32 argCount | bytes args. "bytes" is u32 size + the bytes.
import { UkvError } from "../util/errors.ts";
import { collectionElementCountMax, tableBatchCountMax, tableBatchSizeBytesMax, keySizeBytesMax, keyedCommandSizeBytesMax, keyedReplyItemCountMax, keyedReplySizeBytesMax, keyedStepCountMax } from "../util/limits.ts";
import { clampRange, decodeElements, decodeHash, encodeHash, hashKey } from "./collections.ts";
import { chunkIdsOfHeader, chunkKey, ChunkedList, listKeyProblem, parseChunkKey, type RawTable } from "./list-store.ts";
import { decodeStoredValue, encodeStoredValue, isExpired, storedPayloadSizeBytesMax, typeName, ValueType, wrongTypeMessage, type StoredValue } from "./stored-value.ts";

/** A write to the table (structurally the storage layer's TableOp). */
export type KeyedTableOp = { kind: "set"; key: Uint8Array; value: Uint8Array } | { kind: "delete"; key: Uint8Array };

/** One step's operation. Arguments are bytes; numbers travel as ASCII decimal. */
export enum KeyedOp {
  /** -> bulk or nil */
  Get = 1,
  /** args: payload, condition (SetCondition), returnOld ("0"/"1"), expiry kind (ExpiryKind), ms. -> OK/nil, or old bulk/nil when returnOld */
  Set = 2,
  /** -> 1 when the key existed, else 0 */
  Delete = 3,
  /** -> 1/0 */
  Exists = 4,
  /** args: delta (int64 decimal). -> the new value */
  IncrBy = 5,
  /** args: delta (float text). -> the new value as bulk */
  IncrByFloat = 6,
  /** args: suffix. -> the new length */
  Append = 7,
  /** -> old bulk or nil; the key is deleted */
  GetDel = 8,
  /** -> length, 0 when absent */
  Strlen = 9,
  /** args: expiry kind (Relative or Absolute), ms, condition (ExpireCondition). -> 1 when set, 0 when not */
  Expire = 10,
  /** -> 1 when a deadline was removed */
  Persist = 11,
  /** args: "s" or "ms", "ttl" or "time". -> remaining (TTL/PTTL) or deadline (EXPIRETIME), -2 absent, -1 no deadline */
  Ttl = 12,
  /** args: expiry kind (None, Persist, Relative, Absolute), ms. -> bulk or nil */
  GetEx = 13,
  /** -> status "string" or "none" */
  Type = 14,
  /** args: count (ASCII). Counts the step with MSETNX: sets only if no key of the following `count` Set steps exists. -> 1/0 */
  SetIfNoneExist = 15,
  /** Active expiry: deletes the key only if it is (still) expired at the entry's now. -> 1/0 */
  DeleteExpired = 16,
  /** WATCH: -> the stored bytes (header included) when live, else nil; EXEC compares them. */
  Dump = 17,
  // Lists (collections.ts): the whole list is one value, decoded and rewritten per command.
  /** args: side ("l"/"r"), only if the list exists ("0"/"1"), elements (packed). -> the new length */
  ListPush = 18,
  /** args: side, count ("" for none). -> bulk/nil without count, array/nil array with one */
  ListPop = 19,
  /** -> length */
  ListLen = 20,
  /** args: start, stop. -> array */
  ListRange = 21,
  /** args: index. -> bulk/nil */
  ListIndex = 22,
  /** args: index, element. -> OK */
  ListSet = 23,
  /** args: count, element. -> removed count */
  ListRem = 24,
  /** args: start, stop. -> OK */
  ListTrim = 25,
  // Hashes: field, value pairs in insertion order, one value.
  /** args: field/value pairs (packed), mode ("set": -> fields added, "nx": -> 1/0). */
  HashSet = 26,
  /** args: field. -> bulk/nil */
  HashGet = 27,
  /** args: fields (packed). -> array of bulk/nil */
  HashMGet = 28,
  /** args: fields (packed). -> removed count */
  HashDel = 29,
  /** args: field. -> 1/0 */
  HashExists = 30,
  /** -> field count */
  HashLen = 31,
  /** args: "all", "keys" or "vals". -> array */
  HashGetAll = 32,
  /** args: field, delta (int64). -> the new value */
  HashIncrBy = 33,
  /** `ukv admin restore`: args: stored bytes (header included), written as they are (any type, its deadline). -> OK */
  Restore = 34,
  /** Active expiry's sweep: deletes a list chunk (list-store.ts) that no live list header lists. -> 1/0 */
  DeleteOrphanChunk = 35,
}

export enum SetCondition {
  Always = 0,
  IfAbsent = 1,
  IfPresent = 2,
}

export enum ExpiryKind {
  /** SET: no deadline (a plain SET clears one). GETEX: leave the deadline. */
  None = 0,
  /** SET KEEPTTL: keep the current deadline. GETEX PERSIST: remove it. */
  Keep = 1,
  /** ms from now (the entry's now) */
  Relative = 2,
  /** ms since the epoch */
  Absolute = 3,
}

export enum ExpireCondition {
  Always = 0,
  Nx = 1,
  Xx = 2,
  Gt = 3,
  Lt = 4,
  XxLt = 5,
}

export interface KeyedStep {
  op: KeyedOp;
  key: Uint8Array;
  args: Uint8Array[];
}

export interface KeyedWatch {
  key: Uint8Array;
  /** The key's stored bytes when watched (live at that time), or null when it was absent. */
  expected: Uint8Array | null;
}

export interface KeyedTransaction {
  nowMs: number;
  watches: KeyedWatch[];
  steps: KeyedStep[];
}

export type KeyedReply =
  | { kind: "nil" }
  | { kind: "status"; text: string }
  | { kind: "int"; value: bigint }
  | { kind: "bulk"; value: Uint8Array }
  | { kind: "error"; text: string }
  | { kind: "array"; items: KeyedReply[] | null };

const version = 1;
const encoder = new TextEncoder();
const decoder = new TextDecoder();
const knownOps = new Set<number>(Object.values(KeyedOp).filter((value): value is number => typeof value === "number"));

export const ascii = (value: string | number | bigint): Uint8Array => encoder.encode(String(value));

class Writer {
  #bytes = new Uint8Array(256);
  #view = new DataView(this.#bytes.buffer);
  size = 0;
  readonly #limitBytes: number;
  readonly #what: string;

  constructor(limitBytes: number, what: string) {
    this.#limitBytes = limitBytes;
    this.#what = what;
  }

  #room(count: number): void {
    if (this.size + count > this.#limitBytes) {
      throw new UkvError("VALUE_TOO_LARGE", `${this.#what} too large: over ${this.#limitBytes} bytes`);
    }
    if (this.size + count <= this.#bytes.byteLength) return;
    const grown = new Uint8Array(Math.max(this.size + count, this.#bytes.byteLength * 2));
    grown.set(this.#bytes.subarray(0, this.size));
    this.#bytes = grown;
    this.#view = new DataView(grown.buffer);
  }
  u8(value: number): void {
    this.#room(1);
    this.#view.setUint8(this.size, value);
    this.size += 1;
  }
  u32(value: number): void {
    this.#room(4);
    this.#view.setUint32(this.size, value, true);
    this.size += 4;
  }
  f64(value: number): void {
    this.#room(8);
    this.#view.setFloat64(this.size, value, true);
    this.size += 8;
  }
  bytes(value: Uint8Array): void {
    this.u32(value.byteLength);
    this.#room(value.byteLength);
    this.#bytes.set(value, this.size);
    this.size += value.byteLength;
  }
  take(): Uint8Array {
    return this.#bytes.slice(0, this.size);
  }
}

class Reader {
  readonly #bytes: Uint8Array;
  readonly #view: DataView;
  offset = 0;

  constructor(bytes: Uint8Array) {
    this.#bytes = bytes;
    this.#view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }
  #need(count: number): void {
    if (this.offset + count > this.#bytes.byteLength) throw invalid(`truncated at byte ${this.offset}`);
  }
  u8(): number {
    this.#need(1);
    return this.#view.getUint8(this.offset++);
  }
  u32(): number {
    this.#need(4);
    const value = this.#view.getUint32(this.offset, true);
    this.offset += 4;
    return value;
  }
  f64(): number {
    this.#need(8);
    const value = this.#view.getFloat64(this.offset, true);
    this.offset += 8;
    return value;
  }
  bytes(): Uint8Array {
    const size = this.u32();
    this.#need(size);
    const value = this.#bytes.subarray(this.offset, this.offset + size);
    this.offset += size;
    return value;
  }
  get done(): boolean {
    return this.offset === this.#bytes.byteLength;
  }
}

function invalid(why: string): UkvError {
  return new UkvError("BAD_REQUEST", `Invalid keyed command: ${why}`);
}

function checkKey(key: Uint8Array): void {
  if (key.byteLength === 0) throw new UkvError("BAD_REQUEST", "Key must not be empty");
  if (key.byteLength > keySizeBytesMax) throw new UkvError("KEY_TOO_LARGE", `Key too large: ${key.byteLength} bytes, limit ${keySizeBytesMax}`);
}

/** The steps and watches alone (the client's request; the leader adds its clock with withNow). */
export function encodeKeyedTransaction(transaction: KeyedTransaction): Uint8Array {
  if (transaction.steps.length === 0 || transaction.steps.length > keyedStepCountMax) {
    throw new UkvError("BAD_REQUEST", `A transaction has 1 to ${keyedStepCountMax} commands, not ${transaction.steps.length}`);
  }
  if (transaction.watches.length > keyedStepCountMax) throw new UkvError("BAD_REQUEST", `At most ${keyedStepCountMax} watched keys`);
  const writer = new Writer(keyedCommandSizeBytesMax, "Command (keys and arguments)");
  writer.u8(version);
  writer.f64(transaction.nowMs);
  writer.u32(transaction.watches.length);
  for (const watch of transaction.watches) {
    checkKey(watch.key);
    writer.bytes(watch.key);
    writer.u8(watch.expected === null ? 0 : 1);
    writer.bytes(watch.expected ?? new Uint8Array(0));
  }
  writer.u32(transaction.steps.length);
  for (const step of transaction.steps) {
    checkKey(step.key);
    writer.u8(step.op);
    writer.bytes(step.key);
    writer.u32(step.args.length);
    for (const arg of step.args) writer.bytes(arg);
  }
  return writer.take();
}

export function decodeKeyedTransaction(bytes: Uint8Array): KeyedTransaction {
  if (bytes.byteLength > keyedCommandSizeBytesMax) throw invalid(`${bytes.byteLength} bytes, limit ${keyedCommandSizeBytesMax}`);
  const reader = new Reader(bytes);
  const got = reader.u8();
  if (got !== version) throw invalid(`unknown version ${got}`);
  const nowMs = reader.f64();
  const watchCount = reader.u32();
  if (watchCount > keyedStepCountMax) throw invalid(`${watchCount} watches`);
  const watches: KeyedWatch[] = [];
  for (let index = 0; index < watchCount; index++) {
    const key = reader.bytes();
    const present = reader.u8() === 1;
    const expected = reader.bytes();
    watches.push({ key, expected: present ? expected : null });
  }
  const stepCount = reader.u32();
  if (stepCount === 0 || stepCount > keyedStepCountMax) throw invalid(`${stepCount} steps`);
  const steps: KeyedStep[] = [];
  for (let index = 0; index < stepCount; index++) {
    const op = reader.u8();
    if (!knownOps.has(op)) throw invalid(`unknown op ${op}`);
    const key = reader.bytes();
    if (key.byteLength === 0 || key.byteLength > keySizeBytesMax) throw invalid(`bad key size ${key.byteLength}`);
    const argCount = reader.u32();
    if (argCount > 8) throw invalid(`${argCount} arguments`);
    const args: Uint8Array[] = [];
    for (let argIndex = 0; argIndex < argCount; argIndex++) args.push(reader.bytes());
    steps.push({ op, key, args });
  }
  if (!reader.done) throw invalid("trailing bytes");
  return { nowMs, watches, steps };
}

/** The transaction bytes with `nowMs` in place of the client's (the leader's clock at proposal). */
export function withNow(bytes: Uint8Array, nowMs: number): Uint8Array {
  if (bytes.byteLength < 9) throw invalid("shorter than a header");
  // A copy of its own (not slice(): on a Buffer that is a view of the frame).
  const copy = new Uint8Array(bytes);
  new DataView(copy.buffer, copy.byteOffset, copy.byteLength).setFloat64(1, nowMs, true);
  return copy;
}

// Replies -------------------------------------------------------------------------------------

/**
 * The reply's bytes. Never throws (it runs at apply): a reply over keyedReplySizeBytesMax (an EXEC
 * of many large GETs) becomes an error reply; the transaction's writes are applied all the same.
 */
export function encodeKeyedReply(reply: KeyedReply): Uint8Array {
  try {
    return encodeReplyBounded(reply);
  } catch {
    return encodeReplyBounded({ kind: "error", text: `ERR reply over ${keyedReplySizeBytesMax} bytes (the commands were executed)` });
  }
}

function encodeReplyBounded(reply: KeyedReply): Uint8Array {
  const writer = new Writer(keyedReplySizeBytesMax, "Reply");
  const put = (item: KeyedReply): void => {
    switch (item.kind) {
      case "nil":
        writer.u8(0);
        break;
      case "status":
        writer.u8(1);
        writer.bytes(encoder.encode(item.text));
        break;
      case "int":
        writer.u8(2);
        writer.bytes(encoder.encode(item.value.toString()));
        break;
      case "bulk":
        writer.u8(3);
        writer.bytes(item.value);
        break;
      case "error":
        writer.u8(4);
        writer.bytes(encoder.encode(item.text));
        break;
      case "array":
        writer.u8(5);
        writer.u32(item.items === null ? 0xffffffff : item.items.length);
        for (const inner of item.items ?? []) put(inner);
        break;
    }
  };
  put(reply);
  return writer.take();
}

export function decodeKeyedReply(bytes: Uint8Array): KeyedReply {
  const reader = new Reader(bytes);
  const take = (depth: number): KeyedReply => {
    const tag = reader.u8();
    switch (tag) {
      case 0:
        return { kind: "nil" };
      case 1:
        return { kind: "status", text: decoder.decode(reader.bytes()) };
      case 2:
        return { kind: "int", value: BigInt(decoder.decode(reader.bytes())) };
      case 3:
        return { kind: "bulk", value: reader.bytes() };
      case 4:
        return { kind: "error", text: decoder.decode(reader.bytes()) };
      case 5: {
        if (depth > 1) throw invalid("nested arrays");
        const count = reader.u32();
        if (count === 0xffffffff) return { kind: "array", items: null };
        if (count > keyedReplyItemCountMax) throw invalid(`reply of ${count} items`);
        const items: KeyedReply[] = [];
        for (let index = 0; index < count; index++) items.push(take(depth + 1));
        return { kind: "array", items };
      }
      default:
        throw invalid(`unknown reply tag ${tag}`);
    }
  };
  const reply = take(0);
  if (!reader.done) throw invalid("trailing reply bytes");
  return reply;
}

// Execution -----------------------------------------------------------------------------------

const int64Max = (1n << 63n) - 1n;
const int64Min = -(1n << 63n);
const notInteger = "ERR value is not an integer or out of range";
const tooLarge: KeyedReply = { kind: "error", text: `ERR string exceeds maximum allowed size (${storedPayloadSizeBytesMax} bytes)` };

/** Redis's string2ll: optional '-', no leading zeros or '+', no spaces, within int64. */
export function parseInt64(bytes: Uint8Array): bigint | null {
  if (bytes.byteLength === 0 || bytes.byteLength > 20) return null;
  const text = decoder.decode(bytes);
  if (!/^(0|-?[1-9][0-9]*)$/.test(text)) return null;
  const value = BigInt(text);
  return value < int64Min || value > int64Max ? null : value;
}

/** Redis's float parsing for INCRBYFLOAT: a finite number, no spaces. */
export function parseFloatArg(bytes: Uint8Array): number | null {
  const text = decoder.decode(bytes);
  if (text.length === 0 || text.trim() !== text) return null;
  const lower = text.toLowerCase();
  if (lower === "inf" || lower === "+inf" || lower === "-inf" || lower === "nan") return null;
  const value = Number(text);
  return Number.isFinite(value) && /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(text) ? value : null;
}

/** A float as INCRBYFLOAT answers it: no exponent, no trailing zeros. */
export function formatFloat(value: number): string {
  if (Number.isInteger(value)) return BigInt(value).toString();
  const text = String(value);
  if (!/e/i.test(text)) return text;
  return value.toFixed(17).replace(/\.?0+$/, "");
}

const argText = (bytes: Uint8Array | undefined): string => (bytes === undefined ? "" : decoder.decode(bytes));
const argNumber = (bytes: Uint8Array | undefined): number => Number(argText(bytes));

function keyName(key: Uint8Array): string {
  return Buffer.from(key.buffer, key.byteOffset, key.byteLength).toString("latin1");
}

/** The keys a step list touches that must all live on one shard. */
export function keysOfTransaction(transaction: KeyedTransaction): Uint8Array[] {
  return [...transaction.watches.map((watch) => watch.key), ...transaction.steps.map((step) => step.key)];
}

export interface KeyedResult {
  /** What to write to the table, in order. */
  ops: KeyedTableOp[];
  /** The EXEC answer: one reply per step, or a nil array when a watched key changed. */
  reply: KeyedReply;
}

/**
 * Runs a transaction against `read` (the table as of the entry before). Deterministic: depends
 * only on the table and the transaction (its nowMs included).
 */
export function executeKeyedTransaction(transaction: KeyedTransaction, read: (key: Uint8Array) => Uint8Array | null): KeyedResult {
  const { nowMs } = transaction;
  // This transaction's writes so far, over the table (a later step sees an earlier one's write).
  const overlay = new Map<string, { key: Uint8Array; bytes: Uint8Array | null }>();
  // The table's bytes of each key read once (a step reads its key, then put() checks its old type).
  const tableReads = new Map<string, Uint8Array | null>();
  const stored = (key: Uint8Array): Uint8Array | null => {
    const name = keyName(key);
    const written = overlay.get(name);
    if (written !== undefined) return written.bytes;
    let bytes = tableReads.get(name);
    if (bytes === undefined) {
      bytes = read(key);
      tableReads.set(name, bytes);
    }
    return bytes;
  };
  const live = (key: Uint8Array): StoredValue | null => {
    const bytes = stored(key);
    if (bytes === null) return null;
    const value = decodeStoredValue(bytes);
    return isExpired(value.deadlineMs, nowMs) ? null : value;
  };
  const raw: RawTable = {
    read: stored,
    write: (key, bytes) => {
      overlay.set(keyName(key), { key, bytes });
    },
  };
  // A list's chunks go with its header: when the key is deleted or becomes another type.
  const dropChunks = (key: Uint8Array): void => {
    const bytes = stored(key);
    if (bytes === null) return;
    const value = decodeStoredValue(bytes);
    if (value.type !== ValueType.List) return;
    for (const id of chunkIdsOfHeader(value.payload)) raw.write(chunkKey(key, id), null);
  };
  const put = (key: Uint8Array, payload: Uint8Array, deadlineMs: number | null, type: ValueType = ValueType.String): void => {
    if (type !== ValueType.List) dropChunks(key);
    overlay.set(keyName(key), { key, bytes: encodeStoredValue(payload, deadlineMs, type) });
  };
  const remove = (key: Uint8Array): void => {
    dropChunks(key);
    overlay.set(keyName(key), { key, bytes: null });
  };

  for (const watch of transaction.watches) {
    const current = live(watch.key);
    const currentBytes = current === null ? null : stored(watch.key);
    if (!sameBytes(currentBytes, watch.expected)) return { ops: [], reply: { kind: "array", items: null } };
  }

  const replies: KeyedReply[] = [];
  for (let index = 0; index < transaction.steps.length; index++) {
    const step = transaction.steps[index] as KeyedStep;
    if (step.op === KeyedOp.SetIfNoneExist) {
      const count = argNumber(step.args[0]);
      const group = transaction.steps.slice(index + 1, index + 1 + count);
      // Never thrown at apply (an entry must apply on every replica): a malformed group answers an error.
      if (group.length !== count || group.some((member) => member.op !== KeyedOp.Set)) {
        replies.push({ kind: "error", text: "ERR MSETNX needs its SET steps after it" });
        continue;
      }
      if (group.some((member) => (member.args[0]?.byteLength ?? 0) > storedPayloadSizeBytesMax)) {
        replies.push(tooLarge);
        index += count;
        continue;
      }
      const anyExists = group.some((member) => live(member.key) !== null);
      if (!anyExists) for (const member of group) put(member.key, member.args[0] ?? new Uint8Array(0), null);
      replies.push({ kind: "int", value: anyExists ? 0n : 1n });
      index += count;
      continue;
    }
    try {
      replies.push(runStep(step, nowMs, live, stored, put, remove, raw));
    } catch (error) {
      // Never thrown out of apply (every replica must apply the entry): a value that does not
      // decode (a bug) answers an error; the same on every replica.
      replies.push({ kind: "error", text: `ERR ${error instanceof Error ? error.message : String(error)}` });
    }
  }
  const ops: KeyedTableOp[] = [];
  let sizeBytes = 0;
  for (const { key, bytes } of overlay.values()) {
    ops.push(bytes === null ? { kind: "delete", key } : { kind: "set", key, value: bytes });
    sizeBytes += key.byteLength + (bytes?.byteLength ?? 0);
  }
  // The writes go to the table in one batch: one it would refuse (a transaction rewriting several
  // long lists, a list of large elements rewritten whole) is refused here, the same on every replica.
  if (ops.length > tableBatchCountMax || sizeBytes > tableBatchSizeBytesMax) {
    return { ops: [], reply: { kind: "error", text: `ERR the command would write ${ops.length} table entries (${sizeBytes} bytes) at once, limit ${tableBatchCountMax} entries and ${tableBatchSizeBytesMax} bytes: nothing was done` } };
  }
  return { ops, reply: { kind: "array", items: replies } };
}

function sameBytes(a: Uint8Array | null, b: Uint8Array | null): boolean {
  if (a === null || b === null) return a === b;
  return a.byteLength === b.byteLength && Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(b);
}

function deadlineOf(kind: ExpiryKind, ms: number, nowMs: number, current: StoredValue | null): number | null {
  switch (kind) {
    case ExpiryKind.None:
      return null;
    case ExpiryKind.Keep:
      return current?.deadlineMs ?? null;
    case ExpiryKind.Relative:
      return nowMs + ms;
    case ExpiryKind.Absolute:
      return ms;
  }
}

function runStep(
  step: KeyedStep,
  nowMs: number,
  live: (key: Uint8Array) => StoredValue | null,
  stored: (key: Uint8Array) => Uint8Array | null,
  put: (key: Uint8Array, payload: Uint8Array, deadlineMs: number | null, type?: ValueType) => void,
  remove: (key: Uint8Array) => void,
  raw: RawTable,
): KeyedReply {
  const { key, args } = step;
  const current = live(key);
  if (step.op === KeyedOp.DeleteOrphanChunk) {
    // Active expiry's sweep: the chunk goes unless its list (live at the entry's time) lists it.
    const owner = parseChunkKey(key);
    if (owner === null || current === null || current.type !== ValueType.ListChunk) return { kind: "int", value: 0n };
    const header = live(owner.key);
    if (header !== null && header.type === ValueType.List && chunkIdsOfHeader(header.payload).includes(owner.id)) return { kind: "int", value: 0n };
    raw.write(key, null);
    return { kind: "int", value: 1n };
  }
  const expected = expectedType(step);
  if (current !== null && expected !== null && current.type !== expected) return wrongType;
  if (step.op === KeyedOp.Restore) {
    // Checked as a stored value (a malformed one throws: an error reply, nothing written).
    const restored = decodeStoredValue(args[0] ?? new Uint8Array(0));
    if (isExpired(restored.deadlineMs, nowMs)) remove(key);
    else put(key, restored.payload, restored.deadlineMs, restored.type);
    return { kind: "status", text: "OK" };
  }
  if (step.op >= KeyedOp.ListPush) return runCollectionStep(step, current, put, remove, raw);
  const bulkOrNil = (value: StoredValue | null): KeyedReply => (value === null ? { kind: "nil" } : { kind: "bulk", value: new Uint8Array(value.payload) });
  switch (step.op) {
    case KeyedOp.Get:
      return bulkOrNil(current);
    case KeyedOp.Set: {
      const condition = argNumber(args[1]) as SetCondition;
      const returnOld = argText(args[2]) === "1";
      if ((args[0]?.byteLength ?? 0) > storedPayloadSizeBytesMax) return tooLarge;
      const skipped = (condition === SetCondition.IfAbsent && current !== null) || (condition === SetCondition.IfPresent && current === null);
      if (!skipped) {
        const deadlineMs = deadlineOf(argNumber(args[3]) as ExpiryKind, argNumber(args[4]), nowMs, current);
        // A deadline already past (EXAT in the past): Redis deletes the key, as it would expire at once.
        if (deadlineMs !== null && isExpired(deadlineMs, nowMs)) remove(key);
        else put(key, args[0] ?? new Uint8Array(0), deadlineMs);
      }
      if (returnOld) return bulkOrNil(current);
      return skipped ? { kind: "nil" } : { kind: "status", text: "OK" };
    }
    case KeyedOp.Delete:
      remove(key); // an expired leftover goes too
      return { kind: "int", value: current === null ? 0n : 1n };
    case KeyedOp.Exists:
      return { kind: "int", value: current === null ? 0n : 1n };
    case KeyedOp.IncrBy: {
      const delta = parseInt64(args[0] ?? new Uint8Array(0));
      if (delta === null) return { kind: "error", text: notInteger };
      const base = current === null ? 0n : parseInt64(current.payload);
      if (base === null) return { kind: "error", text: notInteger };
      const next = base + delta;
      if (next > int64Max || next < int64Min) return { kind: "error", text: "ERR increment or decrement would overflow" };
      put(key, ascii(next), current?.deadlineMs ?? null);
      return { kind: "int", value: next };
    }
    case KeyedOp.IncrByFloat: {
      const delta = parseFloatArg(args[0] ?? new Uint8Array(0));
      if (delta === null) return { kind: "error", text: "ERR value is not a valid float" };
      const base = current === null ? 0 : parseFloatArg(current.payload);
      if (base === null) return { kind: "error", text: "ERR value is not a valid float" };
      const next = base + delta;
      if (!Number.isFinite(next)) return { kind: "error", text: "ERR increment would produce NaN or Infinity" };
      const text = ascii(formatFloat(next));
      put(key, text, current?.deadlineMs ?? null);
      return { kind: "bulk", value: text };
    }
    case KeyedOp.Append: {
      const suffix = args[0] ?? new Uint8Array(0);
      const base = current?.payload ?? new Uint8Array(0);
      const sizeBytes = base.byteLength + suffix.byteLength;
      if (sizeBytes > storedPayloadSizeBytesMax) return tooLarge;
      const joined = new Uint8Array(sizeBytes);
      joined.set(base);
      joined.set(suffix, base.byteLength);
      put(key, joined, current?.deadlineMs ?? null);
      return { kind: "int", value: BigInt(sizeBytes) };
    }
    case KeyedOp.GetDel:
      if (current !== null) remove(key);
      return bulkOrNil(current);
    case KeyedOp.Strlen:
      return { kind: "int", value: BigInt(current?.payload.byteLength ?? 0) };
    case KeyedOp.Expire: {
      if (current === null) return { kind: "int", value: 0n };
      const deadlineMs = deadlineOf(argNumber(args[0]) as ExpiryKind, argNumber(args[1]), nowMs, current);
      if (deadlineMs === null) return { kind: "int", value: 0n };
      const condition = argNumber(args[2]) as ExpireCondition;
      const old = current.deadlineMs;
      // Redis: no deadline counts as an infinite one for GT and LT.
      const allowed =
        condition === ExpireCondition.Always ||
        (condition === ExpireCondition.Nx && old === null) ||
        (condition === ExpireCondition.Xx && old !== null) ||
        (condition === ExpireCondition.Gt && old !== null && deadlineMs > old) ||
        (condition === ExpireCondition.Lt && (old === null || deadlineMs < old)) ||
        (condition === ExpireCondition.XxLt && old !== null && deadlineMs < old);
      if (!allowed) return { kind: "int", value: 0n };
      if (isExpired(deadlineMs, nowMs)) remove(key);
      else put(key, current.payload, deadlineMs, current.type);
      return { kind: "int", value: 1n };
    }
    case KeyedOp.Persist:
      if (current === null || current.deadlineMs === null) return { kind: "int", value: 0n };
      put(key, current.payload, null, current.type);
      return { kind: "int", value: 1n };
    case KeyedOp.Ttl: {
      if (current === null) return { kind: "int", value: -2n };
      if (current.deadlineMs === null) return { kind: "int", value: -1n };
      const inSeconds = argText(args[0]) === "s";
      const absolute = argText(args[1]) === "time";
      const ms = absolute ? current.deadlineMs : Math.max(0, current.deadlineMs - nowMs);
      // TTL rounds to the nearest second as Redis does ((ttl + 500) / 1000); EXPIRETIME truncates.
      const value = inSeconds ? (absolute ? Math.floor(ms / 1000) : Math.floor((ms + 500) / 1000)) : Math.floor(ms);
      return { kind: "int", value: BigInt(value) };
    }
    case KeyedOp.GetEx: {
      if (current === null) return { kind: "nil" };
      const kind = argNumber(args[0]) as ExpiryKind;
      if (kind === ExpiryKind.Keep) put(key, current.payload, null);
      else if (kind !== ExpiryKind.None) {
        const deadlineMs = deadlineOf(kind, argNumber(args[1]), nowMs, current);
        if (deadlineMs !== null && isExpired(deadlineMs, nowMs)) remove(key);
        else put(key, current.payload, deadlineMs);
      }
      return bulkOrNil(current);
    }
    case KeyedOp.Type:
      return { kind: "status", text: current === null ? "none" : typeName(current.type) };
    case KeyedOp.SetIfNoneExist:
      return { kind: "error", text: "ERR MSETNX step out of place" };
    case KeyedOp.Dump: {
      const bytes = current === null ? null : stored(key);
      return bytes === null ? { kind: "nil" } : { kind: "bulk", value: new Uint8Array(bytes) };
    }
    case KeyedOp.DeleteExpired:
      // A key written again since the leader sampled it is live now (current !== null) and stays.
      if (current !== null) return { kind: "int", value: 0n };
      remove(key);
      return { kind: "int", value: 1n };
    default:
      return { kind: "error", text: `ERR op ${step.op} out of place` };
  }
}

const wrongType: KeyedReply = { kind: "error", text: wrongTypeMessage };

/** The type a step needs its key to hold; null: any (the keyspace commands, and SET, which replaces). */
function expectedType(step: KeyedStep): ValueType | null {
  switch (step.op) {
    case KeyedOp.Get:
    case KeyedOp.IncrBy:
    case KeyedOp.IncrByFloat:
    case KeyedOp.Append:
    case KeyedOp.GetDel:
    case KeyedOp.Strlen:
    case KeyedOp.GetEx:
      return ValueType.String;
    case KeyedOp.Set:
      // SET replaces a value of any type; SET ... GET (and GETSET) read the old one as a string first.
      return argText(step.args[2]) === "1" ? ValueType.String : null;
    case KeyedOp.ListPush:
    case KeyedOp.ListPop:
    case KeyedOp.ListLen:
    case KeyedOp.ListRange:
    case KeyedOp.ListIndex:
    case KeyedOp.ListSet:
    case KeyedOp.ListRem:
    case KeyedOp.ListTrim:
      return ValueType.List;
    case KeyedOp.HashSet:
    case KeyedOp.HashGet:
    case KeyedOp.HashMGet:
    case KeyedOp.HashDel:
    case KeyedOp.HashExists:
    case KeyedOp.HashLen:
    case KeyedOp.HashGetAll:
    case KeyedOp.HashIncrBy:
      return ValueType.Hash;
    default:
      return null;
  }
}

/** An integer argument (an index or count) as a number; int64 beyond 2^53 is clamped, which no list reaches. */
function argInt(bytes: Uint8Array | undefined): number | null {
  const value = parseInt64(bytes ?? new Uint8Array(0));
  if (value === null) return null;
  return Number(value > 2n ** 53n ? 2n ** 53n : value < -(2n ** 53n) ? -(2n ** 53n) : value);
}

function tooBig(what: "list" | "hash", count: number, sizeBytes: number): KeyedReply | null {
  const unit = what === "list" ? "elements" : "fields";
  if (count > collectionElementCountMax) return { kind: "error", text: `ERR ${what} would have ${count} ${unit}, limit ${collectionElementCountMax}` };
  if (sizeBytes > storedPayloadSizeBytesMax) return { kind: "error", text: `ERR ${what} would be ${sizeBytes} bytes, limit ${storedPayloadSizeBytesMax}` };
  return null;
}

const arrayOf = (values: readonly Uint8Array[]): KeyedReply => ({ kind: "array", items: values.map((value) => ({ kind: "bulk", value: new Uint8Array(value) })) });

/** List and hash steps; `current` is null or of the step's type (checked by the caller). */
function runCollectionStep(
  step: KeyedStep,
  current: StoredValue | null,
  put: (key: Uint8Array, payload: Uint8Array, deadlineMs: number | null, type?: ValueType) => void,
  remove: (key: Uint8Array) => void,
  raw: RawTable,
): KeyedReply {
  const { key, args } = step;
  const deadlineMs = current?.deadlineMs ?? null;
  const list = (): ChunkedList => new ChunkedList(key, raw, current === null ? null : { payload: current.payload, deadlineMs: current.deadlineMs });
  const hash = () => (current === null ? new Map() : decodeHash(current.payload));
  const putHash = (fields: ReturnType<typeof decodeHash>): KeyedReply | null => {
    if (fields.size === 0) {
      remove(key);
      return null;
    }
    const payload = encodeHash(fields);
    const refused = tooBig("hash", fields.size, payload.byteLength);
    if (refused !== null) return refused;
    put(key, payload, deadlineMs, ValueType.Hash);
    return null;
  };
  switch (step.op) {
    case KeyedOp.ListPush: {
      const problem = listKeyProblem(key);
      if (problem !== null) return { kind: "error", text: problem };
      if (argText(args[1]) === "1" && current === null) return { kind: "int", value: 0n };
      // An expired list still in the table goes first (its chunks with it).
      if (current === null && raw.read(key) !== null) remove(key);
      const target = list();
      const refused = target.push(argText(args[0]) === "l", decodeElements(args[2] ?? new Uint8Array(0)));
      if (refused !== null) return { kind: "error", text: refused };
      target.save();
      return { kind: "int", value: BigInt(target.length) };
    }
    case KeyedOp.ListPop: {
      const withCount = (args[1]?.byteLength ?? 0) > 0;
      if (current === null) return withCount ? { kind: "array", items: null } : { kind: "nil" };
      const count = withCount ? Math.max(0, argInt(args[1]) ?? 0) : 1;
      if (count > keyedReplyItemCountMax) return { kind: "error", text: `ERR at most ${keyedReplyItemCountMax} elements per pop` };
      const target = list();
      const taken = target.pop(argText(args[0]) === "l", count);
      if (taken.length > 0) target.save();
      if (!withCount) return taken[0] === undefined ? { kind: "nil" } : { kind: "bulk", value: new Uint8Array(taken[0]) };
      return arrayOf(taken);
    }
    case KeyedOp.ListLen:
      return { kind: "int", value: BigInt(current === null ? 0 : list().length) };
    case KeyedOp.ListRange: {
      const start = argInt(args[0]);
      const stop = argInt(args[1]);
      if (start === null || stop === null) return { kind: "error", text: notInteger };
      if (current === null) return arrayOf([]);
      const target = list();
      const range = clampRange(start, stop, target.length);
      if (range === null) return arrayOf([]);
      const count = range.stop - range.start + 1;
      if (count > keyedReplyItemCountMax) return { kind: "error", text: `ERR LRANGE of ${count} elements: at most ${keyedReplyItemCountMax} per call in ukv, ask for smaller ranges` };
      return arrayOf(target.range(range.start, range.stop));
    }
    case KeyedOp.ListIndex: {
      const index = argInt(args[0]);
      if (index === null) return { kind: "error", text: notInteger };
      if (current === null) return { kind: "nil" };
      const target = list();
      const at = index < 0 ? target.length + index : index;
      const element = at < 0 || at >= target.length ? undefined : target.range(at, at)[0];
      return element === undefined ? { kind: "nil" } : { kind: "bulk", value: new Uint8Array(element) };
    }
    case KeyedOp.ListSet: {
      const index = argInt(args[0]);
      if (index === null) return { kind: "error", text: notInteger };
      if (current === null) return { kind: "error", text: "ERR no such key" };
      const target = list();
      const at = index < 0 ? target.length + index : index;
      if (at < 0 || at >= target.length) return { kind: "error", text: "ERR index out of range" };
      const refused = target.set(at, args[1] ?? new Uint8Array(0));
      if (refused !== null) return { kind: "error", text: refused };
      target.save();
      return { kind: "status", text: "OK" };
    }
    case KeyedOp.ListRem: {
      const count = argInt(args[0]);
      if (count === null) return { kind: "error", text: notInteger };
      if (current === null) return { kind: "int", value: 0n };
      const target = args[1] ?? new Uint8Array(0);
      const subject = list();
      const elements = subject.all();
      const limit = count === 0 ? Number.POSITIVE_INFINITY : Math.abs(count);
      const order = count < 0 ? [...elements.keys()].reverse() : [...elements.keys()];
      const removed = new Set<number>();
      for (const index of order) {
        if (removed.size >= limit) break;
        if (sameBytes(elements[index] as Uint8Array, target)) removed.add(index);
      }
      if (removed.size > 0) {
        subject.replaceAll(elements.filter((_, index) => !removed.has(index)));
        subject.save();
      }
      return { kind: "int", value: BigInt(removed.size) };
    }
    case KeyedOp.ListTrim: {
      const start = argInt(args[0]);
      const stop = argInt(args[1]);
      if (start === null || stop === null) return { kind: "error", text: notInteger };
      if (current === null) return { kind: "status", text: "OK" };
      const subject = list();
      const range = clampRange(start, stop, subject.length);
      subject.replaceAll(range === null ? [] : subject.range(range.start, range.stop));
      subject.save();
      return { kind: "status", text: "OK" };
    }
    case KeyedOp.HashSet: {
      const pairs = decodeElements(args[0] ?? new Uint8Array(0));
      if (pairs.length === 0 || pairs.length % 2 !== 0) return { kind: "error", text: "ERR wrong number of arguments for 'hset' command" };
      const fields = hash();
      const onlyNew = argText(args[1]) === "nx";
      let added = 0;
      for (let index = 0; index < pairs.length; index += 2) {
        const field = pairs[index] as Uint8Array;
        const name = hashKey(field);
        if (fields.has(name)) {
          if (onlyNew) return { kind: "int", value: 0n };
        } else added++;
        fields.set(name, { field, value: pairs[index + 1] as Uint8Array });
      }
      const refused = putHash(fields);
      return refused ?? { kind: "int", value: BigInt(added) };
    }
    case KeyedOp.HashGet: {
      const entry = hash().get(hashKey(args[0] ?? new Uint8Array(0)));
      return entry === undefined ? { kind: "nil" } : { kind: "bulk", value: new Uint8Array(entry.value) };
    }
    case KeyedOp.HashMGet: {
      const fields = hash();
      const wanted = decodeElements(args[0] ?? new Uint8Array(0));
      return {
        kind: "array",
        items: wanted.map((field) => {
          const entry = fields.get(hashKey(field));
          return entry === undefined ? { kind: "nil" } : { kind: "bulk", value: new Uint8Array(entry.value) };
        }),
      };
    }
    case KeyedOp.HashDel: {
      const fields = hash();
      let removed = 0;
      for (const field of decodeElements(args[0] ?? new Uint8Array(0))) if (fields.delete(hashKey(field))) removed++;
      if (removed > 0) putHash(fields);
      return { kind: "int", value: BigInt(removed) };
    }
    case KeyedOp.HashExists:
      return { kind: "int", value: hash().has(hashKey(args[0] ?? new Uint8Array(0))) ? 1n : 0n };
    case KeyedOp.HashLen:
      return { kind: "int", value: BigInt(hash().size) };
    case KeyedOp.HashGetAll: {
      const what = argText(args[0]);
      const values: Uint8Array[] = [];
      for (const { field, value } of hash().values()) {
        if (what !== "vals") values.push(field);
        if (what !== "keys") values.push(value);
      }
      return arrayOf(values);
    }
    case KeyedOp.HashIncrBy: {
      const delta = parseInt64(args[1] ?? new Uint8Array(0));
      if (delta === null) return { kind: "error", text: notInteger };
      const fields = hash();
      const field = args[0] ?? new Uint8Array(0);
      const entry = fields.get(hashKey(field));
      const base = entry === undefined ? 0n : parseInt64(entry.value);
      if (base === null) return { kind: "error", text: "ERR hash value is not an integer" };
      const next = base + delta;
      if (next > int64Max || next < int64Min) return { kind: "error", text: "ERR increment or decrement would overflow" };
      fields.set(hashKey(field), { field, value: ascii(next) });
      return putHash(fields) ?? { kind: "int", value: next };
    }
    default:
      return { kind: "error", text: `ERR op ${step.op} out of place` };
  }
}
