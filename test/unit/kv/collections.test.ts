// Lists and hashes in the state machine: the element encoding, each command's answer against a
// table of stored bytes (through the transaction codec, as the log carries it), WRONGTYPE between
// strings and collections, the limits, and expiry kept across list and hash writes.
import { expect, test } from "bun:test";
import { clampRange, decodeElements, decodeHash, encodeElements } from "../../../src/kv/collections.ts";
import {
  ascii,
  decodeKeyedReply,
  decodeKeyedTransaction,
  encodeKeyedReply,
  encodeKeyedTransaction,
  executeKeyedTransaction,
  ExpiryKind,
  KeyedOp,
  SetCondition,
  withNow,
  type KeyedReply,
  type KeyedStep,
} from "../../../src/kv/keyed-commands.ts";
import { decodeStoredValue, encodeStoredValue, storedPayloadSizeBytesMax, ValueType, wrongTypeMessage } from "../../../src/kv/stored-value.ts";
import { collectionElementCountMax, keySizeBytesMax, listChunkElementCountMax } from "../../../src/util/limits.ts";
import { chunkKey, listKeyProblem, parseChunkKey } from "../../../src/kv/list-store.ts";
import { routingKey } from "../../../src/ring/hash-tag.ts";

const bytes = (text: string): Uint8Array => new TextEncoder().encode(text);
const text = (value: Uint8Array): string => new TextDecoder().decode(value);
const pack = (...items: string[]): Uint8Array => encodeElements(items.map(bytes));

class MapTable {
  readonly data = new Map<string, Uint8Array>();
  one(nowMs: number, step: KeyedStep): KeyedReply {
    const transaction = decodeKeyedTransaction(withNow(encodeKeyedTransaction({ nowMs: 0, watches: [], steps: [step] }), nowMs));
    const result = executeKeyedTransaction(transaction, (key) => this.data.get(text(key)) ?? null);
    for (const op of result.ops) {
      if (op.kind === "delete") this.data.delete(text(op.key));
      else this.data.set(text(op.key), op.value);
    }
    const reply = decodeKeyedReply(encodeKeyedReply(result.reply));
    if (reply.kind !== "array" || reply.items === null) throw new Error("not an array");
    return reply.items[0]!;
  }
}

const step = (op: KeyedOp, key: string, ...args: (string | Uint8Array)[]): KeyedStep => ({ op, key: bytes(key), args: args.map((arg) => (typeof arg === "string" ? bytes(arg) : arg)) });
const int = (value: number): KeyedReply => ({ kind: "int", value: BigInt(value) });
const bulk = (value: string): KeyedReply => ({ kind: "bulk", value: bytes(value) });
const list2 = (...values: string[]): KeyedReply => ({ kind: "array", items: values.map(bulk) });
const list = (...values: string[]): KeyedReply => ({ kind: "array", items: values.map(bulk) });
const ok: KeyedReply = { kind: "status", text: "OK" };
const wrongType: KeyedReply = { kind: "error", text: wrongTypeMessage };
const push = (side: "l" | "r", key: string, ...values: string[]): KeyedStep => step(KeyedOp.ListPush, key, side, "0", pack(...values));

test("element lists: round trip (empty and binary elements), malformed buffers are typed errors", () => {
  const elements = [bytes(""), new Uint8Array([0, 255, 13, 10]), bytes("abc")];
  expect(decodeElements(encodeElements(elements))).toEqual(elements);
  expect(decodeElements(encodeElements([]))).toEqual([]);
  expect(() => decodeElements(new Uint8Array([1, 0, 0, 0, 9, 0, 0, 0]))).toThrow(/truncated/);
  expect(() => decodeElements(new Uint8Array([0, 0, 0, 0, 1]))).toThrow(/trailing/);
  expect(() => decodeElements(new Uint8Array(2))).toThrow(/Invalid element list/);
  expect(() => decodeHash(encodeElements([bytes("f")]))).toThrow(/odd/);
});

test("Redis's range clamping", () => {
  expect(clampRange(0, -1, 3)).toEqual({ start: 0, stop: 2 });
  expect(clampRange(-100, 100, 3)).toEqual({ start: 0, stop: 2 });
  expect(clampRange(2, 1, 3)).toBeNull();
  expect(clampRange(5, 10, 3)).toBeNull();
  expect(clampRange(-2, -1, 3)).toEqual({ start: 1, stop: 2 });
});

