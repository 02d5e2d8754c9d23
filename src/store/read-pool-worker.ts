// A read-pool Worker (FR3.2): listens on the store's RESP port with SO_REUSEPORT next to the other
// Workers (the kernel spreads connections over them), parses each connection's commands, answers
// GET/MGET/EXISTS from the shared tables (pool-reads.ts) and forwards everything else, in order,
// to the connection's session on the Raft thread (read-pool.ts), relaying its replies.
//
// Order: a read is answered here only while nothing forwarded on its connection is unanswered;
// otherwise it is forwarded too, so replies leave in request order and a read after a pending
// write of the same connection sees it (the Raft thread's session orders those). Push-back: a
// connection stops reading while its socket's write buffer is full or it has
// respConnectionPendingCountMax forwarded commands unanswered.
import { createServer, type Server, type Socket } from "node:net";
import { errorReply, RespWriter } from "../router/resp/resp-encoder.ts";
import { RespParser, type RespParsed } from "../router/resp/resp-parser.ts";
import { respArrayLengthMax, respBulkSizeBytesMax, respConnectionPendingCountMax, respInlineSizeBytesMax } from "../util/limits.ts";
import { PoolReads } from "./pool-reads.ts";
import type { FromWorker, PoolSessionFlags, ToWorker } from "./read-pool-wire.ts";

declare const self: Worker;

const statsIntervalMs = 100;
const parserLimits = { bulkSizeBytesMax: respBulkSizeBytesMax, arrayLengthMax: respArrayLengthMax, inlineSizeBytesMax: respInlineSizeBytesMax };
const reads = new PoolReads();
const connections = new Map<number, PoolConnection>();
let server: Server | null = null;
let connectionCountMax = 0;
let requirepass = false;
let nextConn = 1;
let workerIndex = 0;
let commandCount = 0;
let stopping = false;

function post(message: FromWorker): void {
  self.postMessage(message);
}

/** A command as a RESP array of bulk strings (what the Raft thread's session parses). */
function encodeCommand(args: readonly Uint8Array[], out: Uint8Array[]): void {
  out.push(Buffer.from(`*${args.length}\r\n`, "latin1"));
  for (const arg of args) out.push(Buffer.from(`$${arg.byteLength}\r\n`, "latin1"), arg, crlf);
}

const crlf = Buffer.from("\r\n", "latin1");

class PoolConnection {
  readonly #socket: Socket;
  readonly #conn: number;
  readonly #parser = new RespParser(parserLimits);
  readonly #writer = new RespWriter();
  #session: PoolSessionFlags;
  #sent = 0;
  #answered = 0;
  /** Items waiting for the forwarded commands before them to be answered (after a local-only error). */
  #backlog: RespParsed[] = [];
  #stopped = false;
  #writable = true;
  #paused = false;
  #closed = false;

