// The byte layout of every TCP connection between ukv processes, and its incremental decoder.
// A connection opens with a hello, then carries frames:
//   hello: "UKV1" (4 bytes) | u8 protocol version | u8 connection kind | u32 sender node id (0 for clients)
//   frame: u32 payload length | u8 frame type | payload (a protobuf message, see proto/*.proto)
// Integers are big-endian. The payload length never exceeds frameSizeBytesMax: a larger length is
// a protocol violation and the connection is closed (a peer cannot make us allocate 4 GiB).
// The decoder handles frames split across reads and many frames per read. A frame that lies whole
// inside one read is returned as a zero-copy view of it; a split frame is assembled once into its
// own buffer (no repeated concatenation). Read buffers are never reused, so views stay valid.
import { getU32BE, setU32BE } from "../util/byte-fields.ts";
import { assert } from "../util/assert.ts";
import { frameSizeBytesMax } from "../util/limits.ts";

export const protocolVersion = 1;
export const helloSizeBytes = 10;
export const frameHeaderSizeBytes = 5;
const helloMagic = new Uint8Array([0x55, 0x4b, 0x56, 0x31]); // "UKV1"
const nodeIdMax = 0xffffffff;

export enum ConnectionKind {
  /** Raft messages between two nodes. */
  Raft = 1,
  /** The client protocol (requests and responses). */
  Client = 2,
  /** One streamed snapshot; its own connection, so a large file never delays heartbeats. */
  Snapshot = 3,
}

export enum FrameType {
  RaftBatch = 1,
  SnapshotBegin = 2,
  SnapshotChunk = 3,
  SnapshotEnd = 4,
  SnapshotAck = 5,
  KvRequests = 16,
  KvResponses = 17,
  /** Client -> server, before any request: the cluster's password (client-auth.ts). */
  KvAuth = 18,
}

export interface Hello {
  kind: ConnectionKind;
  /** The sender's node id; 0 for clients. */
  nodeId: number;
}

export interface Frame {
  /** Not checked by the decoder: each connection kind accepts its own types. */
  type: number;
  payload: Uint8Array;
}

export function encodeHello(hello: Hello): Uint8Array {
  assert(Number.isInteger(hello.nodeId) && hello.nodeId >= 0 && hello.nodeId <= nodeIdMax, "a node id fits in u32");
  const bytes = new Uint8Array(helloSizeBytes);
  bytes.set(helloMagic, 0);
  const view = new DataView(bytes.buffer);
  view.setUint8(4, protocolVersion);
  view.setUint8(5, hello.kind);
  view.setUint32(6, hello.nodeId);
  return bytes;
}

/** Writes the frame header into the first frameHeaderSizeBytes of `buffer` (payload follows it). */
export function sealFrame(buffer: Uint8Array, type: FrameType): Uint8Array {
  const payloadSizeBytes = buffer.byteLength - frameHeaderSizeBytes;
  assert(payloadSizeBytes >= 0, "a frame buffer has room for its header");
  assert(payloadSizeBytes <= frameSizeBytesMax, "senders never build a frame over frameSizeBytesMax");
  setU32BE(buffer, 0, payloadSizeBytes);
  buffer[4] = type;
  return buffer;
}

/** The header alone, for payloads written separately (snapshot chunks: no copy of the data). */
export function frameHeader(type: FrameType, payloadSizeBytes: number): Uint8Array {
  assert(payloadSizeBytes >= 0 && payloadSizeBytes <= frameSizeBytesMax, "a frame payload fits the limit");
  const header = new Uint8Array(frameHeaderSizeBytes);
  setU32BE(header, 0, payloadSizeBytes);
  header[4] = type;
  return header;
}

export function encodeFrame(type: FrameType, payload: Uint8Array): Uint8Array {
  const buffer = new Uint8Array(frameHeaderSizeBytes + payload.byteLength);
  buffer.set(payload, frameHeaderSizeBytes);
  return sealFrame(buffer, type);
}

export interface DecodeResult {
  frames: Frame[];
  /** Why the stream is invalid; the caller closes the connection. Frames before it are valid. */
  error: string | null;
}

export interface FrameDecoderOptions {
  /** True on the accepting side: the stream must open with a hello. */
  expectHello: boolean;
  /** Defaults to frameSizeBytesMax; tests lower it. */
  frameSizeBytesMax?: number;
}

export class FrameDecoder {
  readonly #frameSizeBytesMax: number;
  #hello: Hello | null = null;
  #helloBuffer: Uint8Array | null;
  #helloFilled = 0;
  readonly #header = new Uint8Array(frameHeaderSizeBytes);
  #headerFilled = 0;
  #body: Uint8Array | null = null;
  #bodyType = 0;
  #bodyFilled = 0;
  #error: string | null = null;