test("list commands answer as Redis's", () => {
  const table = new MapTable();
  expect(table.one(1, step(KeyedOp.ListPush, "l", "l", "1", pack("x")))).toEqual(int(0)); // LPUSHX on no list
  expect(table.data.has("l")).toBeFalse();
  expect(table.one(1, push("l", "l", "a", "b", "c"))).toEqual(int(3)); // c b a
  expect(table.one(1, push("r", "l", "d", "e"))).toEqual(int(5)); // c b a d e
  expect(table.one(1, step(KeyedOp.ListRange, "l", "0", "-1"))).toEqual(list("c", "b", "a", "d", "e"));
  expect(table.one(1, step(KeyedOp.ListRange, "l", "-2", "100"))).toEqual(list("d", "e"));
  expect(table.one(1, step(KeyedOp.ListRange, "l", "3", "1"))).toEqual(list());
  expect(table.one(1, step(KeyedOp.ListLen, "l"))).toEqual(int(5));
  expect(table.one(1, step(KeyedOp.ListIndex, "l", "-1"))).toEqual(bulk("e"));
  expect(table.one(1, step(KeyedOp.ListIndex, "l", "9"))).toEqual({ kind: "nil" });
  expect(table.one(1, step(KeyedOp.ListSet, "l", "1", "B"))).toEqual(ok);
  expect(table.one(1, step(KeyedOp.ListSet, "l", "9", "B"))).toEqual({ kind: "error", text: "ERR index out of range" });
  expect(table.one(1, step(KeyedOp.ListSet, "none", "0", "B"))).toEqual({ kind: "error", text: "ERR no such key" });
  expect(table.one(1, step(KeyedOp.ListPop, "l", "l", ""))).toEqual(bulk("c"));
  expect(table.one(1, step(KeyedOp.ListPop, "l", "r", "2"))).toEqual(list("e", "d"));
  expect(table.one(1, step(KeyedOp.ListRange, "l", "0", "-1"))).toEqual(list("B", "a"));
  expect(table.one(1, step(KeyedOp.ListPop, "none", "l", ""))).toEqual({ kind: "nil" });
  expect(table.one(1, step(KeyedOp.ListPop, "none", "l", "3"))).toEqual({ kind: "array", items: null });
  table.one(1, push("r", "r", "x", "y", "x", "z", "x"));
  expect(table.one(1, step(KeyedOp.ListRem, "r", "-2", "x"))).toEqual(int(2)); // the last two x
  expect(table.one(1, step(KeyedOp.ListRange, "r", "0", "-1"))).toEqual(list("x", "y", "z"));
  expect(table.one(1, step(KeyedOp.ListRem, "r", "0", "x"))).toEqual(int(1));
  expect(table.one(1, step(KeyedOp.ListTrim, "r", "1", "1"))).toEqual(ok);
  expect(table.one(1, step(KeyedOp.ListRange, "r", "0", "-1"))).toEqual(list("z"));
  // The last element gone: the key goes, as in Redis.
  expect(table.one(1, step(KeyedOp.ListPop, "r", "l", "5"))).toEqual(list("z"));
  expect(table.data.has("r")).toBeFalse();
  expect(table.one(1, step(KeyedOp.Type, "l"))).toEqual({ kind: "status", text: "list" });
  expect(decodeStoredValue(table.data.get("l")!).type).toBe(ValueType.List);
});

