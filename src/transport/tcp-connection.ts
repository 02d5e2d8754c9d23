// The one connection base of every TCP connection ukv makes or takes: Raft links, snapshot streams,
// the client protocol and RESP. It sits on Bun's native sockets (Bun.listen / Bun.connect), whose
// write is one send(2) with no stream machinery behind it (node:net's streams cost more CPU per
// message than the message itself on loopback), and adds what those sockets leave to the caller:
//   - output corked until the event-loop turn ends (turn-end.ts): everything written to a
//     connection in one turn goes out in one send, however many protocol messages it carries;
//   - the bytes the kernel did not take (a partial send) kept in order and sent on 'drain', with a
//     writable flag for push-back (callers stop producing, or stop reading, until drain());
//   - one close notification (with whether it broke), and data or a close that arrives before the
//     owner attached its handlers kept until it does.
// Read chunks are fresh buffers per callback (Bun allocates each), so views into them stay valid.
import type { Socket, TCPSocketListener } from "bun";
import { assert } from "../util/assert.ts";
import { UkvError } from "../util/errors.ts";
import type { Logger } from "../util/log.ts";
import { connectTimeoutMsDefault, parseAddress } from "./socket-util.ts";
import { atTurnEnd } from "./turn-end.ts";

/** Bytes written in one turn past which write() reports the connection full (bounds a turn's output). */
export const turnOutputBytesMax = 4 * 1024 * 1024;

export interface TcpEvents {
  data(chunk: Uint8Array): void;
  /** The connection took every byte again after write() returned false. */
  drain?(): void;
  /** Once, when the socket closed (either side); `hadError` when it broke rather than ended. */
  close(hadError: boolean): void;
}

/**
 * What a served protocol (connection-server.ts) needs of its connection: a TcpConnection, or the
 * read pool's bridge to a connection one of its Workers accepted (store/read-pool.ts).
 */
export interface ByteConnection {
  readonly remoteAddress: string;
  readonly remotePort: number;
  readonly closed: boolean;
  attach(events: TcpEvents): void;
  write(bytes: Uint8Array): boolean;
  pause(): void;
  resume(): void;
  end(): void;
  destroy(): void;
}

export class TcpConnection implements ByteConnection {
  readonly remoteAddress: string;
  readonly remotePort: number;
  readonly #socket: Socket<TcpConnection>;
  #events: TcpEvents | null = null;
  /** Before attach(): chunks and a close that arrived, replayed on attach. */
  #early: Uint8Array[] = [];
  #earlyClose: boolean | null = null;
  /** Written this turn, sent at its end. */
  #pending: Uint8Array[] = [];
  #pendingBytes = 0;
  #flushQueued = false;
  /** Bytes the kernel did not take yet (sent first, on 'drain'). */
  #backlog: Uint8Array | null = null;
  /** A write returned false: tell the owner once everything was taken. */
  #drainWanted = false;
  #ending = false;
  #endSent = false;
  #closed = false;
  #destroyed = false;
  #hadError = false;
  readonly #flushTask = (): void => this.#flush();

  constructor(socket: Socket<TcpConnection>) {
    this.#socket = socket;
    socket.data = this;
    socket.setNoDelay(true);
    this.remoteAddress = socket.remoteAddress;
    this.remotePort = socket.remotePort;
  }

