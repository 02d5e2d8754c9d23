// The one connection base of the client-facing listeners (the client protocol, kv-server.ts, and
// RESP, router/resp/): what a TCP listener does with its connections apart from their protocol.
//
// ConnectionServer owns the listener and the connection set: accept (refused while closing or at
// the listener's connection limit), and a bounded close: stop accepting, let every connection
// answer what it took, end the sockets (end, not destroy, so answers still in a socket buffer
// reach the client), destroy whatever is left when the drain timeout passes.
//
// ServedConnection owns one connection (transport/tcp-connection.ts, Bun's native sockets): the close bookkeeping, push-back (reading pauses while the
// write buffer is full or the protocol's own limit is reached, so TCP pushes back on the client
// and a fast or hostile client cannot grow our memory), and the idle wait close() needs. A
// protocol subclass parses, runs and writes; it says when it is idle and when reading must stop.
import { assert } from "../util/assert.ts";
import type { Logger } from "../util/log.ts";
import { listenTcp, type ByteConnection, type TcpConnection, type TcpListener } from "./tcp-connection.ts";

export const drainTimeoutMsDefault = 5000;

/** Why a connection was refused at accept. */
export type RefusalReason = "closing" | "full";

export interface ConnectionServerOptions<C extends ServedConnection> {
  host: string;
  /** 0 = ephemeral (tests). */
  port: number;
  logger: Logger;
  /** Connections served at once; one more is refused ("full"). Default: no limit. */
  connectionCountMax?: number;
  /** How long close() waits for answers in flight. Default drainTimeoutMsDefault. */
  drainTimeoutMs?: number;
  /** Makes the protocol's connection; it must call `onClosed` once when its connection closed. */
  open(connection: ByteConnection, onClosed: () => void): C;
  /** Answers a refused connection (and closes it). Default: destroy it. */
  refuse?(connection: TcpConnection, reason: RefusalReason): void;
  /** After every change of the number of open connections (RESP's INFO counts them). */
  onConnectionCountChanged?(count: number): void;
}

export class ConnectionServer<C extends ServedConnection> {
  readonly #options: ConnectionServerOptions<C>;
  readonly #connections = new Set<C>();
  readonly #drainTimeoutMs: number;
  #listener: TcpListener | null = null;
  #starting = false;
  #closing: Promise<void> | null = null;

  constructor(options: ConnectionServerOptions<C>) {
    this.#options = options;
    this.#drainTimeoutMs = options.drainTimeoutMs ?? drainTimeoutMsDefault;
    assert(this.#drainTimeoutMs >= 0, "the drain timeout is not negative");
    assert((options.connectionCountMax ?? 1) > 0, "a listener serves at least one connection");
  }

  get connectionCount(): number {
    return this.#connections.size;
  }

  /** Listens; resolves with the bound port. */
  async start(): Promise<number> {
    assert(!this.#starting, "start is called once");
    this.#starting = true;
    const listener = await listenTcp({ host: this.#options.host, port: this.#options.port, logger: this.#options.logger, accept: (connection) => this.#accept(connection) });
    this.#listener = listener;
    if (this.#closing !== null) listener.stop(); // closed while starting
    return listener.port;
  }

  /** Stops accepting, lets each connection answer what it took (bounded), then closes them. */
  close(): Promise<void> {
    this.#closing ??= this.#drainAndClose();
    return this.#closing;
  }

  async #drainAndClose(): Promise<void> {
    this.#listener?.stop();
    const connections = [...this.#connections];
    const drained = Promise.all(connections.map((connection) => connection.stopAndDrain().then(() => connection.end())));
    let timer: ReturnType<typeof setTimeout> | null = null;
    const timedOut = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, this.#drainTimeoutMs);
      // unref: the drain bound must not keep a stopped process alive for its full length.
      timer.unref();
    });
    await Promise.race([drained, timedOut]);
    if (timer !== null) clearTimeout(timer);
    for (const connection of connections) connection.destroy();
  }

  /**
   * Serves a connection another listener accepted (the Raft port hands over client-protocol
   * connections), under the same limits and close as this listener's own.
   */
  adopt(connection: ByteConnection): void {
    if (this.#refusal() === null) return this.#serve(connection);
    connection.attach({ data: () => {}, close: () => {} });
    connection.destroy();
  }

  #accept(socket: TcpConnection): void {
    const refusal = this.#refusal();
    if (refusal === null) return this.#serve(socket);
    socket.attach({ data: () => {}, close: () => {} }); // what a refused client sends is ignored
    if (this.#options.refuse === undefined) socket.destroy();
    else this.#options.refuse(socket, refusal);
  }

  /** Why a new connection is refused now, or null to serve it. */
  #refusal(): RefusalReason | null {
    if (this.#closing !== null) return "closing";
    return this.#connections.size >= (this.#options.connectionCountMax ?? Number.POSITIVE_INFINITY) ? "full" : null;
  }

  #serve(socket: ByteConnection): void {
    const connection = this.#options.open(socket, () => {
      this.#connections.delete(connection);
      this.#options.onConnectionCountChanged?.(this.#connections.size);
    });
    this.#connections.add(connection);
    this.#options.onConnectionCountChanged?.(this.#connections.size);
  }
}

/** One served connection: close bookkeeping, push-back and the idle wait; the protocol is the subclass's. */
export abstract class ServedConnection {
  readonly #connection: ByteConnection;
  #writable = true;
  #paused = false;
  #closed = false;
  #onIdle: (() => void) | null = null;
  #onClosed: (() => void)[] = [];

