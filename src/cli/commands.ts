// Every command class of the binary, for main.ts to register. Importing this module loads the
// native addon (through the storage modules), which is why main.ts imports it dynamically: a
// failure to load the addon is then reported as one line instead of a module-load stack trace.
import type { BaseContext, CommandClass } from "clipanion";
import { adminCommands } from "./admin.ts";
import { AnalyzeCommand } from "./analyze.ts";
import { ClusterUpCommand } from "./cluster.ts";
import { groupCommand } from "./help.ts";
import { kvCommands } from "./kv.ts";
import { LoadCommand } from "./load.ts";
import { NodeCommand } from "./node.ts";
import { RouterCommand } from "./router.ts";
import { StatusCommand } from "./status.ts";
import { TopCommand } from "./top.ts";
import { VersionCommand } from "./version.ts";

export { watchParentFromEnvironment } from "./cluster.ts";

const storeOne = "127.0.0.1:7101";

export const commandClasses: readonly CommandClass<BaseContext>[] = [
  VersionCommand,
  NodeCommand,
  RouterCommand,
  ClusterUpCommand,
  groupCommand({
    group: "cluster",
    description: "Run a local cluster: `ukv cluster up` starts one store process per simulated server on 127.0.0.1",
    subcommands: [ClusterUpCommand],
    examples: [["Three stores, eight shards of three replicas, in ./ukv-data (ports from 7100)", "ukv cluster up"]],
  }),
  StatusCommand,
  TopCommand,
  ...kvCommands,
  groupCommand({
    group: "kv",
    description: "Read and write keys through any store (--node), the router (--router) or the smart client (--config, --meta)",
    subcommands: kvCommands,
    examples: [
      ["Write and read a key through store 1 of `ukv cluster up` (any store routes any key)", `ukv kv set greeting hello --node ${storeOne} && ukv kv get greeting --node ${storeOne}`],
      ["Write a value read from stdin", `printf 'multi\\nline' | ukv kv set note - --node ${storeOne}`],
      ["The smart client: straight to the shard's leader", "ukv kv get greeting --config ukv-data/cluster.yaml"],
    ],
  }),
  ...adminCommands,
  groupCommand({
    group: "admin",
    description: "Change a live shard's membership and leadership (a replica's id is its store's id)",
    subcommands: adminCommands,
    examples: [["Move shard 1's leadership to store 2 of `ukv cluster up`", "ukv admin transfer-leader --config ukv-data/cluster.yaml --shard 1 --to 2"]],
  }),
  AnalyzeCommand,
  LoadCommand,
];