test("hash commands answer as Redis's; fields keep their insertion order", () => {
  const table = new MapTable();
  expect(table.one(1, step(KeyedOp.HashSet, "h", pack("a", "1", "b", "2"), "set"))).toEqual(int(2));
  expect(table.one(1, step(KeyedOp.HashSet, "h", pack("a", "9", "c", "3"), "set"))).toEqual(int(1));
  expect(table.one(1, step(KeyedOp.HashSet, "h", pack("a", "0"), "nx"))).toEqual(int(0));
  expect(table.one(1, step(KeyedOp.HashSet, "h", pack("d", "4"), "nx"))).toEqual(int(1));
  expect(table.one(1, step(KeyedOp.HashGet, "h", "a"))).toEqual(bulk("9"));
  expect(table.one(1, step(KeyedOp.HashGet, "h", "zz"))).toEqual({ kind: "nil" });
  expect(table.one(1, step(KeyedOp.HashMGet, "h", pack("b", "zz")))).toEqual({ kind: "array", items: [bulk("2"), { kind: "nil" }] });
  expect(table.one(1, step(KeyedOp.HashGetAll, "h", "all"))).toEqual(list("a", "9", "b", "2", "c", "3", "d", "4"));
  expect(table.one(1, step(KeyedOp.HashGetAll, "h", "keys"))).toEqual(list("a", "b", "c", "d"));
  expect(table.one(1, step(KeyedOp.HashGetAll, "h", "vals"))).toEqual(list("9", "2", "3", "4"));
  expect(table.one(1, step(KeyedOp.HashExists, "h", "c"))).toEqual(int(1));
  expect(table.one(1, step(KeyedOp.HashDel, "h", pack("c", "zz", "d")))).toEqual(int(2));
  expect(table.one(1, step(KeyedOp.HashLen, "h"))).toEqual(int(2));
  expect(table.one(1, step(KeyedOp.HashIncrBy, "h", "n", "5"))).toEqual(int(5));
  expect(table.one(1, step(KeyedOp.HashIncrBy, "h", "n", "-7"))).toEqual(int(-2));
  expect(table.one(1, step(KeyedOp.HashIncrBy, "h", "a", "x"))).toEqual({ kind: "error", text: "ERR value is not an integer or out of range" });
  table.one(1, step(KeyedOp.HashSet, "h", pack("s", "text"), "set"));
  expect(table.one(1, step(KeyedOp.HashIncrBy, "h", "s", "1"))).toEqual({ kind: "error", text: "ERR hash value is not an integer" });
  table.one(1, step(KeyedOp.HashSet, "h", pack("big", "9223372036854775807"), "set"));
  expect(table.one(1, step(KeyedOp.HashIncrBy, "h", "big", "1"))).toEqual({ kind: "error", text: "ERR increment or decrement would overflow" });
  expect(table.one(1, step(KeyedOp.Type, "h"))).toEqual({ kind: "status", text: "hash" });
  expect(table.one(1, step(KeyedOp.HashDel, "h", pack("a", "b", "n", "s", "big")))).toEqual(int(5));
  expect(table.data.has("h")).toBeFalse();
});

test("WRONGTYPE between strings, lists and hashes; SET replaces any type; DEL, EXISTS, EXPIRE take any", () => {
  const table = new MapTable();
  table.one(1, push("l", "l", "a"));
  table.one(1, step(KeyedOp.HashSet, "h", pack("f", "v"), "set"));
  table.one(1, step(KeyedOp.Set, "s", "v", ascii(SetCondition.Always), "0", ascii(ExpiryKind.None), "0"));
  for (const op of [KeyedOp.Get, KeyedOp.Strlen, KeyedOp.GetDel, KeyedOp.Append, KeyedOp.IncrBy]) expect(table.one(1, step(op, "l", "1"))).toEqual(wrongType);
  expect(table.one(1, step(KeyedOp.Set, "l", "v", ascii(SetCondition.Always), "1", ascii(ExpiryKind.None), "0"))).toEqual(wrongType); // GETSET
  expect(table.one(1, step(KeyedOp.HashGet, "l", "f"))).toEqual(wrongType);
  expect(table.one(1, push("l", "h", "x"))).toEqual(wrongType);
  expect(table.one(1, push("l", "s", "x"))).toEqual(wrongType);
  expect(table.one(1, step(KeyedOp.ListLen, "h"))).toEqual(wrongType);
  expect(table.one(1, step(KeyedOp.HashLen, "s"))).toEqual(wrongType);
  expect(table.one(1, step(KeyedOp.Exists, "h"))).toEqual(int(1));
  expect(table.one(1, step(KeyedOp.Set, "h", "now a string", ascii(SetCondition.Always), "0", ascii(ExpiryKind.None), "0"))).toEqual(ok);
  expect(table.one(1, step(KeyedOp.Type, "h"))).toEqual({ kind: "status", text: "string" });
  expect(table.one(1, step(KeyedOp.Delete, "l"))).toEqual(int(1));
});

