// The state machine's keyed commands, pure: codecs round trip and refuse garbage; execution
// against a map gives Redis's answers, uses only the transaction's clock, sees earlier steps'
// writes, and a changed watched key aborts the whole transaction.
import { expect, test } from "bun:test";
import {
  ascii,
  decodeKeyedReply,
  decodeKeyedTransaction,
  encodeKeyedReply,
  encodeKeyedTransaction,
  executeKeyedTransaction,
  ExpireCondition,
  ExpiryKind,
  formatFloat,
  KeyedOp,
  parseInt64,
  SetCondition,
  withNow,
  type KeyedReply,
  type KeyedStep,
  type KeyedTransaction,
} from "../../../src/kv/keyed-commands.ts";
import { decodeStoredValue, encodeStoredValue, liveValue, storedPayloadSizeBytesMax, ValueType } from "../../../src/kv/stored-value.ts";
import { isUkvError } from "../../../src/util/errors.ts";

const bytes = (text: string): Uint8Array => new TextEncoder().encode(text);
const text = (value: Uint8Array): string => new TextDecoder().decode(value);

/** A table as a map of stored bytes, applying each transaction's ops. */
class MapTable {
  readonly data = new Map<string, Uint8Array>();
  run(nowMs: number, steps: KeyedStep[], watches: KeyedTransaction["watches"] = []): KeyedReply {
    // Through the codec, as the log carries it.
    const transaction = decodeKeyedTransaction(withNow(encodeKeyedTransaction({ nowMs: 0, watches, steps }), nowMs));
    const result = executeKeyedTransaction(transaction, (key) => this.data.get(text(key)) ?? null);
    for (const op of result.ops) {
      if (op.kind === "delete") this.data.delete(text(op.key));
      else this.data.set(text(op.key), op.value);
    }
    return decodeKeyedReply(encodeKeyedReply(result.reply));
  }
  one(nowMs: number, step: KeyedStep): KeyedReply {
    const reply = this.run(nowMs, [step]);
    if (reply.kind !== "array" || reply.items === null) throw new Error("not an array");
    return reply.items[0]!;
  }
}

const set = (key: string, value: string, options: { condition?: SetCondition; get?: boolean; expiry?: ExpiryKind; ms?: number } = {}): KeyedStep => ({
  op: KeyedOp.Set,
  key: bytes(key),
  args: [bytes(value), ascii(options.condition ?? SetCondition.Always), ascii(options.get === true ? 1 : 0), ascii(options.expiry ?? ExpiryKind.None), ascii(options.ms ?? 0)],
});
const step = (op: KeyedOp, key: string, ...args: string[]): KeyedStep => ({ op, key: bytes(key), args: args.map(bytes) });
const int = (value: number): KeyedReply => ({ kind: "int", value: BigInt(value) });
const bulk = (value: string): KeyedReply => ({ kind: "bulk", value: bytes(value) });

test("stored values: header round trip, deadline hides the value at and after it", () => {
  expect(decodeStoredValue(encodeStoredValue(bytes("v"), null))).toEqual({ payload: bytes("v"), deadlineMs: null, type: ValueType.String });
  expect(decodeStoredValue(encodeStoredValue(bytes("v"), 1234.5))).toEqual({ payload: bytes("v"), deadlineMs: 1234.5, type: ValueType.String });
  expect(decodeStoredValue(encodeStoredValue(bytes("v"), 1234.5, ValueType.Hash))).toEqual({ payload: bytes("v"), deadlineMs: 1234.5, type: ValueType.Hash });
  expect(decodeStoredValue(encodeStoredValue(bytes("v"), null, ValueType.List))).toEqual({ payload: bytes("v"), deadlineMs: null, type: ValueType.List });
  expect(decodeStoredValue(new Uint8Array([6, 1])).type).toBe(ValueType.ListChunk);
  expect(liveValue(encodeStoredValue(bytes("v"), 1000), 999)?.payload).toEqual(bytes("v"));
  expect(liveValue(encodeStoredValue(bytes("v"), 1000), 1000)).toBeNull();
  expect(liveValue(null, 0)).toBeNull();
  expect(() => decodeStoredValue(new Uint8Array([8, 1, 2]))).toThrow(/unknown header/);
  expect(() => encodeStoredValue(new Uint8Array(storedPayloadSizeBytesMax + 1), null)).toThrow(/Value too large/);
});

