// A read-pool Worker (FR3.2): listens on the store's RESP and client ports with SO_REUSEPORT next to
// the other Workers (the kernel spreads connections over them), parses each connection's commands,
// answers GET/MGET/EXISTS (RESP) and follower GETs (raw protocol) from the shared tables
// (pool-reads.ts) and forwards everything else to the Raft thread (read-pool.ts): RESP commands, in
// order, to the connection's session there; raw requests (answered by id, in any order) to the
// store's handler.
//
// Order: a read is answered here only while nothing forwarded on its connection is unanswered;
// otherwise it is forwarded too, so replies leave in request order and a read after a pending
// write of the same connection sees it (the Raft thread's session orders those). Push-back: a
// connection stops reading while its socket's write buffer is full or it has
// respConnectionPendingCountMax forwarded commands unanswered.
import * as pb from "../proto/kv.ts";
import { ConnectionKind, FrameDecoder, FrameType, frameHeaderSizeBytes, sealFrame } from "../transport/frame.ts";
import { noAuthMessage, passwordMatches, wrongPassMessage } from "../transport/client-auth.ts";
import { checkKvRequest, makeKvResponse, requestFromWire, responseToWire, type KvResponse } from "../transport/kv-protocol.ts";
import { listenTcp, type TcpConnection, type TcpListener } from "../transport/tcp-connection.ts";
import { atTurnEnd } from "../transport/turn-end.ts";
import { rootLogger } from "../util/log.ts";
import { errorReply, RespWriter } from "../router/resp/resp-encoder.ts";
import { RespParser, type RespParsed } from "../router/resp/resp-parser.ts";
import { frameSizeBytesMax, kvConnectionInflightCountMax, respArrayLengthMax, respBulkSizeBytesMax, respConnectionPendingCountMax, respInlineSizeBytesMax } from "../util/limits.ts";
import { PoolReads } from "./pool-reads.ts";
import { forEachPosted, PostBatcher, type PostBatch } from "./post-batcher.ts";
import type { FromWorker, PoolListen, PoolSessionFlags, ToWorker } from "./read-pool-wire.ts";

declare const self: Worker;

const statsIntervalMs = 100;
const parserLimits = { bulkSizeBytesMax: respBulkSizeBytesMax, arrayLengthMax: respArrayLengthMax, inlineSizeBytesMax: respInlineSizeBytesMax };
const reads = new PoolReads();
const connections = new Map<number, PoolConnection>();
const kvConnections = new Map<number, PoolKvConnection>();
const servers: TcpListener[] = [];
/** Room left in a response frame for the batch envelope (as kv-server.ts). */
const responseFrameBudgetBytes = frameSizeBytesMax - 64 * 1024;
let respConnectionCountMax = 0;
let kvConnectionCountMax = 0;
/** The cluster's password: RESP sessions start unauthenticated with it; raw connections must send KvAuth. */
let requirepass: string | null = null;
let nextConn = 1;
let workerIndex = 0;
let commandCount = 0;
let stopping = false;

const outbox = new PostBatcher<FromWorker>((message) => self.postMessage(message));

function post(message: FromWorker): void {
  outbox.post(message);
}

/** A command as a RESP array of bulk strings (what the Raft thread's session parses). */
function encodeCommand(args: readonly Uint8Array[], out: Uint8Array[]): void {
  out.push(Buffer.from(`*${args.length}\r\n`, "latin1"));
  for (const arg of args) out.push(Buffer.from(`$${arg.byteLength}\r\n`, "latin1"), arg, crlf);
}

const crlf = Buffer.from("\r\n", "latin1");

class PoolConnection {
  readonly #socket: TcpConnection;
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

  constructor(socket: TcpConnection, conn: number) {
    this.#socket = socket;
    this.#conn = conn;
    this.#session = { authenticated: requirepass === null, protocol: 2, linearizable: false, inMulti: false };
    socket.attach({
      data: (chunk) => this.#take(this.#parser.push(chunk)),
      drain: () => {
        this.#writable = true;
        this.#updateReading();
      },
      close: () => {
        this.#closed = true;
        connections.delete(conn);
        post({ type: "closed", conn });
        noteStopped();
      },
    });
  }

  get outstanding(): number {
    return this.#sent - this.#answered;
  }