  /** Sets the handlers; anything that arrived before is delivered now. Called once. */
  attach(events: TcpEvents): void {
    assert(this.#events === null, "a connection's handlers are attached once");
    this.#events = events;
    const early = this.#early;
    this.#early = [];
    for (const chunk of early) events.data(chunk);
    if (this.#earlyClose !== null) events.close(this.#earlyClose);
  }

  /** Closed, or destroy() was called (its close() may still be on its way). */
  get closed(): boolean {
    return this.#closed || this.#destroyed;
  }

  /** Bytes written but not yet taken by the kernel. */
  get bufferedBytes(): number {
    return this.#pendingBytes + (this.#backlog?.byteLength ?? 0);
  }

  /**
   * Queues `bytes` for the end of this turn. Returns false when the connection is full (the kernel
   * refused bytes, or this turn's output passed turnOutputBytesMax): drain() follows once it is not.
   * On a closed or ending connection the bytes are dropped (the owner hears close()).
   */
  write(bytes: Uint8Array): boolean {
    if (this.#closed || this.#destroyed || this.#ending) return false;
    if (bytes.byteLength > 0) {
      this.#pending.push(bytes);
      this.#pendingBytes += bytes.byteLength;
      if (!this.#flushQueued) {
        this.#flushQueued = true;
        atTurnEnd(this.#flushTask);
      }
    }
    const writable = this.#backlog === null && this.#pendingBytes < turnOutputBytesMax;
    if (!writable) this.#drainWanted = true;
    return writable;
  }

  /** Whether write() would take more now. */
  get writable(): boolean {
    return !this.closed && !this.#ending && this.#backlog === null && this.#pendingBytes < turnOutputBytesMax;
  }

  pause(): void {
    if (!this.closed) this.#socket.pause();
  }

  resume(): void {
    if (!this.closed) this.#socket.resume();
  }

  /** Sends what was written (and `last`), then half-closes; close() follows when the peer closes too. */
  end(last?: Uint8Array | string): void {
    if (this.closed || this.#ending) return;
    if (last !== undefined) this.write(typeof last === "string" ? new TextEncoder().encode(last) : last);
    this.#ending = true;
    this.#flush();
  }

  /** Closes at once; unsent bytes are dropped. close() follows. */
  destroy(): void {
    if (this.#closed || this.#destroyed) return;
    this.#destroyed = true;
    this.#pending = [];
    this.#pendingBytes = 0;
    this.#backlog = null;
    this.#socket.terminate();
  }

  #flush(): void {
    this.#flushQueued = false;
    if (this.closed) return;
    if (this.#backlog === null && this.#pendingBytes > 0) this.#send(this.#takePending());
    if (this.#backlog !== null) return; // the rest goes on 'drain'
    if (this.#ending) {
      if (!this.#endSent) {
        this.#endSent = true;
        // shutdown, not Bun's end(): end() reports the close at once, while shutdown sends the
        // FIN and closes when the peer answers with its own, so close() means the peer is gone.
        this.#socket.shutdown();
      }
      return;
    }
    this.#notifyDrain();
  }

  #takePending(): Uint8Array {
    const pending = this.#pending;
    let bytes: Uint8Array;
    if (pending.length === 1) bytes = pending[0] as Uint8Array;
    else {
      bytes = new Uint8Array(this.#pendingBytes);
      let offset = 0;
      for (const part of pending) {
        bytes.set(part, offset);
        offset += part.byteLength;
      }
    }
    this.#pending = [];
    this.#pendingBytes = 0;
    return bytes;
  }

  #send(bytes: Uint8Array): void {
    const written = this.#socket.write(bytes);
    if (written < 0) return; // closed under us: close() follows
    if (written < bytes.byteLength) this.#backlog = bytes.subarray(written);
  }

  #notifyDrain(): void {
    if (!this.#drainWanted || this.#pendingBytes >= turnOutputBytesMax) return;
    this.#drainWanted = false;
    this.#events?.drain?.();
  }

  // Called by the socket handlers below.
  onSocketData(chunk: Uint8Array): void {
    if (this.#destroyed) return;
    if (this.#events === null) this.#early.push(chunk);
    else this.#events.data(chunk);
  }

  onSocketDrain(): void {
    const backlog = this.#backlog;
    if (backlog === null || this.closed) return;
    this.#backlog = null;
    this.#send(backlog);
    if (this.#backlog !== null) return;
    this.#flush();
  }

  onSocketError(): void {
    this.#hadError = true;
  }

  onSocketClose(error: Error | undefined): void {
    if (this.#closed) return;
    this.#closed = true;
    const hadError = this.#hadError || error !== undefined;
    this.#pending = [];
    this.#pendingBytes = 0;
    this.#backlog = null;
    if (this.#events === null) this.#earlyClose = hadError;
    else this.#events.close(hadError);
  }
}

/**
 * A connection its first owner passes on after reading its first bytes (the Raft listener hands
 * client-protocol connections to the client server): the new owner attaches to this as to any
 * ByteConnection; the first owner forwards its socket's events to it (data, drain, close), the
 * bytes it already read first. Writes and flow control go straight to the socket.
 */
export class HandedOverConnection implements ByteConnection {
  readonly remoteAddress: string;
  readonly remotePort: number;
  readonly #socket: TcpConnection;
  #events: TcpEvents | null = null;
  /** Read but not delivered yet (null once the new owner has everything): the first owner's bytes, then any since. */
  #early: Uint8Array[] | null;
  #earlyClose: boolean | null = null;

  constructor(socket: TcpConnection, alreadyRead: readonly Uint8Array[]) {
    this.#socket = socket;
    this.remoteAddress = socket.remoteAddress;
    this.remotePort = socket.remotePort;
    this.#early = [...alreadyRead];
  }

  /** The bytes read so far follow in a microtask: owners attach in their constructors, before they can take data. */
  attach(events: TcpEvents): void {
    assert(this.#events === null, "a connection's handlers are attached once");
    this.#events = events;
    queueMicrotask(() => {
      for (const chunk of this.#early ?? []) events.data(chunk);
      this.#early = null;
      if (this.#earlyClose !== null) events.close(this.#earlyClose);
    });
  }

  get closed(): boolean {
    return this.#socket.closed;
  }

  write(bytes: Uint8Array): boolean {
    return this.#socket.write(bytes);
  }

  pause(): void {
    this.#socket.pause();
  }

  resume(): void {
    this.#socket.resume();
  }

  end(): void {
    this.#socket.end();
  }

  destroy(): void {
    this.#socket.destroy();
  }

  // The first owner's socket events, forwarded.
  data(chunk: Uint8Array): void {
    if (this.#early !== null) this.#early.push(chunk);
    else this.#events?.data(chunk);
  }

  drain(): void {
    this.#events?.drain?.();
  }

  close(hadError: boolean): void {
    if (this.#early !== null) this.#earlyClose = hadError;
    else this.#events?.close(hadError);
  }
}

/** The socket handlers shared by every connection (Bun takes one set per listener or dial). */
function socketHandlers(onOpen: (connection: TcpConnection) => void) {
  return {
    open(socket: Socket<TcpConnection>): void {
      onOpen(new TcpConnection(socket));
    },
    data(socket: Socket<TcpConnection>, chunk: Uint8Array): void {
      socket.data.onSocketData(chunk);
    },
    drain(socket: Socket<TcpConnection>): void {
      socket.data.onSocketDrain();
    },
    error(socket: Socket<TcpConnection>): void {
      // Followed by close; the owner learns it broke from close(hadError).
      (socket.data as TcpConnection | undefined)?.onSocketError();
    },
    close(socket: Socket<TcpConnection>, error?: Error): void {
      (socket.data as TcpConnection | undefined)?.onSocketClose(error);
    },
  };
}

export interface TcpListener {
  readonly port: number;
  /** Stops accepting; open connections stay (their owners close them). */
  stop(): void;
}

/**
 * Listens on host:port (0 picks a port; reusePort lets other listeners of this process share it) and hands each accepted connection to `accept`, which must
 * attach its handlers. A port another process holds rejects with ADDRESS_IN_USE (data.address): the
 * caller names the role, so the user sees one line saying which listener could not start.
 */
export function listenTcp(args: { host: string; port: number; logger: Logger; reusePort?: boolean; accept(connection: TcpConnection): void }): Promise<TcpListener> {
  const address = `${args.host}:${args.port}`;
  let listener: TCPSocketListener<TcpConnection>;
  try {
    listener = Bun.listen<TcpConnection>({
      hostname: args.host,
      port: args.port,
      // The read pool's Workers listen on one port each (the kernel spreads connections over them).
      ...(args.reusePort === true ? { reusePort: true } : {}),
      socket: socketHandlers((connection) => {
        try {
          args.accept(connection);
        } catch (error) {
          args.logger.error({ event: "listener_error", err: error });
          connection.destroy();
        }
      }),
    });
  } catch (error) {
    const code = (error as { code?: string }).code;
    if (code === "EADDRINUSE") return Promise.reject(new UkvError("ADDRESS_IN_USE", `Address in use: ${address}`, { data: { address }, cause: error }));
    const message = error instanceof Error ? error.message : String(error);
    return Promise.reject(new UkvError("IO_ERROR", `Cannot listen on ${address}: ${message}`, { data: { address }, cause: error }));
  }
  let stopped = false;
  return Promise.resolve({
    port: listener.port,
    stop: () => {
      if (stopped) return;
      stopped = true;
      listener.stop(false);
    },
  });
}

/** Dials `address`; rejects with CLOSED when refused or TIMEOUT after `timeoutMs`. */
export function dialTcp(address: string, timeoutMs = connectTimeoutMsDefault): Promise<TcpConnection> {
  const { host, port } = parseAddress(address);
  return new Promise<TcpConnection>((resolve, reject) => {
    let settled = false;
    const timer = setTimeout(() => {
      settled = true;
      reject(new UkvError("TIMEOUT", `Connect to ${address} timed out after ${timeoutMs} ms`));
    }, timeoutMs);
    const handlers = socketHandlers((connection) => {
      clearTimeout(timer);
      if (settled) {
        connection.destroy(); // timed out meanwhile
        return;
      }
      settled = true;
      resolve(connection);
    });
    Bun.connect<TcpConnection>({
      hostname: host,
      port,
      socket: {
        ...handlers,
        connectError(_socket: Socket<TcpConnection>, error: Error): void {
          clearTimeout(timer);
          if (settled) return;
          settled = true;
          reject(new UkvError("CLOSED", `Connect to ${address} failed: ${error.message}`, { cause: error }));
        },
      },
    }).catch(() => {
      // Reported through connectError above.
    });
  });
}
