// Streaming a snapshot file to a peer over its own connection (kind Snapshot), so a multi-MB file
// never delays heartbeats on the Raft connection. Sender: hello, SNAPSHOT_BEGIN (the Raft message,
// so the receiver can store chunks as they come), SNAPSHOT_CHUNK x N (file order, each write waits
// for socket drain), SNAPSHOT_END (chunk count and size, checked by the receiver), then waits for
// SNAPSHOT_ACK. Receiver: hands the runtime an async iterable of the chunks at BEGIN; pauses the
// socket while too many chunks wait unread; acks with the outcome of the runtime's onSnapshot.
import { open, type FileHandle } from "node:fs/promises";
import * as pb from "../proto/raft.ts";
import { ProtoDecodeError } from "../proto/wire.ts";
import type { Message } from "../raft/types.ts";
import { MessageType } from "../raft/types.ts";
import { assert } from "../util/assert.ts";
import { UkvError } from "../util/errors.ts";
import { snapshotChunkSizeBytes } from "../util/limits.ts";
import type { Logger } from "../util/log.ts";
import { ConnectionKind, FrameDecoder, FrameType, encodeHello, frameHeaderSizeBytes, sealFrame } from "./frame.ts";
import { messageFromProto, messageToProto, ownedBytes } from "./raft-codec.ts";
import { dialTcp, type TcpConnection } from "./tcp-connection.ts";

/** Chunks received but not yet read by the runtime before the socket is paused. */
const chunksBufferedMax = 8;
export const snapshotAckTimeoutMsDefault = 60_000;
/** A receiver that reads nothing for this long is stuck: the sender gives up (Raft retries later). */
export const snapshotStallTimeoutMsDefault = 30_000;

export type SnapshotHandler = (groupId: number, message: Message, chunks: AsyncIterable<Uint8Array>) => Promise<void>;

/** An async iterable fed by the socket; calls onDrained when the reader catches up (to resume). */
export class ChunkQueue implements AsyncIterable<Uint8Array> {
  #chunks: Uint8Array[] = [];
  #ended = false;
  #error: Error | null = null;
  #wake: (() => void) | null = null;
  readonly #onDrained: () => void;

  constructor(onDrained: () => void) {
    this.#onDrained = onDrained;
  }

  get bufferedCount(): number {
    return this.#chunks.length;
  }

