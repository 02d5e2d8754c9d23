// Seeded fuzzing of every decoder that reads bytes from outside the process: Raft frames (the
// frame decoder, then the RAFT_BATCH codec), client frames (request and response batches and
// their mapping), RESP requests (parser and commands, in fuzz-resp.ts), WAL segments (Wal.open on a corrupted copy of a real log), snapshot files
// (SnapshotStore.load on a corrupted copy) and the YAML config (parseClusterConfig).
// Inputs are mutations of valid encodings (bit flips, byte overwrites, cuts, inserted and
// duplicated runs, interesting integers) or plain random bytes. A case passes when the decoder
// throws its typed error (ProtoDecodeError, UkvError) or returns a result its oracle accepts
// (fuzz-oracles.ts: WAL recovery is a prefix of what was written, a loaded snapshot equals the
// table saved, a decoded frame re-encodes to its bytes or to a canonical form); anything else
// (TypeError, RangeError, AssertionError, an oracle failure, a case over the time bound, memory
// growing past the bound, checked every 1,024 cases and after the last) fails and is reported
// with the seed and case index that replay it.
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseClusterConfig, renderClusterConfig } from "../config/cluster-config.ts";
import { renderLocalClusterConfig } from "../config/local-cluster.ts";
import * as kvProto from "../proto/kv.ts";
import { ProtoDecodeError } from "../proto/wire.ts";
import { checkCanonicalRoundTrip, checkFramesReencode, checkSnapshotHeader, checkTableImage, checkWalHardState, checkWalPrefix, tableImage, type WrittenEntry, type WrittenHardState } from "./fuzz-oracles.ts";
import { respFuzzTarget } from "./fuzz-resp.ts";
import { EntryType, MessageType, type Message } from "../raft/types.ts";
import { SnapshotStore } from "../storage/snapshot-store.ts";
import { Table } from "../storage/table.ts";
import { Wal } from "../storage/wal.ts";
import { ConnectionKind, FrameDecoder, FrameType, encodeFrame, encodeHello, helloSizeBytes, type Frame } from "../transport/frame.ts";
import { requestFromWire, responseFromWire, checkKvRequest } from "../transport/kv-protocol.ts";
import { decodeRaftBatch, encodeRaftBatch, type GroupMessages } from "../transport/raft-codec.ts";
import { isUkvError } from "../util/errors.ts";
import { rootLogger } from "../util/log.ts";
import { Prng } from "../util/prng.ts";

export const fuzzTargetNames = ["raft-frames", "client-frames", "resp", "config-yaml", "wal", "snapshot"] as const;
export type FuzzTargetName = (typeof fuzzTargetNames)[number];

/** One case may take this long before it counts as a hang. */
export const fuzzCaseTimeMsMax = 2000;
/** Resident memory may grow this much over a target's run before it counts as unbounded allocation. */
export const fuzzRssGrowthBytesMax = 512 * 1024 * 1024;
/** How often a long run reports how far it got (a run stopped early still leaves a count). */
const fuzzProgressEveryCases = 100_000;
/** Failures kept per target (the first ones; the count is exact). */
const failureKeepCountMax = 20;

export interface FuzzFailure {
  caseIndex: number;
  message: string;
}

export interface FuzzResult {
  target: FuzzTargetName;
  seed: number;
  caseCount: number;
  failureCount: number;
  failures: FuzzFailure[];
  elapsedMs: number;
}

interface FuzzTarget {
  /** Builds the corpus (valid inputs); returns the per-case function and a cleanup. */
  setup(prng: Prng): Promise<{ runCase(input: Uint8Array): Promise<void> | void; corpus: Uint8Array[]; cleanup(): void }>;
}

function isExpectedError(error: unknown): boolean {
  return error instanceof ProtoDecodeError || isUkvError(error);
}

// ---- mutations -------------------------------------------------------------------------------

const interestingUint32 = [0, 1, 0x7f, 0x80, 0xff, 0x7fff, 0xffff, 0x7fffffff, 0x80000000, 0xffffffff];

