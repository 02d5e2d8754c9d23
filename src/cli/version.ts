// `ukv version`: the program version and the native addon's version (proves the addon loads).
import { Command } from "clipanion";
import { native } from "../storage/native.ts";
import { ukvVersion } from "../util/version.ts";

export class VersionCommand extends Command {
  static override paths = [["version"]];
  static override usage = Command.Usage({ category: "Other", description: "Print the ukv version and the native addon version" });

  override async execute(): Promise<number> {
    this.context.stdout.write(`ukv ${ukvVersion} (${native.version()})\n`);
    return 0;
  }
}
