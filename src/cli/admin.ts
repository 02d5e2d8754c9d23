// `ukv admin add-replica | remove-replica | transfer-leader`: membership changes of a live shard
// (FR1.2); `ukv admin move`: those steps chained to move a replica; `ukv admin split`: split a
// shard's hash range in place. A replica's id is its store's id. The metadata group is found from --meta
// HOST:PORT,... or from the config's metadata stores.
import { passwordOption, useCliPassword } from "./password.ts";
import { Command, Option } from "clipanion";
import { AdminClient } from "../client/admin-client.ts";
import { loadClusterConfig } from "../config/cluster-config.ts";
import { metaStoreAddresses } from "../store/store-process.ts";
import { parseAddressList } from "../transport/meta-api.ts";
import { parseHash } from "../ring/range-map.ts";
import { coordinatorSettings, formatDecision, planBalance } from "../client/balance-plan.ts";
import { UkvError } from "../util/errors.ts";
import { parsePositiveInt, reportCliError } from "./errors.ts";
import { restoreSnapshot } from "./restore.ts";

abstract class AdminCommand extends Command {
  config = Option.String("--config", { description: "Cluster config (YAML): its metadata stores are asked" });
  meta = Option.String("--meta", { description: "Client addresses of metadata stores, HOST:PORT[,HOST:PORT...] (instead of --config)" });
  password = passwordOption();