  constructor(connection: ByteConnection, onClosed: () => void) {
    this.#connection = connection;
    connection.attach({
      data: (chunk) => this.onData(chunk),
      drain: () => {
        this.#writable = true;
        this.updateReading();
      },
      close: () => {
        this.#closed = true;
        this.#onIdle?.();
        onClosed();
        for (const resolve of this.#onClosed.splice(0)) resolve();
      },
    });
  }

  /** Bytes from the client. */
  protected abstract onData(chunk: Uint8Array): void;
  /** Every request taken was answered and its answer written. */
  protected abstract isIdle(): boolean;
  /** The protocol's own reason to stop reading (its limit of requests in flight, or it takes no more). */
  protected abstract readingBlocked(): boolean;
  /** close() began: take no more work (answer it with a refusal, or stop reading it). */
  protected abstract stopTaking(): void;

  protected get connection(): ByteConnection {
    return this.#connection;
  }

  protected get closed(): boolean {
    return this.#closed || this.#connection.closed;
  }

  /** Writes (sent at the end of the turn, with everything else written in it); a full connection pauses reading until it drains. */
  protected write(bytes: Uint8Array): void {
    if (!this.#connection.write(bytes)) this.#writable = false;
    this.updateReading();
  }

  /** Reads only while answers can be taken: the output drained and the protocol not blocked. */
  protected updateReading(): void {
    if (this.#closed) return;
    const shouldPause = !this.#writable || this.readingBlocked();
    if (shouldPause && !this.#paused) {
      this.#paused = true;
      this.#connection.pause();
    } else if (!shouldPause && this.#paused) {
      this.#paused = false;
      this.#connection.resume();
    }
  }

  /** The subclass calls this after writing answers: close() may be waiting for the last one. */
  protected noteAnswered(): void {
    if (this.isIdle()) this.#onIdle?.();
  }

  /** Takes no more work; resolves when every request taken was answered (or the connection closed). */
  stopAndDrain(): Promise<void> {
    this.stopTaking();
    if (this.#closed || this.isIdle()) return Promise.resolve();
    return new Promise((resolve) => {
      this.#onIdle = resolve;
    });
  }

  /** Half-closes after the answers written; resolves when the connection closed. */
  end(): Promise<void> {
    if (this.#closed) return Promise.resolve();
    return new Promise((resolve) => {
      this.#onClosed.push(resolve);
      this.#connection.end();
    });
  }

  destroy(): void {
    this.#connection.destroy();
  }
}
