// The RESP command table: name -> spec, with Redis's arity check and error texts for unknown
// commands and wrong argument counts, so clients that match on them behave as with Redis.
import { assert } from "../../util/assert.ts";
import type { CommandSpec } from "./resp-context.ts";
import { collectionCommands } from "./resp-collection-commands.ts";
import { dataCommands } from "./resp-data-commands.ts";
import { errorReply, type RespReply } from "./resp-encoder.ts";
import { serverCommands } from "./resp-server-commands.ts";
import { stringCommands } from "./resp-string-commands.ts";
import { transactionCommands } from "./resp-transaction-commands.ts";
import { keyspaceCommands } from "./resp-keyspace-commands.ts";

/** Longer names are no command of ours: not worth lower-casing. */
const commandNameSizeBytesMax = 32;
/** Redis quotes at most this much of an unknown command's name and arguments. */
const quotedSizeBytesMax = 128;

function quoted(arg: Uint8Array): string {
  return `'${Buffer.from(arg.buffer, arg.byteOffset, Math.min(arg.byteLength, quotedSizeBytesMax)).toString("latin1")}'`;
}

/** ASCII lower case of a command name, or null when too long to be one. */
export function commandName(arg: Uint8Array): string | null {
  if (arg.byteLength > commandNameSizeBytesMax) return null;
  let name = "";
  for (const byte of arg) name += String.fromCharCode(byte >= 0x41 && byte <= 0x5a ? byte + 0x20 : byte);
  return name;
}

export class CommandTable {
  readonly specs: readonly CommandSpec[];
  readonly #byName = new Map<string, CommandSpec>();

  constructor() {
    const specs: CommandSpec[] = [...dataCommands, ...stringCommands, ...transactionCommands, ...keyspaceCommands, ...collectionCommands];
    specs.push(...serverCommands(() => this.specs));
    this.specs = specs;
    for (const spec of specs) {
      assert(!this.#byName.has(spec.name), "command names are unique");
      assert(spec.name === spec.name.toLowerCase(), "command names are lower case");
      this.#byName.set(spec.name, spec);
    }
  }

  /** The spec to run for `args`, or the error to answer (unknown command, wrong arity). */
  resolve(args: readonly Uint8Array[]): CommandSpec | RespReply {
    const first = args[0];
    assert(first !== undefined, "a parsed command has a name");
    const name = commandName(first);
    const spec = name === null ? undefined : this.#byName.get(name);
    if (spec === undefined) {
      const rest = args.slice(1).map(quoted).join(" ");
      return errorReply(`ERR unknown command ${quoted(first)}, with args beginning with: ${rest}`);
    }
    const arityOk = spec.arity >= 0 ? args.length === spec.arity : args.length >= -spec.arity;
    if (!arityOk) return errorReply(`ERR wrong number of arguments for '${spec.name}' command`);
    return spec;
  }
}