  constructor(socket: Socket, conn: number) {
    this.#socket = socket;
    this.#conn = conn;
    this.#session = { authenticated: !requirepass, protocol: 2, linearizable: false, inMulti: false };
    socket.setNoDelay(true);
    socket.on("error", () => {});
    socket.on("close", () => {
      this.#closed = true;
      connections.delete(conn);
      post({ type: "closed", conn });
      if (stopping && connections.size === 0) post({ type: "stopped" });
    });
    socket.on("drain", () => {
      this.#writable = true;
      this.#updateReading();
    });
    socket.on("data", (chunk: Uint8Array) => this.#take(this.#parser.push(chunk)));
  }

  get outstanding(): number {
    return this.#sent - this.#answered;
  }

  #take(items: Iterable<RespParsed>): void {
    if (this.#closed) return;
    const forward: Uint8Array[] = [];
    let count = 0;
    const session = this.#session;
    const local = session.authenticated && !session.linearizable && !session.inMulti;
    const nowMs = Date.now();
    for (const item of items) {
      if (this.#stopped) break;
      if (this.#backlog.length > 0) {
        this.#backlog.push(item);
        continue;
      }
      if (item.kind === "error") {
        // Answered here, so only in order: after every forwarded command before it.
        if (this.outstanding + count > 0) {
          this.#backlog.push(item);
          continue;
        }
        commandCount++;
        scheduleStats();
        this.#writer.write(errorReply(`ERR ${item.message}`), session.protocol);
        if (item.fatal) this.#stopped = true;
        continue;
      }
      if (local && this.outstanding + count === 0) {
        const reply = reads.answer(item.args, nowMs);
        if (reply !== null) {
          commandCount++;
          scheduleStats();
          this.#writer.write(reply, session.protocol);
          continue;
        }
      }
      encodeCommand(item.args, forward);
      count++;
    }
    if (this.#writer.sizeBytes > 0) this.#write(this.#writer.take());
    if (count > 0) {
      this.#sent += count;
      post({ type: "forward", conn: this.#conn, bytes: Buffer.concat(forward), count });
    }
    if (this.#stopped && this.outstanding === 0) this.#socket.end();
    this.#updateReading();
  }

  /** Replies of the Raft thread's session. */
  onReply(bytes: Uint8Array, answered: number, session: PoolSessionFlags): void {
    if (this.#closed) return;
    if (bytes.byteLength > 0) this.#write(bytes);
    this.#answered = answered;
    this.#session = session;
    if (this.outstanding === 0 && this.#backlog.length > 0) {
      const backlog = this.#backlog;
      this.#backlog = [];
      this.#take(backlog);
    }
    if (this.#stopped && this.outstanding === 0) this.#socket.end();
    this.#updateReading();
  }

  /** The Raft thread's session ended (QUIT or a fatal error there): nothing more is taken. */
  end(): void {
    this.#stopped = true;
    this.#backlog = [];
    this.#socket.end();
  }

  /** Stop taking; end once the forwarded commands are answered. */
  stop(): void {
    this.#stopped = true;
    this.#backlog = [];
    if (this.outstanding === 0) this.#socket.end();
    this.#updateReading();
  }

  destroy(): void {
    this.#socket.destroy();
  }

  #write(bytes: Uint8Array): void {
    if (!this.#socket.write(bytes)) this.#writable = false;
  }

  #updateReading(): void {
    if (this.#closed) return;
    const pause = !this.#writable || this.#stopped || this.outstanding >= respConnectionPendingCountMax || this.#backlog.length > 0;
    if (pause && !this.#paused) {
      this.#paused = true;
      this.#socket.pause();
    } else if (!pause && this.#paused) {
      this.#paused = false;
      this.#socket.resume();
    }
  }
}

let statsScheduled = false;

/** Counters go to the Raft thread (INFO, /metrics) at most every statsIntervalMs, and only after reads. */
function scheduleStats(): void {
  if (statsScheduled) return;
  statsScheduled = true;
  setTimeout(() => {
    statsScheduled = false;
    const counts = reads.counts;
    post({ type: "stats", commands: commandCount, reads: { get: counts.get, mget: counts.mget, exists: counts.exists }, hits: counts.hits, misses: counts.misses });
    commandCount = 0;
    counts.hits = counts.misses = counts.get = counts.mget = counts.exists = 0;
  }, statsIntervalMs);
}

function accept(socket: Socket): void {
  if (stopping || connections.size >= connectionCountMax) {
    socket.on("error", () => {});
    socket.end(stopping ? "-ERR server is shutting down\r\n" : "-ERR max number of clients reached\r\n");
    return;
  }
  const conn = workerIndex * 2 ** 32 + nextConn++;
  post({ type: "open", conn, remote: `${socket.remoteAddress ?? "?"}:${socket.remotePort ?? 0}` });
  connections.set(conn, new PoolConnection(socket, conn));
}

function start(message: Extract<ToWorker, { type: "start" }>): void {
  workerIndex = message.workerIndex;
  connectionCountMax = message.connectionCountMax;
  requirepass = message.requirepass;
  const listener = createServer(accept);
  listener.on("error", (error) => post({ type: "listen-failed", message: error.message }));
  listener.listen({ host: message.host, port: message.port, reusePort: true }, () => {
    const address = listener.address();
    post({ type: "listening", port: typeof address === "object" && address !== null ? address.port : message.port });
  });
  server = listener;
}

function stop(drainTimeoutMs: number): void {
  stopping = true;
  server?.close();
  if (connections.size === 0) {
    post({ type: "stopped" });
    return;
  }
  for (const connection of connections.values()) connection.stop();
  setTimeout(() => {
    for (const connection of connections.values()) connection.destroy();
  }, drainTimeoutMs).unref();
}

self.onmessage = (event: MessageEvent<ToWorker>) => {
  const message = event.data;
  switch (message.type) {
    case "start":
      start(message);
      return;
    case "routing":
      reads.setRouting(message.replicas);
      return;
    case "reply":
      connections.get(message.conn)?.onReply(message.bytes, message.answered, message.session);
      return;
    case "end":
      connections.get(message.conn)?.end();
      return;
    case "stop":
      stop(message.drainTimeoutMs);
      return;
  }
};
