// The client-protocol listener: accepts client connections, decodes request batches, checks each
// request against the protocol limits, runs the handler, and writes the answers back batched per
// event-loop turn (in completion order; clients match them by id). Per connection, at most
// kvConnectionInflightCountMax requests run at once and the socket's write buffer must drain:
// past either, the server stops reading that socket (TCP pushes back on the client), so a fast or
// hostile client cannot grow our memory. Bad bytes close that connection only, logged as
// "frame_invalid"; a throwing handler becomes an INTERNAL answer.
import { listenTcp } from "./socket-util.ts";
import { createServer, type Server, type Socket } from "node:net";
import * as pb from "../proto/kv.ts";
import { ProtoDecodeError } from "../proto/wire.ts";
import { assert } from "../util/assert.ts";
import { frameSizeBytesMax, kvConnectionInflightCountMax } from "../util/limits.ts";
import { rootLogger, type Logger } from "../util/log.ts";
import { ConnectionKind, FrameDecoder, FrameType, frameHeaderSizeBytes, sealFrame } from "./frame.ts";
import {
  checkKvRequest,
  kvResponseFromError,
  makeKvResponse,
  requestFromWire,
  responseToWire,
  type KvRequest,
  type KvResponse,
} from "./kv-protocol.ts";

export type { KvRequest, KvResponse } from "./kv-protocol.ts";
export type KvHandler = (request: KvRequest) => Promise<KvResponse>;

export const drainTimeoutMsDefault = 5000;
/** Room left in a response frame for the batch envelope. */
const responseFrameBudgetBytes = frameSizeBytesMax - 64 * 1024;

export interface KvServerOptions {
  host: string;
  /** 0 = ephemeral (tests). */
  port: number;
  handler: KvHandler;
  logger?: Logger;
  /** Defaults to kvConnectionInflightCountMax. */
  inflightCountMax?: number;
  /** How long close() waits for in-flight answers. */
  drainTimeoutMs?: number;
}

export class KvServer {
  readonly #options: KvServerOptions;
  readonly #logger: Logger;
  readonly #connections = new Set<ServerConnection>();
  #server: Server | null = null;
  #closing: Promise<void> | null = null;

  constructor(options: KvServerOptions) {
    this.#options = options;
    this.#logger = (options.logger ?? rootLogger).child({ component: "kv-server" });
  }