test("SET NX/XX/GET and their answers; GETSET; GETDEL", () => {
  const table = new MapTable();
  expect(table.one(1, set("k", "a", { condition: SetCondition.IfPresent }))).toEqual({ kind: "nil" });
  expect(table.one(1, set("k", "a", { condition: SetCondition.IfAbsent }))).toEqual({ kind: "status", text: "OK" });
  expect(table.one(1, set("k", "b", { condition: SetCondition.IfAbsent }))).toEqual({ kind: "nil" });
  expect(table.one(1, set("k", "c", { get: true }))).toEqual(bulk("a"));
  expect(table.one(1, step(KeyedOp.GetDel, "k"))).toEqual(bulk("c"));
  expect(table.one(1, step(KeyedOp.Get, "k"))).toEqual({ kind: "nil" });
});

test("INCRBY: int64 bounds, Redis's error texts, canonical integers only", () => {
  const table = new MapTable();
  expect(table.one(1, step(KeyedOp.IncrBy, "n", "5"))).toEqual(int(5));
  expect(table.one(1, step(KeyedOp.IncrBy, "n", "-7"))).toEqual(int(-2));
  table.one(1, set("max", "9223372036854775807"));
  expect(table.one(1, step(KeyedOp.IncrBy, "max", "1"))).toEqual({ kind: "error", text: "ERR increment or decrement would overflow" });
  table.one(1, set("sp", " 1"));
  expect(table.one(1, step(KeyedOp.IncrBy, "sp", "1"))).toEqual({ kind: "error", text: "ERR value is not an integer or out of range" });
  expect(parseInt64(bytes("01"))).toBeNull();
  expect(parseInt64(bytes("-0"))).toBeNull();
  expect(parseInt64(bytes("-9223372036854775808"))).toBe(-(2n ** 63n));
  expect(parseInt64(bytes("9223372036854775808"))).toBeNull();
  expect(table.one(1, step(KeyedOp.IncrByFloat, "f", "1.5"))).toEqual(bulk("1.5"));
  expect(table.one(1, step(KeyedOp.IncrByFloat, "f", "1e3"))).toEqual(bulk("1001.5"));
  expect(formatFloat(1e21)).toBe("1000000000000000000000");
  expect(table.one(1, step(KeyedOp.Append, "f", "x"))).toEqual(int(7));
});

