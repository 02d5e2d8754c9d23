// The keyspace commands over every shard: SCAN (MATCH, COUNT, TYPE), KEYS (bounded), DBSIZE (exact:
// each shard leader's key count, asked now), RANDOMKEY, FLUSHDB and FLUSHALL (through each shard's
// log), OBJECT ENCODING/FREQ. A SCAN cursor encodes the shard (its index among the topology's
// shards), the slot to continue from in that shard leader's table, and a tag of the table's slot
// layout: if the layout changed (a resize or rehash moved entries, or another replica now leads)
// the walk of that shard starts over, so a full iteration returns every key present from start to
// end at least once (some possibly more than once), as Redis guarantees. Layout:
// cursor = layoutTag << 48 | slot << 12 | shardIndex (unsigned 64-bit decimal; 0 starts and ends).
import { typeName, ValueType } from "../../kv/stored-value.ts";
import { KeyedOp, parseInt64 } from "../../kv/keyed-commands.ts";
import { runOne } from "./resp-keyed.ts";
import { decodeShardScanPage, encodeShardScanRequest, scanLayoutTag, scanLayoutTagBits, shardScanEntryCountMax, type ShardScanPage } from "../../kv/shard-scan.ts";
import { keysReplyCountMax, scanPagesPerCallMax } from "../../util/limits.ts";
import { keyName, replyFromKvError, type CommandContext, type CommandSpec } from "./resp-context.ts";
import { arrayReply, bulkReply, errorReply, integerReply, nullBulkReply, okReply, textReply, type RespReply } from "./resp-encoder.ts";

const emptyBytes = new Uint8Array(0);
const shardIndexBits = 12n;
// 36 bits: a table scan position (native/segmented_table.h: 12 region bits + 24 slot bits).
const slotBits = 64n - BigInt(scanLayoutTagBits) - shardIndexBits;
const word = (arg: Uint8Array | undefined): string => keyName(arg ?? emptyBytes).toUpperCase();

interface Cursor {
  shardIndex: number;
  slot: number;
  /** 0: not started (slot 0 of any layout). */
  layoutTag: number;
}

export function encodeCursor(cursor: Cursor): string {
  return ((BigInt(cursor.layoutTag) << (slotBits + shardIndexBits)) | (BigInt(cursor.slot) << shardIndexBits) | BigInt(cursor.shardIndex)).toString();
}

export function decodeCursor(text: string): Cursor | null {
  if (!/^[0-9]{1,20}$/.test(text)) return null;
  const value = BigInt(text);
  if (value >= 1n << 64n) return null;
  return {
    shardIndex: Number(value & ((1n << shardIndexBits) - 1n)),
    slot: Number((value >> shardIndexBits) & ((1n << slotBits) - 1n)),
    layoutTag: Number(value >> (slotBits + shardIndexBits)),
  };
}

/**
 * Matches the pattern element at `patternIndex` (not `*`) against one key byte: returns the index
 * after the element, or -1 when it does not match.
 */
function matchOne(pattern: Uint8Array, patternIndex: number, byte: number): number {
  const char = pattern[patternIndex] as number;
  if (char === 0x3f /* ? */) return patternIndex + 1;
  if (char === 0x5b /* [ */) {
    let index = patternIndex + 1;
    const negate = pattern[index] === 0x5e; /* ^ */
    if (negate) index++;
    let matched = false;
    while (index < pattern.length && pattern[index] !== 0x5d /* ] */) {
      if (pattern[index] === 0x5c /* \ */ && index + 1 < pattern.length) {
        index++;
        if (pattern[index] === byte) matched = true;
      } else if (pattern[index + 1] === 0x2d /* - */ && index + 2 < pattern.length && pattern[index + 2] !== 0x5d) {
        let low = pattern[index] as number;
        let high = pattern[index + 2] as number;
        if (low > high) [low, high] = [high, low];
        if (byte >= low && byte <= high) matched = true;
        index += 2;
      } else if (pattern[index] === byte) {
        matched = true;
      }
      index++;
    }
    return matched !== negate ? index + 1 : -1;
  }
  if (char === 0x5c /* \ */ && patternIndex + 1 < pattern.length) return pattern[patternIndex + 1] === byte ? patternIndex + 2 : -1;
  return char === byte ? patternIndex + 1 : -1;
}

