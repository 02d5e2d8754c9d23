// The read pool of a store (FR3.2, docs/design.md "Read pool"): `size` Workers that own the RESP
// and client ports (each listens on them with SO_REUSEPORT; the kernel spreads connections over
// them), answer GET/MGET/EXISTS and raw follower GETs from this store's replica tables themselves
// (pool-reads.ts), and forward everything else to this (the Raft) thread. Each RESP connection
// has a real RespConnection here, over a BridgeSocket that carries bytes to and from its Worker,
// so every command other than the pooled reads runs exactly as on the listener without a pool; a
// raw request goes to the store's handler, as KvServer would give it.
//
// This thread keeps the routing the Workers read by: every routingIntervalMs it lists the data
// replicas (shard, table id, range, table epoch) and sends the list when it changed. A stale list
// is safe (the epoch check sends such reads back here); a fresh one keeps reads in the Workers.
import { metaGroupId } from "../meta/meta-service.ts";
import { CommandTable } from "../router/resp/resp-commands.ts";
import { RespConnection, type RespCommandObserver } from "../router/resp/resp-connection.ts";
import type { RespBackend, RespServerStats } from "../router/resp/resp-context.ts";
import { Table } from "../storage/table.ts";
import { drainTimeoutMsDefault } from "../transport/connection-server.ts";
import { checkAddressesFree } from "../transport/socket-util.ts";
import type { ByteConnection, TcpEvents } from "../transport/tcp-connection.ts";
import { UkvError } from "../util/errors.ts";
import { readPoolSizeMax, respConnectionCountMax } from "../util/limits.ts";
import type { Logger } from "../util/log.ts";
import { kvResponseFromError, type KvResponse } from "../transport/kv-protocol.ts";
import type { KvHandler } from "../transport/kv-server.ts";
import type { GroupRuntime } from "../node/group-runtime.ts";
import type { PoolReplica } from "./pool-reads.ts";
import { forEachPosted, PostBatcher, type PostBatch } from "./post-batcher.ts";
import type { FromWorker, PoolSessionFlags, ToWorker } from "./read-pool-wire.ts";

const routingIntervalMs = 50;

/**
 * The Worker's entry: the source file, or in the compiled binary the copy `bun build --compile`
 * embedded because package.json's build:bin names it as a second entry point (embedded files are
 * named by their path from the entry points' common folder, src/, with a .js extension).
 */
function workerEntry(): string {
  if (import.meta.url.includes("/$bunfs/")) return new URL("./store/read-pool-worker.js", import.meta.url).href;
  return new URL("./read-pool-worker.ts", import.meta.url).href;
}
const workerRestartDelayMs = 1000;
// Generous: a store on a loaded machine must not fail to start because a thread started slowly.
const workerStartTimeoutMs = 30_000;

export interface ReadPoolOptions {
  size: number;
  /** The RESP listener (null: none); port 0 = ephemeral (the first Worker's port is then every Worker's). */
  resp: { host: string; port: number } | null;
  /** The raw client-protocol listener and the store's handler for what the Workers do not answer. */
  client: { host: string; port: number; handler: KvHandler };
  backend: RespBackend;
  /** This store's replicas, for the Workers' routing. */
  replicas(): readonly { groupId: number; runtime: GroupRuntime }[];
  /** The router's health gate refuses this shard (no quorum): its reads stay on this thread, which refuses them. */
  refuses(shardId: number): boolean;
  /** Keys the Workers read from this store's replica of a shard (Store.countKeysRead). */
  countKeysRead(shardId: number, count: number): void;
  /** A sampled key hash the Workers read (Store.sampleLoad). */
  sampleLoad(shardId: number, hash: bigint): void;
  logger: Logger;
  requirepass: string | null;
  observeCommand?: RespCommandObserver;
  /** Metrics: reads the Workers answered, in bulk (StoreMetrics.countPoolReads). */
  countPoolReads?: (listener: "resp" | "client" | "peer", command: string, count: number) => void;
  drainTimeoutMs?: number;
}

interface PoolWorker {
  index: number;
  worker: Worker;
  /** Every message to the Worker goes through it: one postMessage per turn. */
  outbox: PostBatcher<ToWorker>;
  stopped: Promise<void>;
  onStopped: () => void;
}

