import { describe, expect, test } from "bun:test";
import { decodeBatchSetCommand, encodeBatchSetCommand } from "../../../src/node/batch-command.ts";
import { CommandOp, commandOpOf } from "../../../src/node/command.ts";
import { batchSetProblem, checkKvRequest } from "../../../src/transport/kv-protocol.ts";
import { batchSetPairCountMax, batchSetSizeBytesMax, keySizeBytesMax, valueSizeBytesMax } from "../../../src/util/limits.ts";

const text = new TextEncoder();
const empty = new Uint8Array(0);

describe("batch command (op 50)", () => {
  test("round-trips every pair in order, with its proposer and sequence", () => {
    const keys = ["a", "b", "a"].map((key) => text.encode(key));
    const values = ["1", "", "3"].map((value) => text.encode(value));
    const bytes = encodeBatchSetCommand(7, 12345, keys, values);
    expect(commandOpOf(bytes)).toBe(CommandOp.BatchSet);
    const decoded = decodeBatchSetCommand(bytes);
    expect(decoded.proposerId).toBe(7);
    expect(decoded.sequence).toBe(12345);
    expect(decoded.keys.map((key) => new TextDecoder().decode(key))).toEqual(["a", "b", "a"]);
    expect(decoded.values.map((value) => new TextDecoder().decode(value))).toEqual(["1", "", "3"]);
  });

  test("every truncation and a trailing byte are refused, never misread", () => {
    const bytes = encodeBatchSetCommand(1, 1, [text.encode("key")], [text.encode("value")]);
    for (let size = 0; size < bytes.length; size++) expect(() => decodeBatchSetCommand(bytes.subarray(0, size))).toThrow();
    const longer = new Uint8Array(bytes.length + 1);
    longer.set(bytes);
    expect(() => decodeBatchSetCommand(longer)).toThrow(/after the last pair/);
  });

  test("limits: pair count, encoded bytes, key and value sizes, pairing, named in the error", () => {
    const many = Array.from({ length: batchSetPairCountMax + 1 }, (_, index) => text.encode(`k${index}`));
    expect(() => encodeBatchSetCommand(1, 1, many, many)).toThrow(`Batch of ${batchSetPairCountMax + 1} pairs over the limit of ${batchSetPairCountMax}`);
    const big = new Uint8Array(valueSizeBytesMax);
    expect(() => encodeBatchSetCommand(1, 1, [text.encode("a"), text.encode("b")], [big, big])).toThrow(`over the limit of ${batchSetSizeBytesMax}`);
    expect(() => encodeBatchSetCommand(1, 1, [new Uint8Array(keySizeBytesMax + 1)], [empty])).toThrow("Batch pair 0: key too large");
    expect(() => encodeBatchSetCommand(1, 1, [text.encode("a"), text.encode("b")], [empty, new Uint8Array(valueSizeBytesMax + 1)])).toThrow("Batch pair 1: value too large");
    expect(() => encodeBatchSetCommand(1, 1, [text.encode("a")], [])).toThrow("1 keys but 0 values");
    expect(() => encodeBatchSetCommand(1, 1, [], [])).toThrow("at least one pair");
    // The largest single pair fits a batch.
    expect(decodeBatchSetCommand(encodeBatchSetCommand(1, 1, [new Uint8Array(keySizeBytesMax).fill(1)], [big])).keys.length).toBe(1);
  });

  test("the protocol check: a batch names its shard, other ops carry no pairs", () => {
    const base = { id: 1, key: empty, value: empty, linearizable: false };
    expect(checkKvRequest({ ...base, op: "BATCH_SET", shard: 0, batchKeys: [text.encode("a")], batchValues: [empty] })?.message).toMatch(/names its shard/);
    expect(checkKvRequest({ ...base, op: "BATCH_SET", shard: 2, batchKeys: [text.encode("a")], batchValues: [empty] })).toBeNull();
    expect(checkKvRequest({ ...base, op: "BATCH_SET", shard: 2, batchKeys: [new Uint8Array(keySizeBytesMax + 1)], batchValues: [empty] })?.code).toBe("KEY_TOO_LARGE");
    expect(checkKvRequest({ ...base, op: "SET", key: text.encode("a"), batchKeys: [text.encode("a")], batchValues: [empty] })?.message).toMatch(/carries no batch pairs/);
    expect(batchSetProblem({ key: text.encode("x"), value: empty, shard: 1, batchKeys: [text.encode("a")], batchValues: [empty] })?.code).toBe("BAD_REQUEST");
  });
});