/**
 * Redis's glob (stringmatchlen): * ? [set] [^set] [a-z] and \ escapes, on bytes. Linear
 * backtracking to the last `*` only, so no pattern takes more than O(pattern x key) steps.
 */
export function globMatch(pattern: Uint8Array, key: Uint8Array): boolean {
  let patternIndex = 0;
  let keyIndex = 0;
  let starPattern = -1;
  let starKey = 0;
  while (keyIndex < key.length) {
    if (patternIndex < pattern.length && pattern[patternIndex] === 0x2a /* * */) {
      starPattern = ++patternIndex;
      starKey = keyIndex;
      continue;
    }
    const next = patternIndex < pattern.length ? matchOne(pattern, patternIndex, key[keyIndex] as number) : -1;
    if (next >= 0) {
      patternIndex = next;
      keyIndex++;
    } else if (starPattern >= 0) {
      patternIndex = starPattern;
      keyIndex = ++starKey;
    } else {
      return false;
    }
  }
  while (patternIndex < pattern.length && pattern[patternIndex] === 0x2a) patternIndex++;
  return patternIndex === pattern.length;
}

/** Where a page starts: a cursor's slot under its layout tag, or a key the leader picks at random. */
type PageStart = { slot: number; layoutTag: number } | "random";

async function scanPage(context: CommandContext, shardId: number, start: PageStart, count: number): Promise<ShardScanPage | RespReply> {
  const entryCountMax = Math.max(1, Math.min(count, shardScanEntryCountMax));
  const cursor = start === "random" ? { slot: 0, layoutTag: 0, randomStart: true } : { ...start, randomStart: false };
  const request = encodeShardScanRequest({ ...cursor, slotCountMax: Math.min(1 << 20, entryCountMax * 8), entryCountMax });
  const response = await context.backend.routeShard(shardId, { op: "SCAN", key: emptyBytes, value: request, linearizable: false });
  if (response.code !== "OK") return replyFromKvError(response);
  return decodeShardScanPage(response.value);
}

function isPage(value: ShardScanPage | RespReply): value is ShardScanPage {
  return "keyCount" in value;
}

interface ScanOptions {
  pattern: Uint8Array | null;
  count: number;
  /** null: any type; else TYPE's name ("string", "list", "hash"; another matches nothing). */
  type: string | null;
}

function parseScanOptions(args: readonly Uint8Array[], from: number): ScanOptions | RespReply {
  const options: ScanOptions = { pattern: null, count: 10, type: null };
  for (let index = from; index < args.length; index += 2) {
    const option = word(args[index]);
    const value = args[index + 1];
    if (value === undefined) return errorReply("ERR syntax error");
    if (option === "MATCH") options.pattern = value;
    else if (option === "COUNT") {
      const count = parseInt64(value);
      if (count === null) return errorReply("ERR value is not an integer or out of range");
      if (count < 1n) return errorReply("ERR syntax error");
      options.count = Number(count > BigInt(shardScanEntryCountMax) ? shardScanEntryCountMax : count);
    } else if (option === "TYPE") options.type = keyName(value).toLowerCase();
    else return errorReply("ERR syntax error");
  }
  return options;
}

function wanted(options: ScanOptions, key: Uint8Array, type: ValueType): boolean {
  if (options.type !== null && options.type !== typeName(type)) return false;
  return options.pattern === null || globMatch(options.pattern, key);
}

