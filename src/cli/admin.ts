// `ukv admin add-replica | remove-replica | transfer-leader`: membership changes of a live shard
// (FR1.2). A replica's id is its store's id. The metadata group is found from --meta
// HOST:PORT,... or from the config's metadata stores.
import { Command, Option } from "clipanion";
import { AdminClient } from "../client/admin-client.ts";
import { loadClusterConfig } from "../config/cluster-config.ts";
import { metaStoreAddresses } from "../store/store-process.ts";
import { parseAddressList } from "../transport/meta-api.ts";
import { UkvError } from "../util/errors.ts";
import { parsePositiveInt, reportCliError } from "./errors.ts";
import { restoreSnapshot } from "./restore.ts";

abstract class AdminCommand extends Command {
  config = Option.String("--config", { description: "Cluster config (YAML): its metadata stores are asked" });
  meta = Option.String("--meta", { description: "Client addresses of metadata stores, HOST:PORT[,HOST:PORT...] (instead of --config)" });

  protected metaAddresses(): string[] {
    if (this.meta !== undefined) return parseAddressList(this.meta);
    if (this.config !== undefined) return metaStoreAddresses(loadClusterConfig(this.config));
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
    description: "Place a replica of a shard on a store: it joins as a learner, catches up, then becomes a voter",
    details: "The store must be running: one of the config's stores, or a new one started with `ukv node --join`. Rerunning after an interruption continues where it stopped.",
    examples: [["Put a replica of shard 2 on store 3", "ukv admin add-replica --config ukv-data/cluster.yaml --shard 2 --store 3"]],
  });
  shard = Option.String("--shard", { required: true, description: "The shard id" });
  store = Option.String("--store", { required: true, description: "The id of the store that gets the replica" });
  noWait = Option.Boolean("--no-wait", false, { description: "Return once it is a learner; do not wait for catch-up and promotion" });

  protected async run(admin: AdminClient): Promise<void> {
    await admin.addReplica({
      shardId: parsePositiveInt("--shard", this.shard),
      storeId: parsePositiveInt("--store", this.store),
      noWait: this.noWait,
    });
  }
}

export class RemoveReplicaCommand extends AdminCommand {
  static override paths = [["admin", "remove-replica"]];
  static override usage = Command.Usage({
    description: "Remove a shard's replica from a store (a leader hands over leadership first); the store deletes its data",
    details: "Refused if it would leave fewer than 3 voters, unless --force.",
    examples: [["Remove shard 2's replica from store 3", "ukv admin remove-replica --config ukv-data/cluster.yaml --shard 2 --store 3"]],
  });
  shard = Option.String("--shard", { required: true, description: "The shard id" });
  store = Option.String("--store", { required: true, description: "The id of the store whose replica goes" });
  force = Option.Boolean("--force", false, { description: "Allow leaving fewer than 3 voters" });

  protected async run(admin: AdminClient): Promise<void> {
    await admin.removeReplica({ shardId: parsePositiveInt("--shard", this.shard), storeId: parsePositiveInt("--store", this.store), force: this.force });
  }
}

export class TransferLeaderCommand extends AdminCommand {
  static override paths = [["admin", "transfer-leader"]];
  static override usage = Command.Usage({
    description: "Move a shard's leadership to the replica on another store",
    examples: [["Make store 2 lead shard 1", "ukv admin transfer-leader --config ukv-data/cluster.yaml --shard 1 --to 2"]],
  });
  shard = Option.String("--shard", { required: true, description: "The shard id" });
  to = Option.String("--to", { required: true, description: "The store whose replica should lead" });

  protected async run(admin: AdminClient): Promise<void> {
    await admin.transferLeader({ shardId: parsePositiveInt("--shard", this.shard), toStoreId: parsePositiveInt("--to", this.to) });
  }
}

export class SnapshotCommand extends AdminCommand {
  static override paths = [["admin", "snapshot"]];
  static override usage = Command.Usage({
    description: "Have a shard's leader take a snapshot now, and print where its store wrote it (a backup's source)",
    details:
      "The file (a checksummed dump of the shard's keys at one log index) is on the leader's server, under <dataDir>/store-<id>/groups/<shard>/snap/: copy it off that server at once, since a store keeps only its 2 newest snapshots per shard. `ukv admin restore` writes it back.",
    examples: [["Snapshot shard 2", "ukv admin snapshot --config ukv-data/cluster.yaml --shard 2"]],
  });
  shard = Option.String("--shard", { required: true, description: "The shard id" });

  protected async run(admin: AdminClient): Promise<void> {
    await admin.snapshot({ shardId: parsePositiveInt("--shard", this.shard) });
  }
}

export class RestoreCommand extends AdminCommand {
  static override paths = [["admin", "restore"]];
  static override usage = Command.Usage({
    description: "Write every key of a snapshot file back into the cluster (restore a shard from its backup)",
    details:
      "Verifies the whole file (checksums) before writing anything, then SETs each of its keys through the cluster, routed by key (so it also works after the shard was moved or split). Keys written since the snapshot keep their newer values unless the snapshot holds them too; keys deleted since come back. Safe to rerun.",
    examples: [["Restore shard 2 from a copied snapshot", "ukv admin restore --config ukv-data/cluster.yaml --snapshot backup/snap-00000000000000000042-00000000000000000002.snap"]],
  });
  snapshot = Option.String("--snapshot", { required: true, description: "A snapshot file (from `ukv admin snapshot`)" });

  protected async run(_admin: AdminClient): Promise<void> {
    await restoreSnapshot(this.snapshot, this.metaAddresses(), (line) => this.context.stdout.write(`${line}\n`));
  }
}

export const adminCommands = [AddReplicaCommand, RemoveReplicaCommand, TransferLeaderCommand, SnapshotCommand, RestoreCommand];
