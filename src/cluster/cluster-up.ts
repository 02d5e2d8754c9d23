// `ukv cluster up`: a complete local cluster on 127.0.0.1 as children of this process. The config
// is DIR/cluster.yaml: generated on the first run and reused on later ones, so a second run
// restarts the same members on the same data directories (their WAL and snapshots bring the data
// back). Starts the metadata group's members, every data-shard member and the router, waits until
// the meta group and every shard have a leader and the router answers, and stops them all on
// request (router first, then every member).
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { collectMemberReports, metaShardId, shardsWithoutLeader } from "../client/cluster-status.ts";
import { MemberPool } from "../client/member-pool.ts";
import { generateLocalClusterConfig, loadClusterConfig, renderClusterConfig, type ClusterConfig } from "../config/cluster-config.ts";
import { UkvError } from "../util/errors.ts";
import { selfCommand } from "./self-command.ts";
import { Supervisor, type SupervisedChild } from "./supervisor.ts";

export interface ClusterUpOptions {
  dir: string;
  shards: number;
  replicas: number;
  portBase: number;
  /** Default 30000. */
  readyTimeoutMs?: number;
  /** Per child, SIGTERM to SIGKILL. Default 10000 (a node drains clients, then closes its WAL). */
  stopTimeoutMs?: number;
  /** Progress lines for the user. */
  print(line: string): void;
}

export const readyTimeoutMsDefault = 30_000;
export const stopTimeoutMsDefault = 10_000;
const readyPollIntervalMs = 200;
const statusTimeoutMs = 500;

/** DIR/cluster.yaml: reused when present, else generated and written. */
export function ensureClusterConfig(options: { dir: string; shards: number; replicas: number; portBase: number }): { config: ClusterConfig; configPath: string; reused: boolean } {
  const dir = resolve(options.dir);
  mkdirSync(dir, { recursive: true });
  const configPath = join(dir, "cluster.yaml");
  if (existsSync(configPath)) return { config: loadClusterConfig(configPath), configPath, reused: true };
  // dataDir relative to the file, so the directory can be moved as a whole.
  const generated = generateLocalClusterConfig({ dir: join(dir, "data"), shards: options.shards, replicas: options.replicas, portBase: options.portBase });
  writeFileSync(configPath, renderClusterConfig({ ...generated, dataDir: "./data" }));
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

  private constructor(config: ClusterConfig, configPath: string, supervisor: Supervisor, stopTimeoutMs: number) {
    this.config = config;
    this.configPath = configPath;
    this.supervisor = supervisor;
    this.#stopTimeoutMs = stopTimeoutMs;
  }

  /** Starts the members and the router; resolves once every shard has a leader and the router answers. */
  static async up(options: ClusterUpOptions): Promise<LocalCluster> {
    const { config, configPath, reused } = ensureClusterConfig(options);
    options.print(reused ? `Reusing ${configPath} (its shards, replicas and ports win over the flags)` : `Wrote ${configPath}`);
    if (config.router === null) throw new UkvError("CONFIG_INVALID", `${configPath} has no router section; cluster up starts one`);
    const supervisor = new Supervisor(join(resolve(options.dir), "logs"));
    const cluster = new LocalCluster(config, configPath, supervisor, options.stopTimeoutMs ?? stopTimeoutMsDefault);
    const self = selfCommand();
    for (const member of config.meta.members) supervisor.spawn({ name: `meta-${member.id}`, argv: [...self, "meta", "--config", configPath, "--id", String(member.id)] });
    for (const shard of config.shards) {
      for (const member of shard.members) supervisor.spawn({ name: `node-${member.id}`, argv: [...self, "node", "--config", configPath, "--id", String(member.id)] });
    }
    supervisor.spawn({ name: "router", argv: [...self, "router", "--config", configPath] });
    try {
      await cluster.#waitReady(options.readyTimeoutMs ?? readyTimeoutMsDefault);
    } catch (error) {
      await cluster.down();
      throw error;
    }
    return cluster;
  }

  /** The endpoints, one per line, for the user. */
  endpoints(): string[] {
    const lines = [`router   ${this.config.router?.clientAddress ?? "-"}  (ukv protocol; ukv kv --router ADDRESS ...)`];
    lines.push(`meta     ${this.config.meta.members.map((member) => `node ${member.id} ${member.clientAddress}`).join(", ")}`);
    const respAddress = this.config.router?.respAddress ?? null;
    if (respAddress !== null) lines.push(`redis    ${respAddress}  (RESP; redis-cli -h HOST -p PORT)`);
    for (const shard of this.config.shards) {
      lines.push(`shard ${shard.id}  ${shard.members.map((member) => `node ${member.id} ${member.clientAddress}`).join(", ")}`);
    }
    lines.push(`config   ${this.configPath}`, `logs     ${this.supervisor.logDir}`);
    return lines;
  }

  /** Stops the router first (it drains its clients), then every node; bounded by the stop timeout. */
  async down(): Promise<void> {
    await this.supervisor.stop(["router"], this.#stopTimeoutMs);
    await this.supervisor.stopAll(this.#stopTimeoutMs);
  }

  async #waitReady(timeoutMs: number): Promise<void> {
    const deadlineMs = performance.now() + timeoutMs;
    const routerAddress = this.config.router?.clientAddress ?? "";
    const pool = new MemberPool({ requestTimeoutMs: statusTimeoutMs, connectTimeoutMs: statusTimeoutMs });
    try {
      let missing: number[] = this.config.shards.map((shard) => shard.id);
      while (performance.now() < deadlineMs) {
        const dead = this.supervisor.children().find((child) => child.exited);
        if (dead !== undefined) throw childExitedError(dead);
        // The meta group is reported as shard 0 (metaShardId), next to the data shards.
        const layout = { shards: [{ id: metaShardId, members: this.config.meta.members }, ...this.config.shards] };
        missing = shardsWithoutLeader(layout, await collectMemberReports(layout, { timeoutMs: statusTimeoutMs }));
        const routerAnswer = await pool.send(routerAddress, { op: "STATUS", key: new Uint8Array(0), value: new Uint8Array(0), linearizable: false });
        if (missing.length === 0 && routerAnswer.code === "OK") return;
        await new Promise((resolvePromise) => setTimeout(resolvePromise, readyPollIntervalMs));
      }
      throw new UkvError("TIMEOUT", `Cluster not ready within ${timeoutMs} ms: ${missing.length === 0 ? "the router does not answer" : `no leader in ${missing.map((id) => (id === metaShardId ? "the meta group" : `shard ${id}`)).join(", ")}`} (logs in ${this.supervisor.logDir})`);
    } finally {
      pool.close();
    }
  }
}

function childExitedError(child: SupervisedChild): UkvError {
  return new UkvError("UNAVAILABLE", `${child.name} exited with code ${child.exitCode} during start-up; last log lines (${child.logPath}):\n${tail(child.logPath, 10)}`);
}
