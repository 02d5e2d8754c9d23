// Every size and count limit of the system, in one place, with the relations between them
// asserted at load time. Going over a limit is a typed UkvError, never a crash.
import { assert } from "./assert.ts";

export const keySizeBytesMax = 4 * 1024;
export const valueSizeBytesMax = 1024 * 1024;
/** One WAL record: a Raft entry holding one command (key + value + framing) must fit. */
export const recordSizeBytesMax = 2 * 1024 * 1024;
export const walSegmentSizeBytesDefault = 64 * 1024 * 1024;
/** One transport frame must hold the largest record plus message overhead. */
export const frameSizeBytesMax = 8 * 1024 * 1024;
/** Max records in one batched table call (multi-get / apply-batch). */
export const tableBatchCountMax = 65536;

assert(keySizeBytesMax + valueSizeBytesMax + 1024 <= recordSizeBytesMax, "a record holds the largest key and value");

/** A keyed command (a read-modify-write or MULTI/EXEC transaction, src/node/keyed-commands.ts): its keys, arguments and framing. */
export const keyedCommandSizeBytesMax = valueSizeBytesMax + 2 * keySizeBytesMax + 1024;
/** The reply of one keyed command (an EXEC's replies together); a larger one answers an error. */
export const keyedReplySizeBytesMax = 3 * 1024 * 1024;
/** Active expiry: table slots a shard leader samples per pass (bounded work per tick, as Redis's active expire cycle). */
export const activeExpirySlotsPerPass = 4096;
/** Active expiry: passes a shard whose samples keep finding nothing is skipped for, at most (16 x 100 ms). */
export const activeExpiryIdleBackoffPassesMax = 16;
/** Active expiry: expired keys deleted by one log entry of one shard. */
export const activeExpiryBatchCountMax = 512;
/** RESP KEYS: matched keys of one reply; more is an error pointing at SCAN. */
export const keysReplyCountMax = 100_000;
/** RESP SCAN: shard pages one SCAN call asks for (empty stretches of a table end a call early). */
export const scanPagesPerCallMax = 64;
/** Commands of one transaction (MULTI ... EXEC), and watched keys of one. */
export const keyedStepCountMax = 4096;
/** Fields of one hash (the whole hash is one value, within the value size limit). */
export const collectionElementCountMax = 65_536;
/** Elements of one list (kv/list-store.ts: a header and chunks). */
export const listElementCountMax = 2_097_152;
/** Chunks of one list (its header lists them: 8 bytes each). Dropping every chunk and writing as many new ones (LTRIM) fits one table batch. */
export const listChunkCountMax = 16_384;
/** Elements of one list chunk, and the bytes a chunk grows to before a new one starts. */
export const listChunkElementCountMax = 128;
export const listChunkSizeBytesTarget = 8192;
/** Items of one keyed reply array (HGETALL of the largest hash: a field and a value each). */
export const keyedReplyItemCountMax = 2 * collectionElementCountMax;

assert(keySizeBytesMax + keyedCommandSizeBytesMax + 1024 <= recordSizeBytesMax, "a record holds the largest keyed command");
assert(keyedReplySizeBytesMax + 1024 <= frameSizeBytesMax / 2, "a frame holds the largest keyed reply");
assert(recordSizeBytesMax * 2 <= frameSizeBytesMax, "a frame holds the largest record with room for headers");
assert(recordSizeBytesMax * 4 <= walSegmentSizeBytesDefault, "a segment holds several of the largest records");

/**
 * Store log (one WAL shared by every Raft group of a process): segments kept before maintain()
 * rewrites the live state of the groups that pin the oldest ones, so an idle group cannot hold
 * old segments forever. A soft bound: a rewrite must free twice what it writes, so large live
 * state keeps more segments (about this count plus twice the live state).
 */
export const storeLogSegmentCountMax = 4;

assert(storeLogSegmentCountMax >= 2, "the store log keeps the active segment and at least one before it");