  push(chunk: Uint8Array): void {
    assert(!this.#ended && this.#error === null, "no chunk after the end of a stream");
    this.#chunks.push(chunk);
    this.#wakeReader();
  }

  end(): void {
    this.#ended = true;
    this.#wakeReader();
  }

  /** The reader's next step throws `error` (buffered chunks are discarded: the stream is broken). */
  fail(error: Error): void {
    if (this.#ended) return;
    this.#error = error;
    this.#chunks = [];
    this.#wakeReader();
  }

  async *[Symbol.asyncIterator](): AsyncIterator<Uint8Array> {
    for (;;) {
      if (this.#error !== null) throw this.#error;
      const chunk = this.#chunks.shift();
      if (chunk !== undefined) {
        if (this.#chunks.length === 0) this.#onDrained();
        yield chunk;
        continue;
      }
      if (this.#ended) return;
      await new Promise<void>((resolve) => {
        this.#wake = resolve;
      });
    }
  }

  #wakeReader(): void {
    const wake = this.#wake;
    this.#wake = null;
    wake?.();
  }
}

function payloadFrame<T>(type: FrameType, value: T, encode: (value: T, headroomBytes: number) => Uint8Array): Uint8Array {
  return sealFrame(encode(value, frameHeaderSizeBytes), type);
}

export interface SnapshotSendOptions {
  address: string;
  localNodeId: number;
  groupId: number;
  streamId: number;
  message: Message;
  filePath: string;
  logger: Logger;
  ackTimeoutMs?: number;
  stallTimeoutMs?: number;
  /** Aborting closes the stream's connection (the transport is closing). */
  signal?: AbortSignal;
}

/** Resolves when the receiver acknowledged a stored snapshot; rejects with a UkvError otherwise. */
export async function sendSnapshotFile(options: SnapshotSendOptions): Promise<void> {
  const file = await open(options.filePath, "r").catch((error: unknown) => {
    throw new UkvError("IO_ERROR", `Cannot open snapshot file: ${options.filePath}`, { cause: error });
  });
  let socket: TcpConnection | null = null;
  const abort = (): void => {
    socket?.destroy();
  };
  try {
    socket = await dialTcp(options.address);
    if (options.signal?.aborted === true) abort();
    options.signal?.addEventListener("abort", abort);
    await streamFile(new SnapshotSendConnection(socket, options.streamId, options.stallTimeoutMs ?? snapshotStallTimeoutMsDefault), file, options);
  } finally {
    options.signal?.removeEventListener("abort", abort);
    socket?.destroy();
    await file.close();
  }
}

/**
 * The sending end of one snapshot connection: writes that wait while the connection is full
 * (failing with TIMEOUT, and closing it, when the receiver reads nothing for the stall timeout;
 * with CLOSED when it closes), and the wait for the receiver's acknowledgement.
 */
class SnapshotSendConnection {
  readonly #socket: TcpConnection;
  readonly #streamId: number;
  readonly #stallTimeoutMs: number;
  readonly #decoder = new FrameDecoder({ expectHello: false });
  #wakeWriter: (() => void) | null = null;
  #ackTimer: ReturnType<typeof setTimeout> | null = null;
  #ackDone = false;
  #resolveAck!: () => void;
  #rejectAck!: (error: Error) => void;
  /** Settles once with the receiver's answer (or the connection's end). */
  readonly ack: Promise<void>;

  constructor(socket: TcpConnection, streamId: number, stallTimeoutMs: number) {
    this.#socket = socket;
    this.#streamId = streamId;
    this.#stallTimeoutMs = stallTimeoutMs;
    this.ack = new Promise<void>((resolve, reject) => {
      this.#resolveAck = resolve;
      this.#rejectAck = reject;
    });
    socket.attach({
      data: (chunk) => this.#onData(chunk),
      drain: () => this.#wake(),
      close: () => {
        this.#finishAck(new UkvError("CLOSED", "Snapshot connection closed before the acknowledgement"));
        this.#wake();
      },
    });
  }

  get ackSettled(): boolean {
    return this.#ackDone;
  }

  /** Writes; while the connection is full, waits for it to drain. */
  async write(bytes: Uint8Array): Promise<void> {
    if (this.#socket.closed) throw new UkvError("CLOSED", "Socket closed before the write");
    if (this.#socket.write(bytes)) return;
    await new Promise<void>((resolve, reject) => {
      const timer = Number.isFinite(this.#stallTimeoutMs)
        ? setTimeout(() => {
            this.#wakeWriter = null;
            const error = new UkvError("TIMEOUT", `Peer read nothing for ${this.#stallTimeoutMs} ms`);
            this.#finishAck(error); // the stream's outcome, not the close that follows
            this.#socket.destroy();
            reject(error);
          }, this.#stallTimeoutMs)
        : null;
      this.#wakeWriter = () => {
        if (timer !== null) clearTimeout(timer);
        if (this.#socket.closed) reject(new UkvError("CLOSED", "Socket closed while waiting for drain"));
        else resolve();
      };
    });
  }

  startAckDeadline(timeoutMs: number): void {
    if (this.#ackDone) return;
    this.#ackTimer = setTimeout(() => this.#finishAck(new UkvError("TIMEOUT", `No snapshot acknowledgement ${timeoutMs} ms after the end`)), timeoutMs);
  }

  #wake(): void {
    const wake = this.#wakeWriter;
    this.#wakeWriter = null;
    wake?.();
  }

  #onData(chunk: Uint8Array): void {
    const { frames, error } = this.#decoder.push(chunk);
    if (error !== null) return this.#finishAck(new UkvError("FRAME_INVALID", `Invalid answer from the snapshot receiver: ${error}`));
    for (const frame of frames) {
      if (frame.type !== FrameType.SnapshotAck) return this.#finishAck(new UkvError("FRAME_INVALID", `Unexpected frame type ${frame.type}`));
      let answer: pb.SnapshotAck;
      try {
        answer = pb.decodeSnapshotAck(frame.payload);
      } catch (cause) {
        return this.#finishAck(new UkvError("FRAME_INVALID", "Malformed snapshot acknowledgement", { cause }));
      }
      if (answer.streamId !== this.#streamId) return this.#finishAck(new UkvError("FRAME_INVALID", `Acknowledgement for stream ${answer.streamId}`));
      return this.#finishAck(answer.ok ? null : new UkvError("IO_ERROR", `Peer refused the snapshot: ${answer.error}`));
    }
  }

  #finishAck(error: Error | null): void {
    if (this.#ackDone) return;
    this.#ackDone = true;
    if (this.#ackTimer !== null) clearTimeout(this.#ackTimer);
    if (error === null) this.#resolveAck();
    else this.#rejectAck(error);
  }
}

async function streamFile(link: SnapshotSendConnection, file: FileHandle, options: SnapshotSendOptions): Promise<void> {
  const { streamId, groupId, message } = options;
  // Observed, so a failure before the end is not an unhandled rejection (the catch below reads it).
  link.ack.catch(() => {});
  try {
    await link.write(encodeHello({ kind: ConnectionKind.Snapshot, nodeId: options.localNodeId }));
    await link.write(payloadFrame(FrameType.SnapshotBegin, { streamId, groupId, message: messageToProto(message) }, pb.encodeSnapshotBegin));
    let chunkCount = 0;
    let sizeBytes = 0;
    // Stop early when the receiver already answered (it failed): the rest would be wasted.
    while (!link.ackSettled) {
      const buffer = new Uint8Array(snapshotChunkSizeBytes);
      const { bytesRead } = await file.read(buffer, 0, buffer.byteLength, sizeBytes);
      if (bytesRead === 0) break;
      const chunk: pb.SnapshotChunk = { streamId, data: buffer.subarray(0, bytesRead) };
      await link.write(payloadFrame(FrameType.SnapshotChunk, chunk, pb.encodeSnapshotChunk));
      chunkCount++;
      sizeBytes += bytesRead;
    }
    if (!link.ackSettled) {
      await link.write(payloadFrame(FrameType.SnapshotEnd, { streamId, chunkCount, sizeBytes }, pb.encodeSnapshotEnd));
    }
    // The deadline starts once everything is sent: streaming time depends on the file, storing does not.
    link.startAckDeadline(options.ackTimeoutMs ?? snapshotAckTimeoutMsDefault);
    await link.ack;
    options.logger.debug({ event: "snapshot_streamed", group: groupId, to: message.to, chunkCount, sizeBytes });
  } catch (error) {
    // A failed write usually means the receiver answered and closed: its answer decides.
    if (!link.ackSettled) throw error;
    await link.ack;
  }
}

export interface SnapshotReceiverOptions {
  /** The sender's node id, from the connection's hello. */
  peerId: number;
  localNodeId: number;
  onSnapshot: SnapshotHandler;
  /** Writes a frame back to the sender. */
  reply(frame: Uint8Array): void;
  pause(): void;
  resume(): void;
  logger: Logger;
}

/** The receiving end of one snapshot connection. handleFrame throws ProtoDecodeError on protocol violations. */
export class SnapshotReceiver {
  readonly #options: SnapshotReceiverOptions;
  #streamId = -1;
  #queue: ChunkQueue | null = null;
  #chunkCount = 0;
  #sizeBytes = 0;
  #ended = false;
  #answered = false;

  constructor(options: SnapshotReceiverOptions) {
    this.#options = options;
  }

  handleFrame(type: number, payload: Uint8Array): void {
    if (type === FrameType.SnapshotBegin) this.#begin(pb.decodeSnapshotBegin(ownedBytes(payload)));
    else if (type === FrameType.SnapshotChunk) this.#chunk(pb.decodeSnapshotChunk(payload));
    else if (type === FrameType.SnapshotEnd) this.#end(pb.decodeSnapshotEnd(payload));
    else throw new ProtoDecodeError(`Frame type ${type} on a snapshot connection`);
  }

  /** The connection closed: a stream without its END is broken. */
  connectionClosed(): void {
    if (this.#queue !== null && !this.#ended) {
      this.#queue.fail(new UkvError("CLOSED", `Snapshot stream from node ${this.#options.peerId} closed before its end`));
    }
  }

  #begin(begin: pb.SnapshotBegin): void {
    if (this.#queue !== null) throw new ProtoDecodeError("A second SNAPSHOT_BEGIN on one connection");
    if (begin.message === null) throw new ProtoDecodeError("SNAPSHOT_BEGIN without a message");
    const message = messageFromProto(begin.message);
    if (message.type !== MessageType.Snapshot || message.snapshot === null) throw new ProtoDecodeError("SNAPSHOT_BEGIN carries no snapshot message");
    if (message.from !== this.#options.peerId || message.to !== this.#options.localNodeId) {
      throw new ProtoDecodeError(`Snapshot message ${message.from} -> ${message.to} on a connection from node ${this.#options.peerId}`);
    }
    this.#streamId = begin.streamId;
    const queue = new ChunkQueue(() => this.#options.resume());
    this.#queue = queue;
    let stored: Promise<void>;
    try {
      stored = this.#options.onSnapshot(begin.groupId, message, queue);
    } catch (error) {
      stored = Promise.reject(error);
    }
    stored.then(
      () => this.#answer(true, ""),
      (error: unknown) => {
        this.#options.logger.warn({ event: "snapshot_receive_failed", from: this.#options.peerId, group: begin.groupId, err: error });
        this.#answer(false, error instanceof Error ? error.message : String(error));
      },
    );
  }

  #chunk(chunk: pb.SnapshotChunk): void {
    const queue = this.#requireStream(chunk.streamId);
    if (this.#ended) throw new ProtoDecodeError("SNAPSHOT_CHUNK after SNAPSHOT_END");
    if (this.#answered) return; // the runtime already failed: discard the rest
    this.#chunkCount++;
    this.#sizeBytes += chunk.data.byteLength;
    queue.push(chunk.data);
    if (queue.bufferedCount >= chunksBufferedMax) this.#options.pause();
  }

  #end(end: pb.SnapshotEnd): void {
    const queue = this.#requireStream(end.streamId);
    if (this.#ended) throw new ProtoDecodeError("A second SNAPSHOT_END");
    if (end.chunkCount !== this.#chunkCount || end.sizeBytes !== this.#sizeBytes) {
      queue.fail(
        new UkvError("SNAPSHOT_CORRUPT", `Snapshot stream incomplete: got ${this.#chunkCount} chunks / ${this.#sizeBytes} bytes, sender sent ${end.chunkCount} / ${end.sizeBytes}`),
      );
    }
    this.#ended = true;
    queue.end();
  }

  #requireStream(streamId: number): ChunkQueue {
    if (this.#queue === null) throw new ProtoDecodeError("Snapshot frame before SNAPSHOT_BEGIN");
    if (streamId !== this.#streamId) throw new ProtoDecodeError(`Frame of stream ${streamId} on stream ${this.#streamId}`);
    return this.#queue;
  }

  #answer(ok: boolean, error: string): void {
    if (this.#answered) return;
    this.#answered = true;
    this.#options.resume(); // never leave a paused socket behind: the sender must see our answer
    this.#options.reply(payloadFrame(FrameType.SnapshotAck, { streamId: this.#streamId, ok, error }, pb.encodeSnapshotAck));
  }
}