  protected metaAddresses(): string[] {
    useCliPassword(this.password);
    if (this.meta !== undefined) return parseAddressList(this.meta);
    if (this.config !== undefined) {
      const config = loadClusterConfig(this.config);
      useCliPassword(this.password, config.requirepass);
      return metaStoreAddresses(config);
    }
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

/** A command on one shard: the `--shard` option they all take. */
abstract class ShardAdminCommand extends AdminCommand {
  shard = Option.String("--shard", { required: true, description: "The shard id" });

  protected shardId(): number {
    return parsePositiveInt("--shard", this.shard);
  }
}

export class AddReplicaCommand extends ShardAdminCommand {
  static override paths = [["admin", "add-replica"]];
  static override usage = Command.Usage({
    description: "Place a replica of a shard on a store: it joins as a learner, catches up, then becomes a voter",
    details: "The store must be running: one of the config's stores, or a new one started with `ukv node --join`. Rerunning after an interruption continues where it stopped.",
    examples: [["Put a replica of shard 2 on store 3", "ukv admin add-replica --config ukv-data/cluster.yaml --shard 2 --store 3"]],
  });
  store = Option.String("--store", { required: true, description: "The id of the store that gets the replica" });
  noWait = Option.Boolean("--no-wait", false, { description: "Return once it is a learner; do not wait for catch-up and promotion" });

  protected async run(admin: AdminClient): Promise<void> {
    await admin.addReplica({
      shardId: this.shardId(),
      storeId: parsePositiveInt("--store", this.store),
      noWait: this.noWait,
    });
  }
}

export class RemoveReplicaCommand extends ShardAdminCommand {
  static override paths = [["admin", "remove-replica"]];
  static override usage = Command.Usage({
    description: "Remove a shard's replica from a store (a leader hands over leadership first); the store deletes its data",
    details: "Refused if it would leave fewer than 3 voters, unless --force.",
    examples: [["Remove shard 2's replica from store 3", "ukv admin remove-replica --config ukv-data/cluster.yaml --shard 2 --store 3"]],
  });
  store = Option.String("--store", { required: true, description: "The id of the store whose replica goes" });
  force = Option.Boolean("--force", false, { description: "Allow leaving fewer than 3 voters" });

  protected async run(admin: AdminClient): Promise<void> {
    await admin.removeReplica({ shardId: this.shardId(), storeId: parsePositiveInt("--store", this.store), force: this.force });
  }
}

export class TransferLeaderCommand extends ShardAdminCommand {
  static override paths = [["admin", "transfer-leader"]];
  static override usage = Command.Usage({
    description: "Move a shard's leadership to the replica on another store",
    examples: [["Make store 2 lead shard 1", "ukv admin transfer-leader --config ukv-data/cluster.yaml --shard 1 --to 2"]],
  });
  to = Option.String("--to", { required: true, description: "The store whose replica should lead" });

  protected async run(admin: AdminClient): Promise<void> {
    await admin.transferLeader({ shardId: this.shardId(), toStoreId: parsePositiveInt("--to", this.to) });
  }
}

export class SplitCommand extends ShardAdminCommand {
  static override paths = [["admin", "split"]];
  static override usage = Command.Usage({
    description: "Split a shard's hash range in two; the upper part becomes a new shard on the same stores",
    details:
      "Without --at the split point is the median hash of the shard's keys (the halves hold about equal keys); with --at load it is the median of the accesses the leader's store sampled recently (the halves take about equal load: what the coordinator's load-based splits use). The new shard's id is allocated by the metadata group; its data is carried locally by every replica (no network copy). A rerun after an interruption is a new split of the (possibly already split) shard: check `ukv status` first.",
    examples: [
      ["Split shard 1 at its median key hash", "ukv admin split --config ukv-data/cluster.yaml --shard 1"],
      ["Split shard 1 at an explicit hash (a bulk load's planned boundary)", "ukv admin split --config ukv-data/cluster.yaml --shard 1 --at 0x4000000000000000"],
      ["Split shard 1 where its load is", "ukv admin split --config ukv-data/cluster.yaml --shard 1 --at load"],
    ],
  });
  at = Option.String("--at", { description: "Split hash, decimal or 0x-hex, or `load`: the new shard gets [HASH, end]" });

  protected async run(admin: AdminClient): Promise<void> {
    await admin.split({ shardId: this.shardId(), at: this.at === undefined ? null : this.at === "load" ? "load" : parseHash(this.at) });
  }
}

export class MoveCommand extends ShardAdminCommand {
  static override paths = [["admin", "move"]];
  static override usage = Command.Usage({
    description: "Move a shard's replica from one store to another: learner add, snapshot catch-up, promotion, removal from the source",
    details: "One membership step at a time (the shard keeps its voter count but for the moment between promotion and removal). Rerunning after an interruption continues where it stopped.",
    examples: [["Move shard 2's replica from store 1 to store 4", "ukv admin move --config ukv-data/cluster.yaml --shard 2 --from 1 --to 4"]],
  });
  from = Option.String("--from", { required: true, description: "The store whose replica goes" });
  to = Option.String("--to", { required: true, description: "The store that gets the replica" });

  protected async run(admin: AdminClient): Promise<void> {
    await admin.move({ shardId: this.shardId(), fromStoreId: parsePositiveInt("--from", this.from), toStoreId: parsePositiveInt("--to", this.to) });
  }
}

const drainRetryDelayMs = 500;
/** Plans in a row with nothing to move off a store still holding replicas before drain gives up (10 s). */
const drainIdleRoundsMax = 20;

export class RebalanceCommand extends AdminCommand {
  static override paths = [["admin", "rebalance"]];
  static override usage = Command.Usage({
    description: "Plan (and run) what the coordinator would: splits above the thresholds, replica moves off drained stores and towards equal counts, leader transfers",
    details:
      "Each decision is printed with its reason. Thresholds come from the config's `coordinator` section (defaults without --config: splitKeys 1,000,000, no load-based splits, 1 move per store per plan). --dry-run prints the plan and changes nothing.",
    examples: [
      ["Show the plan", "ukv admin rebalance --config ukv-data/cluster.yaml --dry-run"],
      ["Run it", "ukv admin rebalance --config ukv-data/cluster.yaml"],
    ],
  });
  dryRun = Option.Boolean("--dry-run", false, { description: "Print the plan only" });

  protected async run(admin: AdminClient): Promise<void> {
    const settings = coordinatorSettings(this.config === undefined ? undefined : loadClusterConfig(this.config).coordinator);
    const plan = await admin.plan(settings);
    if (plan.length === 0) {
      this.context.stdout.write("balanced: nothing to do\n");
      return;
    }
    if (this.dryRun) {
      for (const decision of plan) this.context.stdout.write(`${formatDecision(decision)}\n`);
      return;
    }
    await admin.execute(plan);
  }
}

export class DrainCommand extends AdminCommand {
  static override paths = [["admin", "drain"]];
  static override usage = Command.Usage({
    description: "Move every replica off a store (before removing it); the store is marked as drained so nothing is placed on it again",
    details: "Rerun to continue after an interruption; --undo makes the store a normal member again (the coordinator may then fill it).",
    examples: [["Empty store 4", "ukv admin drain --config ukv-data/cluster.yaml --store 4"]],
  });
  store = Option.String("--store", { required: true, description: "The store to empty" });
  undo = Option.Boolean("--undo", false, { description: "Stop draining the store" });

  protected async run(admin: AdminClient): Promise<void> {
    const storeId = parsePositiveInt("--store", this.store);
    if (this.undo) {
      await admin.setDraining(storeId, false);
      return;
    }
    await admin.setDraining(storeId, true);
    const settings = coordinatorSettings(this.config === undefined ? undefined : loadClusterConfig(this.config).coordinator);
    // Plan after plan (each moves at most movesPerStoreMax replicas of a store) until it is empty,
    // each plan and the check of what is left made from one read of the topology. A round with
    // nothing to move while the store still holds replicas waits: the coordinator may be halfway
    // through a move of that shard (its replicas on every other store for a moment), or a split
    // the last plan did not see just placed a child on the store.
    const roundsMax = 4 * ((await admin.topology()).layout?.shards.length ?? 0) + 10;
    let idleRounds = 0;
    // A step that fails (the coordinator changing the same shard at that moment) is planned again.
    let lastError: unknown = null;
    let left: number[] = [];
    for (let round = 0; round < roundsMax + drainIdleRoundsMax; round++) {
      const topology = await admin.topology();
      left = (topology.layout?.shards ?? []).filter((shard) => [...shard.members, ...(shard.learners ?? [])].some((member) => member.id === storeId)).map((shard) => shard.id);
      if (left.length === 0) break;
      const moves = planBalance({ topology, settings }).filter((decision) => (decision.kind === "move" && decision.from === storeId) || (decision.kind === "remove" && decision.storeId === storeId));
      if (moves.length === 0) {
        if (++idleRounds > drainIdleRoundsMax) break;
        await Bun.sleep(drainRetryDelayMs);
        continue;
      }
      idleRounds = 0;
      lastError = await admin.execute(moves).then(
        () => null,
        (error: unknown) => error,
      );
      if (lastError !== null) await Bun.sleep(drainRetryDelayMs);
    }
    if (left.length > 0) {
      const why = lastError instanceof Error ? `last step failed: ${lastError.message}` : "no other store can take them";
      throw new UkvError("UNAVAILABLE", `Store ${storeId} still holds replicas of shard ${left.join(", ")}: ${why}`);
    }
    this.context.stdout.write(`store ${storeId} holds no replica\n`);
  }
}

export class SnapshotCommand extends ShardAdminCommand {
  static override paths = [["admin", "snapshot"]];
  static override usage = Command.Usage({
    description: "Have a shard's leader take a snapshot now, and print where its store wrote it (a backup's source)",
    details:
      "The file (a checksummed dump of the shard's keys at one log index) is on the leader's server, under <dataDir>/store-<id>/groups/<shard>/snap/: copy it off that server at once, since a store keeps only its 2 newest snapshots per shard. `ukv admin restore` writes it back.",
    examples: [["Snapshot shard 2", "ukv admin snapshot --config ukv-data/cluster.yaml --shard 2"]],
  });

  protected async run(admin: AdminClient): Promise<void> {
    await admin.snapshot({ shardId: this.shardId() });
  }
}

export class RestoreCommand extends AdminCommand {
  static override paths = [["admin", "restore"]];
  static override usage = Command.Usage({
    description: "Write every key of a snapshot file back into the cluster (restore a shard from its backup)",
    details:
      "Verifies the whole file (checksums) before writing anything, then writes each of its keys through the cluster as it was stored (strings, lists and hashes, with their deadlines; keys expired by now are skipped), routed by key (so it also works after the shard was moved or split). Keys written since the snapshot keep their newer values unless the snapshot holds them too; keys deleted since come back. Safe to rerun.",
    examples: [["Restore shard 2 from a copied snapshot", "ukv admin restore --config ukv-data/cluster.yaml --snapshot backup/snap-00000000000000000042-00000000000000000002.snap"]],
  });
  snapshot = Option.String("--snapshot", { required: true, description: "A snapshot file (from `ukv admin snapshot`)" });

  protected async run(_admin: AdminClient): Promise<void> {
    await restoreSnapshot(this.snapshot, this.metaAddresses(), (line) => this.context.stdout.write(`${line}\n`));
  }
}

export const adminCommands = [AddReplicaCommand, RemoveReplicaCommand, TransferLeaderCommand, SplitCommand, MoveCommand, RebalanceCommand, DrainCommand, SnapshotCommand, RestoreCommand];
