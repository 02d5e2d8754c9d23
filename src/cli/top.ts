// `ukv top [--config FILE | --dir DIR | --http HOST:PORT] [--interval SECONDS] [--count N]`: a live
// view of the cluster, refreshed every interval: per store (up, ops/s, p50/p99 latency, fdatasync
// p99, leaders, connections, memory) and per shard (leader, term, writes/s, keys, the largest
// follower lag, quorum). It reads one store's /api/cluster (the dashboard's JSON: that store samples
// every store), trying the configured stores' HTTP addresses in turn. On a terminal it redraws the
// screen and exits on q or Ctrl-C; otherwise it prints plain lines, one block a refresh.
import { join } from "node:path";
import { Command, Option } from "clipanion";
import { loadClusterConfig } from "../config/cluster-config.ts";
import type { ClusterView, ShardView, StoreView } from "../dashboard/cluster-monitor.ts";
import { parseAddress } from "../transport/socket-util.ts";
import { UkvError } from "../util/errors.ts";
import { parsePositiveInt, reportCliError } from "./errors.ts";

const intervalSecondsMin = 0.2;
const intervalSecondsMax = 3600;
const fetchTimeoutMs = 3000;
/** Shards shown on a terminal screen at most (the plain mode prints them all). */
const screenShardRowsMax = 200;

export class TopCommand extends Command {
  static override paths = [["top"]];
  static override usage = Command.Usage({
    description: "Live view of stores and shards: ops/s, latency, lag, leaders",
    details:
      "Reads the dashboard's JSON (/api/cluster) from a store's HTTP listener: --http, or the first store of --config (or DIR/cluster.yaml of `ukv cluster up --dir DIR`) that answers. On a terminal the view is redrawn every --interval seconds until q or Ctrl-C; when stdout is not a terminal it prints plain lines (one block per refresh), --count times or until interrupted.",
    examples: [
      ["The cluster started by `ukv cluster up`", "ukv top"],
      ["Through one store's HTTP listener, 5 refreshes, as plain lines", "ukv top --http 127.0.0.1:7103 --count 5 | cat"],
    ],
  });

  config = Option.String("--config", { description: "Cluster config (YAML): the stores' HTTP addresses" });
  dir = Option.String("--dir", { description: "Cluster directory of `ukv cluster up` (default ./ukv-data)" });
  http = Option.String("--http", { description: "A store's HTTP address (host:port) instead of the config" });
  interval = Option.String("--interval", "1", { description: "Seconds between refreshes (0.2 to 3600, default 1)" });
  count = Option.String("--count", { description: "Refreshes before exiting (default: until q, Ctrl-C or SIGTERM)" });

  override async execute(): Promise<number> {
    let addresses: string[];
    let intervalMs: number;
    let count: number | null;
    try {
      const sources = [this.config, this.dir, this.http].filter((value) => value !== undefined).length;
      if (sources > 1) throw new UkvError("BAD_REQUEST", "Pass one of --config, --dir or --http");
      const seconds = Number(this.interval);
      if (!Number.isFinite(seconds) || seconds < intervalSecondsMin || seconds > intervalSecondsMax) {
        throw new UkvError("BAD_REQUEST", `--interval must be a number of seconds from ${intervalSecondsMin} to ${intervalSecondsMax}: ${JSON.stringify(this.interval)}`);
      }
      intervalMs = seconds * 1000;
      count = this.count === undefined ? null : parsePositiveInt("--count", this.count);
      addresses = this.#addresses();
    } catch (error) {
      return reportCliError(this.context, error);
    }
    const stdout = this.context.stdout as NodeJS.WriteStream;
    const screen = stdout.isTTY === true ? new Screen(stdout, this.context.stdin as NodeJS.ReadStream) : null;
    let stop = false;
    const wake = { resolve: (): void => undefined };
    const onStop = (): void => {
      stop = true;
      wake.resolve();
    };
    process.on("SIGINT", onStop);
    process.on("SIGTERM", onStop);
    screen?.start(onStop);
    try {
      let preferred = 0;
      for (let refreshIndex = 0; !stop && (count === null || refreshIndex < count); refreshIndex++) {
        const startedMs = Date.now();
        const { view, index } = await fetchView(addresses, preferred);
        preferred = index;
        if (screen !== null) screen.draw(renderScreen(view, addresses[index]!, screen.rows()));
        else stdout.write(renderPlain(view));
        if (count !== null && refreshIndex + 1 >= count) break;
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, Math.max(0, intervalMs - (Date.now() - startedMs)));
          wake.resolve = () => {
            clearTimeout(timer);
            resolve();
          };
        });
      }
      return 0;
    } catch (error) {
      screen?.stop();
      return reportCliError(this.context, error);
    } finally {
      screen?.stop();
      process.off("SIGINT", onStop);
      process.off("SIGTERM", onStop);
    }
  }

  /** The HTTP addresses to try, in order. */
  #addresses(): string[] {
    if (this.http !== undefined) {
      try {
        parseAddress(this.http);
      } catch (error) {
        throw new UkvError("BAD_REQUEST", `--http ${JSON.stringify(this.http)}: ${error instanceof Error ? error.message : String(error)}`);
      }
      return [this.http];
    }
    const config = loadClusterConfig(this.config ?? join(this.dir ?? "ukv-data", "cluster.yaml"));
    const addresses = config.stores.map((store) => store.advertisedHttpAddress).filter((address): address is string => address !== null);
    if (addresses.length === 0) throw new UkvError("CONFIG_INVALID", "No store in the config has an httpAddress: add one per store (docs/operations.md) or pass --http");
    return addresses;
  }
}

