// The RESP listener of every store (and of `ukv router --resp-port`): a second TCP listener next
// to the raw one, whose connections (RespConnection) run Redis commands through the same routing,
// health gate and per-shard queues (RespBackend, implemented by RouterServer). Owns the counters
// INFO reports and the router-wide key locks. Accept, the connection limit (refused with Redis's
// "-ERR max number of clients reached") and the bounded close (stop accepting, let each
// connection answer what it took, then close them) are the connection base's
// (transport/connection-server.ts), shared with the client-protocol listener.
import { ConnectionServer } from "../../transport/connection-server.ts";
import { respConnectionCountMax } from "../../util/limits.ts";
import type { Logger } from "../../util/log.ts";
import { CommandTable } from "./resp-commands.ts";
import { type RespBackend, type RespServerStats } from "./resp-context.ts";
import { RespConnection, type RespCommandObserver } from "./resp-connection.ts";

export interface RespServerOptions {
  backend: RespBackend;
  host: string;
  /** 0 = ephemeral. */
  port: number;
  logger: Logger;
  /** How long close() waits for answers in flight. Default drainTimeoutMsDefault (connection-server.ts). */
  drainTimeoutMs?: number;
  /** Metrics: sees every command's reply and duration. */
  observeCommand?: RespCommandObserver;
  /** Clients must AUTH with this password before other commands (null or absent: no password). */
  requirepass?: string | null;
}

export class RespServer {
  readonly port: number;
  readonly stats: RespServerStats;
  readonly #server: ConnectionServer<RespConnection>;
  readonly #logger: Logger;
  #closing: Promise<void> | null = null;

  private constructor(parts: { port: number; stats: RespServerStats; server: ConnectionServer<RespConnection>; logger: Logger }) {
    this.port = parts.port;
    this.stats = parts.stats;
    this.#server = parts.server;
    this.#logger = parts.logger;
  }

  static async start(options: RespServerOptions): Promise<RespServer> {
    const logger = options.logger.child({ component: "resp" });
    const table = new CommandTable();
    const stats: RespServerStats = { startedAtMs: Date.now(), port: options.port, connectionCount: 0, connectionCountTotal: 0, commandCountTotal: 0, rejectedConnectionCountTotal: 0 };
    let nextSessionId = 1;
    const server = new ConnectionServer<RespConnection>({
      host: options.host,
      port: options.port,
      logger,
      connectionCountMax: respConnectionCountMax,
      ...(options.drainTimeoutMs === undefined ? {} : { drainTimeoutMs: options.drainTimeoutMs }),
      open: (connection, onClosed) => {
        stats.connectionCountTotal++;
        return new RespConnection(connection, { sessionId: nextSessionId++, table, backend: options.backend, stats, logger, observeCommand: options.observeCommand, onClosed, requirepass: options.requirepass ?? null });
      },
      refuse: (connection, reason) => {
        stats.rejectedConnectionCountTotal++;
        connection.end(reason === "full" ? "-ERR max number of clients reached\r\n" : "-ERR server is shutting down\r\n");
      },
      onConnectionCountChanged: (count) => {
        stats.connectionCount = count;
      },
    });
    const port = await server.start();
    stats.port = port;
    logger.info({ event: "resp_started", host: options.host, port }, "RESP listener serving");
    return new RespServer({ port, stats, server, logger });
  }

  close(): Promise<void> {
    this.#closing ??= this.#server.close().then(() => this.#logger.info({ event: "resp_stopped" }));
    return this.#closing;
  }
}