test("expiry applies to lists and hashes and survives their writes", () => {
  const table = new MapTable();
  table.one(1000, push("r", "l", "a"));
  expect(table.one(1000, step(KeyedOp.Expire, "l", ascii(ExpiryKind.Relative), "500", "0"))).toEqual(int(1));
  expect(table.one(1100, push("r", "l", "b"))).toEqual(int(2));
  expect(table.one(1200, step(KeyedOp.Ttl, "l", "ms", "ttl"))).toEqual(int(300));
  expect(decodeStoredValue(table.data.get("l")!).type).toBe(ValueType.List);
  // Expired: the list reads as absent, and a push starts a new one without a deadline.
  expect(table.one(1500, step(KeyedOp.ListLen, "l"))).toEqual(int(0));
  expect(table.one(1500, push("r", "l", "c"))).toEqual(int(1));
  expect(table.one(1600, step(KeyedOp.Ttl, "l", "ms", "ttl"))).toEqual(int(-1));
  table.one(1000, step(KeyedOp.HashSet, "h", pack("f", "1"), "set"));
  table.one(1000, step(KeyedOp.Expire, "h", ascii(ExpiryKind.Absolute), "5000", "0"));
  table.one(1000, step(KeyedOp.HashIncrBy, "h", "f", "1"));
  expect(decodeStoredValue(table.data.get("h")!).deadlineMs).toBe(5000);
  expect(table.one(1000, step(KeyedOp.Persist, "h"))).toEqual(int(1));
  expect(decodeStoredValue(table.data.get("h")!)).toMatchObject({ deadlineMs: null, type: ValueType.Hash });
});

test("a long list is a header and chunks: pushes and pops touch its ends, DEL and SET drop every chunk", () => {
  const table = new MapTable();
  const values = Array.from({ length: 1000 }, (_, index) => `v${index}`.padEnd(100, "."));
  for (let index = 0; index < values.length; index += 100) table.one(1, push("r", "l", ...values.slice(index, index + 100)));
  const chunkKeys = [...table.data.keys()].filter((key) => key !== "l");
  // 100-byte elements: about 78 per 8 KiB chunk.
  expect(chunkKeys.length).toBeGreaterThanOrEqual(Math.ceil(1000 / listChunkElementCountMax));
  for (const key of chunkKeys) expect(decodeStoredValue(table.data.get(key)!).type).toBe(ValueType.ListChunk);
  expect(table.one(1, step(KeyedOp.ListLen, "l"))).toEqual(int(1000));
  expect(table.one(1, step(KeyedOp.ListRange, "l", "0", "-1"))).toEqual(list(...values));
  expect(table.one(1, step(KeyedOp.ListRange, "l", "450", "460"))).toEqual(list(...values.slice(450, 461)));
  expect(table.one(1, step(KeyedOp.ListIndex, "l", "-300"))).toEqual(bulk(values[700]!));
  expect(table.one(1, step(KeyedOp.ListSet, "l", "500", "middle"))).toEqual(ok);
  values[500] = "middle";
  expect(table.one(1, push("l", "l", "head"))).toEqual(int(1001));
  expect(table.one(1, step(KeyedOp.ListPop, "l", "l", "2"))).toEqual(list("head", values[0]!));
  expect(table.one(1, step(KeyedOp.ListPop, "l", "r", "150"))).toEqual(list(...values.slice(850).reverse()));
  expect(table.one(1, step(KeyedOp.ListRange, "l", "0", "-1"))).toEqual(list(...values.slice(1, 850)));
  expect(table.one(1, step(KeyedOp.ListTrim, "l", "100", "199"))).toEqual(ok);
  expect(table.one(1, step(KeyedOp.ListRange, "l", "0", "-1"))).toEqual(list(...values.slice(101, 201)));
  // LTRIM rewrote the list in fewer chunks; the old ones are gone.
  expect([...table.data.keys()].length).toBeLessThanOrEqual(1 + Math.ceil(100 / 70));
  expect(table.one(1, step(KeyedOp.Delete, "l"))).toEqual(int(1));
  expect(table.data.size).toBe(0);
  table.one(1, push("r", "m", ...values));
  expect(table.one(1, step(KeyedOp.Set, "m", "s", ascii(SetCondition.Always), "0", ascii(ExpiryKind.None), "0"))).toEqual(ok);
  expect([...table.data.keys()]).toEqual(["m"]);
});

test("list chunk keys route with the list's key; keys that cannot hold a list are refused clearly", () => {
  for (const key of ["plain", "{user:1}:queue", "a{b"]) {
    const chunk = chunkKey(bytes(key), 7);
    expect(routingKey(chunk)).toEqual(routingKey(bytes(key)));
    expect(parseChunkKey(chunk)).toEqual({ key: bytes(key), id: 7 });
  }
  expect(parseChunkKey(bytes("not a chunk key at all"))).toBeNull();
  expect(listKeyProblem(bytes("a}b"))).toContain("'}' outside a hash tag");
  expect(listKeyProblem(bytes("{t}a}b"))).toBeNull();
  const table = new MapTable();
  expect(table.one(1, push("r", "a}b", "x"))).toEqual({ kind: "error", text: listKeyProblem(bytes("a}b"))! });
  expect(table.one(1, push("r", "k".repeat(keySizeBytesMax - 10), "x")).kind).toBe("error");
  expect(table.data.size).toBe(0);
});