  #take(items: readonly RespParsed[]): void {
    if (this.#closed) return;
    const forward: Uint8Array[] = [];
    let count = 0;
    const session = this.#session;
    const local = session.authenticated && !session.linearizable && !session.inMulti;
    const nowMs = Date.now();
    for (let index = 0; index < items.length; index++) {
      if (this.#stopped) break;
      if (local && this.#backlog.length === 0 && this.outstanding + count === 0) {
        // A run of GETs (a pipeline's usual shape) in one native lookup, written straight out.
        const answered = this.#answerGets(items, index, session.protocol, nowMs);
        index += answered;
        if (index >= items.length) break;
      }
      const item = items[index] as RespParsed;
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

  /** Answers the GETs from items[first] on (up to the first one that is not, or cannot be answered here); returns how many. */
  #answerGets(items: readonly RespParsed[], first: number, protocol: PoolSessionFlags["protocol"], nowMs: number): number {
    const keys: Uint8Array[] = [];
    for (let index = first; index < items.length; index++) {
      const item = items[index] as RespParsed;
      if (item.kind !== "command" || !PoolReads.isGet(item.args)) break;
      keys.push(item.args[1] as Uint8Array);
    }
    if (keys.length === 0) return 0;
    const answered = reads.answerGets(keys, nowMs, this.#writer, protocol);
    if (answered > 0) {
      commandCount += answered;
      scheduleStats();
    }
    return answered;
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

/**
 * One raw-protocol connection (as transport/kv-server.ts's, whose answers clients match by id):
 * follower GETs answered here, everything else by the store's handler on the Raft thread.
 */
class PoolKvConnection {
  readonly #socket: TcpConnection;
  readonly #conn: number;
  readonly #decoder = new FrameDecoder({ expectHello: true });
  #helloChecked = false;
  /** "none" until the connection sent a KvAuth frame (only matters with a password), as kv-server.ts. */
  #auth: "none" | "ok" | "wrong" = "none";
  #inflightCount = 0;
  #outgoing: pb.Response[] = [];
  #flushScheduled = false;
  readonly #flushTask = (): void => this.#flush();
  #writable = true;
  #paused = false;
  #closed = false;

  constructor(socket: TcpConnection, conn: number) {
    this.#socket = socket;
    this.#conn = conn;
    socket.attach({
      data: (chunk) => {
        try {
          this.#onData(chunk);
        } catch {
          this.#socket.destroy(); // a decoding bug drops this connection only
        }
      },
      drain: () => {
        this.#writable = true;
        this.#updateReading();
      },
      close: () => {
        this.#closed = true;
        kvConnections.delete(conn);
        post({ type: "kv-closed" });
        noteStopped();
      },
    });
  }

  get idle(): boolean {
    return this.#inflightCount === 0 && this.#outgoing.length === 0;
  }

  #onData(chunk: Uint8Array): void {
    if (this.#closed) return;
    const { frames, error } = this.#decoder.push(chunk);
    if (!this.#helloChecked && this.#decoder.hello !== null) {
      this.#helloChecked = true;
      if (this.#decoder.hello.kind !== ConnectionKind.Client) return void this.#socket.destroy();
    }
    const nowMs = Date.now();
    for (const frame of frames) {
      if (frame.type === FrameType.KvAuth) {
        this.#auth = requirepass === null || passwordMatches(frame.payload, requirepass) ? "ok" : "wrong";
        continue;
      }
      if (frame.type !== FrameType.KvRequests) return void this.#socket.destroy();
      let batch: pb.RequestBatch;
      try {
        batch = pb.decodeRequestBatch(frame.payload);
      } catch {
        return void this.#socket.destroy();
      }
      for (const wire of batch.requests) this.#dispatch(wire, nowMs);
    }
    if (error !== null) this.#socket.destroy();
    this.#updateReading();
  }

  #dispatch(wire: pb.Request, nowMs: number): void {
    const request = requestFromWire(wire);
    if (!("op" in request)) return this.answer(request);
    if (requirepass !== null && this.#auth !== "ok") {
      return this.answer(makeKvResponse(request.id, "UNAUTHENTICATED", { message: this.#auth === "wrong" ? wrongPassMessage : noAuthMessage }));
    }
    const refused = checkKvRequest(request);
    if (refused !== null) return this.answer(refused);
    if (stopping) return this.answer(makeKvResponse(request.id, "UNAVAILABLE", { message: "Server is shutting down" }));
    if (request.op === "GET" && !request.linearizable) {
      const value = reads.readKey(request.key, request.shard ?? 0, nowMs);
      if (value !== undefined) {
        scheduleStats();
        return this.answer(value === null ? makeKvResponse(request.id, "NOT_FOUND") : makeKvResponse(request.id, "OK", { value }));
      }
    }
    this.#inflightCount++;
    post({ type: "kv-request", conn: this.#conn, request });
  }

  /** The store's answer to a forwarded request. */
  onResponse(response: KvResponse): void {
    this.#inflightCount--;
    this.answer(response);
    this.#updateReading();
  }

  answer(response: KvResponse): void {
    if (this.#closed) return;
    this.#outgoing.push(responseToWire(response));
    if (!this.#flushScheduled) {
      this.#flushScheduled = true;
      atTurnEnd(this.#flushTask);
    }
  }

  destroy(): void {
    this.#socket.destroy();
  }

  end(): void {
    this.#socket.end();
  }

  #flush(): void {
    this.#flushScheduled = false;
    const responses = this.#outgoing;
    this.#outgoing = [];
    if (this.#closed) return;
    let frame: pb.Response[] = [];
    let frameBytes = 0;
    for (const response of responses) {
      const sizeBytes = pb.sizeResponse(response) + 8;
      if (frameBytes + sizeBytes > responseFrameBudgetBytes && frame.length > 0) {
        this.#write(frame);
        frame = [];
        frameBytes = 0;
      }
      frame.push(response);
      frameBytes += sizeBytes;
    }
    if (frame.length > 0) this.#write(frame);
    if (stopping && this.idle) this.#socket.end();
  }

  #write(responses: pb.Response[]): void {
    if (!this.#socket.write(sealFrame(pb.encodeResponseBatch({ responses }, frameHeaderSizeBytes), FrameType.KvResponses))) this.#writable = false;
  }

  #updateReading(): void {
    if (this.#closed) return;
    const pause = !this.#writable || this.#inflightCount >= kvConnectionInflightCountMax;
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
    post({
      type: "stats",
      commands: commandCount,
      reads: { get: counts.get, mget: counts.mget, exists: counts.exists, kvGet: counts.kvGet, kvShardGet: counts.kvShardGet },
      hits: counts.hits,
      misses: counts.misses,
      keysReadByShard: [...reads.keysReadByShard],
      hashesByShard: [...reads.hashesByShard],
    });
    reads.keysReadByShard.clear();
    reads.hashesByShard.clear();
    commandCount = 0;
    counts.hits = counts.misses = counts.get = counts.mget = counts.exists = counts.kvGet = counts.kvShardGet = 0;
  }, statsIntervalMs);
}

/** After stop: "stopped" once every connection of both listeners closed. */
function noteStopped(): void {
  if (stopping && connections.size === 0 && kvConnections.size === 0) post({ type: "stopped" });
}

function acceptResp(socket: TcpConnection): void {
  if (stopping || connections.size >= respConnectionCountMax) {
    socket.attach({ data: () => {}, close: () => {} });
    socket.end(stopping ? "-ERR server is shutting down\r\n" : "-ERR max number of clients reached\r\n");
    return;
  }
  const conn = workerIndex * 2 ** 32 + nextConn++;
  post({ type: "open", conn, remote: `${socket.remoteAddress}:${socket.remotePort}` });
  connections.set(conn, new PoolConnection(socket, conn));
}

function acceptKv(socket: TcpConnection): void {
  if (stopping || kvConnections.size >= kvConnectionCountMax) {
    socket.attach({ data: () => {}, close: () => {} });
    socket.destroy();
    return;
  }
  const conn = workerIndex * 2 ** 32 + nextConn++;
  post({ type: "kv-open" });
  kvConnections.set(conn, new PoolKvConnection(socket, conn));
}

async function listen(spec: PoolListen, accept: (socket: TcpConnection) => void): Promise<number> {
  const listener = await listenTcp({ host: spec.host, port: spec.port, reusePort: true, logger: rootLogger.child({ readPoolWorker: workerIndex }), accept });
  servers.push(listener);
  return listener.port;
}

async function start(message: Extract<ToWorker, { type: "start" }>): Promise<void> {
  workerIndex = message.workerIndex;
  requirepass = message.requirepass;
  respConnectionCountMax = message.resp?.connectionCountMax ?? 0;
  kvConnectionCountMax = message.client?.connectionCountMax ?? 0;
  try {
    const respPort = message.resp === null ? null : await listen(message.resp, acceptResp);
    const clientPort = message.client === null ? null : await listen(message.client, acceptKv);
    post({ type: "listening", respPort, clientPort });
  } catch (error) {
    post({ type: "listen-failed", message: error instanceof Error ? error.message : String(error) });
  }
}

function stop(drainTimeoutMs: number): void {
  stopping = true;
  for (const listener of servers) listener.stop();
  for (const connection of connections.values()) connection.stop();
  for (const connection of kvConnections.values()) if (connection.idle) connection.end();
  noteStopped();
  setTimeout(() => {
    for (const connection of connections.values()) connection.destroy();
    for (const connection of kvConnections.values()) connection.destroy();
  }, drainTimeoutMs).unref();
}

self.onmessage = (event: MessageEvent<ToWorker | PostBatch<ToWorker>>) => forEachPosted(event.data, handleMessage);

function handleMessage(message: ToWorker): void {
  switch (message.type) {
    case "start":
      void start(message);
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
    case "kv-response":
      kvConnections.get(message.conn)?.onResponse(message.response);
      return;
  }
}
