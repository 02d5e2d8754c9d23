// `ukv admin add-replica | remove-replica | transfer-leader`: membership changes of a live shard
// (FR1.2). The metadata group is found from --meta HOST:PORT,... or from the config's meta group.
import { Command, Option } from "clipanion";
import { AdminClient } from "../client/admin-client.ts";
import { loadClusterConfig } from "../config/cluster-config.ts";
import { parseAddressList } from "../transport/meta-api.ts";
import { UkvError } from "../util/errors.ts";
import { parsePositiveInt, reportCliError } from "./errors.ts";

abstract class AdminCommand extends Command {
  config = Option.String("--config", { description: "Cluster config (YAML): its meta group is used" });
  meta = Option.String("--meta", { description: "Metadata members, HOST:PORT[,HOST:PORT...] (instead of --config)" });

  protected metaAddresses(): string[] {
    if (this.meta !== undefined) return parseAddressList(this.meta);
    if (this.config !== undefined) return loadClusterConfig(this.config).meta.members.map((member) => member.clientAddress);
    throw new UkvError("BAD_REQUEST", "Give --meta HOST:PORT,... or --config FILE to find the metadata group");
  }

  protected abstract run(admin: AdminClient): Promise<void>;

  override async execute(): Promise<number> {
    let admin: AdminClient | null = null;
    try {
      admin = new AdminClient(this.metaAddresses(), (line) => this.context.stdout.write(`${line}\n`));
      await this.run(admin);
      return 0;
    } catch (error) {
      return reportCliError(this.context, error);
    } finally {
      admin?.close();
    }
  }
}

export class AddReplicaCommand extends AdminCommand {
  static override paths = [["admin", "add-replica"]];
  static override usage = Command.Usage({
    description: "Add a member to a shard: joins as a learner, catches up, then becomes a voter",
    details: "Start the new node first with `ukv node --join META --id ID --shard S --raft-addr A --client-addr B --data-dir D`.",
  });
  shard = Option.String("--shard", { required: true });
  node = Option.String("--node", { required: true });
  raftAddr = Option.String("--raft-addr", { required: true });
  clientAddr = Option.String("--client-addr", { required: true });
  noWait = Option.Boolean("--no-wait", false, { description: "Return once it is a learner; do not wait for catch-up and promotion" });

  protected async run(admin: AdminClient): Promise<void> {
    await admin.addReplica({
      shardId: parsePositiveInt("--shard", this.shard),
      nodeId: parsePositiveInt("--node", this.node),
      raftAddress: this.raftAddr,
      clientAddress: this.clientAddr,
      noWait: this.noWait,
    });
  }
}

export class RemoveReplicaCommand extends AdminCommand {
  static override paths = [["admin", "remove-replica"]];
  static override usage = Command.Usage({
    description: "Remove a member from a shard (the leader hands over leadership first)",
    details: "Refused if it would leave fewer than 3 voters, unless --force.",
  });
  shard = Option.String("--shard", { required: true });
  node = Option.String("--node", { required: true });
  force = Option.Boolean("--force", false, { description: "Allow leaving fewer than 3 voters" });

  protected async run(admin: AdminClient): Promise<void> {
    await admin.removeReplica({ shardId: parsePositiveInt("--shard", this.shard), nodeId: parsePositiveInt("--node", this.node), force: this.force });
  }
}

export class TransferLeaderCommand extends AdminCommand {
  static override paths = [["admin", "transfer-leader"]];
  static override usage = Command.Usage({ description: "Move a shard's leadership to another voter" });
  shard = Option.String("--shard", { required: true });
  to = Option.String("--to", { required: true });

  protected async run(admin: AdminClient): Promise<void> {
    await admin.transferLeader({ shardId: parsePositiveInt("--shard", this.shard), toNodeId: parsePositiveInt("--to", this.to) });
  }
}

export const adminCommands = [AddReplicaCommand, RemoveReplicaCommand, TransferLeaderCommand];
