// Running keyed commands from RESP: a list of steps on keys of one shard (and optional WATCH
// conditions) is sent as one KEYED request to the shard's leader, which proposes it as one log
// entry; the state machine's reply comes back here and becomes a RESP reply. Keys on more than
// one shard answer CROSSSLOT, as Redis Cluster does. This replaces the router-side key locks:
// atomicity comes from the log, so it holds across routers and stores.
import { storedPayloadSizeBytesMax } from "../../kv/stored-value.ts";
import { decodeKeyedReply, encodeKeyedTransaction, KeyedOp, type KeyedReply, type KeyedStep, type KeyedWatch } from "../../kv/keyed-commands.ts";
import { isUkvError } from "../../util/errors.ts";
import { replyFromKvError, send, type CommandContext } from "./resp-context.ts";
import { arrayReply, bulkReply, errorReply, integerReply, nullBulkReply, type RespReply } from "./resp-encoder.ts";

export const crossSlotReply = errorReply("CROSSSLOT Keys in request don't hash to the same slot");

export function respFromKeyed(reply: KeyedReply): RespReply {
  switch (reply.kind) {
    case "nil":
      return nullBulkReply;
    case "status":
      return { type: "simple", text: reply.text };
    case "int":
      return integerReply(reply.value);
    case "bulk":
      return bulkReply(reply.value);
    case "error":
      return errorReply(reply.text);
    case "array":
      return reply.items === null ? { type: "nullArray" } : arrayReply(reply.items.map(respFromKeyed));
  }
}

/** The one shard of `keys`, or null when they span several. */
export function oneShard(context: CommandContext, keys: readonly Uint8Array[]): number | null {
  let shardId: number | null = null;
  for (const key of keys) {
    const keyShard = context.backend.shardIdOf(key);
    if (shardId !== null && keyShard !== shardId) return null;
    shardId = keyShard;
  }
  return shardId;
}

/**
 * Runs `steps` (keys of one shard) as one log entry; the replies, one per step, or the error to
 * answer for all of them (routing failure; a nil array when a watched key changed).
 */
export async function runKeyed(context: CommandContext, steps: readonly KeyedStep[], watches: readonly KeyedWatch[] = []): Promise<{ replies: KeyedReply[] } | { error: RespReply }> {
  const first = steps[0];
  if (first === undefined) return { replies: [] };
  for (const step of steps) {
    const payload = step.op === KeyedOp.Set ? step.args[0] : undefined;
    if (payload !== undefined && payload.byteLength > storedPayloadSizeBytesMax) {
      return { error: errorReply(`ERR Value too large: ${payload.byteLength} bytes, limit ${storedPayloadSizeBytesMax}`) };
    }
  }
  let value: Uint8Array;
  try {
    // The leader replaces nowMs with its own clock when it proposes.
    value = encodeKeyedTransaction({ nowMs: 0, watches: [...watches], steps: [...steps] });
  } catch (error) {
    return { error: errorReply(`ERR ${isUkvError(error) ? error.message : String(error)}`) };
  }
  const response = await send(context, { op: "KEYED", key: first.key, value, linearizable: false });
  if (response.code !== "OK") return { error: replyFromKvError(response) };
  const reply = decodeKeyedReply(response.value);
  if (reply.kind === "array" && reply.items === null) return { error: { type: "nullArray" } };
  if (reply.kind !== "array") return { error: respFromKeyed(reply) };
  return { replies: reply.items ?? [] };
}

/** One step's RESP reply. */
export async function runOne(context: CommandContext, step: KeyedStep): Promise<RespReply> {
  const result = await runKeyed(context, [step]);
  if ("error" in result) return result.error;
  const reply = result.replies[0];
  return reply === undefined ? errorReply("ERR no reply from the shard") : respFromKeyed(reply);
}
