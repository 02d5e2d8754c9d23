import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { parse } from "protobufjs";
import * as pb from "../../../src/proto/raft.ts";
import { ProtoDecodeError } from "../../../src/proto/wire.ts";
import type { Message } from "../../../src/raft/types.ts";
import { EntryType, MessageType, emptyMessage } from "../../../src/raft/types.ts";
import {
  decodeMessage,
  decodeRaftBatch,
  encodeMessage,
  encodeRaftBatch,
  messageSizeBytes,
} from "../../../src/transport/raft-codec.ts";
import { Prng } from "../../../src/util/prng.ts";

const bytes = (...values: number[]): Uint8Array => new Uint8Array(values);
/** The highest message type (Quiesce, a driver-level message, is one too); one above it is unknown. */
const messageTypeMax = Math.max(...Object.values(MessageType).filter((value): value is number => typeof value === "number"));

/** A message with every field set to a non-default value. */
function fullMessage(): Message {
  return {
    type: MessageType.Append,
    from: 1,
    to: 2,
    term: 7,
    logTerm: 6,
    index: Number.MAX_SAFE_INTEGER - 1,
    entries: [
      { term: 6, index: 100, type: EntryType.Normal, data: bytes(1, 2, 3) },
      { term: 7, index: 101, type: EntryType.ConfChange, data: bytes(9) },
      { term: 7, index: 102, type: EntryType.Normal, data: new Uint8Array(0) },
    ],
    commit: 2 ** 40 + 3,
    reject: true,
    rejectHint: 99,
    rejectHintTerm: 5,
    snapshot: {
      metadata: { index: 90, term: 5, conf: { voters: [1, 2, 3], learners: [4, 300] } },
      data: bytes(0xde, 0xad, 0xbe, 0xef),
    },
    context: bytes(42, 43),
  };
}

describe("raft codec", () => {
  test("every field of a message survives a round trip", () => {
    const message = fullMessage();
    const decoded = decodeMessage(encodeMessage(message));
    expect(decoded).toEqual(message);
    expect(encodeMessage(message).byteLength).toBe(messageSizeBytes(message));
  });

  test("a message with default values round-trips, and a missing snapshot stays null", () => {
    const message = emptyMessage(MessageType.Heartbeat, 3, 1, 0);
    expect(encodeMessage(message).byteLength).toBe(6); // only type, from and to: a tag byte and a value byte each
    expect(decodeMessage(encodeMessage(message))).toEqual(message);
    const hup = emptyMessage(MessageType.Hup, 0, 0, 0);
    expect(encodeMessage(hup).byteLength).toBe(0);
    expect(decodeMessage(new Uint8Array(0))).toEqual(hup);
  });

  test("every message type round-trips with its number unchanged", () => {
    for (let type = MessageType.Hup; type <= messageTypeMax; type++) {
      const message = emptyMessage(type, 1, 2, 3);
      expect(decodeMessage(encodeMessage(message)).type).toBe(type);
    }
  });

  test("a payload that is a view into a larger buffer is copied once, so entries never pin that buffer", () => {
    const encoded = encodeMessage(fullMessage());
    const read = new Uint8Array(encoded.byteLength + 64 * 1024); // like a socket read holding more
    read.set(encoded, 100);
    const decoded = decodeMessage(read.subarray(100, 100 + encoded.byteLength));
    read.fill(0);
    expect(decoded).toEqual(fullMessage());
    const buffer = decoded.entries[0]?.data.buffer;
    expect(buffer).not.toBe(read.buffer);
    expect(buffer?.byteLength).toBe(encoded.byteLength);
    expect(decoded.context.buffer).toBe(buffer as ArrayBufferLike); // one copy shared by the message
  });

  test("batches keep groups and message order", () => {
    const groups = [
      { groupId: 0, messages: [fullMessage(), emptyMessage(MessageType.Vote, 1, 2, 9)] },
      { groupId: 2 ** 33, messages: [emptyMessage(MessageType.HeartbeatResponse, 2, 1, 9)] },
    ];
    const payload = encodeRaftBatch(groups, 5);
    expect(payload.subarray(0, 5)).toEqual(new Uint8Array(5)); // headroom left free
    expect(decodeRaftBatch(payload.subarray(5))).toEqual(groups);
  });

  test("the encoding is standard protobuf: protobufjs reads what we write and we read what it writes", () => {
    const root = parse(readFileSync(join(import.meta.dir, "../../../proto/raft.proto"), "utf8")).root;
    const type = root.lookupType("ukv.raft.Message");
    const message = fullMessage();
    const theirs = type.toObject(type.decode(encodeMessage(message)), { longs: Number, bytes: Array, defaults: true });
    expect(theirs.logTerm).toBe(message.logTerm);
    expect(theirs.index).toBe(message.index);
    expect(theirs.snapshot.metadata.conf.learners).toEqual([4, 300]);
    expect(theirs.entries[1].type).toBe(1);
    const written = type.encode(type.fromObject({ ...theirs })).finish();
    expect(decodeMessage(written)).toEqual(message);
  });

  test("repeated numbers are accepted both packed and unpacked", () => {
    // ConfState { voters: 1 (unpacked), voters: [2, 3] (packed) }
    const conf = pb.decodeConfState(bytes(0x08, 1, 0x0a, 2, 2, 3));
    expect(conf.voters).toEqual([1, 2, 3]);
  });

  test("unknown fields are skipped (forward compatibility)", () => {
    const known = encodeMessage(emptyMessage(MessageType.Vote, 1, 2, 3));
    const withUnknown = new Uint8Array([...known, 0xf8, 0x01, 5, 0xfa, 0x01, 2, 7, 7]); // field 31 varint, field 31 bytes
    expect(decodeMessage(withUnknown)).toEqual(emptyMessage(MessageType.Vote, 1, 2, 3));
  });

  test("an unknown message or entry type is refused", () => {
    expect(() => decodeMessage(bytes(0x08, messageTypeMax + 1))).toThrow(ProtoDecodeError);
    expect(() => decodeMessage(bytes(0x3a, 2, 0x18, 5))).toThrow("unknown entry type 5");
  });

  test("malformed bytes throw ProtoDecodeError only (seeded fuzz)", () => {
    const prng = new Prng(11);
    const valid = encodeMessage(fullMessage());
    let failures = 0;
    for (let round = 0; round < 2000; round++) {
      const input = valid.slice();
      const flips = 1 + prng.nextInt(4);
      for (let flip = 0; flip < flips; flip++) input[prng.nextInt(input.byteLength)] = prng.nextInt(256);
      const cut = input.subarray(0, prng.nextInt(input.byteLength + 1));
      try {
        decodeMessage(cut);
      } catch (error) {
        expect(error).toBeInstanceOf(ProtoDecodeError);
        failures++;
      }
    }
    expect(failures).toBeGreaterThan(100); // the fuzz does reach the error paths
  });

  test("a varint above 2^53 or longer than 10 bytes is refused", () => {
    expect(() => pb.decodeHardState(bytes(0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f))).toThrow("above 2^53");
    expect(() => pb.decodeHardState(bytes(0x08, ...new Array(11).fill(0x80)))).toThrow(ProtoDecodeError);
  });
});
