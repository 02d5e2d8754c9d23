// How a Raft entry is stored as a WAL record payload, and how the group's membership is stored in
// snapshot metadata. The WAL knows term and index; the payload adds the entry type byte in front
// of the entry data so that recovery rebuilds exactly the entry the core produced.
import type { ConfState, Entry } from "../raft/types.ts";
import { EntryType } from "../raft/types.ts";
import type { WalEntry } from "../storage/wal.ts";
import { rangeFromJson, rangeToJson, type KeyRange } from "../ring/range-map.ts";
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

/** Where a group member listens. Carried in conf changes and in snapshot metadata. */
export interface MemberAddress {
  raftAddress: string;
  clientAddress: string;
}

/**
 * A group's membership: who votes, who learns, and where each of them listens; for a data shard
 * also the hash range it owns (TiKV's region descriptor keeps peers and range together the same
 * way): it travels with the membership into the manifest and snapshot metadata, and a split
 * changes it at one log index on every replica. Absent for the metadata group.
 */
export interface GroupMembership {
  conf: ConfState;
  addresses: Map<number, MemberAddress>;
  range?: KeyRange;
}

/** Membership as snapshot metadata: JSON, small and readable in a hex dump. */
export function encodeMembership(membership: GroupMembership): Uint8Array {
  const addresses = Object.fromEntries([...membership.addresses].map(([id, address]) => [String(id), address]));
  return new TextEncoder().encode(
    JSON.stringify({
      voters: membership.conf.voters,
      learners: membership.conf.learners,
      addresses,
      ...(membership.range === undefined ? {} : { range: rangeToJson(membership.range) }),
    }),
  );
}

export function decodeMembership(bytes: Uint8Array): GroupMembership {
  let parsed: unknown;
  try {
    parsed = JSON.parse(new TextDecoder().decode(bytes));
  } catch (error) {
    throw new UkvError("SNAPSHOT_CORRUPT", "Snapshot metadata is not valid JSON", { cause: error });
  }
  const record = parsed as { voters?: unknown; learners?: unknown; addresses?: unknown; range?: unknown } | null;
  if (record === null || !isIdList(record.voters) || !isIdList(record.learners)) {
    throw new UkvError("SNAPSHOT_CORRUPT", "Snapshot metadata lacks voters/learners id lists");
  }
  const addresses = new Map<number, MemberAddress>();
  if (record.addresses !== null && typeof record.addresses === "object") {
    for (const [id, address] of Object.entries(record.addresses as Record<string, unknown>)) {
      if (isMemberAddress(address)) addresses.set(Number(id), { raftAddress: address.raftAddress, clientAddress: address.clientAddress });
    }
  }
  const membership: GroupMembership = { conf: { voters: record.voters, learners: record.learners }, addresses };
  if (record.range !== undefined) {
    try {
      membership.range = rangeFromJson(record.range);
    } catch (error) {
      throw new UkvError("SNAPSHOT_CORRUPT", `Snapshot metadata has an invalid range: ${(error as Error).message}`, { cause: error });
    }
  }
  return membership;
}

/** The context of a conf change adding a member: its addresses. */
export function encodeMemberAddress(address: MemberAddress): Uint8Array {
  return new TextEncoder().encode(JSON.stringify({ raftAddress: address.raftAddress, clientAddress: address.clientAddress }));
}

export function decodeMemberAddress(bytes: Uint8Array): MemberAddress | null {
  if (bytes.byteLength === 0) return null;
  try {
    const parsed: unknown = JSON.parse(new TextDecoder().decode(bytes));
    return isMemberAddress(parsed) ? parsed : null;
  } catch {
    return null;
  }
}

function isIdList(value: unknown): value is number[] {
  return Array.isArray(value) && value.every((id) => Number.isInteger(id) && (id as number) > 0);
}

function isMemberAddress(value: unknown): value is MemberAddress {
  const address = value as MemberAddress | null;
  return address !== null && typeof address === "object" && typeof address.raftAddress === "string" && typeof address.clientAddress === "string";
}