/** The view from the first store that answers, starting at the one that answered last time. */
async function fetchView(addresses: readonly string[], preferred: number): Promise<{ view: ClusterView; index: number }> {
  const failures: string[] = [];
  for (let offset = 0; offset < addresses.length; offset++) {
    const index = (preferred + offset) % addresses.length;
    const address = addresses[index]!;
    try {
      const response = await fetch(`http://${address}/api/cluster`, { signal: AbortSignal.timeout(fetchTimeoutMs) });
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
      return { view: (await response.json()) as ClusterView, index };
    } catch (error) {
      failures.push(`${address}: ${error instanceof Error ? error.message : String(error)}`);
    }
  }
  throw new UkvError("UNREACHABLE", `No store's HTTP listener answered (${failures.join("; ")})`);
}

function ms(seconds: number | null): string {
  if (seconds === null) return "-";
  return seconds < 0.01 ? `${(seconds * 1000).toFixed(2)}ms` : `${(seconds * 1000).toFixed(1)}ms`;
}

function rate(value: number | null): string {
  return value === null ? "-" : value < 10 ? value.toFixed(1) : String(Math.round(value));
}

function mib(bytes: number | null): string {
  return bytes === null ? "-" : `${Math.round(bytes / (1024 * 1024))}MiB`;
}

function shardName(id: number): string {
  return id === 0 ? "meta" : String(id);
}

function maxLag(shard: ShardView): number | null {
  let lag: number | null = null;
  for (const replica of Object.values(shard.replicas)) if (replica.lag !== null) lag = Math.max(lag ?? 0, replica.lag);
  return lag;
}

function storeFields(store: StoreView): string[] {
  return [
    String(store.id),
    store.up ? "up" : "DOWN",
    rate(store.opsPerSec),
    ms(store.p50Seconds),
    ms(store.p99Seconds),
    ms(store.fsyncP99Seconds),
    String(store.leaders),
    String(store.replicas),
    store.connections === null ? "-" : String(store.connections),
    mib(store.rssBytes),
  ];
}

function shardFields(shard: ShardView): string[] {
  const lag = maxLag(shard);
  return [
    shardName(shard.id),
    shard.leader === 0 ? "none" : String(shard.leader),
    String(shard.term),
    rate(shard.writesPerSec),
    shard.leader === 0 ? "-" : String(shard.keys),
    lag === null ? "-" : String(lag),
    shard.quorum ? "yes" : "NO",
    shard.members.join(","),
  ];
}

const storeHeader = ["STORE", "STATE", "OPS/S", "P50", "P99", "FSYNC-P99", "LEADERS", "REPLICAS", "CONNS", "RSS"];
const shardHeader = ["SHARD", "LEADER", "TERM", "WRITES/S", "KEYS", "MAX-LAG", "QUORUM", "STORES"];