export class ReadPool {
  readonly stats: RespServerStats;
  #respPort: number | null;
  #clientPort: number;
  #kvConnectionCount = 0;
  readonly #options: ReadPoolOptions;
  readonly #logger: Logger;
  readonly #table = new CommandTable();
  readonly #workers: (PoolWorker | null)[] = [];
  readonly #bridges = new Map<number, BridgeConnection>();
  #routing: PoolReplica[] = [];
  #routingSignature = "";
  #routedShardIds = new Set<number>();
  #routingTimer: ReturnType<typeof setInterval> | null = null;
  #nextSessionId = 1;
  #closing: Promise<void> | null = null;

  private constructor(options: ReadPoolOptions) {
    this.#options = options;
    this.#respPort = options.resp?.port ?? null;
    this.#clientPort = options.client.port;
    this.#logger = options.logger.child({ component: "read-pool" });
    this.stats = { startedAtMs: Date.now(), port: options.resp?.port ?? 0, connectionCount: 0, connectionCountTotal: 0, commandCountTotal: 0, rejectedConnectionCountTotal: 0, poolReadCountTotal: 0 };
  }

  get respPort(): number | null {
    return this.#respPort;
  }

  get clientPort(): number {
    return this.#clientPort;
  }

  /** Open raw client-protocol connections (metrics). */
  get kvConnectionCount(): number {
    return this.#kvConnectionCount;
  }

  /** Starts the Workers one by one (the first one's port is the others'); resolves when all listen. */
  static async start(options: ReadPoolOptions): Promise<ReadPool> {
    if (!Number.isInteger(options.size) || options.size < 1 || options.size > readPoolSizeMax) {
      throw new UkvError("CONFIG_INVALID", `Read pool size must be 1..${readPoolSizeMax}, got ${options.size}`);
    }
    const pool = new ReadPool(options);
    // SO_REUSEPORT would let a second process share a port by mistake: a plain bind first proves it free.
    const listens = [...(options.resp === null ? [] : [{ ...options.resp, role: "RESP address" }]), { ...options.client, role: "client address" }];
    await checkAddressesFree(
      listens.filter((listen) => listen.port !== 0).map((listen) => ({ address: `${listen.host}:${listen.port}`, role: listen.role })),
      "is another store (or redis-server) running on it?",
    );
    try {
      pool.refreshRouting();
      for (let index = 0; index < options.size; index++) await pool.#startWorker(index);
    } catch (error) {
      await pool.close();
      throw error;
    }
    pool.stats.port = pool.#respPort ?? 0;
    pool.#routingTimer = setInterval(() => pool.refreshRouting(), routingIntervalMs);
    pool.#logger.info({ event: "read_pool_started", respPort: pool.#respPort, clientPort: pool.#clientPort, readPoolSize: options.size }, "RESP and client listeners serving (read pool)");
    return pool;
  }

  close(): Promise<void> {
    this.#closing ??= this.#stop();
    return this.#closing;
  }

