// The fuzz oracles can fail: each is fed a real result and passes, then a deliberately wrong
// expected value or a broken decoder/encoder stub and must report it. Also: the payload encoding
// is not canonical (an unknown field decodes to the same value), which is why payloads are held
// to a canonical round trip and frames to their exact bytes; and memory is checked after the last
// case of even a three-case run.
import { afterEach, describe, expect, test } from "bun:test";
import { mkdtempSync, mkdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fuzzTarget } from "../../src/chaos/fuzz.ts";
import {
  FuzzOracleError,
  checkCanonicalRoundTrip,
  checkFramesReencode,
  checkSnapshotHeader,
  checkTableImage,
  checkWalHardState,
  checkWalPrefix,
  tableImage,
  type WrittenEntry,
} from "../../src/chaos/fuzz-oracles.ts";
import * as kvProto from "../../src/proto/kv.ts";
import { SnapshotStore } from "../../src/storage/snapshot-store.ts";
import { Table } from "../../src/storage/table.ts";
import { Wal } from "../../src/storage/wal.ts";
import { FrameDecoder, FrameType, encodeFrame, type Frame } from "../../src/transport/frame.ts";

const encoder = new TextEncoder();
const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function tempDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  dirs.push(dir);
  return dir;
}

function written(count: number): WrittenEntry[] {
  return Array.from({ length: count }, (_, position) => ({ term: 1, index: position + 1, data: encoder.encode(`entry-${position + 1}`) }));
}

function withFlippedByte(entry: WrittenEntry): WrittenEntry {
  const data = entry.data.slice();
  data[0]! ^= 0x01;
  return { ...entry, data };
}

describe("WAL oracle: recovered entries are a byte-exact prefix of those written", () => {
  test("a real recovery passes; the same recovery against a wrong expected sequence fails", async () => {
    const dir = tempDir("ukv-oracle-wal-");
    const entries = written(5);
    const { wal } = await Wal.open(dir, { segmentSizeBytes: 8192 });
    await wal.append({ entries: entries.slice(0, 3), hardState: { term: 1, vote: 1, commit: 3 } });
    await wal.append({ entries: entries.slice(3), hardState: { term: 1, vote: 1, commit: 5 } });
    await wal.close();
    const { wal: reopened, recovery } = await Wal.open(dir, { segmentSizeBytes: 8192 });
    await reopened.close();
    expect(recovery.entries.length).toBe(5);
    expect(() => checkWalPrefix(entries, recovery.entries)).not.toThrow();
    expect(() => checkWalHardState([{ term: 1, vote: 1, commit: 3 }, { term: 1, vote: 1, commit: 5 }], recovery.hardState)).not.toThrow();
    // Deliberately wrong expectations: one byte off, a missing entry, another hard state.
    expect(() => checkWalPrefix([...entries.slice(0, 2), withFlippedByte(entries[2]!), ...entries.slice(3)], recovery.entries)).toThrow(FuzzOracleError);
    expect(() => checkWalPrefix(entries.slice(0, 4), recovery.entries)).toThrow(/recovered 5 entries, only 4/);
    expect(() => checkWalHardState([{ term: 1, vote: 1, commit: 3 }], recovery.hardState)).toThrow(/never written/);
  });

  test("a prefix passes at any length; a gap, a term change or a shifted start fails", () => {
    const entries = written(4);
    for (let length = 0; length <= 4; length++) expect(() => checkWalPrefix(entries, entries.slice(0, length))).not.toThrow();
    expect(() => checkWalPrefix(entries, entries.slice(1))).toThrow(/index 2 term 1, written as index 1/);
    expect(() => checkWalPrefix(entries, [entries[0]!, { ...entries[1]!, term: 2 }])).toThrow(FuzzOracleError);
    expect(() => checkWalPrefix(entries, [entries[0]!, entries[2]!])).toThrow(FuzzOracleError);
  });
});