function table(header: string[], rows: string[][]): string[] {
  const widths = header.map((title, column) => Math.max(title.length, ...rows.map((row) => (row[column] ?? "").length)));
  const line = (cells: string[]): string => cells.map((cell, column) => cell.padStart(widths[column]!)).join("  ");
  return [line(header), ...rows.map(line)];
}

/** Plain mode: `key=value` lines a script can grep, one block a refresh, a blank line after it. */
export function renderPlain(view: ClusterView): string {
  const at = new Date(view.atMs).toISOString();
  const lines: string[] = [];
  for (const store of view.stores) {
    const [id, state, ops, p50, p99, fsync, leaders, replicas, conns, rss] = storeFields(store);
    lines.push(`${at} store=${id} state=${state} ops_per_sec=${ops} p50=${p50} p99=${p99} fsync_p99=${fsync} leaders=${leaders} replicas=${replicas} connections=${conns} rss=${rss}`);
  }
  for (const shard of view.shards) {
    const [id, leader, term, writes, keys, lag, quorum, members] = shardFields(shard);
    lines.push(`${at} shard=${id} leader=${leader} term=${term} writes_per_sec=${writes} keys=${keys} max_lag=${lag} quorum=${quorum} stores=${members}`);
  }
  return `${lines.join("\n")}\n\n`;
}

function renderScreen(view: ClusterView, address: string, rows: number): string {
  const upCount = view.stores.filter((store) => store.up).length;
  const noQuorum = view.shards.filter((shard) => !shard.quorum).length;
  const last = view.history.at(-1);
  const header = [
    `ukv top - ${new Date(view.atMs).toLocaleTimeString()} - via ${address} (store ${view.servedBy}) - q or Ctrl-C to quit`,
    `stores ${upCount}/${view.stores.length} up   shards without quorum ${noQuorum}   ops/s ${rate(last?.opsPerSec ?? null)}   p50 ${ms(last?.p50Seconds ?? null)}   p99 ${ms(last?.p99Seconds ?? null)}   fsync p99 ${ms(last?.fsyncP99Seconds ?? null)}`,
    "",
  ];
  const storeLines = table(storeHeader, view.stores.map(storeFields));
  const shardRowsRoom = Math.max(1, Math.min(screenShardRowsMax, rows - header.length - storeLines.length - 3));
  const shown = view.shards.slice(0, shardRowsRoom);
  const shardLines = table(shardHeader, shown.map(shardFields));
  const more = view.shards.length > shown.length ? [`... ${view.shards.length - shown.length} more shards (a taller terminal, or ukv top | cat, shows them)`] : [];
  return [...header, ...storeLines, "", ...shardLines, ...more].join("\n");
}

/** The terminal: alternate screen, hidden cursor, raw keys (q, Ctrl-C); restored on stop. */
class Screen {
  readonly #out: NodeJS.WriteStream;
  readonly #in: NodeJS.ReadStream;
  #started = false;
  #onKey: ((data: Buffer) => void) | null = null;

  constructor(out: NodeJS.WriteStream, input: NodeJS.ReadStream) {
    this.#out = out;
    this.#in = input;
  }

  rows(): number {
    return this.#out.rows ?? 40;
  }

  start(onQuit: () => void): void {
    this.#started = true;
    this.#out.write("\x1b[?1049h\x1b[?25l");
    if (this.#in.isTTY === true) {
      this.#in.setRawMode(true);
      this.#onKey = (data: Buffer) => {
        const key = data.toString("latin1");
        if (key === "q" || key === "Q" || key === "\x03") onQuit();
      };
      this.#in.on("data", this.#onKey);
      this.#in.resume();
    }
  }

  draw(text: string): void {
    // Home, then each line cleared to its end, then the rest of the screen cleared: no flicker.
    this.#out.write(`\x1b[H${text.split("\n").map((line) => `${line}\x1b[K`).join("\n")}\x1b[J`);
  }

  stop(): void {
    if (!this.#started) return;
    this.#started = false;
    if (this.#onKey !== null) {
      this.#in.off("data", this.#onKey);
      this.#in.setRawMode(false);
      this.#in.pause();
    }
    this.#out.write("\x1b[?25h\x1b[?1049l");
  }
}