/** A mutated copy of `input` (1..4 mutations), or random bytes one case in 16. */
export function mutate(prng: Prng, input: Uint8Array): Uint8Array {
  if (prng.nextInt(16) === 0) return randomBytes(prng, prng.nextInt(256));
  let bytes: Uint8Array = input.slice();
  const mutationCount = 1 + prng.nextInt(4);
  for (let mutationIndex = 0; mutationIndex < mutationCount; mutationIndex++) {
    const position = bytes.length === 0 ? 0 : prng.nextInt(bytes.length);
    switch (prng.nextInt(7)) {
      case 0:
        if (bytes.length > 0) bytes[position]! ^= 1 << prng.nextInt(8);
        break;
      case 1:
        if (bytes.length > 0) bytes[position] = prng.nextInt(256);
        break;
      case 2:
        bytes = bytes.slice(0, position);
        break;
      case 3:
        bytes = concat(bytes.slice(0, position), randomBytes(prng, 1 + prng.nextInt(16)), bytes.slice(position));
        break;
      case 4: {
        const length = Math.min(bytes.length - position, 1 + prng.nextInt(32));
        bytes = concat(bytes.slice(0, position), bytes.slice(position, position + length), bytes.slice(position));
        break;
      }
      case 5:
        if (bytes.length >= position + 4) new DataView(bytes.buffer, bytes.byteOffset).setUint32(position, interestingUint32[prng.nextInt(interestingUint32.length)]!, prng.chance(0.5));
        break;
      default:
        if (bytes.length > 0) bytes[position] = [0x00, 0xff, 0x80, 0x7f][prng.nextInt(4)]!;
    }
  }
  return bytes;
}

