// MULTI, EXEC, DISCARD, WATCH, UNWATCH. Commands between MULTI and EXEC are queued by the
// connection (resp-connection.ts answers QUEUED); EXEC turns them into the steps of ONE keyed
// command, so the whole transaction is one entry of one shard's log: atomic and isolated, as in
// Redis. Every key (queued and watched) must be on one shard (hash tags put related keys on one),
// else CROSSSLOT, as Redis Cluster answers. WATCH reads each key's stored bytes through the log;
// EXEC's entry carries them and the state machine runs nothing (EXEC answers nil) if any watched
// key's stored bytes changed. A difference from Redis: a write that leaves the key's bytes as they
// were (SET of the same value) does not abort the transaction.
import { KeyedOp, type KeyedStep, type KeyedWatch } from "../../kv/keyed-commands.ts";
import { keyName, type CommandContext, type CommandSpec, type RespSession, type TransactionPart } from "./resp-context.ts";
import { arrayReply, errorReply, okReply, type RespReply } from "./resp-encoder.ts";
import { crossSlotReply, oneShard, runKeyed } from "./resp-keyed.ts";

/** Commands that act on the transaction itself: run at once even between MULTI and EXEC. */
export const transactionControlNames: ReadonlySet<string> = new Set(["multi", "exec", "discard", "watch", "quit", "reset"]);

/** The keys EXEC will touch (queued and watched): later commands of the connection wait on them. */
export function execKeys(session: RespSession): Uint8Array[] {
  const keys = session.multi?.parts.flatMap((part) => part.steps.map((step) => step.key)) ?? [];
  for (const watch of session.watches.values()) keys.push(watch.key);
  return keys;
}

function multi(context: CommandContext): RespReply {
  if (context.session.multi !== null) return errorReply("ERR MULTI calls can not be nested");
  context.session.multi = { parts: [], dirty: false };
  return okReply;
}

function discard(context: CommandContext): RespReply {
  if (context.session.multi === null) return errorReply("ERR DISCARD without MULTI");
  context.session.multi = null;
  context.session.watches.clear();
  return okReply;
}

async function exec(context: CommandContext): Promise<RespReply> {
  const { session } = context;
  const queued = session.multi;
  if (queued === null) return errorReply("ERR EXEC without MULTI");
  const watches: KeyedWatch[] = [...session.watches.values()];
  session.multi = null;
  session.watches.clear();
  if (queued.dirty) return errorReply("EXECABORT Transaction discarded because of previous errors.");
  const parts: TransactionPart[] = queued.parts;
  const steps: KeyedStep[] = parts.flatMap((part) => part.steps);
  if (steps.length === 0 && watches.length === 0) return arrayReply(parts.map((part) => part.reply([])));
  if (oneShard(context, [...steps.map((step) => step.key), ...watches.map((watch) => watch.key)]) === null) return crossSlotReply;
  // Only watches (or only commands without steps): one harmless read carries the watch check.
  const carrier: KeyedStep[] = steps.length > 0 ? steps : [{ op: KeyedOp.Exists, key: (watches[0] as KeyedWatch).key, args: [] }];
  const result = await runKeyed(context, carrier, watches);
  if ("error" in result) return result.error;
  const replies: RespReply[] = [];
  let offset = 0;
  for (const part of parts) {
    replies.push(part.reply(result.replies.slice(offset, offset + part.steps.length)));
    offset += part.steps.length;
  }
  return arrayReply(replies);
}

/** Stored bytes are never empty (a header byte at least): a watch that expects this never holds. */
const neverMatches = new Uint8Array(0);

function watch(context: CommandContext, args: readonly Uint8Array[]): RespReply | Promise<RespReply> {
  if (context.session.multi !== null) return errorReply("ERR WATCH inside MULTI is not allowed");
  const { watches } = context.session;
  // Registered now, so a pipelined EXEC knows these keys and waits for this WATCH (the connection
  // orders commands on the same keys); filled in when the read returns. Until then, and if the read
  // fails, the watch cannot hold: EXEC answers nil and the client retries, as after a conflict.
  const entries = args.slice(1).map((key) => {
    const entry: KeyedWatch = { key, expected: neverMatches };
    watches.set(keyName(key), entry);
    return entry;
  });
  return (async (): Promise<RespReply> => {
    for (const entry of entries) {
      const result = await runKeyed(context, [{ op: KeyedOp.Dump, key: entry.key, args: [] }]);
      if ("error" in result) return result.error;
      const reply = result.replies[0];
      entry.expected = reply?.kind === "bulk" ? reply.value : null;
    }
    return okReply;
  })();
}

const noKeys = { firstKeyIndex: 0, lastKeyIndex: 0, keyStep: 0 } as const;

export const transactionCommands: readonly CommandSpec[] = [
  { name: "multi", arity: 1, flags: ["fast"], ...noKeys, write: false, group: "transactions", summary: "Starts a transaction: later commands are queued", run: multi },
  { name: "exec", arity: 1, flags: [], ...noKeys, write: true, group: "transactions", summary: "Runs the queued commands as one log entry of one shard (CROSSSLOT across shards; nil if a watched key changed)", run: exec },
  { name: "discard", arity: 1, flags: ["fast"], ...noKeys, write: false, group: "transactions", summary: "Drops the queued commands and the watches", run: discard },
  { name: "watch", arity: -2, flags: ["fast"], firstKeyIndex: 1, lastKeyIndex: -1, keyStep: 1, write: true, group: "transactions", summary: "Makes EXEC run only if these keys' stored bytes stay the same", run: watch },
  { name: "unwatch", arity: 1, flags: ["fast"], ...noKeys, write: false, group: "transactions", summary: "Forgets every watched key", run: (context) => (context.session.watches.clear(), okReply), transaction: () => ({ steps: [], reply: () => okReply }) },
];