/** Data shards in one cluster (config and splits; the 1000-shard benchmark fits with room): one hash range each. */
export const shardCountMax = 4096;
/** Voting members of one Raft group (meta or shard): every write waits on a majority of them. */
export const groupMemberCountMax = 9;
/** Stores (`ukv node` processes, one a server) in one cluster config; each hosts replicas of many groups. */
export const storeCountMax = 256;

/** Replicas one store hosts (data shards + the metadata group): bounds its memory and per-tick work. */
export const storeGroupCountMax = 8192;
/**
 * Raft messages a store holds for groups it does not host yet (a split child its own apply has
 * not created): groups, messages per group, and how long (src/store/early-messages.ts).
 */
export const earlyMessageGroupCountMax = 64;
export const earlyMessagesPerGroupMax = 256;
export const earlyMessageAgeMsMax = 3000;

assert(groupMemberCountMax <= storeCountMax, "a group of the largest size fits on distinct stores");
/** Packed bytes (keys + values) of one table batch call: offsets cross N-API as u32. */
export const tableBatchSizeBytesMax = 256 * 1024 * 1024;
/** The opaque metadata blob (Raft ConfState) carried in a snapshot header. */
export const snapshotMetadataSizeBytesMax = 1024 * 1024;

assert(keySizeBytesMax + valueSizeBytesMax <= tableBatchSizeBytesMax, "a batch holds the largest single set");
assert(tableBatchSizeBytesMax < 2 ** 32, "batch offsets fit in u32");

/** Raft transport: encoded frames queued for one peer; beyond it the oldest are dropped (Raft retransmits). */
export const peerQueueBytesMax = 32 * 1024 * 1024;
/** Raft transport: one streamed snapshot chunk. */
export const snapshotChunkSizeBytes = 256 * 1024;
/** Client protocol: requests of one connection being handled at once; beyond it the server stops reading. */
export const kvConnectionInflightCountMax = 4096;

assert(peerQueueBytesMax >= 2 * frameSizeBytesMax, "a peer queue holds at least two full frames");
assert(snapshotChunkSizeBytes + 1024 <= frameSizeBytesMax, "a snapshot chunk fits one frame with its header");

/** Router: requests of one shard sent to its members at once (pipelined on one connection per member). */
export const routerShardInflightCountMax = 1024;
/** Router: requests of one shard waiting for an in-flight slot; beyond it the answer is UNAVAILABLE. */
export const routerShardWaitingCountMax = 8192;

assert(routerShardInflightCountMax <= kvConnectionInflightCountMax, "a shard's in-flight requests fit one member connection's limit");

/** RESP: one bulk string. The slack lets a value one byte over the limit reach the VALUE_TOO_LARGE check. */
export const respBulkSizeBytesMax = valueSizeBytesMax + 64 * 1024;
/** RESP: elements of one command array (an MSET of 65536 pairs fits). */
export const respArrayLengthMax = 2 * 65536 + 1;
/** RESP: one inline (telnet-style) command line, and any RESP header line. */
export const respInlineSizeBytesMax = 64 * 1024;
/** RESP: commands of one connection parsed but not yet answered; past it the listener stops reading. */
export const respConnectionPendingCountMax = 1024;
/** RESP: client connections open at once; past it a new connection is answered an error and closed. */
export const respConnectionCountMax = 10000;
/** Read-pool Workers of one store (FR3.2; config readPoolSize): beyond the cores of any server we target. */
export const readPoolSizeMax = 256;
/** RESP: keys of one multi-key command routed at once (the rest wait), so one MSET cannot fill a shard queue. */
export const respMultiKeyInflightCountMax = 256;

assert(respBulkSizeBytesMax > valueSizeBytesMax && respBulkSizeBytesMax > keySizeBytesMax, "a bulk holds the largest key or value and one byte more");
assert(respMultiKeyInflightCountMax <= routerShardInflightCountMax, "one multi-key command cannot fill a shard's in-flight slots");

