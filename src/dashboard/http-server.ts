// A store's HTTP listener: GET /metrics (Prometheus text), / (the dashboard page, with uPlot's
// script and style embedded in the binary), /api/store (this store's snapshot), /api/cluster (the
// whole cluster as this store sees it). Read-only; nothing here changes the store.
import uplotCss from "uplot/dist/uPlot.min.css" with { type: "text" };
import uplotJs from "uplot/dist/uPlot.iife.min.js" with { type: "text" };
import type { Server } from "bun";
import type { StoreMetrics } from "../metrics/store-metrics.ts";
import type { Logger } from "../util/log.ts";
import type { ClusterMonitor } from "./cluster-monitor.ts";
import pageBundle from "./dashboard.html" with { type: "text" };
import type { StoreSnapshot } from "./store-snapshot.ts";

export interface StoreHttpOptions {
  host: string;
  /** 0 = ephemeral. */
  port: number;
  metrics: StoreMetrics | null;
  snapshot: () => Promise<StoreSnapshot>;
  monitor: ClusterMonitor;
  logger: Logger;
}

// Bun's types call every .html import an HTMLBundle; with type "text" it is the file's text.
const pageHtml = pageBundle as unknown as string;
const prometheusContentType = "text/plain; version=0.0.4; charset=utf-8";

export class StoreHttpServer {
  readonly port: number;
  readonly #server: Server<undefined>;
  readonly #monitor: ClusterMonitor;

  private constructor(server: Server<undefined>, monitor: ClusterMonitor) {
    this.#server = server;
    this.port = server.port ?? 0;
    this.#monitor = monitor;
  }

  static start(options: StoreHttpOptions): StoreHttpServer {
    const { metrics, logger } = options;
    const json = (value: unknown): Response => new Response(JSON.stringify(value), { headers: { "content-type": "application/json", "cache-control": "no-store" } });
    const server = Bun.serve({
      hostname: options.host,
      port: options.port,
      // One scrape or page at a time per connection: nothing here streams.
      idleTimeout: 30,
      fetch: async (request) => {
        if (request.method !== "GET" && request.method !== "HEAD") return new Response("Only GET\n", { status: 405, headers: { allow: "GET, HEAD" } });
        const path = new URL(request.url).pathname;
        switch (path) {
          case "/metrics":
            if (metrics === null) return new Response("metrics are off (metricsEnabled: false in the cluster config)\n", { status: 404 });
            return new Response(await metrics.text(), { headers: { "content-type": prometheusContentType } });
          case "/":
          case "/index.html":
            return new Response(pageHtml, { headers: { "content-type": "text/html; charset=utf-8" } });
          case "/uplot.js":
            return new Response(uplotJs, { headers: { "content-type": "text/javascript; charset=utf-8", "cache-control": "max-age=3600" } });
          case "/uplot.css":
            return new Response(uplotCss, { headers: { "content-type": "text/css; charset=utf-8", "cache-control": "max-age=3600" } });
          case "/api/store":
            return json(await options.snapshot());
          case "/api/cluster":
            return json(await options.monitor.view());
          default:
            return new Response("Not found: try /, /metrics, /api/store or /api/cluster\n", { status: 404 });
        }
      },
      error: (error) => {
        logger.error({ event: "http_error", err: error });
        return new Response("internal error\n", { status: 500 });
      },
    });
    logger.info({ event: "http_started", host: options.host, port: server.port }, "HTTP listener serving /metrics and the dashboard");
    return new StoreHttpServer(server, options.monitor);
  }

  async close(): Promise<void> {
    this.#monitor.close();
    await this.#server.stop(true);
  }
}