/** One SCAN call: keys from the cursor on, at least `count` tried unless the iteration ends. */
async function scanFrom(context: CommandContext, cursor: Cursor, options: ScanOptions): Promise<{ next: string; keys: Uint8Array[] } | RespReply> {
  const shardIds = context.backend.shardIds();
  let { shardIndex, slot, layoutTag } = cursor;
  if (shardIndex >= shardIds.length) return errorReply("ERR invalid cursor");
  const keys: Uint8Array[] = [];
  let tried = 0;
  for (let pageIndex = 0; pageIndex < scanPagesPerCallMax && tried < options.count; pageIndex++) {
    // A stale cursor (entries moved since it was made) is the shard leader's to restart.
    const page = await scanPage(context, shardIds[shardIndex] as number, { slot, layoutTag }, options.count - tried);
    if (!isPage(page)) return page;
    tried += Math.max(1, page.keys.length);
    page.keys.forEach((key, index) => {
      if (wanted(options, key, page.types?.[index] ?? ValueType.String)) keys.push(key);
    });
    if (page.next >= page.capacity) {
      shardIndex++;
      slot = 0;
      layoutTag = 0;
      if (shardIndex >= shardIds.length) return { next: "0", keys };
    } else {
      slot = page.next;
      layoutTag = scanLayoutTag(page.layout);
    }
  }
  return { next: encodeCursor({ shardIndex, slot, layoutTag }), keys };
}

async function scan(context: CommandContext, args: readonly Uint8Array[]): Promise<RespReply> {
  const cursor = decodeCursor(keyName(args[1] ?? emptyBytes));
  if (cursor === null) return errorReply("ERR invalid cursor");
  const options = parseScanOptions(args, 2);
  if (!("count" in options)) return options;
  const result = await scanFrom(context, cursor, options);
  if (!("next" in result)) return result;
  return arrayReply([textReply(result.next), arrayReply(result.keys.map((key) => bulkReply(key)))]);
}

async function keys(context: CommandContext, args: readonly Uint8Array[]): Promise<RespReply> {
  const options: ScanOptions = { pattern: args[1] ?? emptyBytes, count: shardScanEntryCountMax, type: null };
  const found: Uint8Array[] = [];
  let cursor: Cursor = { shardIndex: 0, slot: 0, layoutTag: 0 };
  const seen = new Set<string>();
  for (;;) {
    const result = await scanFrom(context, cursor, options);
    if (!("next" in result)) return result;
    for (const key of result.keys) {
      const name = keyName(key);
      if (seen.has(name)) continue;
      seen.add(name);
      found.push(key);
      if (found.length > keysReplyCountMax) return errorReply(`ERR KEYS matched more than ${keysReplyCountMax} keys: iterate with SCAN instead`);
    }
    if (result.next === "0") break;
    cursor = decodeCursor(result.next) as Cursor;
  }
  return arrayReply(found.map((key) => bulkReply(key)));
}

/** Every shard's first page: the leader's key count and table capacity. */
async function shardHeads(context: CommandContext): Promise<{ shardId: number; page: ShardScanPage }[] | RespReply> {
  const heads: { shardId: number; page: ShardScanPage }[] = [];
  for (const shardId of context.backend.shardIds()) {
    const page = await scanPage(context, shardId, { slot: 0, layoutTag: 0 }, 1);
    if (!isPage(page)) return page;
    heads.push({ shardId, page });
  }
  return heads;
}

async function dbsize(context: CommandContext): Promise<RespReply> {
  const heads = await shardHeads(context);
  if (!Array.isArray(heads)) return heads;
  return integerReply(heads.reduce((sum, head) => sum + head.page.keyCount, 0));
}

async function randomkey(context: CommandContext): Promise<RespReply> {
  const heads = await shardHeads(context);
  if (!Array.isArray(heads)) return heads;
  const total = heads.reduce((sum, head) => sum + head.page.keyCount, 0);
  if (total === 0) return nullBulkReply;
  // A shard in proportion to its keys, then the first live key from a random one on (wrapping once).
  let pick = Math.random() * total;
  const head = heads.find((candidate) => (pick -= candidate.page.keyCount) < 0) ?? (heads[heads.length - 1] as (typeof heads)[number]);
  let start: PageStart = "random";
  for (let pageIndex = 0; pageIndex < scanPagesPerCallMax; pageIndex++) {
    const page = await scanPage(context, head.shardId, start, 1);
    if (!isPage(page)) return page;
    const key = page.keys[0];
    if (key !== undefined) return bulkReply(key);
    start = page.next >= page.capacity ? { slot: 0, layoutTag: 0 } : { slot: page.next, layoutTag: scanLayoutTag(page.layout) };
  }
  return nullBulkReply;
}

