// Entry point of the one binary: registers every subcommand (one file each in src/cli/).
import { Builtins, Cli } from "clipanion";
import { kvCommands } from "./cli/kv.ts";
import { adminCommands } from "./cli/admin.ts";
import { AnalyzeCommand } from "./cli/analyze.ts";
import { NodeCommand } from "./cli/node.ts";
import { RouterCommand } from "./cli/router.ts";
import { ClusterUpCommand, watchParentFromEnvironment } from "./cli/cluster.ts";
import { StatusCommand } from "./cli/status.ts";
import { VersionCommand } from "./cli/version.ts";
import { ukvVersion } from "./util/version.ts";

const cli = new Cli({ binaryName: "ukv", binaryLabel: "universeKV", binaryVersion: ukvVersion });
cli.register(VersionCommand);
cli.register(NodeCommand);
for (const command of adminCommands) cli.register(command);
cli.register(RouterCommand);
cli.register(ClusterUpCommand);
cli.register(StatusCommand);
for (const command of kvCommands) cli.register(command);
cli.register(AnalyzeCommand);
cli.register(Builtins.HelpCommand);
cli.register(Builtins.VersionCommand);
// A child of `ukv cluster up` stops itself if its supervisor dies (no orphans).
watchParentFromEnvironment();
await cli.runExit(process.argv.slice(2));
