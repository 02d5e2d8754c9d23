// Active expiry: expired keys read as absent at once (every read decodes through liveValue), but
// their memory is reclaimed here. Each pass, every data shard this store leads samples the next
// activeExpirySlotsPerPass table slots (a cursor walks the table, as Redis's active expire cycle
// walks its dict) and proposes the deletion of the expired keys it found, at most
// activeExpiryBatchCountMax in one log entry. The state machine deletes a key only if it is still
// expired at the entry's time (it may have been written again since), so followers, snapshots and
// the WAL see ordinary deletes. A shard with more expired keys than one batch is sampled again at
// once on the next pass, without waiting for the cursor to come round. The same sweep deletes list
// chunks whose list no longer lists them (a plain SET or DELETE over a list leaves them: only
// keyed commands know a key's old type), checked again at apply (KeyedOp.DeleteOrphanChunk).
// The walk skips plain strings without a deadline natively (most keys of most workloads): a pass
// over 4,096 slots of such keys cost about 5 ms of the event loop when each became a JS object.
import { encodeKeyedTransaction, KeyedOp, type KeyedStep } from "../kv/keyed-commands.ts";
import { decodeStoredValue, expiryCandidateFirstByteMask, isExpired, liveValue, storedValueHeaderSizeBytesMax, ValueType } from "../kv/stored-value.ts";
import { chunkIdsOfHeader, parseChunkKey } from "../kv/list-store.ts";
import { metaGroupId } from "../meta/meta-service.ts";
import { CommandOp } from "../node/command.ts";
import type { GroupRuntime } from "../node/group-runtime.ts";
import { activeExpiryBatchCountMax, activeExpiryIdleBackoffPassesMax, activeExpirySlotsPerPass } from "../util/limits.ts";
import type { Logger } from "../util/log.ts";
import type { HostedReplica } from "./store.ts";

export interface ActiveExpiryOptions {
  replicas(): HostedReplica[];
  logger: Logger;
  /** Default 100 ms (Redis: 10 passes a second). */
  intervalMs?: number;
  nowMs?(): number;
}

export class ActiveExpiry {
  readonly #options: ActiveExpiryOptions;
  /** Shard -> the next table slot to sample. */
  readonly #cursors = new Map<number, number>();
  /** Shards with a deletion in flight: one at a time each, so a slow shard is not flooded. */
  readonly #busy = new Set<number>();
  /**
   * Shard -> passes to skip and the current back-off: a sample that found nothing to delete
   * doubles the shard's back-off (up to activeExpiryIdleBackoffPassesMax), one that found
   * something resets it, so a shard without expiring keys costs a sample every 1.6 s, not ten a second.
   */
  readonly #idle = new Map<number, { skipPasses: number; backoffPasses: number }>();
  #timer: ReturnType<typeof setInterval> | null = null;
  deletedCountTotal = 0;

  constructor(options: ActiveExpiryOptions) {
    this.#options = options;
  }

  start(): void {
    this.#timer ??= setInterval(() => this.pass(), this.#options.intervalMs ?? 100);
  }

  stop(): void {
    if (this.#timer !== null) clearInterval(this.#timer);
    this.#timer = null;
  }

  /** One pass over the shards this store leads; returns how many deletions were proposed. */
  pass(): number {
    const nowMs = this.#options.nowMs?.() ?? Date.now();
    let proposedCount = 0;
    for (const { groupId, runtime } of this.#options.replicas()) {
      if (groupId === metaGroupId || this.#busy.has(groupId) || !runtime.isLeader()) continue;
      const idle = this.#idle.get(groupId);
      if (idle !== undefined && idle.skipPasses > 0) {
        idle.skipPasses -= 1;
        continue;
      }
      const expired = this.#sample(groupId, runtime, nowMs);
      if (expired.length === 0) {
        const backoffPasses = Math.min(2 * (idle?.backoffPasses ?? 0) || 1, activeExpiryIdleBackoffPassesMax);
        this.#idle.set(groupId, { skipPasses: backoffPasses, backoffPasses });
        continue;
      }
      this.#idle.delete(groupId);
      proposedCount += expired.length;
      this.#propose(groupId, runtime, expired, nowMs);
    }
    return proposedCount;
  }

  #sample(groupId: number, runtime: GroupRuntime, nowMs: number): KeyedStep[] {
    // Any region of the table is a fair sample: a resize that moves entries under the cursor only
    // changes which keys the next passes look at, so the cursor needs no layout check. A pass ends
    // at the table's end (the next one starts over), so no pass lists a key twice.
    const slot = this.#cursors.get(groupId) ?? 0;
    const expired: KeyedStep[] = [];
    const page = runtime.table.scan(slot, activeExpirySlotsPerPass, activeExpirySlotsPerPass, storedValueHeaderSizeBytesMax, expiryCandidateFirstByteMask);
    for (const [index, key] of page.keys.entries()) {
      if (expired.length >= activeExpiryBatchCountMax) break;
      const value = page.values[index];
      if (value === undefined || value.byteLength === 0) continue;
      const stored = decodeStoredValue(value);
      if (isExpired(stored.deadlineMs, nowMs)) expired.push({ op: KeyedOp.DeleteExpired, key, args: [] });
      else if (stored.type === ValueType.ListChunk && isOrphanChunk(runtime, key, nowMs)) expired.push({ op: KeyedOp.DeleteOrphanChunk, key, args: [] });
    }
    this.#cursors.set(groupId, page.next >= page.capacity ? 0 : page.next);
    return expired;
  }

  #propose(groupId: number, runtime: GroupRuntime, steps: KeyedStep[], nowMs: number): void {
    const keys = steps.map((step) => step.key);
    const first = keys[0] as Uint8Array;
    this.#busy.add(groupId);
    runtime
      .write(CommandOp.Keyed, first, encodeKeyedTransaction({ nowMs, watches: [], steps }))
      .then(
        () => {
          this.deletedCountTotal += keys.length;
        },
        (error: unknown) => {
          // Lost leadership or shutting down: the next leader samples again.
          this.#options.logger.debug({ event: "active_expiry_failed", shard: groupId, keyCount: keys.length, err: error });
        },
      )
      .finally(() => this.#busy.delete(groupId));
  }
}

/** A list chunk whose list is gone, expired, another type, or does not list it. */
function isOrphanChunk(runtime: GroupRuntime, key: Uint8Array, nowMs: number): boolean {
  const owner = parseChunkKey(key);
  if (owner === null) return false;
  const header = liveValue(runtime.table.get(owner.key), nowMs);
  return header === null || header.type !== ValueType.List || !chunkIdsOfHeader(header.payload).includes(owner.id);
}
