// Converts the Raft core's Message (src/raft/types.ts) to and from its wire form (proto/raft.proto)
// and encodes the transport's batch frames. Hot path: encoding does not copy the message at all.
// proto/raft.proto mirrors types.ts field for field with the same enum numbers, so a Message *is*
// a valid proto Message value; the compile-time key checks and load-time enum checks below keep
// that true. Decoding validates every enum. Bytes fields (entry data, context) are views into the
// decoded payload, which is first copied once if it is a view into a larger buffer (a socket
// read): a decoded entry never pins a whole read in memory (entries live long in the Raft log),
// at the cost of one copy per frame, not one per entry (per-entry copies halved decode speed).
import * as pb from "../proto/raft.ts";
import { ProtoDecodeError } from "../proto/wire.ts";
import type { ConfState, Entry, Message, Snapshot, SnapshotMetadata } from "../raft/types.ts";
import { ConfChangeType, EntryType, MessageType } from "../raft/types.ts";
import { assert } from "../util/assert.ts";

export interface GroupMessages {
  groupId: number;
  messages: Message[];
}

// Compile-time: both shapes have exactly the same field names (a new field on either side fails
// the typecheck until the codec learns it).
type SameKeys<A, B> = [Exclude<keyof A, keyof B>, Exclude<keyof B, keyof A>] extends [never, never] ? true : false;
const messageKeysMatch: SameKeys<Message, pb.Message> = true;
const entryKeysMatch: SameKeys<Entry, pb.Entry> = true;
const snapshotKeysMatch: SameKeys<Snapshot, pb.Snapshot> = true;
const metadataKeysMatch: SameKeys<SnapshotMetadata, pb.SnapshotMetadata> = true;
const confKeysMatch: SameKeys<ConfState, pb.ConfState> = true;
assert(messageKeysMatch && entryKeysMatch && snapshotKeysMatch && metadataKeysMatch && confKeysMatch, "the wire shapes mirror raft/types.ts");

// Load-time: enum numbers agree, so the encoder can pass values through unchanged.
const messageTypeNames = Object.keys(MessageType).filter((key) => Number.isNaN(Number(key)));
for (const name of messageTypeNames) {
  const value = MessageType[name as keyof typeof MessageType];
  assert(pb.MessageType[value] !== undefined, `MessageType.${name} = ${value} exists in raft.proto`);
}
assert(messageTypeNames.length === Object.keys(pb.MessageType).length / 2, "raft.proto has no extra message types");
assert(
  (EntryType.Normal as number) === pb.EntryType.ENTRY_NORMAL && (EntryType.ConfChange as number) === pb.EntryType.ENTRY_CONF_CHANGE,
  "entry types agree",
);
assert(
  (ConfChangeType.AddVoter as number) === pb.ConfChangeType.CONF_CHANGE_ADD_VOTER &&
    (ConfChangeType.RemoveNode as number) === pb.ConfChangeType.CONF_CHANGE_REMOVE_NODE &&
    (ConfChangeType.AddLearner as number) === pb.ConfChangeType.CONF_CHANGE_ADD_LEARNER,
  "conf change types agree",
);

const messageTypeMax = messageTypeNames.length - 1;

/** The proto view of a Message: the same object (see the header comment). */
export function messageToProto(message: Message): pb.Message {
  return message as unknown as pb.Message;
}

/** Encoded size of one message inside a batch (without the group envelope). */
export function messageSizeBytes(message: Message): number {
  return pb.sizeMessage(messageToProto(message));
}

/** `bytes` itself when it spans its whole buffer, else a copy that does (see the header comment). */
export function ownedBytes(bytes: Uint8Array): Uint8Array {
  return bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength ? bytes : bytes.slice();
}

function invalid(why: string): ProtoDecodeError {
  return new ProtoDecodeError(`Invalid raft message: ${why}`);
}

/**
 * The core's Message from its decoded wire form, validated in place: the decoder's fresh objects
 * already have the core's shape, so only enums are checked and an absent snapshot metadata filled
 * in (no per-entry allocation). Throws ProtoDecodeError on values the core never sends. Bytes
 * fields stay views: decode from ownedBytes(payload). `message` must not be used afterwards.
 */
export function messageFromProto(message: pb.Message): Message {
  if (!(message.type >= 0 && message.type <= messageTypeMax)) throw invalid(`unknown message type ${message.type}`);
  for (const entry of message.entries) {
    if (entry.type !== pb.EntryType.ENTRY_NORMAL && entry.type !== pb.EntryType.ENTRY_CONF_CHANGE) {
      throw invalid(`unknown entry type ${entry.type}`);
    }
  }
  const snapshot = message.snapshot;
  if (snapshot !== null) {
    snapshot.metadata ??= { index: 0, term: 0, conf: null };
    snapshot.metadata.conf ??= { voters: [], learners: [] };
  }
  return message as unknown as Message;
}

export function encodeMessage(message: Message): Uint8Array {
  return pb.encodeMessage(messageToProto(message));
}

/** Bytes fields may be views into `bytes` (when it spans its buffer): do not reuse it afterwards. */
export function decodeMessage(bytes: Uint8Array): Message {
  return messageFromProto(pb.decodeMessage(ownedBytes(bytes)));
}

/** One RAFT_BATCH payload, `headroomBytes` left free in front for the frame header. */
export function encodeRaftBatch(groups: GroupMessages[], headroomBytes = 0): Uint8Array {
  const batch: pb.RaftBatch = { groups: [] };
  for (const group of groups) {
    batch.groups.push({ groupId: group.groupId, messages: group.messages as unknown as pb.Message[] });
  }
  return pb.encodeRaftBatch(batch, headroomBytes);
}

/** Throws ProtoDecodeError on malformed bytes or values the core never sends. */
export function decodeRaftBatch(payload: Uint8Array): GroupMessages[] {
  const batch = pb.decodeRaftBatch(ownedBytes(payload));
  const groups: GroupMessages[] = [];
  for (const group of batch.groups) {
    groups.push({ groupId: group.groupId, messages: group.messages.map(messageFromProto) });
  }
  return groups;
}
