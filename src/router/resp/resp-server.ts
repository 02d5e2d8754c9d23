// The RESP listener of the router (`ukv router --resp-port`): a second TCP listener next to the
// raw one, whose connections (RespConnection) run Redis commands through the same routing, health
// gate and per-shard queues (RespBackend, implemented by RouterServer). Owns the connection set,
// the counters INFO reports, and the router-wide key locks; close() stops accepting, lets each
// connection answer what it took (bounded), then closes them.
import { listenTcp } from "../../transport/socket-util.ts";
import { createServer, type Server, type Socket } from "node:net";
import { respConnectionCountMax } from "../../util/limits.ts";
import type { Logger } from "../../util/log.ts";
import { CommandTable } from "./resp-commands.ts";
import { KeyLocks, type RespBackend, type RespServerStats } from "./resp-context.ts";
import { RespConnection } from "./resp-connection.ts";

export interface RespServerOptions {
  backend: RespBackend;
  host: string;
  /** 0 = ephemeral. */
  port: number;
  logger: Logger;
  /** How long close() waits for answers in flight. Default 5000. */
  drainTimeoutMs?: number;
}

export const respDrainTimeoutMsDefault = 5000;

export class RespServer {
  readonly port: number;
  readonly stats: RespServerStats;
  readonly #server: Server;
  readonly #connections: Set<RespConnection>;
  readonly #logger: Logger;
  readonly #drainTimeoutMs: number;
  #closing: Promise<void> | null = null;

  private constructor(parts: { port: number; stats: RespServerStats; server: Server; connections: Set<RespConnection>; logger: Logger; drainTimeoutMs: number }) {
    this.port = parts.port;
    this.stats = parts.stats;
    this.#server = parts.server;
    this.#connections = parts.connections;
    this.#logger = parts.logger;
    this.#drainTimeoutMs = parts.drainTimeoutMs;
  }

  static async start(options: RespServerOptions): Promise<RespServer> {
    const logger = options.logger.child({ component: "resp" });
    const table = new CommandTable();
    const keyLocks = new KeyLocks();
    const connections = new Set<RespConnection>();
    const stats: RespServerStats = { startedAtMs: Date.now(), port: options.port, connectionCount: 0, connectionCountTotal: 0, commandCountTotal: 0, rejectedConnectionCountTotal: 0 };
    let nextSessionId = 1;
    let accepting = true;
    const accept = (socket: Socket): void => {
      if (!accepting || connections.size >= respConnectionCountMax) {
        stats.rejectedConnectionCountTotal++;
        socket.on("error", () => {});
        socket.end(accepting ? "-ERR max number of clients reached\r\n" : "-ERR server is shutting down\r\n");
        return;
      }
      stats.connectionCountTotal++;
      const connection = new RespConnection(socket, {
        sessionId: nextSessionId++,
        table,
        backend: options.backend,
        stats,
        keyLocks,
        logger,
        onClosed: () => {
          connections.delete(connection);
          stats.connectionCount = connections.size;
        },
      });
      connections.add(connection);
      stats.connectionCount = connections.size;
    };
    const server = createServer(accept);
    const port = await listenTcp(server, { host: options.host, port: options.port, logger });
    stats.port = port;
    const resp = new RespServer({ port, stats, server, connections, logger, drainTimeoutMs: options.drainTimeoutMs ?? respDrainTimeoutMsDefault });
    server.once("close", () => {
      accepting = false;
    });
    logger.info({ event: "resp_started", host: options.host, port }, "RESP listener serving");
    return resp;
  }

  close(): Promise<void> {
    this.#closing ??= this.#drainAndClose();
    return this.#closing;
  }

  async #drainAndClose(): Promise<void> {
    const listenerClosed = new Promise<void>((resolve) => this.#server.close(() => resolve()));
    const connections = [...this.#connections];
    const drained = Promise.all(connections.map((connection) => connection.stopAndDrain().then(() => connection.end())));
    let timer: ReturnType<typeof setTimeout> | null = null;
    const timedOut = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, this.#drainTimeoutMs);
      timer.unref();
    });
    await Promise.race([drained, timedOut]);
    if (timer !== null) clearTimeout(timer);
    for (const connection of connections) connection.destroy();
    await listenerClosed;
    this.#logger.info({ event: "resp_stopped" });
  }
}