describe("snapshot oracle: a snapshot that loads equals the table it was taken of", () => {
  test("a real save and load passes; a wrong value, a missing key or a wrong header fails", async () => {
    const root = tempDir("ukv-oracle-snap-");
    mkdirSync(join(root, "store"));
    const store = new SnapshotStore(join(root, "store"));
    const table = Table.create();
    for (let index = 0; index < 20; index++) table.set(encoder.encode(`key-${index}`), encoder.encode(`value-${index}`));
    const header = { index: 10, term: 2, metadata: encoder.encode("{}") };
    const info = await store.save(table, header);
    const image = tableImage(table.entries());
    table.close();
    const target = Table.create();
    try {
      const loaded = await store.load(info.path, target);
      const entries = target.entries();
      expect(() => checkSnapshotHeader(header, loaded)).not.toThrow();
      expect(() => checkTableImage(image, entries)).not.toThrow();
      const wrongValue = new Map(image);
      const firstKey = [...wrongValue.keys()][0]!;
      wrongValue.set(firstKey, encoder.encode("not-the-value"));
      expect(() => checkTableImage(wrongValue, entries)).toThrow(/the original was/);
      const extraKey = new Map(image);
      extraKey.set("ff", encoder.encode("x"));
      expect(() => checkTableImage(extraKey, entries)).toThrow(/had 21/);
      expect(() => checkTableImage(image, entries.slice(1))).toThrow(FuzzOracleError);
      expect(() => checkSnapshotHeader({ ...header, term: 3 }, loaded)).toThrow(/saved at index 10 term 3/);
    } finally {
      target.close();
    }
  });
});

describe("frame oracles: frames re-encode to their bytes, payloads to a canonical form", () => {
  const payload = kvProto.encodeRequestBatch({ requests: [{ id: 1, op: 1, key: encoder.encode("k"), value: new Uint8Array(0), linearizable: false, shard: 0, batchKeys: [], batchValues: [], rangeVersion: 0 }] } as kvProto.RequestBatch);
  const stream = new Uint8Array([...encodeFrame(FrameType.RaftBatch, payload), ...encodeFrame(FrameType.RaftBatch, encoder.encode("second"))]);
  const codec = { encode: (batch: kvProto.RequestBatch) => kvProto.encodeRequestBatch(batch), decode: kvProto.decodeRequestBatch };

  function decodeAll(decode: (bytes: Uint8Array) => Frame[]): Uint8Array[] {
    return decode(stream).map((frame) => encodeFrame(frame.type, frame.payload));
  }

  test("the real frame decoder passes; a broken decoder stub that drops a payload byte fails", () => {
    const realDecode = (bytes: Uint8Array): Frame[] => new FrameDecoder({ expectHello: false }).push(bytes).frames;
    expect(() => checkFramesReencode(stream, 0, decodeAll(realDecode))).not.toThrow();
    const brokenDecode = (bytes: Uint8Array): Frame[] => realDecode(bytes).map((frame, index) => (index === 1 ? { ...frame, payload: frame.payload.subarray(1) } : frame));
    expect(() => checkFramesReencode(stream, 0, decodeAll(brokenDecode))).toThrow(/frame 1 at byte/);
  });

  test("the payload encoding is not canonical: an unknown field decodes the same, so only the canonical form is byte-exact", () => {
    const padded = new Uint8Array([...payload, 0x78, 0x01]); // field 15, varint 1: skipped by the decoder
    const value = kvProto.decodeRequestBatch(padded);
    expect(value).toEqual(kvProto.decodeRequestBatch(payload));
    expect(() => checkCanonicalRoundTrip("padded", padded, value, codec, false)).not.toThrow();
    expect(() => checkCanonicalRoundTrip("padded", padded, value, codec, true)).toThrow(/re-encodes to/);
    expect(() => checkCanonicalRoundTrip("encoder output", payload, kvProto.decodeRequestBatch(payload), codec, true)).not.toThrow();
  });

  test("a broken encoder stub that loses a field, or a broken decoder stub, fails the round trip", () => {
    const value = kvProto.decodeRequestBatch(payload);
    const lossyEncode = { ...codec, encode: (batch: kvProto.RequestBatch) => codec.encode({ requests: batch.requests.map((request) => ({ ...request, key: new Uint8Array(0) })) }) };
    expect(() => checkCanonicalRoundTrip("lossy encoder", payload, value, lossyEncode, false)).toThrow(/decodes to a different value/);
    const offByOneDecode = { ...codec, decode: (bytes: Uint8Array) => ({ requests: codec.decode(bytes).requests.map((request) => ({ ...request, id: request.id + 1 })) }) };
    expect(() => checkCanonicalRoundTrip("off-by-one decoder", payload, value, offByOneDecode, false)).toThrow(FuzzOracleError);
  });
});

describe("memory is checked at the end of every run, however short", () => {
  test("a three-case run with an impossible bound reports the growth at its last case; the real bound passes", async () => {
    const failing = await fuzzTarget("config-yaml", { seed: 7, caseCount: 3, rssGrowthBytesMax: Number.NEGATIVE_INFINITY });
    expect(failing.failures).toEqual([{ caseIndex: 2, message: "resident memory grew by more than -Infinity bytes" }]);
    const passing = await fuzzTarget("config-yaml", { seed: 7, caseCount: 3 });
    expect(passing.failures).toEqual([]);
    expect(passing.caseCount).toBe(3);
  });
});
