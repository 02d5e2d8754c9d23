// Help pages of the one binary, on top of clipanion: `UkvCli` names every option's value
// (clipanion writes `--node #0`; we write `--node HOST:PORT`) and prints a failure of the command
// line or of a command as one line without a stack trace; `groupCommand` gives a command group
// (`ukv kv`, `ukv admin`, `ukv cluster`) a page of its own, so `ukv kv --help` lists the group's
// commands with rc 0 instead of failing with "Command not found".
import { Cli, Command, type BaseContext, type CommandClass } from "clipanion";
import { UkvError } from "../util/errors.ts";

/** The value each option takes, as the help pages show it; any other option shows VALUE. */
const placeholderByOption: Readonly<Record<string, string>> = {
  "--node": "HOST:PORT",
  "--router": "HOST:PORT",
  "--listen": "HOST:PORT",
  "--resp-listen": "HOST:PORT",
  "--raft-addr": "HOST:PORT",
  "--client-addr": "HOST:PORT",
  "--resp-addr": "HOST:PORT",
  "--meta": "HOST:PORT,...",
  "--http": "HOST:PORT",
  "--http-addr": "HOST:PORT",
  "--interval": "SECONDS",
  "--count": "N",
  "--config": "FILE",
  "--input": "FILE",
  "--out": "FILE",
  "--dir": "DIR",
  "--data-dir": "DIR",
  "--id": "N",
  "--shard": "N",
  "--store": "N",
  "--to": "N",
  "--from": "N",
  "--snapshot": "FILE",
  "--stores": "N",
  "--shards": "N",
  "--replicas": "N",
  "--port-base": "PORT",
  "--resp-port": "PORT",
  "--timeout-ms": "MS",
  "--format": "FORMAT",
  "--key-column": "COLUMN",
  "--value-column": "COLUMN",
};

