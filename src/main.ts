// Entry point of the one binary: registers every subcommand (one file each in src/cli/).
import { Builtins, Cli } from "clipanion";
import { kvCommands } from "./cli/kv.ts";
import { NodeCommand } from "./cli/node.ts";
import { VersionCommand } from "./cli/version.ts";
import { ukvVersion } from "./util/version.ts";

const cli = new Cli({ binaryName: "ukv", binaryLabel: "universeKV", binaryVersion: ukvVersion });
cli.register(VersionCommand);
cli.register(NodeCommand);
for (const command of kvCommands) cli.register(command);
cli.register(Builtins.HelpCommand);
cli.register(Builtins.VersionCommand);
await cli.runExit(process.argv.slice(2));