function randomBytes(prng: Prng, length: number): Uint8Array {
  const bytes = new Uint8Array(length);
  for (let index = 0; index < length; index++) bytes[index] = prng.nextInt(256);
  return bytes;
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const total = parts.reduce((sum, part) => sum + part.length, 0);
  const out = new Uint8Array(total);
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

// ---- targets ---------------------------------------------------------------------------------

const wireMessageTypes = [MessageType.Append, MessageType.AppendResponse, MessageType.Vote, MessageType.VoteResponse, MessageType.Heartbeat, MessageType.ReadIndex, MessageType.Snapshot];

function randomMessage(prng: Prng): Message {
  const type = wireMessageTypes[prng.nextInt(wireMessageTypes.length)]!;
  const entryCount = type === MessageType.Append ? prng.nextInt(4) : 0;
  return {
    type,
    from: 1 + prng.nextInt(5),
    to: 1 + prng.nextInt(5),
    term: prng.nextInt(100),
    logTerm: prng.nextInt(100),
    index: prng.nextInt(1000),
    entries: Array.from({ length: entryCount }, (_, index) => ({ term: 1 + prng.nextInt(9), index: 1 + index, type: EntryType.Normal, data: randomBytes(prng, prng.nextInt(40)) })),
    commit: prng.nextInt(1000),
    reject: prng.chance(0.2),
    rejectHint: prng.nextInt(10),
    rejectHintTerm: prng.nextInt(10),
    snapshot: type === MessageType.Snapshot ? { metadata: { index: 5, term: 2, conf: { voters: [1, 2, 3], learners: [], votersOutgoing: [], learnersNext: [], autoLeave: false } }, data: new Uint8Array(0) } : null,
    context: randomBytes(prng, prng.nextInt(8)),
  } as Message;
}

const raftBatchCodec = { encode: (groups: GroupMessages[]) => encodeRaftBatch(groups), decode: decodeRaftBatch };
const requestBatchCodec = { encode: (batch: kvProto.RequestBatch) => kvProto.encodeRequestBatch(batch), decode: kvProto.decodeRequestBatch };
const responseBatchCodec = { encode: (batch: kvProto.ResponseBatch) => kvProto.encodeResponseBatch(batch), decode: kvProto.decodeResponseBatch };

/** Raft connection bytes: a hello then RAFT_BATCH frames; every whole frame's payload is decoded. */
const raftFrames: FuzzTarget = {
  async setup(prng) {
    const corpus: Uint8Array[] = [];
    for (let index = 0; index < 32; index++) {
      const batch = encodeRaftBatch([{ groupId: 1 + prng.nextInt(3), messages: Array.from({ length: 1 + prng.nextInt(3) }, () => randomMessage(prng)) }]);
      // The encoder's own output is canonical: it must round-trip byte for byte.
      checkCanonicalRoundTrip("RAFT_BATCH corpus payload", batch, decodeRaftBatch(batch), raftBatchCodec, true);
      corpus.push(concat(encodeHello({ kind: ConnectionKind.Raft, nodeId: 2 }), encodeFrame(FrameType.RaftBatch, batch)));
    }
    return {
      corpus,
      cleanup: () => undefined,
      runCase: (input) => {
        const decoder = new FrameDecoder({ expectHello: true });
        // Split in two chunks so the decoder's partial-read paths run too.
        const cut = input.length === 0 ? 0 : (input[0]! * 7) % (input.length + 1);
        const frames: Frame[] = [];
        for (const chunk of [input.subarray(0, cut), input.subarray(cut)]) {
          const result = decoder.push(chunk);
          frames.push(...result.frames);
          if (result.error !== null) break;
        }
        // Frames before an error are valid: hello and frame headers are canonical, so exact bytes.
        if (decoder.hello !== null) checkFramesReencode(input, 0, [encodeHello(decoder.hello)]);
        checkFramesReencode(input, helloSizeBytes, frames.map((frame) => encodeFrame(frame.type, frame.payload)));
        for (const frame of frames) {
          if (frame.type !== FrameType.RaftBatch) continue;
          checkCanonicalRoundTrip("RAFT_BATCH payload", frame.payload, decodeRaftBatch(frame.payload), raftBatchCodec, false);
        }
      },
    };
  },
};

/** Client frames: request batches as a server reads them, response batches as a client does. */
const clientFrames: FuzzTarget = {
  async setup(prng) {
    const corpus: Uint8Array[] = [];
    for (let index = 0; index < 32; index++) {
      const requests = Array.from({ length: 1 + prng.nextInt(4) }, (_, id) => ({ id, op: 1 + prng.nextInt(6), key: randomBytes(prng, 1 + prng.nextInt(20)), value: randomBytes(prng, prng.nextInt(40)), linearizable: prng.chance(0.5), shard: prng.nextInt(3), batchKeys: [], batchValues: [], rangeVersion: prng.nextInt(3) }));
      const requestBytes = kvProto.encodeRequestBatch({ requests });
      checkCanonicalRoundTrip("request batch corpus", requestBytes, kvProto.decodeRequestBatch(requestBytes), requestBatchCodec, true);
      corpus.push(concat(new Uint8Array([0]), requestBytes));
      const responses = Array.from({ length: 1 + prng.nextInt(4) }, (_, id) => ({ id, code: 1 + prng.nextInt(8), value: randomBytes(prng, prng.nextInt(40)), leaderAddress: "127.0.0.1:7001", message: "m", statusJson: "{}" }));
      const responseBytes = kvProto.encodeResponseBatch({ responses });
      checkCanonicalRoundTrip("response batch corpus", responseBytes, kvProto.decodeResponseBatch(responseBytes), responseBatchCodec, true);
      corpus.push(concat(new Uint8Array([1]), responseBytes));
    }
    return {
      corpus,
      cleanup: () => undefined,
      runCase: (input) => {
        const body = input.subarray(1);
        if ((input[0] ?? 0) % 2 === 0) {
          const batch = kvProto.decodeRequestBatch(body);
          checkCanonicalRoundTrip("request batch", body, batch, requestBatchCodec, false);
          for (const wire of batch.requests) {
            const request = requestFromWire(wire);
            if ("op" in request) checkKvRequest(request);
          }
        } else {
          const batch = kvProto.decodeResponseBatch(body);
          checkCanonicalRoundTrip("response batch", body, batch, responseBatchCodec, false);
          for (const wire of batch.responses) responseFromWire(wire);
        }
      },
    };
  },
};

/** The YAML config: mutated bytes of a valid file, decoded as UTF-8 (lossy) and parsed. */
const configYaml: FuzzTarget = {
  async setup() {
    // Both ways to give the initial shards: initialShards + replication, and an explicit list.
    const text = renderLocalClusterConfig({ dir: "/tmp/fuzz-data", storeCount: 4, shardCount: 2, replication: 3, portBase: 7000 });
    const explicitText = renderClusterConfig(parseClusterConfig(text, "fuzz.yaml", "/"));
    return {
      corpus: [new TextEncoder().encode(text), new TextEncoder().encode(explicitText)],
      cleanup: () => undefined,
      runCase: (input) => {
        parseClusterConfig(new TextDecoder().decode(input), "fuzz.yaml", "/");
      },
    };
  },
};

/** WAL: a real log written by Wal, its newest segment replaced by the mutated bytes, then opened. */
const walTarget: FuzzTarget = {
  async setup(prng) {
    // A RAM-backed folder when there is one: recovery reads the same bytes either way, and a case
    // then costs microseconds of syncs instead of milliseconds (1M cases in hours, not days).
    const root = mkdtempSync(join(existsSync("/dev/shm") ? "/dev/shm" : tmpdir(), "ukv-fuzz-wal-"));
    const sourceDir = join(root, "source");
    const segmentSizeBytes = 8192;
    const { wal } = await Wal.open(sourceDir, { segmentSizeBytes });
    // What was appended, in order: recovery must give back a prefix of it, byte for byte.
    const writtenEntries: WrittenEntry[] = [];
    const writtenHardStates: WrittenHardState[] = [];
    let index = 1;
    for (let batchIndex = 0; batchIndex < 6; batchIndex++) {
      const entries = Array.from({ length: 1 + prng.nextInt(4) }, () => ({ term: 1, index: index++, data: randomBytes(prng, 10 + prng.nextInt(200)) }));
      const hardState = { term: 1, vote: 1, commit: index - 1 };
      await wal.append({ entries, hardState });
      writtenEntries.push(...entries.map((entry) => ({ ...entry, data: entry.data.slice() })));
      writtenHardStates.push({ ...hardState });
    }
    await wal.close();
    const segments = readdirSync(sourceDir).filter((name) => name.startsWith("wal-")).sort();
    const newest = segments.at(-1)!;
    const caseDir = join(root, "case");
    let caseCount = 0;
    // Most cases end in a truncated tail, which recovery reports at warn level: one line a case.
    const logLevel = rootLogger.level;
    rootLogger.level = "error";
    return {
      // Only the written prefix is mutated (the zero tail is long and dull), then zero-padded back.
      corpus: [readFileSync(join(sourceDir, newest)).subarray(0, 2048)],
      cleanup: () => {
        rootLogger.level = logLevel;
        rmSync(root, { recursive: true, force: true });
      },
      runCase: async (input) => {
        rmSync(caseDir, { recursive: true, force: true });
        mkdirSync(caseDir);
        for (const name of segments) if (name !== newest) copyFileSync(join(sourceDir, name), join(caseDir, name));
        const segment = new Uint8Array(segmentSizeBytes);
        segment.set(input.subarray(0, segmentSizeBytes));
        writeFileSync(join(caseDir, newest), segment);
        caseCount++;
        const opened = await Wal.open(caseDir, { segmentSizeBytes, testOnlyDisableDirectIo: caseCount % 2 === 0 });
        try {
          checkWalPrefix(writtenEntries, opened.recovery.entries);
          checkWalHardState(writtenHardStates, opened.recovery.hardState);
        } finally {
          await opened.wal.close();
        }
      },
    };
  },
};

/** Snapshot files: a real snapshot mutated, then loaded into a fresh table. */
const snapshotTarget: FuzzTarget = {
  async setup(prng) {
    const root = mkdtempSync(join(tmpdir(), "ukv-fuzz-snap-"));
    mkdirSync(join(root, "store"));
    const store = new SnapshotStore(join(root, "store"));
    const table = Table.create();
    for (let index = 0; index < 40; index++) table.set(randomBytes(prng, 1 + prng.nextInt(16)), randomBytes(prng, prng.nextInt(64)));
    const header = { index: 10, term: 2, metadata: new TextEncoder().encode('{"voters":[1,2,3]}') };
    const info = await store.save(table, header);
    // A snapshot that loads must hold exactly this table and header.
    const image = tableImage(table.entries());
    table.close();
    const casePath = join(root, "case.snap");
    return {
      corpus: [readFileSync(info.path)],
      cleanup: () => rmSync(root, { recursive: true, force: true }),
      runCase: async (input) => {
        writeFileSync(casePath, input);
        const target = Table.create();
        try {
          const loaded = await store.load(casePath, target);
          checkSnapshotHeader(header, loaded);
          checkTableImage(image, target.entries());
        } finally {
          target.close();
        }
      },
    };
  },
};

/** RESP requests: parser (whole vs split), command table, commands on an in-memory backend (fuzz-resp.ts). */
const respTarget: FuzzTarget = {
  async setup(prng) {
    const { corpus, runCase } = respFuzzTarget(prng);
    return { corpus, runCase, cleanup: () => undefined };
  },
};

const targets: Record<FuzzTargetName, FuzzTarget> = {
  "raft-frames": raftFrames,
  "client-frames": clientFrames,
  resp: respTarget,
  "config-yaml": configYaml,
  wal: walTarget,
  snapshot: snapshotTarget,
};

/** Runs `caseCount` cases of one target from `seed`; case i always gets the same input. */
export async function fuzzTarget(
  name: FuzzTargetName,
  options: {
    seed: number;
    caseCount: number;
    firstCaseIndex?: number;
    /** Defaults to fuzzRssGrowthBytesMax; a test lowers it to prove the check fires. */
    rssGrowthBytesMax?: number;
    onProgress?(doneCount: number, failureCount: number): void;
  },
): Promise<FuzzResult> {
  const startedMs = performance.now();
  const { corpus, runCase, cleanup } = await targets[name].setup(new Prng(options.seed));
  const failures: FuzzFailure[] = [];
  let failureCount = 0;
  const fail = (caseIndex: number, message: string): void => {
    failureCount++;
    if (failures.length < failureKeepCountMax) failures.push({ caseIndex, message });
  };
  const rssStartBytes = process.memoryUsage().rss;
  // Cases actually run: the memory bound stops a run early, and the report must say so.
  let ranCount = 0;
  try {
    const firstCaseIndex = options.firstCaseIndex ?? 0;
    const lastCaseIndex = firstCaseIndex + options.caseCount - 1;
    const rssGrowthBytesMax = options.rssGrowthBytesMax ?? fuzzRssGrowthBytesMax;
    for (let caseIndex = firstCaseIndex; caseIndex <= lastCaseIndex; caseIndex++) {
      const prng = new Prng(options.seed ^ Math.imul(caseIndex + 1, 0x9e3779b1));
      const input = mutate(prng, corpus[prng.nextInt(corpus.length)]!);
      const caseStartMs = performance.now();
      try {
        await runCase(input);
      } catch (error) {
        if (!isExpectedError(error)) fail(caseIndex, error instanceof Error ? `${error.name}: ${error.message}` : String(error));
      }
      const caseMs = performance.now() - caseStartMs;
      ranCount++;
      if (ranCount % fuzzProgressEveryCases === 0 && ranCount < options.caseCount) options.onProgress?.(ranCount, failureCount);
      if (caseMs > fuzzCaseTimeMsMax) fail(caseIndex, `case took ${caseMs.toFixed(0)} ms (bound ${fuzzCaseTimeMsMax} ms)`);
      // Every 1,024 cases and after the last, so even a short run is checked once.
      const memoryCheckDue = (caseIndex & 1023) === 1023 || caseIndex === lastCaseIndex;
      if (memoryCheckDue && process.memoryUsage().rss - rssStartBytes > rssGrowthBytesMax) {
        fail(caseIndex, `resident memory grew by more than ${rssGrowthBytesMax} bytes`);
        break;
      }
    }
  } finally {
    cleanup();
  }
  return { target: name, seed: options.seed, caseCount: ranCount, failureCount, failures, elapsedMs: Math.round(performance.now() - startedMs) };
}

/** Replays one case: the input bytes of case `caseIndex` of target `name` under `seed`. */
export async function fuzzInput(name: FuzzTargetName, options: { seed: number; caseIndex: number }): Promise<Uint8Array> {
  const { corpus, cleanup } = await targets[name].setup(new Prng(options.seed));
  cleanup();
  const prng = new Prng(options.seed ^ Math.imul(options.caseIndex + 1, 0x9e3779b1));
  return mutate(prng, corpus[prng.nextInt(corpus.length)]!);
}
