// `ukv status [--config FILE | --dir DIR]`: asks every meta and data-shard member for STATUS and prints one
// row per member: shard, member, role, term, applied index, lag behind the leader's commit, keys,
// reachable. Exits 0 when every shard has a reachable leader, 7 (SHARD_UNAVAILABLE) otherwise.
import { join } from "node:path";
import { Command, Option } from "clipanion";
import { collectMemberReports, metaShardId, shardsWithoutLeader } from "../client/cluster-status.ts";
import { formatStatusTable } from "../cluster/status-table.ts";
import { loadClusterConfig } from "../config/cluster-config.ts";
import type { RouterView } from "../router/router-server.ts";
import { KvClient } from "../transport/kv-client.ts";
import { UkvError } from "../util/errors.ts";
import { reportCliError } from "./errors.ts";

const statusTimeoutMs = 1000;

/** One line: the router's address and its view of each shard's health, or why it did not answer. */
async function describeRouter(address: string): Promise<string> {
  const client = new KvClient(address, { timeoutMs: statusTimeoutMs, connectTimeoutMs: statusTimeoutMs });
  try {
    const answer = await client.status();
    if (answer.code !== "OK") return `router ${address}: not reachable (${answer.code}: ${answer.message})`;
    const view = JSON.parse(answer.statusJson) as RouterView;
    const shards = view.shards.map((shard) => `shard ${shard.shardId} ${shard.state}${shard.leader === null ? "" : ` (leader ${shard.leader.memberId})`}`);
    return `router ${address}: ${shards.join(", ")}`;
  } finally {
    client.close();
  }
}

export class StatusCommand extends Command {
  static override paths = [["status"]];
  static override usage = Command.Usage({
    description: "Print the cluster's shards and members as a table",
    details: "Reads the cluster config (--config, or DIR/cluster.yaml of `ukv cluster up --dir DIR`) and asks every data-shard member for its status.",
    examples: [
      ["The cluster started by `ukv cluster up`", "ukv status"],
      ["Another config", "ukv status --config configs/cluster-example.yaml"],
    ],
  });

  config = Option.String("--config", { description: "Cluster config (YAML)" });
  dir = Option.String("--dir", { description: "Cluster directory of `ukv cluster up` (default ./ukv-data)" });

  override async execute(): Promise<number> {
    try {
      if (this.config !== undefined && this.dir !== undefined) throw new UkvError("BAD_REQUEST", "Pass --config or --dir, not both");
      const configPath = this.config ?? join(this.dir ?? "ukv-data", "cluster.yaml");
      const config = loadClusterConfig(configPath);
      // The meta group is listed first, as shard "meta"; only the data shards decide the exit status.
      const layout = { shards: [{ id: metaShardId, members: config.meta.members }, ...config.shards] };
      const reports = await collectMemberReports(layout, { timeoutMs: statusTimeoutMs });
      this.context.stdout.write(formatStatusTable(reports));
      if (config.router !== null) this.context.stdout.write(`${await describeRouter(config.router.clientAddress)}\n`);
      const missing = shardsWithoutLeader(config, reports);
      if (missing.length > 0) throw new UkvError("SHARD_UNAVAILABLE", `No reachable leader in shard ${missing.join(", ")}`);
      return 0;
    } catch (error) {
      return reportCliError(this.context, error);
    }
  }
}
