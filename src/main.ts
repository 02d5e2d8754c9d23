// Entry point of the one binary: registers every subcommand (one file each in src/cli/, listed in
// src/cli/commands.ts) and runs the one named on the command line.
//
// Failures that happen before or around a command are each one line on stderr, never a stack:
// - the native addon cannot be loaded (the compiled binary unpacks it into $TMPDIR): the command
//   modules are imported dynamically so this is caught and explained;
// - stdout or stderr closed by the reader (`ukv status | head -1`): EPIPE ends the process quietly;
// - a command that failed while something still holds the event loop (a listener that failed
//   to bind, a timer) cannot keep the process alive: exit at most exitGraceMs later.
import { Builtins } from "clipanion";
import { existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { UkvCli } from "./cli/help.ts";
import { ukvVersion } from "./util/version.ts";

const exitGraceMs = 500;
const addonUnavailableExitStatus = 15;

for (const stream of [process.stdout, process.stderr]) {
  stream.on("error", (error: Error & { code?: string }) => {
    // The reader went away: nothing more can be written, and that is not the command's failure.
    if (error.code === "EPIPE") process.exit(process.exitCode ?? 0);
    throw error;
  });
}

function addonFailureLine(error: unknown): string {
  const temporary = tmpdir();
  if (!existsSync(temporary)) {
    return `error (ADDON_UNAVAILABLE): Cannot unpack the native addon: $TMPDIR is ${temporary}, which does not exist: set TMPDIR to a writable directory, e.g. TMPDIR=/tmp\n`;
  }
  const reason = error instanceof Error ? (error.message.split("\n")[0] ?? "") : String(error);
  return `error (ADDON_UNAVAILABLE): Cannot load the native addon, which ukv unpacks into $TMPDIR: check that ${temporary} is writable and not mounted noexec (${reason})\n`;
}

let commands: typeof import("./cli/commands.ts");
try {
  commands = await import("./cli/commands.ts");
} catch (error) {
  if ((error as { code?: unknown }).code !== "ERR_DLOPEN_FAILED") throw error;
  process.stderr.write(addonFailureLine(error));
  process.exit(addonUnavailableExitStatus);
}

// Colours only on a terminal: a page piped to a file or a pager keeps no escape codes.
const enableColors = process.stdout.isTTY === true && process.env["NO_COLOR"] === undefined;
const cli = new UkvCli({ binaryName: "ukv", binaryLabel: "universeKV", binaryVersion: ukvVersion, enableColors });
for (const command of commands.commandClasses) cli.register(command);
cli.register(Builtins.HelpCommand);
cli.register(Builtins.VersionCommand);
// A child of `ukv cluster up` stops itself if its supervisor dies (no orphans).
commands.watchParentFromEnvironment();
const exitStatus = await cli.run(process.argv.slice(2));
process.exitCode = exitStatus;
// Only after a failure: a successful command may still be writing a large answer to a slow pipe.
if (exitStatus !== 0) setTimeout(() => process.exit(exitStatus), exitGraceMs).unref();
