// Converts the Raft core's Message (src/raft/types.ts) to and from its wire form (proto/raft.proto)
// and encodes the transport's batch frames. Hot path: encoding does not copy the message at all.
// proto/raft.proto mirrors types.ts field for field with the same enum numbers, so a Message *is*
// a valid proto Message value; the compile-time key checks and load-time enum checks below keep
// that true. Decoding validates every enum and copies bytes fields out of the frame buffer, so a
// decoded entry never pins a whole socket read in memory (entries live long in the Raft log).
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
const emptyBytes = new Uint8Array(0);

/** The proto view of a Message: the same object (see the header comment). */
export function messageToProto(message: Message): pb.Message {
  return message as unknown as pb.Message;
}

/** Encoded size of one message inside a batch (without the group envelope). */
export function messageSizeBytes(message: Message): number {
  return pb.sizeMessage(messageToProto(message));
}

function detach(bytes: Uint8Array): Uint8Array {
  return bytes.byteLength === 0 ? emptyBytes : bytes.slice();
}

function invalid(why: string): ProtoDecodeError {
  return new ProtoDecodeError(`Invalid raft message: ${why}`);
}

function entryFromProto(entry: pb.Entry): Entry {
  if (entry.type !== pb.EntryType.ENTRY_NORMAL && entry.type !== pb.EntryType.ENTRY_CONF_CHANGE) {
    throw invalid(`unknown entry type ${entry.type}`);
  }
  return { term: entry.term, index: entry.index, type: entry.type as number as EntryType, data: detach(entry.data) };
}

function snapshotFromProto(snapshot: pb.Snapshot): Snapshot {
  const metadata = snapshot.metadata;
  const conf = metadata?.conf ?? null;
  return {
    metadata: {
      index: metadata?.index ?? 0,
      term: metadata?.term ?? 0,
      conf: { voters: conf?.voters ?? [], learners: conf?.learners ?? [] },
    },
    data: detach(snapshot.data),
  };
}

/** The core's Message from its decoded wire form; throws ProtoDecodeError on values the core never sends. */
export function messageFromProto(message: pb.Message): Message {
  if (!(message.type >= 0 && message.type <= messageTypeMax)) throw invalid(`unknown message type ${message.type}`);
  const entries: Entry[] = new Array(message.entries.length);
  for (let index = 0; index < message.entries.length; index++) {
    entries[index] = entryFromProto(message.entries[index] as pb.Entry);
  }
  return {
    type: message.type as number as MessageType,
    from: message.from,
    to: message.to,
    term: message.term,
    logTerm: message.logTerm,
    index: message.index,
    entries,
    commit: message.commit,
    reject: message.reject,
    rejectHint: message.rejectHint,
    rejectHintTerm: message.rejectHintTerm,
    snapshot: message.snapshot === null ? null : snapshotFromProto(message.snapshot),
    context: detach(message.context),
  };
}

export function encodeMessage(message: Message): Uint8Array {
  return pb.encodeMessage(messageToProto(message));
}

export function decodeMessage(bytes: Uint8Array): Message {
  return messageFromProto(pb.decodeMessage(bytes));
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
  const batch = pb.decodeRaftBatch(payload);
  const groups: GroupMessages[] = [];
  for (const group of batch.groups) {
    groups.push({ groupId: group.groupId, messages: group.messages.map(messageFromProto) });
  }
  return groups;
}