/** Bulk import (`ukv analyze`, `ukv load`): one csv/tsv/jsonl row held at once; a longer one is a bad row. */
export const bulkRowSizeBytesMax = 16 * 1024 * 1024;
/** Bulk import: fields of one csv/tsv row. */
export const bulkColumnCountMax = 4096;
/** Bulk import: chunk size of file reads. */
export const bulkReadChunkSizeBytes = 1024 * 1024;
/** Bulk import: distinct key hashes counted exactly (8 bytes each, table at most half full: 64 MiB); past it, HyperLogLog only. */
export const bulkExactDistinctCountMax = 4 * 1024 * 1024;
/** Bulk import: buckets of the key-hash histogram (the top 16 bits of the 64-bit hash). */
export const bulkHashBucketCount = 65536;
/** Bulk import: bad rows kept with their line number and reason (the rest are only counted). */
export const bulkBadRowSampleCountMax = 10;
/** Bulk import: command names of skipped RESP commands counted by name; the rest share one "(other)" count. */
export const bulkSkippedNameCountMax = 32;

assert(bulkRowSizeBytesMax >= 2 * (keySizeBytesMax + valueSizeBytesMax), "a row holds the largest key and value, quoted");
assert(bulkReadChunkSizeBytes <= bulkRowSizeBytesMax, "a read chunk never exceeds a row's limit");
assert(shardCountMax <= bulkHashBucketCount, "every planned shard gets at least one hash bucket");

/**
 * Batch write (BATCH_SET, `ukv load`): key/value pairs of one batch, applied to one shard in one
 * Raft entry. One entry is one table call on apply (the driver flushes its ops at 4096, then adds
 * a whole batch), so a batch and a flush's worth of ops stay within a table batch.
 */
export const batchSetPairCountMax = 16384;
/**
 * Batch write: encoded bytes of one batch command (header, and per pair two u32 sizes plus key and
 * value). One entry is one store-log record, so the command leaves room for the record's framing.
 */
export const batchSetSizeBytesMax = recordSizeBytesMax - 64 * 1024;
/** Batch command layout (node/batch-command.ts): header (version, op, proposer, sequence, pair count), per pair two u32 sizes. */
export const batchSetHeaderSizeBytes = 1 + 1 + 4 + 8 + 4;
export const batchSetPairOverheadBytes = 8;

assert(batchSetPairCountMax + 4096 <= tableBatchCountMax, "a batch and a flush of single writes fit one table call");
assert(batchSetSizeBytesMax >= keySizeBytesMax + valueSizeBytesMax + 1024, "a batch holds the largest single pair");
assert(batchSetSizeBytesMax + 64 * 1024 <= recordSizeBytesMax, "a batch command fits one log record with its framing");
assert(2 * batchSetSizeBytesMax <= frameSizeBytesMax, "a BATCH_SET request fits one client frame with room");

/** `ukv load`: batches in flight at once (--parallel), across all shards. */
export const loadParallelCountMax = 256;
/**
 * `ukv load`: records read past the safe prefix (the checkpoint) before reading pauses. Bounds the
 * ordinals kept for exact counts (8 bytes a row) and the work redone after a kill.
 */
export const loadWindowRecordCountMax = 2 * 1024 * 1024;
/** `ukv load`: default pairs and encoded bytes of one batch (--batch-keys, --batch-bytes). */
export const loadBatchKeyCountDefault = 4096;
export const loadBatchSizeBytesDefault = 1024 * 1024;

assert(loadBatchKeyCountDefault <= batchSetPairCountMax && loadBatchSizeBytesDefault <= batchSetSizeBytesMax, "the loader's default batch is a valid batch");
assert(loadWindowRecordCountMax >= 4 * batchSetPairCountMax, "the read window holds several full batches");
assert(2 * listChunkCountMax + 1024 <= tableBatchCountMax, "a list rewritten whole (old chunks dropped, new ones written) fits one table batch");
assert(listChunkCountMax * listChunkElementCountMax >= listElementCountMax, "the chunk limit does not cut the element limit for small elements");