async function flush(context: CommandContext, args: readonly Uint8Array[]): Promise<RespReply> {
  const mode = args[1] === undefined ? "SYNC" : word(args[1]);
  if (args.length > 2 || (mode !== "SYNC" && mode !== "ASYNC")) return errorReply("ERR syntax error");
  for (const shardId of context.backend.shardIds()) {
    const response = await context.backend.routeShard(shardId, { op: "FLUSH", key: emptyBytes, value: emptyBytes, linearizable: false });
    if (response.code !== "OK") return replyFromKvError(response);
  }
  return okReply;
}

async function object(context: CommandContext, args: readonly Uint8Array[]): Promise<RespReply> {
  const sub = word(args[1]);
  if (sub === "HELP") return arrayReply(["OBJECT ENCODING <key>", "OBJECT FREQ <key>"].map(textReply));
  if (args.length !== 3) return errorReply(`ERR unknown subcommand or wrong number of arguments for '${keyName(args[1] ?? emptyBytes)}'. Try OBJECT HELP.`);
  if (sub === "FREQ") return errorReply("ERR An LFU maxmemory policy is not selected, access frequency not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust.");
  if (sub !== "ENCODING") return errorReply(`ERR unknown subcommand '${keyName(args[1] ?? emptyBytes)}'. Try OBJECT HELP.`);
  const response = await context.backend.route({ op: "GET", key: args[2] ?? emptyBytes, value: emptyBytes, linearizable: context.linearizable });
  if (response.code === "NOT_FOUND") return nullBulkReply;
  // A list is chunks (Redis's quicklist); a hash is one packed value (Redis's listpack).
  if (response.code === "WRONG_TYPE") {
    const type = await runOne(context, { op: KeyedOp.Type, key: args[2] ?? emptyBytes, args: [] });
    if (type.type !== "simple") return type;
    return bulkReply(new TextEncoder().encode(type.text === "list" ? "quicklist" : "listpack"));
  }
  if (response.code !== "OK") return replyFromKvError(response);
  // Redis's names for how it would hold this string: an integer, a short string, or a long one.
  const encoding = parseInt64(response.value) !== null ? "int" : response.value.byteLength <= 44 ? "embstr" : "raw";
  return bulkReply(new TextEncoder().encode(encoding));
}

const noKeys = { firstKeyIndex: 0, lastKeyIndex: 0, keyStep: 0 } as const;

export const keyspaceCommands: readonly CommandSpec[] = [
  { name: "scan", arity: -2, flags: ["readonly"], ...noKeys, write: false, group: "keyspace", summary: "Iterates the keys of every shard (MATCH, COUNT, TYPE); the cursor names shard and slot", run: scan },
  { name: "keys", arity: 2, flags: ["readonly"], ...noKeys, write: false, group: "keyspace", summary: `Keys matching a pattern, over every shard (error above ${keysReplyCountMax})`, run: keys },
  { name: "dbsize", arity: 1, flags: ["readonly", "fast"], ...noKeys, write: false, group: "server", summary: "Keys over all shards: each shard leader's count, asked now", run: dbsize },
  { name: "randomkey", arity: 1, flags: ["readonly"], ...noKeys, write: false, group: "keyspace", summary: "A random key (shards weighted by their key counts)", run: randomkey },
  { name: "flushdb", arity: -1, flags: ["write"], ...noKeys, write: true, group: "server", summary: "Removes every key, through each shard's log (one shard after the other)", run: flush },
  { name: "flushall", arity: -1, flags: ["write"], ...noKeys, write: true, group: "server", summary: "FLUSHDB (one database)", run: flush },
  { name: "object", arity: -2, flags: ["readonly"], firstKeyIndex: 2, lastKeyIndex: 2, keyStep: 1, write: false, group: "keyspace", summary: "ENCODING (int, embstr or raw, as Redis would hold the value); FREQ as Redis without LFU", run: object },
];
