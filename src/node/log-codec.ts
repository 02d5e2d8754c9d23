// How a Raft entry is stored as a WAL record payload, and how the group's membership is stored in
// snapshot metadata. The WAL knows term and index; the payload adds the entry type byte in front
// of the entry data so that recovery rebuilds exactly the entry the core produced.
import type { ConfState, Entry } from "../raft/types.ts";
import { EntryType } from "../raft/types.ts";
import type { WalEntry } from "../storage/wal.ts";
import { UkvError } from "../util/errors.ts";

export function entryToWal(entry: Entry): WalEntry {
  const data = new Uint8Array(1 + entry.data.byteLength);
  data[0] = entry.type;
  data.set(entry.data, 1);
  return { term: entry.term, index: entry.index, data };
}

export function entryFromWal(record: WalEntry): Entry {
  const type = record.data[0];
  if (type !== EntryType.Normal && type !== EntryType.ConfChange) {
    throw new UkvError("WAL_CORRUPT", `WAL entry ${record.index} has unknown entry type ${String(type)}`, {
      data: { index: record.index },
    });
  }
  return { term: record.term, index: record.index, type, data: record.data.subarray(1) };
}

/** ConfState as snapshot metadata: JSON, small and readable in a hex dump. */
export function encodeConfState(conf: ConfState): Uint8Array {
  return new TextEncoder().encode(JSON.stringify({ voters: conf.voters, learners: conf.learners }));
}

export function decodeConfState(bytes: Uint8Array): ConfState {
  let parsed: unknown;
  try {
    parsed = JSON.parse(new TextDecoder().decode(bytes));
  } catch (error) {
    throw new UkvError("SNAPSHOT_CORRUPT", "Snapshot metadata is not valid JSON", { cause: error });
  }
  const isIdList = (value: unknown): value is number[] =>
    Array.isArray(value) && value.every((id) => Number.isInteger(id) && (id as number) > 0);
  const record = parsed as { voters?: unknown; learners?: unknown } | null;
  if (record === null || !isIdList(record.voters) || !isIdList(record.learners)) {
    throw new UkvError("SNAPSHOT_CORRUPT", "Snapshot metadata lacks voters/learners id lists");
  }
  return { voters: record.voters, learners: record.learners };
}
