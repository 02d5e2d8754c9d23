// `ukv meta --config FILE --id ID [--data-dir DIR]`: runs one member of the metadata group (the
// topology store) until SIGTERM/SIGINT, then drains and exits 0.
import { Command, Option } from "clipanion";
import { findMember, loadClusterConfig } from "../config/cluster-config.ts";
import { MetaService, metaGroupId } from "../meta/meta-service.ts";
import { NodeProcess } from "../node/node-process.ts";
import { UkvError } from "../util/errors.ts";
import { rootLogger } from "../util/log.ts";
import { parsePositiveInt, reportCliError, waitForStopSignal } from "./errors.ts";

export class MetaCommand extends Command {
  static override paths = [["meta"]];
  static override usage = Command.Usage({
    description: "Run one member of the metadata group (cluster topology)",
    details:
      "Holds the shard layout, each shard's leader as reported by the nodes, their health and the topology epoch. Routers and clients read it with STATUS (optionally long-polling for a newer epoch).",
    examples: [["Run meta member 1 of the example cluster", "ukv meta --config configs/cluster-example.yaml --id 1"]],
  });

  config = Option.String("--config", { required: true, description: "Cluster config (YAML)" });
  id = Option.String("--id", { required: true, description: "This member's node id in the config's meta group" });
  dataDir = Option.String("--data-dir", { description: "Data directory (default: <config dataDir>/node-<id>)" });

  override async execute(): Promise<number> {
    let node: NodeProcess;
    try {
      const nodeId = parsePositiveInt("--id", this.id);
      const config = loadClusterConfig(this.config);
      const found = findMember(config, nodeId);
      if (found === null || found.shard !== null) {
        throw new UkvError("CONFIG_INVALID", `Node id ${nodeId} is not a member of the meta group in ${this.config}`);
      }
      const service = new MetaService(config, rootLogger);
      node = await NodeProcess.startGroup(
        { config, nodeId, logger: rootLogger, ...(this.dataDir === undefined ? {} : { dataDir: this.dataDir }) },
        { id: metaGroupId, members: config.meta.members },
        service.role(),
      );
    } catch (error) {
      return reportCliError(this.context, error);
    }
    const signal = await waitForStopSignal();
    rootLogger.info({ event: "signal", signal, node: node.nodeId });
    await node.close();
    return 0;
  }
}
