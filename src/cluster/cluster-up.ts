// `ukv cluster up`: a complete local cluster on 127.0.0.1 as children of this process: one store
// (`ukv node`) per simulated server, each hosting replicas of many shards and routing requests
// itself. The config is DIR/cluster.yaml: generated on the first run and reused on later ones, so
// a second run restarts the same stores on the same data (their logs and snapshots bring it
// back). A directory another `cluster up` is using is refused before anything starts (a lock on
// DIR held for the life of this process). Waits until the metadata group and every shard have a
// leader, and stops every store on request.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { collectMemberReports, metaShardId, shardsWithoutLeader } from "../client/cluster-status.ts";
import type { ClusterLayout } from "../client/topology.ts";
import { loadClusterConfig, parseClusterConfig, type ClusterConfig } from "../config/cluster-config.ts";
import { renderLocalClusterConfig } from "../config/local-cluster.ts";
import { DirLock } from "../storage/dir-lock.ts";
import { UkvError } from "../util/errors.ts";
import { selfCommand } from "./self-command.ts";
import { Supervisor, type SupervisedChild } from "./supervisor.ts";

export interface ClusterUpOptions {
  dir: string;
  stores: number;
  shards: number;
  replicas: number;
  portBase: number;
  /** Default 30000. */
  readyTimeoutMs?: number;
  /** Per child, SIGTERM to SIGKILL. Default 10000 (a store drains clients, then closes its log). */
  stopTimeoutMs?: number;
  /** Progress lines for the user. */
  print(line: string): void;
  /**
   * Checks that every address the stores will listen on is free (storeListenAddresses), before
   * the config is written and before any process starts; throws to refuse. Default: no check.
   */
  checkPorts?: (config: ClusterConfig) => Promise<void>;
  /** Called with the config before any store starts (the CLI sets the process's client password). */
  useConfig?: (config: ClusterConfig) => void;
  /** Polled while waiting for readiness: true stops the start-up (every started store stopped). */
  stopRequested?: () => boolean;
}

export const readyTimeoutMsDefault = 30_000;
export const stopTimeoutMsDefault = 10_000;
const readyPollIntervalMs = 200;
const statusTimeoutMs = 500;

/**
 * DIR/cluster.yaml: reused when present, else generated; `beforeWrite` sees a new config before
 * it is written (a config whose ports are taken must not be left behind to be reused).
 */
export async function ensureClusterConfig(
  options: { dir: string; stores: number; shards: number; replicas: number; portBase: number },
  beforeWrite: (config: ClusterConfig) => Promise<void> = () => Promise.resolve(),
): Promise<{ config: ClusterConfig; configPath: string; reused: boolean }> {
  const dir = resolve(options.dir);
  mkdirSync(dir, { recursive: true });
  const configPath = join(dir, "cluster.yaml");
  if (existsSync(configPath)) return { config: loadClusterConfig(configPath), configPath, reused: true };
  if (options.replicas > options.stores) {
    throw new UkvError("BAD_REQUEST", `--replicas ${options.replicas} needs at least as many stores (--stores ${options.stores}): replicas of a shard live on distinct stores`);
  }
  // DIR/data, absolute: renderLocalClusterConfig resolves a relative dir against the working
  // directory, so "./data" put every cluster's data in the cwd of `cluster up`, not in DIR (two
  // dirs started from one cwd then shared their stores' data).
  const text = renderLocalClusterConfig({ dir: join(dir, "data"), storeCount: options.stores, shardCount: options.shards, replication: options.replicas, portBase: options.portBase });
  await beforeWrite(parseClusterConfig(text, configPath, dir));
  writeFileSync(configPath, text);
  return { config: loadClusterConfig(configPath), configPath, reused: false };
}

function tail(path: string, lineCount: number): string {
  try {
    return readFileSync(path, "utf8").trimEnd().split("\n").slice(-lineCount).join("\n");
  } catch {
    return "(no log)";
  }
}

export class LocalCluster {
  readonly config: ClusterConfig;
  readonly configPath: string;
  readonly supervisor: Supervisor;
  readonly #stopTimeoutMs: number;
  readonly #lock: DirLock;

  private constructor(config: ClusterConfig, configPath: string, supervisor: Supervisor, stopTimeoutMs: number, lock: DirLock) {
    this.config = config;
    this.configPath = configPath;
    this.supervisor = supervisor;
    this.#stopTimeoutMs = stopTimeoutMs;
    this.#lock = lock;
  }

