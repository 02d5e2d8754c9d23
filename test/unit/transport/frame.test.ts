import { describe, expect, test } from "bun:test";
import {
  ConnectionKind,
  FrameDecoder,
  FrameType,
  encodeFrame,
  encodeHello,
  frameHeader,
  helloSizeBytes,
  protocolVersion,
  sealFrame,
} from "../../../src/transport/frame.ts";
import { frameSizeBytesMax } from "../../../src/util/limits.ts";
import { Prng } from "../../../src/util/prng.ts";

function concat(parts: Uint8Array[]): Uint8Array {
  const total = parts.reduce((sum, part) => sum + part.byteLength, 0);
  const out = new Uint8Array(total);
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.byteLength;
  }
  return out;
}

function payloadOf(sizeBytes: number, seed: number): Uint8Array {
  const prng = new Prng(seed);
  const bytes = new Uint8Array(sizeBytes);
  for (let index = 0; index < sizeBytes; index++) bytes[index] = prng.nextInt(256);
  return bytes;
}

const payloads = [payloadOf(0, 1), payloadOf(1, 2), payloadOf(300, 3), payloadOf(17, 4)];
const stream = concat([
  encodeHello({ kind: ConnectionKind.Raft, nodeId: 7 }),
  ...payloads.map((payload, index) => encodeFrame(index % 2 === 0 ? FrameType.RaftBatch : FrameType.KvRequests, payload)),
]);

function expectFrames(frames: { type: number; payload: Uint8Array }[]): void {
  expect(frames.length).toBe(payloads.length);
  frames.forEach((frame, index) => {
    expect(frame.type).toBe(index % 2 === 0 ? FrameType.RaftBatch : FrameType.KvRequests);
    expect(Array.from(frame.payload)).toEqual(Array.from(payloads[index] as Uint8Array));
  });
}

describe("frame decoder", () => {
  test("a stream split at every byte boundary decodes to the same hello and frames", () => {
    for (let split = 0; split <= stream.byteLength; split++) {
      const decoder = new FrameDecoder({ expectHello: true });
      const first = decoder.push(stream.subarray(0, split));
      const second = decoder.push(stream.subarray(split));
      expect(first.error).toBeNull();
      expect(second.error).toBeNull();
      expect(decoder.hello).toEqual({ kind: ConnectionKind.Raft, nodeId: 7 });
      expectFrames([...first.frames, ...second.frames]);
      expect(decoder.pendingBytes).toBe(0);
    }
  });

  test("a stream fed one byte at a time decodes completely", () => {
    const decoder = new FrameDecoder({ expectHello: true });
    const frames = [];
    for (let index = 0; index < stream.byteLength; index++) {
      const result = decoder.push(stream.subarray(index, index + 1));
      expect(result.error).toBeNull();
      frames.push(...result.frames);
    }
    expectFrames(frames);
  });

  test("random chunkings (seeded) decode to the same frames", () => {
    const prng = new Prng(42);
    for (let round = 0; round < 200; round++) {
      const decoder = new FrameDecoder({ expectHello: true });
      const frames = [];
      let offset = 0;
      while (offset < stream.byteLength) {
        const size = 1 + prng.nextInt(40);
        const result = decoder.push(stream.subarray(offset, offset + size));
        expect(result.error).toBeNull();
        frames.push(...result.frames);
        offset += size;
      }
      expectFrames(frames);
    }
  });

  test("many frames in one read are all returned, as zero-copy views of the read", () => {
    const decoder = new FrameDecoder({ expectHello: true });
    const result = decoder.push(stream);
    expect(result.error).toBeNull();
    expectFrames(result.frames);
    for (const frame of result.frames) expect(frame.payload.buffer).toBe(stream.buffer);
  });

  test("a decoder without hello reads frames from the first byte", () => {
    const decoder = new FrameDecoder({ expectHello: false });
    const result = decoder.push(encodeFrame(FrameType.SnapshotAck, new Uint8Array([1, 2, 3])));
    expect(result.error).toBeNull();
    expect(result.frames.map((frame) => Array.from(frame.payload))).toEqual([[1, 2, 3]]);
    expect(decoder.hello).toBeNull();
  });

  test("a frame length over the limit is refused before its body arrives", () => {
    const decoder = new FrameDecoder({ expectHello: false });
    const result = decoder.push(frameHeader(FrameType.RaftBatch, frameSizeBytesMax).subarray(0, 5));
    expect(result.error).toBeNull(); // exactly the limit is allowed
    const oversized = new Uint8Array([0xff, 0xff, 0xff, 0xff, FrameType.RaftBatch]);
    const second = new FrameDecoder({ expectHello: false }).push(oversized);
    expect(second.error).toContain("over the limit");
    const lowered = new FrameDecoder({ expectHello: false, frameSizeBytesMax: 16 });
    expect(lowered.push(encodeFrame(FrameType.RaftBatch, new Uint8Array(17))).error).toContain("17 bytes over the limit of 16");
  });

  test("frames before an invalid one are still returned, and the decoder stays failed", () => {
    const decoder = new FrameDecoder({ expectHello: false, frameSizeBytesMax: 16 });
    const good = encodeFrame(FrameType.RaftBatch, new Uint8Array([9]));
    const result = decoder.push(concat([good, encodeFrame(FrameType.RaftBatch, new Uint8Array(32))]));
    expect(result.frames.length).toBe(1);
    expect(result.error).not.toBeNull();
    expect(decoder.push(good).error).not.toBeNull();
  });

  test("bad magic is refused at the first wrong byte", () => {
    const decoder = new FrameDecoder({ expectHello: true });
    expect(decoder.push(new Uint8Array([0x55])).error).toBeNull();
    expect(decoder.push(new Uint8Array([0x00])).error).toBe("bad magic");
    expect(new FrameDecoder({ expectHello: true }).push(new TextEncoder().encode("GET / HTTP/1.1\r\n")).error).toBe("bad magic");
  });

  test("a bad protocol version or connection kind is refused", () => {
    const hello = encodeHello({ kind: ConnectionKind.Client, nodeId: 0 });
    const badVersion = hello.slice();
    badVersion[4] = protocolVersion + 1;
    expect(new FrameDecoder({ expectHello: true }).push(badVersion).error).toContain("bad protocol version");
    const badKind = hello.slice();
    badKind[5] = 99;
    expect(new FrameDecoder({ expectHello: true }).push(badKind).error).toContain("bad connection kind 99");
    expect(hello.byteLength).toBe(helloSizeBytes);
  });

  test("seeded garbage never throws: the decoder reports an error or waits for more", () => {
    const prng = new Prng(7);
    for (let round = 0; round < 500; round++) {
      const decoder = new FrameDecoder({ expectHello: round % 2 === 0, frameSizeBytesMax: 1024 });
      for (let push = 0; push < 4; push++) {
        const garbage = payloadOf(prng.nextInt(64), prng.nextUint32());
        const result = decoder.push(garbage);
        for (const frame of result.frames) expect(frame.payload.byteLength).toBeLessThanOrEqual(1024);
      }
    }
  });

  test("sealFrame writes the header in the headroom of an encoded payload", () => {
    const buffer = new Uint8Array(5 + 3);
    buffer.set([7, 8, 9], 5);
    const decoder = new FrameDecoder({ expectHello: false });
    const result = decoder.push(sealFrame(buffer, FrameType.KvResponses));
    expect(result.frames).toEqual([{ type: FrameType.KvResponses, payload: new Uint8Array([7, 8, 9]) }]);
  });
});