test("limits: an element over the value limit, a hash over its field and byte limits answer clear errors and change nothing", () => {
  const table = new MapTable();
  const huge = "x".repeat(storedPayloadSizeBytesMax);
  expect(table.one(1, push("r", "l", "a", huge))).toEqual({ kind: "error", text: `ERR list element too large: ${storedPayloadSizeBytesMax} bytes, limit ${storedPayloadSizeBytesMax - 8}` });
  expect(table.data.size).toBe(0);
  const big = "x".repeat(600_000);
  // Each element in a chunk of its own: a list may hold more than one value's bytes.
  expect(table.one(1, push("r", "b", big))).toEqual(int(1));
  expect(table.one(1, push("r", "b", big))).toEqual(int(2));
  expect(table.one(1, step(KeyedOp.ListLen, "b"))).toEqual(int(2));
  expect(table.one(1, step(KeyedOp.HashSet, "h", pack("f", big), "set"))).toEqual(int(1));
  const refused = table.one(1, step(KeyedOp.HashSet, "h", pack("g", big), "set"));
  expect(refused.kind === "error" && refused.text).toStartWith("ERR hash would be ");
  const fields = (from: number, count: number): string[] => Array.from({ length: count }, (_, index) => [`f${from + index}`, ""]).flat();
  const half = collectionElementCountMax / 2;
  expect(table.one(1, step(KeyedOp.HashSet, "many", pack(...fields(0, half)), "set"))).toEqual(int(half));
  expect(table.one(1, step(KeyedOp.HashSet, "many", pack(...fields(half, half)), "set"))).toEqual(int(half));
  expect(table.one(1, step(KeyedOp.HashSet, "many", pack("one more", ""), "set"))).toEqual({ kind: "error", text: `ERR hash would have ${collectionElementCountMax + 1} fields, limit ${collectionElementCountMax}` });
  expect(table.one(1, step(KeyedOp.HashLen, "many"))).toEqual(int(collectionElementCountMax));
});

test("active expiry's sweep: a chunk no live list lists is deleted at apply, a listed one stays", () => {
  const table = new MapTable();
  table.one(1, push("r", "l", ...Array.from({ length: 300 }, (_, index) => `e${index}`)));
  const chunks = [...table.data.keys()].filter((key) => key !== "l");
  expect(table.one(1, step(KeyedOp.DeleteOrphanChunk, chunks[0]!))).toEqual(int(0));
  // A plain SET (not a keyed command) over the list leaves its chunks behind.
  table.data.set("l", encodeStoredValue(bytes("now a string"), null));
  for (const chunk of chunks) expect(table.one(1, step(KeyedOp.DeleteOrphanChunk, chunk))).toEqual(int(1));
  expect([...table.data.keys()]).toEqual(["l"]);
});

test("a value that does not decode answers an error on every replica, never throws at apply", () => {
  const table = new MapTable();
  table.data.set("bad", encodeStoredValue(new Uint8Array([9, 9]), null, ValueType.List));
  const reply = table.one(1, step(KeyedOp.ListLen, "bad"));
  expect(reply.kind).toBe("error");
});

test("RESTORE writes stored bytes as they are (type and deadline); an expired or malformed one writes nothing", () => {
  const table = new MapTable();
  const hash = encodeStoredValue(pack("a", "b"), 5000, ValueType.Hash);
  expect(table.one(1000, step(KeyedOp.Restore, "h", hash))).toEqual(ok);
  expect(table.data.get("h")).toEqual(hash);
  expect(table.one(1000, step(KeyedOp.HashGetAll, "h", "all"))).toEqual(list2("a", "b"));
  expect(table.one(6000, step(KeyedOp.Restore, "gone", hash))).toEqual(ok);
  expect(table.data.has("gone")).toBeFalse();
  expect(table.one(1000, step(KeyedOp.Restore, "bad", new Uint8Array([8, 1]))).kind).toBe("error");
  expect(table.data.has("bad")).toBeFalse();
});