/** `--node #0` -> `--node HOST:PORT` (clipanion numbers an option's arguments instead of naming them). */
export function namePlaceholders(text: string): string {
  // Every option of ours takes one value (arity 1): " #0" after its name.
  const named = text.replace(/(--[a-z][a-z0-9-]*) #0/g, (_match, option: string) => `${option} ${placeholderByOption[option] ?? "VALUE"}`);
  return alignOptionLines(named);
}

/** An option line of a detailed page: indent, optional bold, definition, padding, end of bold, gap, description. */
const optionLinePattern = /^( {2}(?:\u001b\[1m)?)(-[^\u001b]*?)( *)((?:\u001b\[22m)? {4})(.*)$/;

/** Pads each run of option lines to its longest definition again (named placeholders changed the lengths). */
function alignOptionLines(text: string): string {
  const lines = text.split("\n");
  for (let start = 0; start < lines.length; start++) {
    if (!optionLinePattern.test(lines[start] ?? "")) continue;
    let end = start;
    while (end < lines.length && optionLinePattern.test(lines[end] ?? "")) end++;
    const parsed = lines.slice(start, end).map((line) => optionLinePattern.exec(line));
    const width = Math.max(...parsed.map((match) => match?.[2]?.length ?? 0));
    for (let index = start; index < end; index++) {
      const match = parsed[index - start];
      if (match === null || match === undefined) continue;
      lines[index] = `${match[1] ?? ""}${(match[2] ?? "").padEnd(width)}${match[4] ?? ""}${match[5] ?? ""}`;
    }
    start = end;
  }
  return lines.join("\n");
}

/** A command group's page: its commands, one line of usage and one of description each. */
export interface GroupCommandClass extends CommandClass<BaseContext> {
  groupSubcommands: readonly CommandClass<BaseContext>[];
  groupName: string;
}

function isGroupCommandClass(value: unknown): value is GroupCommandClass {
  return typeof value === "function" && "groupSubcommands" in value && Array.isArray(value.groupSubcommands);
}

/**
 * Clipanion answers a known command missing a required option with "Command not found; did you
 * mean" and the usage, which reads as a misspelt command: when the input names exactly the one
 * candidate's command, say which options it lacks instead (the usage stays).
 */
function missingRequiredOptions(error: Error): string | null {
  if (error.name !== "UnknownSyntaxError") return null;
  const { input, candidates } = error as Error & { input?: unknown; candidates?: { usage: string }[] };
  if (!Array.isArray(input) || candidates?.length !== 1) return null;
  const usage = namePlaceholders(candidates[0]?.usage ?? "");
  const path = usage.split(" [")[0]?.split(" <")[0]?.split(" ").slice(1) ?? [];
  const words = input.filter((word): word is string => typeof word === "string");
  if (path.length === 0 || path.some((part, index) => words[index] !== part)) return null;
  const required = [...usage.matchAll(/<(--[a-z][a-z0-9-]*)( [A-Z:,.]+)?>/g)];
  const absent = required.filter((match) => !words.some((word) => word === match[1] || word.startsWith(`${match[1]}=`)));
  if (absent.length === 0) return null;
  return `Unknown Syntax Error: ukv ${path.join(" ")} needs ${absent.map((match) => `${match[1]}${match[2] ?? ""}`).join(" and ")}\n\n$ ${usage}\n`;
}

export class UkvCli extends Cli<BaseContext> {
  override usage(command: CommandClass<BaseContext> | Command<BaseContext> | null = null, options: { colored?: boolean; detailed?: boolean; prefix?: string } = {}): string {
    const commandClass: unknown = command instanceof Command ? command.constructor : command;
    if (isGroupCommandClass(commandClass) && options.detailed === true) return this.#groupPage(commandClass, options.colored);
    return namePlaceholders(super.usage(command, options));
  }

  override error(error: unknown, options: { colored?: boolean; command?: Command<BaseContext> | null } = {}): string {
    // A command-line mistake keeps clipanion's page (what was wrong, then the usage); anything
    // else a command let escape is one line: the code and the message, never a stack trace.
    if (error instanceof Error && "clipanion" in error) {
      const missing = missingRequiredOptions(error);
      if (missing !== null) return missing;
      return namePlaceholders(super.error(error, options));
    }
    if (error instanceof UkvError) return `error (${error.code}): ${error.message}\n`;
    return `error (INTERNAL): ${error instanceof Error ? error.message : String(error)}\n`;
  }

  #groupPage(group: GroupCommandClass, colored: boolean | undefined): string {
    const format = this.format(colored);
    const lines: string[] = [];
    if (group.usage?.description !== undefined) lines.push(group.usage.description, "");
    lines.push(format.header("Commands"), "");
    for (const subcommand of group.groupSubcommands) {
      lines.push(`  ${format.bold(namePlaceholders(this.getUsageByRegistration(subcommand, { detailed: true }).usage))}`);
      lines.push(`    ${subcommand.usage?.description ?? ""}`);
    }
    lines.push("", `Each command takes --help for its options and examples, e.g. \`ukv ${group.groupName} ${group.groupSubcommands[0]?.paths?.[0]?.[1] ?? ""} --help\`.`);
    const examples = group.usage?.examples ?? [];
    if (examples.length > 0) {
      lines.push("", format.header("Examples"));
      for (const [label, example] of examples) lines.push("", label, `  $ ${example}`);
    }
    return `${lines.join("\n")}\n`;
  }
}

/**
 * The command `ukv <group>` (and `ukv <group> --help`): prints the group's page, rc 0. Its
 * subcommands are registered separately; clipanion picks the longest path, so `ukv kv get ...`
 * still reaches `kv get`.
 */
export function groupCommand(args: { group: string; description: string; subcommands: readonly CommandClass<BaseContext>[]; examples?: [string, string][] }): GroupCommandClass {
  class GroupHelp extends Command {
    static override paths = [[args.group]];
    static override usage = Command.Usage({ category: "Command groups", description: args.description, examples: args.examples ?? [] });
    static groupSubcommands = args.subcommands;
    static groupName = args.group;

    override async execute(): Promise<number> {
      this.context.stdout.write(this.cli.usage(this, { detailed: true }));
      return 0;
    }
  }
  return GroupHelp;
}