test("expiry uses the transaction's clock only: relative and absolute deadlines, TTL, PERSIST, EXPIRE conditions", () => {
  const table = new MapTable();
  table.one(1000, set("k", "v", { expiry: ExpiryKind.Relative, ms: 500 }));
  expect(table.one(1200, step(KeyedOp.Ttl, "k", "ms", "ttl"))).toEqual(int(300));
  expect(table.one(1200, step(KeyedOp.Ttl, "k", "ms", "time"))).toEqual(int(1500));
  expect(table.one(1499, step(KeyedOp.Get, "k"))).toEqual(bulk("v"));
  expect(table.one(1500, step(KeyedOp.Get, "k"))).toEqual({ kind: "nil" });
  // An expired key is absent for SET NX, INCR and EXISTS.
  expect(table.one(1500, step(KeyedOp.Exists, "k"))).toEqual(int(0));
  expect(table.one(1500, step(KeyedOp.IncrBy, "k", "1"))).toEqual(int(1));
  expect(table.one(1500, step(KeyedOp.Ttl, "k", "ms", "ttl"))).toEqual(int(-1));
  const expire = (nowMs: number, ms: number, condition: ExpireCondition): KeyedReply => table.one(nowMs, step(KeyedOp.Expire, "k", String(ExpiryKind.Relative), String(ms), String(condition)));
  expect(expire(2000, 100, ExpireCondition.Xx)).toEqual(int(0));
  expect(expire(2000, 100, ExpireCondition.Gt)).toEqual(int(0));
  expect(expire(2000, 100, ExpireCondition.Nx)).toEqual(int(1));
  expect(expire(2000, 50, ExpireCondition.Gt)).toEqual(int(0));
  expect(expire(2000, 50, ExpireCondition.Lt)).toEqual(int(1));
  expect(expire(2000, 60, ExpireCondition.XxLt)).toEqual(int(0));
  expect(table.one(2000, step(KeyedOp.Persist, "k"))).toEqual(int(1));
  expect(table.one(2000, step(KeyedOp.Ttl, "k", "s", "ttl"))).toEqual(int(-1));
  // A deadline in the past deletes the key at once.
  expect(expire(3000, -1, ExpireCondition.Always)).toEqual(int(1));
  expect(table.data.has("k")).toBe(false);
  // KEEPTTL keeps, a plain SET clears; INCR and APPEND keep.
  table.one(0, set("t", "1", { expiry: ExpiryKind.Absolute, ms: 9000 }));
  table.one(0, set("t", "2", { expiry: ExpiryKind.Keep }));
  table.one(0, step(KeyedOp.IncrBy, "t", "1"));
  expect(decodeStoredValue(table.data.get("t")!)).toEqual({ payload: bytes("3"), deadlineMs: 9000, type: ValueType.String });
  table.one(0, set("t", "2"));
  expect(decodeStoredValue(table.data.get("t")!).deadlineMs).toBeNull();
});

test("a transaction sees its own writes, MSETNX is all or nothing, a changed watched key aborts everything", () => {
  const table = new MapTable();
  const reply = table.run(1, [set("a", "1"), step(KeyedOp.IncrBy, "a", "2"), step(KeyedOp.Get, "a"), step(KeyedOp.IncrBy, "a", "x")]);
  expect(reply).toEqual({ kind: "array", items: [{ kind: "status", text: "OK" }, int(3), bulk("3"), { kind: "error", text: "ERR value is not an integer or out of range" }] });
  const msetnx = (pairs: [string, string][]): KeyedReply => table.run(1, [step(KeyedOp.SetIfNoneExist, pairs[0]![0], String(pairs.length)), ...pairs.map(([key, value]) => set(key, value))]);
  expect(msetnx([["b", "1"], ["c", "2"]])).toEqual({ kind: "array", items: [int(1)] });
  expect(msetnx([["d", "1"], ["c", "9"]])).toEqual({ kind: "array", items: [int(0)] });
  expect(table.data.has("d")).toBe(false);
  const watched = table.data.get("a")!;
  expect(table.run(1, [set("a", "new")], [{ key: bytes("a"), expected: watched }])).toEqual({ kind: "array", items: [{ kind: "status", text: "OK" }] });
  expect(table.run(1, [set("a", "newer")], [{ key: bytes("a"), expected: watched }])).toEqual({ kind: "array", items: null });
  expect(table.run(1, [set("z", "1")], [{ key: bytes("absent"), expected: null }])).toEqual({ kind: "array", items: [{ kind: "status", text: "OK" }] });
  expect(text(decodeStoredValue(table.data.get("a")!).payload)).toBe("new");
});

test("the transaction codec refuses garbage with a typed error, never a crash", () => {
  const good = encodeKeyedTransaction({ nowMs: 5, watches: [], steps: [set("k", "v")] });
  for (let size = 0; size < good.byteLength; size++) {
    try {
      decodeKeyedTransaction(good.subarray(0, size));
      throw new Error(`a ${size}-byte prefix decoded`);
    } catch (error) {
      expect(isUkvError(error, "BAD_REQUEST")).toBe(true);
    }
  }
  const badOp = good.slice();
  badOp[1 + 8 + 4 + 4] = 99;
  expect(() => decodeKeyedTransaction(badOp)).toThrow(/unknown op 99/);
  expect(() => encodeKeyedTransaction({ nowMs: 0, watches: [], steps: [] })).toThrow(/1 to 4096 commands/);
});
