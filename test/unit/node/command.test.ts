// The entry payload codec: round trips, limits, and garbage is a typed error.
import { expect, test } from "bun:test";
import { CommandOp, decodeCommand, encodeCommand } from "../../../src/node/command.ts";
import { isUkvError } from "../../../src/util/errors.ts";
import { keySizeBytesMax, valueSizeBytesMax } from "../../../src/util/limits.ts";
import { Prng } from "../../../src/util/prng.ts";

const bytes = (text: string): Uint8Array => new TextEncoder().encode(text);

test("SET and DELETE round trip with proposer and sequence", () => {
  const set = { op: CommandOp.Set, proposerId: 7, sequence: 123456789, key: bytes("k1"), value: bytes("v1") };
  expect(decodeCommand(encodeCommand(set))).toEqual(set);
  const del = { op: CommandOp.Delete, proposerId: 1, sequence: 0, key: bytes("k"), value: new Uint8Array(0) };
  expect(decodeCommand(encodeCommand(del))).toEqual(del);
});

test("keys and values over their limits are refused with named codes", () => {
  const key = new Uint8Array(keySizeBytesMax + 1);
  const value = new Uint8Array(valueSizeBytesMax + 1);
  expect(() => encodeCommand({ op: CommandOp.Set, proposerId: 1, sequence: 1, key, value: bytes("v") })).toThrow(
    /Key too large: 4097 bytes, limit 4096/,
  );
  expect(() => encodeCommand({ op: CommandOp.Set, proposerId: 1, sequence: 1, key: bytes("k"), value })).toThrow(
    /Value too large/,
  );
  expect(() => encodeCommand({ op: CommandOp.Set, proposerId: 1, sequence: 1, key: new Uint8Array(0), value })).toThrow(
    /Key must not be empty/,
  );
});

test("random garbage and every truncation decode to a typed error, never anything else", () => {
  const prng = new Prng(42);
  const good = encodeCommand({ op: CommandOp.Set, proposerId: 3, sequence: 9, key: bytes("key"), value: bytes("value") });
  for (let size = 0; size < good.byteLength; size++) {
    expect(() => decodeCommand(good.subarray(0, size))).toThrow();
  }
  for (let i = 0; i < 2000; i++) {
    const garbage = new Uint8Array(prng.nextInt(64));
    for (let j = 0; j < garbage.length; j++) garbage[j] = prng.nextInt(256);
    try {
      decodeCommand(garbage);
    } catch (error) {
      expect(isUkvError(error, "BAD_REQUEST")).toBe(true);
    }
  }
});

test("a keyed transaction and a FLUSH round trip; a keyed command may carry the largest value with its key", () => {
  const keyed = { op: CommandOp.Keyed, proposerId: 2, sequence: 5, key: bytes("k"), value: new Uint8Array(valueSizeBytesMax + 100) };
  expect(decodeCommand(encodeCommand(keyed))).toEqual(keyed);
  const flush = { op: CommandOp.Flush, proposerId: 3, sequence: 6, key: new Uint8Array(0), value: new Uint8Array(0) };
  expect(decodeCommand(encodeCommand(flush))).toEqual(flush);
  // A SET still may not.
  expect(() => encodeCommand({ ...keyed, op: CommandOp.Set })).toThrow(/Value too large/);
});
