// The client-protocol listener: accepts client connections, decodes request batches, checks each
// request against the protocol limits, runs the handler, and writes the answers back batched per
// event-loop turn (in completion order; clients match them by id). Per connection, at most
// kvConnectionInflightCountMax requests run at once and the socket's write buffer must drain:
// past either, the server stops reading that socket (TCP pushes back on the client), so a fast or
// hostile client cannot grow our memory. Bad bytes close that connection only, logged as
// "frame_invalid"; a throwing handler becomes an INTERNAL answer. The listener, push-back and the
// bounded close are the connection base's (connection-server.ts), shared with RESP.
import * as pb from "../proto/kv.ts";
import { ProtoDecodeError } from "../proto/wire.ts";
import { assert } from "../util/assert.ts";
import { frameSizeBytesMax, kvConnectionInflightCountMax } from "../util/limits.ts";
import { rootLogger, type Logger } from "../util/log.ts";
import { noAuthMessage, passwordMatches, wrongPassMessage } from "./client-auth.ts";
import { ConnectionServer, ServedConnection } from "./connection-server.ts";
import { ConnectionKind, FrameDecoder, FrameType, frameHeaderSizeBytes, sealFrame } from "./frame.ts";
import type { ByteConnection } from "./tcp-connection.ts";
import { atTurnEnd } from "./turn-end.ts";
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
  /** How long close() waits for in-flight answers. Default drainTimeoutMsDefault (connection-server.ts). */
  drainTimeoutMs?: number;
  /** The cluster's requirepass: requests of a connection without it are refused (client-auth.ts). */
  password?: string | null;
}

export class KvServer {
  readonly #server: ConnectionServer<KvConnection>;

  constructor(options: KvServerOptions) {
    const logger = (options.logger ?? rootLogger).child({ component: "kv-server" });
    const inflightCountMax = options.inflightCountMax ?? kvConnectionInflightCountMax;
    this.#server = new ConnectionServer({
      host: options.host,
      port: options.port,
      logger,
      ...(options.drainTimeoutMs === undefined ? {} : { drainTimeoutMs: options.drainTimeoutMs }),
      open: (connection, onClosed) => new KvConnection(connection, { handler: options.handler, logger, inflightCountMax, onClosed, password: options.password ?? null }),
    });
  }

  /**
   * Serves a client-protocol connection the Raft listener accepted (transport/raft-transport.ts):
   * inside a cluster, stores send their writes there, to the Raft thread, not through the read
   * pool's Workers that own the client port.
   */
  adopt(connection: ByteConnection): void {
    this.#server.adopt(connection);
  }

  /** Open client connections (metrics). */
  get connectionCount(): number {
    return this.#server.connectionCount;
  }

  async start(): Promise<{ port: number }> {
    return { port: await this.#server.start() };
  }

  /** Stops accepting, answers what is in flight (new requests get UNAVAILABLE), then closes; bounded. */
  close(): Promise<void> {
    return this.#server.close();
  }
}

interface KvConnectionOptions {
  handler: KvHandler;
  logger: Logger;
  inflightCountMax: number;
  onClosed(): void;
  password: string | null;
}

/** One client connection: decode, dispatch, batch answers; push-back and close are the base's. */
class KvConnection extends ServedConnection {
  readonly #options: KvConnectionOptions;
  readonly #remote: string;
  readonly #decoder = new FrameDecoder({ expectHello: true });
  #helloChecked = false;
  #inflightCount = 0;
  #outgoing: pb.Response[] = [];
  #flushScheduled = false;
  #draining = false;
  /** "none" until the connection sent a KvAuth frame (only matters with a password). */
  #auth: "none" | "ok" | "wrong" = "none";
  readonly #flushTask = (): void => this.#flush();

  constructor(connection: ByteConnection, options: KvConnectionOptions) {
    assert(options.inflightCountMax > 0, "a connection may run at least one request");
    super(connection, options.onClosed);
    this.#options = options;
    this.#remote = `${connection.remoteAddress}:${connection.remotePort}`;
  }

  protected override onData(chunk: Uint8Array): void {
    try {
      this.#onData(chunk);
    } catch (error) {
      // A bug in decoding must not take the node down: drop this connection only.
      this.#reject(`internal error: ${error instanceof Error ? error.message : String(error)}`);
    }
  }

  protected override isIdle(): boolean {
    return this.#inflightCount === 0 && this.#outgoing.length === 0;
  }

  protected override readingBlocked(): boolean {
    return this.#inflightCount >= this.#options.inflightCountMax;
  }

  /** Draining: requests still arriving are answered UNAVAILABLE. */
  protected override stopTaking(): void {
    this.#draining = true;
  }

  #onData(chunk: Uint8Array): void {
    if (this.closed) return;
    const { frames, error } = this.#decoder.push(chunk);
    if (!this.#helloChecked && this.#decoder.hello !== null) {
      this.#helloChecked = true;
      if (this.#decoder.hello.kind !== ConnectionKind.Client) return this.#reject(`connection kind ${this.#decoder.hello.kind} on the client port`);
    }
    for (const frame of frames) {
      if (this.closed) return;
      if (frame.type === FrameType.KvAuth) {
        // Without a password the frame is ignored, so clients may send it to any cluster.
        this.#auth = this.#options.password === null || passwordMatches(frame.payload, this.#options.password) ? "ok" : "wrong";
        if (this.#auth === "wrong") this.#options.logger.warn({ event: "auth_failed", remote: this.#remote });
        continue;
      }
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
    this.destroy();
  }

  #dispatch(wire: pb.Request): void {
    const decoded = requestFromWire(wire);
    if (!("op" in decoded)) return this.#answer(decoded);
    if (this.#options.password !== null && this.#auth !== "ok") {
      return this.#answer(makeKvResponse(decoded.id, "UNAUTHENTICATED", { message: this.#auth === "wrong" ? wrongPassMessage : noAuthMessage }));
    }
    const refused = checkKvRequest(decoded);
    if (refused !== null) return this.#answer(refused);
    if (this.#draining) return this.#answer(makeKvResponse(decoded.id, "UNAVAILABLE", { message: "Server is shutting down" }));
    this.#inflightCount++;
    this.updateReading();
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
    this.updateReading();
  }

  #answer(response: KvResponse): void {
    if (this.closed) return;
    this.#outgoing.push(responseToWire(response));
    if (!this.#flushScheduled) {
      this.#flushScheduled = true;
      atTurnEnd(this.#flushTask);
    }
  }

  #flush(): void {
    this.#flushScheduled = false;
    const responses = this.#outgoing;
    this.#outgoing = [];
    if (this.closed) return;
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
    this.noteAnswered();
  }

  #write(responses: pb.Response[]): void {
    this.write(sealFrame(pb.encodeResponseBatch({ responses }, frameHeaderSizeBytes), FrameType.KvResponses));
  }
}