  start(): Promise<{ port: number }> {
    assert(this.#server === null, "start is called once");
    const server = createServer((socket) => this.#accept(socket));
    this.#server = server;
    return listenTcp(server, { host: this.#options.host, port: this.#options.port, logger: this.#logger }).then((port) => ({ port }));
  }

  /** Stops accepting, answers what is in flight (new requests get UNAVAILABLE), then closes; bounded. */
  close(): Promise<void> {
    this.#closing ??= this.#drainAndClose();
    return this.#closing;
  }

  async #drainAndClose(): Promise<void> {
    const server = this.#server;
    const listenerClosed = server === null ? Promise.resolve() : new Promise<void>((resolve) => server.close(() => resolve()));
    const deadline = performance.now() + (this.#options.drainTimeoutMs ?? drainTimeoutMsDefault);
    for (const connection of this.#connections) connection.startDraining();
    const connections = [...this.#connections];
    // end() (not destroy) so answers still in the socket buffer reach the client.
    const ended = Promise.all(connections.map((connection) => connection.drained().then(() => connection.end())));
    await Promise.race([ended, sleep(Math.max(0, deadline - performance.now()))]);
    for (const connection of connections) connection.destroy();
    await listenerClosed;
  }

  #accept(socket: Socket): void {
    if (this.#closing !== null) {
      socket.destroy();
      return;
    }
    const connection = new ServerConnection(socket, {
      handler: this.#options.handler,
      logger: this.#logger,
      inflightCountMax: this.#options.inflightCountMax ?? kvConnectionInflightCountMax,
      onClosed: () => this.#connections.delete(connection),
    });
    this.#connections.add(connection);
  }
}

function sleep(ms: number): Promise<void> {
  // unref: the drain bound must not keep a stopped process alive for its full length.
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}

interface ServerConnectionOptions {
  handler: KvHandler;
  logger: Logger;
  inflightCountMax: number;
  onClosed(): void;
}

/** One client connection: decode, dispatch, batch answers, push back. */
class ServerConnection {
  readonly #socket: Socket;
  readonly #options: ServerConnectionOptions;
  readonly #remote: string;
  readonly #decoder = new FrameDecoder({ expectHello: true });
  #helloChecked = false;
  #inflightCount = 0;
  #outgoing: pb.Response[] = [];
  #flushScheduled = false;
  #writable = true;
  #paused = false;
  #draining = false;
  #closed = false;
  #onDrained: (() => void) | null = null;

  constructor(socket: Socket, options: ServerConnectionOptions) {
    assert(options.inflightCountMax > 0, "a connection may run at least one request");
    this.#socket = socket;
    this.#options = options;
    this.#remote = `${socket.remoteAddress}:${socket.remotePort}`;
    socket.setNoDelay(true);
    socket.on("error", () => {}); // followed by 'close'
    socket.on("close", () => {
      this.#closed = true;
      this.#onDrained?.();
      options.onClosed();
    });
    socket.on("drain", () => {
      this.#writable = true;
      this.#updateReading();
    });
    socket.on("data", (chunk: Uint8Array) => {
      try {
        this.#onData(chunk);
      } catch (error) {
        // A bug in decoding must not take the node down: drop this connection only.
        this.#reject(`internal error: ${error instanceof Error ? error.message : String(error)}`);
      }
    });
  }

  startDraining(): void {
    this.#draining = true;
  }

  /** Resolves when every in-flight request was answered and written (or the socket closed). */
  drained(): Promise<void> {
    if (this.#closed || (this.#inflightCount === 0 && this.#outgoing.length === 0)) return Promise.resolve();
    return new Promise((resolve) => {
      this.#onDrained = resolve;
    });
  }

  /** Half-closes after the buffered answers are sent; resolves when the socket closed. */
  end(): Promise<void> {
    if (this.#closed) return Promise.resolve();
    return new Promise((resolve) => {
      this.#socket.once("close", () => resolve());
      this.#socket.end();
    });
  }

  destroy(): void {
    this.#socket.destroy();
  }

  #onData(chunk: Uint8Array): void {
    if (this.#closed) return;
    const { frames, error } = this.#decoder.push(chunk);
    if (!this.#helloChecked && this.#decoder.hello !== null) {
      this.#helloChecked = true;
      if (this.#decoder.hello.kind !== ConnectionKind.Client) return this.#reject(`connection kind ${this.#decoder.hello.kind} on the client port`);
    }
    for (const frame of frames) {
      if (this.#socket.destroyed) return;
      if (frame.type !== FrameType.KvRequests) return this.#reject(`frame type ${frame.type} on a client connection`);
      let batch: pb.RequestBatch;
      try {
        batch = pb.decodeRequestBatch(frame.payload);
      } catch (decodeError) {
        if (decodeError instanceof ProtoDecodeError) return this.#reject(decodeError.message);
        throw decodeError;
      }
      for (const request of batch.requests) this.#dispatch(request);
    }
    if (error !== null) this.#reject(error);
  }

  #reject(reason: string): void {
    this.#options.logger.warn({ event: "frame_invalid", remote: this.#remote, reason });
    this.#socket.destroy();
  }

  #dispatch(wire: pb.Request): void {
    const decoded = requestFromWire(wire);
    if (!("op" in decoded)) return this.#answer(decoded);
    const refused = checkKvRequest(decoded);
    if (refused !== null) return this.#answer(refused);
    if (this.#draining) return this.#answer(makeKvResponse(decoded.id, "UNAVAILABLE", { message: "Server is shutting down" }));
    this.#inflightCount++;
    this.#updateReading();
    let answer: Promise<KvResponse>;
    try {
      answer = this.#options.handler(decoded);
    } catch (error) {
      answer = Promise.reject(error);
    }
    answer.then(
      (response) => this.#finish(decoded.id, response),
      (error: unknown) => {
        this.#options.logger.error({ event: "handler_error", requestId: decoded.id, err: error });
        this.#finish(decoded.id, kvResponseFromError(decoded.id, error));
      },
    );
  }

  #finish(id: number, response: KvResponse): void {
    this.#inflightCount--;
    assert(this.#inflightCount >= 0, "every answer matches one dispatched request");
    // The id is the protocol's, not the handler's: a handler cannot misroute an answer.
    this.#answer(response.id === id ? response : { ...response, id });
    this.#updateReading();
  }

  #answer(response: KvResponse): void {
    if (this.#closed) return;
    this.#outgoing.push(responseToWire(response));
    if (!this.#flushScheduled) {
      this.#flushScheduled = true;
      setImmediate(() => this.#flush());
    }
  }

  #flush(): void {
    this.#flushScheduled = false;
    const responses = this.#outgoing;
    this.#outgoing = [];
    if (this.#closed) return;
    let frame: pb.Response[] = [];
    let frameBytes = 0;
    for (const planned of responses) {
      let response = planned;
      let sizeBytes = pb.sizeResponse(response) + 8;
      if (sizeBytes > responseFrameBudgetBytes) {
        // Only a handler bug gets here (values are limited far below a frame): answer, don't crash.
        this.#options.logger.error({ event: "response_too_large", requestId: response.id, sizeBytes });
        response = responseToWire(makeKvResponse(response.id, "INTERNAL", { message: `Response of ${sizeBytes} bytes over the frame limit` }));
        sizeBytes = pb.sizeResponse(response) + 8;
      }
      if (frameBytes + sizeBytes > responseFrameBudgetBytes && frame.length > 0) {
        this.#write(frame);
        frame = [];
        frameBytes = 0;
      }
      frame.push(response);
      frameBytes += sizeBytes;
    }
    if (frame.length > 0) this.#write(frame);
    if (this.#inflightCount === 0) this.#onDrained?.();
  }

  #write(responses: pb.Response[]): void {
    const bytes = sealFrame(pb.encodeResponseBatch({ responses }, frameHeaderSizeBytes), FrameType.KvResponses);
    if (!this.#socket.write(bytes)) this.#writable = false;
    this.#updateReading();
  }

  /** Reads only while answers can be taken: in-flight below the limit and the write buffer drained. */
  #updateReading(): void {
    const shouldPause = !this.#writable || this.#inflightCount >= this.#options.inflightCountMax;
    if (shouldPause && !this.#paused) {
      this.#paused = true;
      this.#socket.pause();
    } else if (!shouldPause && this.#paused) {
      this.#paused = false;
      this.#socket.resume();
    }
  }
}
