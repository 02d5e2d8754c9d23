// Size accounting for entries: the byte budgets of Append batches, inflight windows and
// committed-entry batches all count entries the same way.
import type { Entry } from "./types.ts";

/** Fixed per-entry cost (term, index, type, length framing) on top of the payload. */
export const entryOverheadBytes = 24;

export function entrySizeBytes(entry: Entry): number {
  return entry.data.byteLength + entryOverheadBytes;
}

export function entriesSizeBytes(entries: readonly Entry[]): number {
  let total = 0;
  for (const entry of entries) total += entrySizeBytes(entry);
  return total;
}

/**
 * The longest prefix of `entries` whose size is at most maxBytes, but never empty when
 * `entries` is not: a single entry larger than the budget must still make progress.
 */
export function limitSize(entries: Entry[], maxBytes: number): Entry[] {
  if (entries.length <= 1) return entries;
  let total = entrySizeBytes(entries[0] as Entry);
  let count = 1;
  while (count < entries.length) {
    total += entrySizeBytes(entries[count] as Entry);
    if (total > maxBytes) break;
    count++;
  }
  return count === entries.length ? entries : entries.slice(0, count);
}
