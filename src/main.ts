import { Builtins, Cli, Command } from "clipanion";
import { native } from "./storage/native.ts";

class VersionCommand extends Command {
  static override paths = [["version"]];
  override async execute(): Promise<number> {
    this.context.stdout.write(`ukv 0.1.0 (${native.version()})\n`);
    return 0;
  }
}

const cli = new Cli({ binaryName: "ukv", binaryLabel: "universeKV", binaryVersion: "0.1.0" });
cli.register(VersionCommand);
cli.register(Builtins.HelpCommand);
cli.register(Builtins.VersionCommand);
await cli.runExit(process.argv.slice(2));
