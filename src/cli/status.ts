// `ukv status [--config FILE | --dir DIR] [--json]`: the placement as the metadata group holds it
// (every shard's replicas, including those added at run time) and one STATUS per store: a row per
// replica (shard, store, role, term, applied index, lag behind the leader's commit, keys,
// reachable), the leaders each store holds, and each shard's hash range. Exits 0 when every shard has a reachable leader,
// 7 (SHARD_UNAVAILABLE) otherwise.
import { passwordOption, useCliPassword } from "./password.ts";
import { join } from "node:path";
import { Command, Option } from "clipanion";
import { collectMemberReports, metaShardId, shardsWithoutLeader, type MemberReport } from "../client/cluster-status.ts";
import { topologyFromLayout, type ClusterLayout } from "../client/topology.ts";
import { formatRange, rangeToJson } from "../ring/range-map.ts";
import { formatStatusTable, leadersPerStore } from "../cluster/status-table.ts";
import { loadClusterConfig, type ClusterConfig } from "../config/cluster-config.ts";
import { layoutFromConfig } from "../meta/meta-service.ts";
import { metaStoreAddresses } from "../store/store-process.ts";
import { GroupClient } from "../client/group-client.ts";
import { fetchTopology } from "../transport/meta-api.ts";
import { UkvError } from "../util/errors.ts";
import { reportCliError } from "./errors.ts";

const statusTimeoutMs = 1000;

/** The placement from the metadata group, or the config's initial one when it does not answer; learners are moves (or adds) in flight. */
async function currentLayout(config: ClusterConfig): Promise<{ layout: ClusterLayout; source: string; learners: { shardId: number; storeIds: number[] }[] }> {
  const meta = new GroupClient(metaStoreAddresses(config), { timeoutMs: statusTimeoutMs });
  try {
    const topology = await fetchTopology(meta).catch(() => null);
    if (topology !== null && topology.layout !== null) {
      const shards = topology.layout.shards.map((shard) => ({ id: shard.id, members: [...shard.members, ...(shard.learners ?? [])], range: shard.range }));
      const learners = topology.layout.shards.filter((shard) => (shard.learners ?? []).length > 0).map((shard) => ({ shardId: shard.id, storeIds: shard.learners!.map((member) => member.id) }));
      return { layout: { shards }, source: `metadata group, epoch ${topology.epoch}`, learners };
    }
  } finally {
    meta.close();
  }
  return { layout: layoutFromConfig(config), source: "the config (the metadata group did not answer)", learners: [] };
}

/** One line per shard in hash order: its range, version and share of the hash space. */
function formatRanges(layout: ClusterLayout): string {
  const lines = topologyFromLayout(layout).ranges.ranges().map((range) => {
    const share = Number(((range.end - range.start + 1n) * 10_000n) >> 64n) / 100;
    return `  shard ${String(range.shardId).padEnd(5)} ${formatRange(range)}  ${share.toFixed(2)}% of the hash space`;
  });
  return `ranges (by key hash):\n${lines.join("\n")}\n`;
}

export class StatusCommand extends Command {
  static override paths = [["status"]];
  static override usage = Command.Usage({
    description: "Print every shard's replicas on the stores as a table",
    details:
      "Reads the placement from the metadata group (found through --config, or DIR/cluster.yaml of `ukv cluster up --dir DIR`) and asks every store for the state of its replicas.",
    examples: [
      ["The cluster started by `ukv cluster up`", "ukv status"],
      ["Another config, as JSON", "ukv status --config configs/cluster-example.yaml --json"],
    ],
  });

  config = Option.String("--config", { description: "Cluster config (YAML)" });
  dir = Option.String("--dir", { description: "Cluster directory of `ukv cluster up` (default ./ukv-data)" });
  json = Option.Boolean("--json", false, { description: "One JSON document instead of the table (for scripts)" });
  password = passwordOption();

  override async execute(): Promise<number> {
    try {
      if (this.config !== undefined && this.dir !== undefined) throw new UkvError("BAD_REQUEST", "Pass --config or --dir, not both");
      const configPath = this.config ?? join(this.dir ?? "ukv-data", "cluster.yaml");
      const config = loadClusterConfig(configPath);
      useCliPassword(this.password, config.requirepass);
      const { layout, source, learners } = await currentLayout(config);
      const metaMembers = metaStoreAddresses(config).map((clientAddress, index) => ({ id: config.metaStores[index] ?? 0, clientAddress }));
      // The metadata group is listed first, as shard "meta"; only the data shards decide the exit status.
      const reports: MemberReport[] = await collectMemberReports({ shards: [{ id: metaShardId, members: metaMembers }, ...layout.shards] }, { timeoutMs: statusTimeoutMs });
      // A wrong or missing password: one line saying so, not a table of refusals.
      const refused = reports.find((report) => report.error?.startsWith("UNAUTHENTICATED") === true);
      if (refused !== undefined) throw new UkvError("UNAUTHENTICATED", `${refused.address}: ${(refused.error ?? "").replace(/^UNAUTHENTICATED: /, "")}`);
      const missing = shardsWithoutLeader(layout, reports);
      if (this.json) {
        const ranges = topologyFromLayout(layout).ranges.ranges().map((range) => ({ shardId: range.shardId, ...rangeToJson(range) }));
        this.context.stdout.write(`${JSON.stringify({ source, ranges, movesInFlight: learners, replicas: reports, leadersPerStore: Object.fromEntries(leadersPerStore(reports)), shardsWithoutLeader: missing })}\n`);
      } else {
        this.context.stdout.write(`placement from ${source}\n`);
        this.context.stdout.write(formatStatusTable(reports));
        const leaders = [...leadersPerStore(reports)].map(([storeId, count]) => `store ${storeId}: ${count}`).join(", ");
        this.context.stdout.write(`leaders per store: ${leaders === "" ? "none" : leaders}\n`);
        this.context.stdout.write(formatRanges(layout));
        const inFlight = learners.map((entry) => `shard ${entry.shardId} -> store ${entry.storeIds.join(", ")}`).join("; ");
        this.context.stdout.write(`moves in flight (learners catching up): ${inFlight === "" ? "none" : inFlight}\n`);
      }
      if (missing.length > 0) throw new UkvError("SHARD_UNAVAILABLE", `No reachable leader in shard ${missing.join(", ")}`);
      return 0;
    } catch (error) {
      return reportCliError(this.context, error);
    }
  }
}