  constructor(options: FrameDecoderOptions) {
    this.#frameSizeBytesMax = options.frameSizeBytesMax ?? frameSizeBytesMax;
    assert(this.#frameSizeBytesMax > 0 && this.#frameSizeBytesMax <= frameSizeBytesMax, "a decoder limit within the global one");
    this.#helloBuffer = options.expectHello ? new Uint8Array(helloSizeBytes) : null;
  }

  /** The peer's hello, once received (always null when no hello is expected). */
  get hello(): Hello | null {
    return this.#hello;
  }

  /** Bytes of a partly received frame or hello (0 at a frame boundary). */
  get pendingBytes(): number {
    return this.#helloFilled + this.#headerFilled + this.#bodyFilled;
  }

  push(chunk: Uint8Array): DecodeResult {
    const frames: Frame[] = [];
    if (this.#error !== null) return { frames, error: this.#error };
    let offset = 0;
    if (this.#helloBuffer !== null) {
      offset = this.#pushHello(chunk);
      if (this.#error !== null || this.#helloBuffer !== null) return { frames, error: this.#error };
    }
    while (offset < chunk.byteLength) {
      offset = this.#body === null ? this.#pushHeader(chunk, offset, frames) : this.#pushBody(chunk, offset, frames);
      if (this.#error !== null) break;
    }
    return { frames, error: this.#error };
  }

  /** Consumes hello bytes; checks the magic byte by byte so garbage is refused at once. */
  #pushHello(chunk: Uint8Array): number {
    const buffer = this.#helloBuffer;
    assert(buffer !== null, "called only while a hello is expected");
    const count = Math.min(helloSizeBytes - this.#helloFilled, chunk.byteLength);
    buffer.set(chunk.subarray(0, count), this.#helloFilled);
    const checkedEnd = Math.min(this.#helloFilled + count, helloMagic.byteLength);
    for (let index = this.#helloFilled; index < checkedEnd; index++) {
      if (buffer[index] !== helloMagic[index]) {
        this.#error = "bad magic";
        return count;
      }
    }
    this.#helloFilled += count;
    if (this.#helloFilled < helloSizeBytes) return count;
    const view = new DataView(buffer.buffer);
    const version = view.getUint8(4);
    const kind = view.getUint8(5);
    if (version !== protocolVersion) this.#error = `bad protocol version ${version}, expected ${protocolVersion}`;
    else if (kind !== ConnectionKind.Raft && kind !== ConnectionKind.Client && kind !== ConnectionKind.Snapshot) {
      this.#error = `bad connection kind ${kind}`;
    } else this.#hello = { kind, nodeId: view.getUint32(6) };
    this.#helloBuffer = null;
    this.#helloFilled = 0;
    return count;
  }

  #pushHeader(chunk: Uint8Array, offset: number, frames: Frame[]): number {
    let position = offset;
    let payloadSizeBytes: number;
    let type: number;
    const available = chunk.byteLength - position;
    if (this.#headerFilled === 0 && available >= frameHeaderSizeBytes) {
      payloadSizeBytes = getU32BE(chunk, position);
      type = chunk[position + 4] as number;
      position += frameHeaderSizeBytes;
    } else {
      const count = Math.min(frameHeaderSizeBytes - this.#headerFilled, available);
      this.#header.set(chunk.subarray(position, position + count), this.#headerFilled);
      this.#headerFilled += count;
      position += count;
      if (this.#headerFilled < frameHeaderSizeBytes) return position;
      payloadSizeBytes = getU32BE(this.#header, 0);
      type = this.#header[4] as number;
      this.#headerFilled = 0;
    }
    if (payloadSizeBytes > this.#frameSizeBytesMax) {
      this.#error = `frame of ${payloadSizeBytes} bytes over the limit of ${this.#frameSizeBytesMax}`;
      return chunk.byteLength;
    }
    if (chunk.byteLength - position >= payloadSizeBytes) {
      frames.push({ type, payload: chunk.subarray(position, position + payloadSizeBytes) });
      return position + payloadSizeBytes;
    }
    // Split frame: assemble it once into a buffer of its exact size.
    this.#body = new Uint8Array(payloadSizeBytes);
    this.#bodyType = type;
    this.#bodyFilled = 0;
    return position;
  }

  #pushBody(chunk: Uint8Array, offset: number, frames: Frame[]): number {
    const body = this.#body;
    assert(body !== null, "called only inside a split frame");
    const count = Math.min(body.byteLength - this.#bodyFilled, chunk.byteLength - offset);
    body.set(chunk.subarray(offset, offset + count), this.#bodyFilled);
    this.#bodyFilled += count;
    if (this.#bodyFilled === body.byteLength) {
      frames.push({ type: this.#bodyType, payload: body });
      this.#body = null;
      this.#bodyFilled = 0;
    }
    return offset + count;
  }
}