  async #stop(): Promise<void> {
    if (this.#routingTimer !== null) clearInterval(this.#routingTimer);
    const drainTimeoutMs = this.#options.drainTimeoutMs ?? drainTimeoutMsDefault;
    const running = this.#workers.filter((worker): worker is PoolWorker => worker !== null);
    for (const { outbox } of running) outbox.post({ type: "stop", drainTimeoutMs });
    let timer: ReturnType<typeof setTimeout> | null = null;
    const timedOut = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, drainTimeoutMs + 1000);
      timer.unref();
    });
    await Promise.race([Promise.all(running.map((worker) => worker.stopped)), timedOut]);
    if (timer !== null) clearTimeout(timer);
    for (const entry of running) entry.worker.terminate();
    this.#workers.fill(null);
    for (const bridge of this.#bridges.values()) bridge.workerClosed();
    this.#logger.info({ event: "resp_stopped" });
  }

  #startWorker(index: number): Promise<void> {
    const worker = new Worker(workerEntry());
    let onStopped = (): void => {};
    const stopped = new Promise<void>((resolve) => {
      onStopped = resolve;
    });
    const entry: PoolWorker = { index, worker, outbox: new PostBatcher<ToWorker>((message) => worker.postMessage(message)), stopped, onStopped };
    this.#workers[index] = entry;
    return new Promise<void>((resolve, reject) => {
      const startTimer = setTimeout(() => reject(new UkvError("UNAVAILABLE", `Read pool Worker ${index} did not start in ${workerStartTimeoutMs} ms`)), workerStartTimeoutMs);
      let listening = false;
      worker.onmessage = (event: MessageEvent<FromWorker | PostBatch<FromWorker>>) => forEachPosted(event.data, (message) => {
        if (message.type === "listening") {
          listening = true;
          clearTimeout(startTimer);
          this.#respPort = message.respPort;
          if (message.clientPort !== null) this.#clientPort = message.clientPort;
          resolve();
        } else if (message.type === "listen-failed") {
          clearTimeout(startTimer);
          reject(new UkvError("ADDRESS_IN_USE", `Read pool Worker ${index} cannot listen (RESP port ${this.#respPort}, client port ${this.#clientPort}): ${message.message}`));
        } else {
          this.#onMessage(entry, message);
        }
      });
      worker.addEventListener("error", (event: ErrorEvent) => {
        this.#logger.error({ event: "read_pool_worker_failed", worker: index, reason: event.message });
        if (!listening) {
          clearTimeout(startTimer);
          reject(new UkvError("UNAVAILABLE", `Read pool Worker ${index} failed: ${event.message}`));
        }
      });
      worker.addEventListener("close", () => this.#onWorkerExit(entry));
      const size = this.#options.size;
      const resp = this.#options.resp === null || this.#respPort === null ? null : { host: this.#options.resp.host, port: this.#respPort, connectionCountMax: Math.ceil(respConnectionCountMax / size) };
      const client = { host: this.#options.client.host, port: this.#clientPort, connectionCountMax: Number.MAX_SAFE_INTEGER }; // as KvServer: no connection limit of its own
      entry.outbox.post({ type: "start", workerIndex: index, resp, client, requirepass: this.#options.requirepass });
      entry.outbox.post({ type: "routing", replicas: this.#routing });
    });
  }

  /** A Worker gone while serving: its connections are gone with it; another one takes its place. */
  #onWorkerExit(entry: PoolWorker): void {
    entry.onStopped();
    for (const [conn, bridge] of this.#bridges) if (Math.floor(conn / 2 ** 32) === entry.index) bridge.workerClosed();
    if (this.#closing !== null || this.#workers[entry.index] !== entry) return;
    this.#workers[entry.index] = null;
    this.#logger.warn({ event: "read_pool_worker_restart", worker: entry.index });
    setTimeout(() => {
      if (this.#closing !== null) return;
      this.#startWorker(entry.index).catch((error: unknown) => this.#logger.error({ event: "read_pool_worker_failed", worker: entry.index, err: error }));
    }, workerRestartDelayMs).unref();
  }

  #onMessage(entry: PoolWorker, message: FromWorker): void {
    switch (message.type) {
      case "open": {
        this.stats.connectionCountTotal++;
        const bridge = new BridgeConnection(entry.outbox, message.conn, message.remote);
        this.#bridges.set(message.conn, bridge);
        bridge.connection = new RespConnection(bridge, {
          sessionId: this.#nextSessionId++,
          table: this.#table,
          backend: this.#options.backend,
          stats: this.stats,
          logger: this.#logger,
          observeCommand: this.#options.observeCommand,
          requirepass: this.#options.requirepass,
          onClosed: () => {
            this.#bridges.delete(message.conn);
            this.stats.connectionCount = this.#bridges.size;
          },
        });
        this.stats.connectionCount = this.#bridges.size;
        return;
      }
      case "forward":
        this.#bridges.get(message.conn)?.feed(message.bytes, message.count);
        return;
      case "closed":
        this.#bridges.get(message.conn)?.workerClosed();
        return;
      case "stats":
        this.stats.commandCountTotal += message.commands;
        this.stats.poolReadCountTotal = (this.stats.poolReadCountTotal ?? 0) + message.reads.get + message.reads.mget + message.reads.exists;
        for (const command of ["get", "mget", "exists"] as const) if (message.reads[command] > 0) this.#options.countPoolReads?.("resp", command, message.reads[command]);
        if (message.reads.kvGet > 0) this.#options.countPoolReads?.("client", "GET", message.reads.kvGet);
        if (message.reads.kvShardGet > 0) this.#options.countPoolReads?.("peer", "GET", message.reads.kvShardGet);
        this.stats.keyspaceHitCountTotal = (this.stats.keyspaceHitCountTotal ?? 0) + message.hits;
        this.stats.keyspaceMissCountTotal = (this.stats.keyspaceMissCountTotal ?? 0) + message.misses;
        for (const [shardId, count] of message.keysReadByShard) this.#options.countKeysRead(shardId, count);
        for (const [shardId, hashes] of message.hashesByShard) for (const hash of hashes) this.#options.sampleLoad(shardId, hash);
        return;
      case "kv-open":
        this.#kvConnectionCount++;
        return;
      case "kv-closed":
        this.#kvConnectionCount--;
        return;
      case "kv-request": {
        const { conn, request } = message;
        const answer = (response: KvResponse): void => entry.outbox.post({ type: "kv-response", conn, response: response.id === request.id ? response : { ...response, id: request.id } });
        let answered: Promise<KvResponse>;
        try {
          answered = this.#options.client.handler(request);
        } catch (error) {
          answered = Promise.reject(error);
        }
        answered.then(answer, (error: unknown) => {
          this.#logger.error({ event: "handler_error", requestId: request.id, err: error });
          answer(kvResponseFromError(request.id, error));
        });
        return;
      }
      case "stopped":
        entry.onStopped();
        return;
      case "listening":
      case "listen-failed":
        return;
    }
  }

  /** Called when a shard starts or stops being refused: re-list at once if the Workers serve it. */
  noteRefusalsChanged(shardId: number): void {
    if (this.#routedShardIds.has(shardId) || this.#options.refuses(shardId) === false) this.refreshRouting();
  }

  /** Lists the data replicas (same turn: ranges and epochs agree) and tells the Workers if it changed. */
  refreshRouting(): void {
    const replicas: PoolReplica[] = [];
    for (const { groupId, runtime } of this.#options.replicas()) {
      if (groupId === metaGroupId || runtime.isRemoved() || this.#options.refuses(groupId)) continue;
      const range = runtime.range();
      const table = runtime.table;
      if (range === null || !(table instanceof Table)) continue;
      let epoch: number;
      try {
        epoch = table.epoch();
      } catch {
        continue; // closed
      }
      replicas.push({ shardId: groupId, tableId: table.tableId, start: range.start, end: range.end, epoch });
    }
    const signature = replicas.map((replica) => `${replica.shardId}:${replica.tableId}:${replica.epoch}:${replica.start}:${replica.end}`).join(",");
    if (signature === this.#routingSignature) return;
    this.#routingSignature = signature;
    this.#routing = replicas;
    this.#routedShardIds = new Set(replicas.map((replica) => replica.shardId));
    for (const entry of this.#workers) entry?.outbox.post({ type: "routing", replicas });
  }
}

/**
 * The connection a bridged RespConnection runs over: bytes from the Worker come in as data (held
 * while paused, which is how the session's push-back reaches the Worker: it stops reading once its
 * forwarded commands go unanswered), replies go back with how many commands they complete.
 */
class BridgeConnection implements ByteConnection {
  readonly remoteAddress: string;
  readonly remotePort = 0;
  connection: RespConnection | null = null;
  readonly #outbox: PostBatcher<ToWorker>;
  readonly #conn: number;
  readonly #queue: { bytes: Uint8Array; count: number }[] = [];
  #events: TcpEvents | null = null;
  #delivered = 0;
  #paused = false;
  #ended = false;

  constructor(outbox: PostBatcher<ToWorker>, conn: number, remote: string) {
    this.#outbox = outbox;
    this.#conn = conn;
    this.remoteAddress = remote;
  }

  get closed(): boolean {
    return this.#ended;
  }

  attach(events: TcpEvents): void {
    this.#events = events;
    this.#deliver();
  }

  feed(bytes: Uint8Array, count: number): void {
    if (this.#ended) return;
    this.#queue.push({ bytes, count });
    this.#deliver();
  }

  write(bytes: Uint8Array): boolean {
    if (this.#ended || this.connection === null) return true;
    const session = this.connection.session;
    const flags: PoolSessionFlags = { authenticated: session.authenticated, protocol: session.protocol, linearizable: session.readMode === "linearizable", inMulti: session.multi !== null };
    this.#outbox.post({ type: "reply", conn: this.#conn, bytes, answered: this.#delivered - this.connection.pendingCount, session: flags });
    return true;
  }

  pause(): void {
    this.#paused = true;
  }

  resume(): void {
    this.#paused = false;
    this.#deliver();
  }

  /** The session ended the connection: the Worker ends its socket after the replies sent. */
  end(): void {
    if (this.#ended) return;
    this.#outbox.post({ type: "end", conn: this.#conn });
    this.workerClosed();
  }

  destroy(): void {
    this.end();
  }

  /** The client's socket closed (or its Worker is gone). */
  workerClosed(): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#queue.length = 0;
    // As a socket does: close after the current turn.
    setImmediate(() => this.#events?.close(false));
  }

  #deliver(): void {
    while (this.#events !== null && !this.#paused && !this.#ended && this.#queue.length > 0) {
      const next = this.#queue.shift() as { bytes: Uint8Array; count: number };
      this.#delivered += next.count;
      this.#events.data(next.bytes);
    }
  }
}