  /** Starts every store; resolves once the metadata group and every shard have a leader. */
  static async up(options: ClusterUpOptions): Promise<LocalCluster> {
    mkdirSync(resolve(options.dir), { recursive: true });
    // Before anything else: a second `cluster up` on the same dir must not touch the first one.
    const lock = DirLock.acquire(resolve(options.dir));
    let cluster: LocalCluster;
    try {
      // Every port before any process: a store that cannot bind would die after the others
      // started, and the readiness check could even be answered by whatever holds the port.
      const checkPorts = options.checkPorts ?? (() => Promise.resolve());
      const { config, configPath, reused } = await ensureClusterConfig(options, checkPorts);
      if (reused) await checkPorts(config);
      // Its readiness and status checks are clients of the stores: they need the cluster's secret.
      options.useConfig?.(config);
      options.print(reused ? `Reusing ${configPath} (its stores, shards and ports win over the flags)` : `Wrote ${configPath}`);
      const supervisor = new Supervisor(join(resolve(options.dir), "logs"));
      cluster = new LocalCluster(config, configPath, supervisor, options.stopTimeoutMs ?? stopTimeoutMsDefault, lock);
    } catch (error) {
      lock.release();
      throw error;
    }
    const self = selfCommand();
    for (const store of cluster.config.stores) {
      cluster.supervisor.spawn({ name: `store-${store.id}`, argv: [...self, "node", "--config", cluster.configPath, "--id", String(store.id)] });
    }
    try {
      await cluster.#waitReady(options.readyTimeoutMs ?? readyTimeoutMsDefault, options.stopRequested ?? (() => false));
    } catch (error) {
      await cluster.down();
      throw error;
    }
    return cluster;
  }

  /** The endpoints, one per line, for the user. */
  endpoints(): string[] {
    const lines: string[] = [];
    for (const store of this.config.stores) {
      const meta = this.config.metaStores.includes(store.id) ? "  (metadata store)" : "";
      lines.push(`store ${store.id}  client ${store.advertised.clientAddress}  redis ${store.advertised.respAddress ?? "-"}  http ${store.advertisedHttpAddress === null ? "-" : `http://${store.advertisedHttpAddress}/`}${meta}`);
    }
    lines.push(`shards   ${this.config.shards.length} x ${this.config.shards[0]?.replicas.length ?? 0} replicas (every store routes any key: ukv kv --node ADDRESS, redis-cli -p PORT)`);
    lines.push(`config   ${this.configPath}`, `logs     ${this.supervisor.logDir}`);
    return lines;
  }

  /** Stops every store (each drains its clients); bounded by the stop timeout. Releases the dir. */
  async down(): Promise<void> {
    try {
      await this.supervisor.stopAll(this.#stopTimeoutMs);
    } finally {
      this.#lock.release();
    }
  }

  async #waitReady(timeoutMs: number, stopRequested: () => boolean): Promise<void> {
    const deadlineMs = performance.now() + timeoutMs;
    let missing: number[] = this.config.shards.map((shard) => shard.id);
    const layout = localLayout(this.config);
    while (performance.now() < deadlineMs) {
      if (stopRequested()) throw new UkvError("UNAVAILABLE", "Start-up stopped on request");
      const dead = this.supervisor.children().find((child) => child.exited);
      if (dead !== undefined) throw childExitedError(dead);
      missing = shardsWithoutLeader(layout, await collectMemberReports(layout, { timeoutMs: statusTimeoutMs }));
      if (missing.length === 0) return;
      await new Promise((resolvePromise) => setTimeout(resolvePromise, readyPollIntervalMs));
    }
    const what = missing.map((id) => (id === metaShardId ? "the metadata group" : `shard ${id}`));
    const shown = what.length > 10 ? `${what.slice(0, 10).join(", ")} and ${what.length - 10} more` : what.join(", ");
    throw new UkvError("TIMEOUT", `Cluster not ready within ${timeoutMs} ms: no leader in ${shown} (logs in ${this.supervisor.logDir})`);
  }
}

function childExitedError(child: SupervisedChild): UkvError {
  return new UkvError("UNAVAILABLE", `${child.name} exited with code ${child.exitCode} during start-up; last log lines (${child.logPath}):\n${tail(child.logPath, 10)}`);
}

/** The initial placement, with the metadata group as shard 0 (metaShardId), by store client address. */
function localLayout(config: ClusterConfig): ClusterLayout {
  const addressOf = (storeId: number): { id: number; clientAddress: string } => {
    const store = config.stores.find((candidate) => candidate.id === storeId);
    return { id: storeId, clientAddress: store?.advertised.clientAddress ?? "" };
  };
  return {
    shards: [{ id: metaShardId, members: config.metaStores.map(addressOf) }, ...config.shards.map((shard) => ({ id: shard.id, members: shard.replicas.map(addressOf) }))],
  };
}

/** Every address the stores of `config` listen on, with its role, e.g. "store 2's client address". */
export function storeListenAddresses(config: ClusterConfig): { address: string; role: string }[] {
  const addresses: { address: string; role: string }[] = [];
  for (const store of config.stores) {
    addresses.push({ address: store.raftAddress, role: `store ${store.id}'s Raft address` });
    addresses.push({ address: store.clientAddress, role: `store ${store.id}'s client address` });
    if (store.respAddress !== null) addresses.push({ address: store.respAddress, role: `store ${store.id}'s RESP address` });
    if (store.httpAddress !== null) addresses.push({ address: store.httpAddress, role: `store ${store.id}'s HTTP address` });
  }
  return addresses;
}
