// `ukv node --config FILE --id ID [--data-dir DIR]`: runs one member of one data shard until
// SIGTERM/SIGINT, then drains and exits 0.
import { Command, Option } from "clipanion";
import { loadClusterConfig } from "../config/cluster-config.ts";
import { NodeProcess } from "../node/node-process.ts";
import { rootLogger } from "../util/log.ts";
import { UkvError } from "../util/errors.ts";
import { parseAddressList } from "../transport/meta-api.ts";
import { parsePositiveInt, reportCliError, waitForStopSignal } from "./errors.ts";

export class NodeCommand extends Command {
  static override paths = [["node"]];
  static override usage = Command.Usage({
    description: "Run one member of a data shard",
    details: "Reads the cluster config, recovers from the data dir (snapshot + WAL), joins its Raft group and serves clients.",
    examples: [["Run node 11 of the example cluster", "ukv node --config configs/cluster-example.yaml --id 11"]],
  });

  config = Option.String("--config", { required: true, description: "Cluster config (YAML): timing, storage and the meta group" });
  id = Option.String("--id", { required: true, description: "This member's node id (in the config, unless --join)" });
  join = Option.String("--join", {
    description: "Join a shard at run time: metadata members HOST:PORT[,...]; needs --shard, --raft-addr, --client-addr",
  });
  shard = Option.String("--shard", { description: "With --join: the shard to join" });
  raftAddr = Option.String("--raft-addr", { description: "With --join: where this node listens for Raft peers" });
  clientAddr = Option.String("--client-addr", { description: "With --join: where this node serves clients" });
  dataDir = Option.String("--data-dir", { description: "Data directory (default: <config dataDir>/node-<id>)" });
  slowFailover = Option.Boolean("--no-fast-failover", false, {
    description: "Wait out the full election timeout when the leader's connection drops",
  });

  override async execute(): Promise<number> {
    let node: NodeProcess;
    try {
      const nodeId = parsePositiveInt("--id", this.id);
      const config = loadClusterConfig(this.config);
      const common = {
        config,
        nodeId,
        ...(this.dataDir === undefined ? {} : { dataDir: this.dataDir }),
        logger: rootLogger,
        fastFailover: !this.slowFailover,
      };
      if (this.join === undefined) {
        node = await NodeProcess.start(common);
      } else {
        if (this.shard === undefined || this.raftAddr === undefined || this.clientAddr === undefined) {
          throw new UkvError("BAD_REQUEST", "--join needs --shard, --raft-addr and --client-addr");
        }
        node = await NodeProcess.join({
          ...common,
          shardId: parsePositiveInt("--shard", this.shard),
          metaAddresses: parseAddressList(this.join),
          raftAddress: this.raftAddr,
          clientAddress: this.clientAddr,
        });
      }
    } catch (error) {
      return reportCliError(this.context, error);
    }
    const signal = await waitForStopSignal();
    rootLogger.info({ event: "signal", signal, node: node.nodeId });
    await node.close();
    return 0;
  }
}
