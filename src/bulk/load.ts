// `ukv load`'s pipeline: stream the input through the format's reader, group rows into per-shard
// batches (the cluster's layout decides the shard), send batches to the shards (a LoadTarget: the
// cluster through the routing client, or a fake in tests), bounded in flight, and checkpoint the
// safe prefix (load-batches.ts) so a killed load resumes without losing or reloading anything.
//
// Bounds (memory): at most `parallel` batches in flight and `parallel` more sealed and waiting,
// one open batch per shard, each at most `batchSizeBytes` (arena) - so about (2 x parallel +
// shards) x batchSizeBytes - plus 8 bytes per record between the checkpoint and the read
// position (at most loadWindowRecordCountMax: reading pauses there) and the reader's buffer.
//
// Order: when the input may hold a key more than once, the last row must win, so a shard's
// batches are applied in input order: one batch in flight per shard (`ordered`). When the plan
// counted no duplicate key exactly, batches commute and a shard may have many in flight.
//
// Retries: the routing client already follows leaders and retries what is safe to retry. What it
// returns unsettled (TIMEOUT, UNAVAILABLE after its window: the outcome unknown) the loader sends
// again after a pause, holding the batch's slot (so order is kept), until `retryWindowMs` passes
// without success: resending a bulk-load batch only sets the same values again.
import { UkvError, type ErrorCode } from "../util/errors.ts";
import { assert } from "../util/assert.ts";
import { loadWindowRecordCountMax } from "../util/limits.ts";
import { createReader } from "./analysis.ts";
import { BatchBook, OrdinalQueue, type LoadBatch, type ShardLane } from "./load-batches.ts";
import { writeCheckpoint, type LoadCheckpoint } from "./load-checkpoint.ts";
import { RejectFile } from "./load-rejects.ts";
import { readInputChunks, statInput } from "./source.ts";
import type { ColumnSelector, InputFormat, RowSink } from "./reader.ts";

/** What the cluster answered to one batch, as the loader acts on it. */
export type BatchAnswer =
  | { kind: "ok" }
  /** Not applied, or unknown: send the same batch again later. */
  | { kind: "retry"; reason: string }
  /** Some key is not the shard's (the layout changed): re-read the layout, regroup, resend. */
  | { kind: "wrong-shard"; reason: string }
  /** The cluster refused the batch for good (a bug or a limit): the load stops. */
  | { kind: "fatal"; code: ErrorCode; reason: string };

/** Where batches go: the cluster (cli/load.ts) or a fake (tests). */
export interface LoadTarget {
  shardOf(key: Uint8Array): number;
  sendBatch(shardId: number, keys: Uint8Array[], values: Uint8Array[]): Promise<BatchAnswer>;
  /** Re-reads the layout (after a wrong-shard answer). */
  refresh(): Promise<void>;
}

export interface LoadProgress {
  fileBytesRead: number;
  fileSizeBytes: number;
  rowsLoaded: number;
  rowsRejected: number;
  elapsedMs: number;
  inflightCount: number;
}

export interface LoadOptions {
  path: string;
  format: InputFormat;
  keyColumn?: ColumnSelector;
  valueColumn?: ColumnSelector;
  /** The input's identity, recorded in every checkpoint (checked by the caller on resume). */
  input: LoadCheckpoint["input"];
  target: LoadTarget;
  /** Batches in flight at once, over all shards. */
  parallel: number;
  /** One batch in flight per shard (the input may repeat a key). */
  ordered: boolean;
  batchKeyCountMax: number;
  batchSizeBytesMax: number;
  checkpointPath: string;
  rejectPath: string;
  /** Continue from this checkpoint (its records are not read again). */
  resume: LoadCheckpoint | null;
  /** Default 1000. */
  checkpointIntervalMs?: number;
  /** An open batch older than this is sealed and sent (so a quiet shard does not hold the prefix). Default 1000. */
  batchAgeMsMax?: number;
  /** A batch not accepted for this long stops the load. Default 60000. */
  retryWindowMs?: number;
  /** Default loadWindowRecordCountMax. */
  windowRecordCountMax?: number;
  onProgress?: (progress: LoadProgress) => void;
  /** Default 250. */
  progressIntervalMs?: number;
  /** Aborting stops the load (CLOSED) after writing the checkpoint of the prefix reached. */
  signal?: AbortSignal;
}

export interface LoadResult {
  /** Records (rows, bad rows, skipped) in the input. */
  recordCount: number;
  /** Records taken from the checkpoint (not read again). */
  resumedRecordCount: number;
  rowsLoaded: number;
  rowsRejected: number;
  rowsSkipped: number;
  loadedByShard: Map<number, number>;
  /** This run: rows and key + value bytes acknowledged, input bytes read, time. */
  runRowsLoaded: number;
  runDataBytes: number;
  runInputBytes: number;
  elapsedMs: number;
}

const retryDelayMsMin = 100;
const retryDelayMsMax = 2000;

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

export async function loadInput(options: LoadOptions): Promise<LoadResult> {
  const loader = new Loader(options);
  return await loader.run();
}

class Loader implements RowSink {
  readonly #options: LoadOptions;
  readonly #book: BatchBook;
  readonly #rejects: RejectFile;
  readonly #rejectQueue = new OrdinalQueue();
  readonly #skipQueue = new OrdinalQueue();
  readonly #perShardInflightMax: number;
  readonly #windowRecordCountMax: number;
  readonly #startedMs = performance.now();
  /** Records below this came from the checkpoint: read past, not handled again. */
  readonly #resumeOrdinal: number;
  #nextOrdinal = 0;
  #lastLineNumber = 0;
  #inflightCount = 0;
  #laneCursor = 0;
  #failure: UkvError | null = null;
  #wake: (() => void) | null = null;
  // The prefix's counts (from the checkpoint, then advanced at each checkpoint).
  #prefixOrdinal: number;
  #rejectedBelow: number;
  #skippedBelow: number;
  #rejectBytesBelow: number;
  readonly #baseLoadedByShard: Map<number, number>;
  #runRowsLoaded = 0;
  #runDataBytes = 0;
  readonly #counter = { fileBytesRead: 0 };
  #runRejected = 0;

  constructor(options: LoadOptions) {
    assert(options.parallel >= 1, "at least one batch in flight");
    this.#options = options;
    this.#book = new BatchBook({ keyCountMax: options.batchKeyCountMax, sizeBytesMax: options.batchSizeBytesMax });
    this.#perShardInflightMax = options.ordered ? 1 : options.parallel;
    this.#windowRecordCountMax = options.windowRecordCountMax ?? loadWindowRecordCountMax;
    const resume = options.resume;
    this.#resumeOrdinal = resume?.recordsDone ?? 0;
    this.#prefixOrdinal = this.#resumeOrdinal;
    this.#rejectedBelow = resume?.rowsRejected ?? 0;
    this.#skippedBelow = resume?.rowsSkipped ?? 0;
    this.#rejectBytesBelow = resume?.rejectFile.sizeBytes ?? 0;
    this.#baseLoadedByShard = new Map(Object.entries(resume?.loadedByShard ?? {}).map(([shardId, count]) => [Number(shardId), count]));
    this.#rejects = RejectFile.open(options.rejectPath, this.#rejectBytesBelow);
  }

  // ---- the reader's sink (synchronous, inside reader.push) ----

  row(key: Uint8Array, value: Uint8Array, lineNumber: number): void {
    const ordinal = this.#nextOrdinal++;
    this.#lastLineNumber = lineNumber;
    if (ordinal < this.#resumeOrdinal) return;
    this.#book.addRow(this.#options.target.shardOf(key), key, value, ordinal, lineNumber, performance.now());
  }

  bad(lineNumber: number, reason: string): void {
    const ordinal = this.#nextOrdinal++;
    this.#lastLineNumber = lineNumber;
    if (ordinal < this.#resumeOrdinal) return;
    this.#runRejected++;
    this.#rejectQueue.push(ordinal, this.#rejects.add(lineNumber, reason));
  }

  skipped(lineNumber: number): void {
    const ordinal = this.#nextOrdinal++;
    this.#lastLineNumber = lineNumber;
    if (ordinal < this.#resumeOrdinal) return;
    this.#skipQueue.push(ordinal);
  }

  // ---- the run ----

  async run(): Promise<LoadResult> {
    const options = this.#options;
    const reader = createReader(this, options);
    const checkpointIntervalMs = options.checkpointIntervalMs ?? 1000;
    const progressIntervalMs = options.progressIntervalMs ?? 250;
    const batchAgeMsMax = options.batchAgeMsMax ?? 1000;
    const timers = [
      setInterval(() => this.#guard(() => this.#checkpoint(false)), checkpointIntervalMs),
      setInterval(() => {
        this.#book.sealOpen(performance.now() - batchAgeMsMax);
        this.#pump();
      }, Math.max(50, Math.floor(batchAgeMsMax / 2))),
      setInterval(() => this.#reportProgress(), progressIntervalMs),
    ];
    const onAbort = (): void => this.#fail(new UkvError("CLOSED", "Load interrupted"));
    options.signal?.addEventListener("abort", onAbort);
    if (options.signal?.aborted === true) onAbort();
    try {
      // A checkpoint before the first batch: a load killed at any point can be resumed.
      this.#checkpoint(false);
      for await (const chunk of readInputChunks(options.path, this.#counter)) {
        this.#throwIfFailed();
        reader.push(chunk);
        this.#pump();
        await this.#waitForRoom();
      }
      reader.end();
      this.#book.sealOpen();
      this.#pump();
      while (this.#book.outstanding.size > 0) {
        this.#throwIfFailed();
        await this.#nextEvent();
      }
      this.#throwIfFailed();
      const after = await statInput(options.path);
      if (after.sizeBytes !== options.input.sizeBytes) {
        throw new UkvError("BAD_REQUEST", `Input file ${options.path} changed while being loaded (size ${options.input.sizeBytes} -> ${after.sizeBytes})`);
      }
      const checkpoint = this.#checkpoint(true);
      this.#reportProgress();
      return {
        recordCount: this.#nextOrdinal,
        resumedRecordCount: this.#resumeOrdinal,
        rowsLoaded: checkpoint.rowsLoaded,
        rowsRejected: checkpoint.rowsRejected,
        rowsSkipped: checkpoint.rowsSkipped,
        loadedByShard: new Map(Object.entries(checkpoint.loadedByShard).map(([shardId, count]) => [Number(shardId), count])),
        runRowsLoaded: this.#runRowsLoaded,
        runDataBytes: this.#runDataBytes,
        runInputBytes: this.#counter.fileBytesRead,
        elapsedMs: performance.now() - this.#startedMs,
      };
    } catch (error) {
      // Whatever stopped the load, the prefix reached so far is kept for --resume.
      try {
        this.#checkpoint(false);
      } catch {
        // The original error is the one to report.
      }
      throw error;
    } finally {
      options.signal?.removeEventListener("abort", onAbort);
      for (const timer of timers) clearInterval(timer);
      try {
        this.#rejects.close();
      } catch {
        // Reported by the checkpoint that failed, if any.
      }
    }
  }

  #guard(action: () => void): void {
    try {
      action();
    } catch (error) {
      this.#fail(error instanceof UkvError ? error : new UkvError("IO_ERROR", (error as Error).message, { cause: error }));
    }
  }

  #fail(error: UkvError): void {
    this.#failure ??= error;
    this.#signal();
  }

  #throwIfFailed(): void {
    if (this.#failure !== null) throw this.#failure;
  }

  #signal(): void {
    const wake = this.#wake;
    this.#wake = null;
    wake?.();
  }

  /** Resolves at the next acknowledgement, failure or retry (or after a short while, to re-check). */
  #nextEvent(): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, 200);
      this.#wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }

  /** Reading pauses while the sealed batches or the records past the prefix are at their bounds. */
  async #waitForRoom(): Promise<void> {
    for (;;) {
      this.#throwIfFailed();
      const sealedFull = this.#book.sealedCount >= 2 * this.#options.parallel;
      const windowFull = this.#nextOrdinal - this.#book.safePrefix(this.#nextOrdinal).ordinal > this.#windowRecordCountMax;
      if (!sealedFull && !windowFull) return;
      // Open batches hold the prefix back: send them rather than wait for them to fill.
      if (windowFull) {
        this.#book.sealOpen();
        this.#pump();
      }
      await this.#nextEvent();
    }
  }

  /** Sends waiting batches while slots are free, taking lanes in turn. */
  #pump(): void {
    if (this.#failure !== null) return;
    const lanes = [...this.#book.lanes.values()];
    while (this.#inflightCount < this.#options.parallel && lanes.length > 0) {
      let sent = false;
      for (let step = 0; step < lanes.length && this.#inflightCount < this.#options.parallel; step++) {
        const lane = lanes[(this.#laneCursor + step) % lanes.length] as ShardLane;
        if (lane.ready.length === 0 || lane.inflightCount >= this.#perShardInflightMax) continue;
        const batch = lane.ready.shift() as LoadBatch;
        this.#laneCursor = (this.#laneCursor + step + 1) % lanes.length;
        void this.#send(lane, batch);
        sent = true;
      }
      if (!sent) break;
    }
  }

  async #send(lane: ShardLane, batch: LoadBatch): Promise<void> {
    this.#inflightCount++;
    lane.inflightCount++;
    let answer: BatchAnswer;
    try {
      answer = await this.#sendUntilSettled(batch);
    } finally {
      this.#inflightCount--;
      lane.inflightCount--;
    }
    switch (answer.kind) {
      case "ok":
        this.#runRowsLoaded += batch.ordinals.length;
        this.#runDataBytes += batch.dataBytes;
        this.#book.acknowledge(batch);
        break;
      case "wrong-shard":
        try {
          await this.#options.target.refresh();
        } catch {
          // The next send finds out whether the layout is still stale.
        }
        this.#book.regroup(batch, (key) => this.#options.target.shardOf(key));
        break;
      case "fatal":
        this.#fail(new UkvError(answer.code, `Shard ${batch.shardId} refused a batch of ${batch.keys.length} rows: ${answer.reason}`));
        return;
      case "retry":
        this.#fail(new UkvError("UNAVAILABLE", `Shard ${batch.shardId} did not accept a batch for ${this.#options.retryWindowMs ?? 60000} ms: ${answer.reason}`));
        return;
    }
    this.#signal();
    this.#pump();
  }

  /** One batch until it is accepted, refused, or its retry window passes (see the header). */
  async #sendUntilSettled(batch: LoadBatch): Promise<BatchAnswer> {
    const retryWindowMs = this.#options.retryWindowMs ?? 60000;
    const startedMs = performance.now();
    let delayMs = retryDelayMsMin;
    for (;;) {
      let answer: BatchAnswer;
      try {
        answer = await this.#options.target.sendBatch(batch.shardId, batch.keys, batch.values);
      } catch (error) {
        answer = { kind: "retry", reason: error instanceof Error ? error.message : String(error) };
      }
      if (answer.kind !== "retry" || this.#failure !== null || performance.now() - startedMs >= retryWindowMs) return answer;
      await sleep(delayMs);
      delayMs = Math.min(retryDelayMsMax, delayMs * 2);
    }
  }

  /** Writes the checkpoint of the current safe prefix (rejects made durable first). */
  #checkpoint(complete: boolean): LoadCheckpoint {
    const prefix = this.#book.safePrefix(this.#nextOrdinal);
    // During a resume's read-past the prefix stays the checkpoint's.
    const prefixOrdinal = Math.max(prefix.ordinal, this.#resumeOrdinal);
    assert(prefixOrdinal >= this.#prefixOrdinal, "the safe prefix never moves back");
    assert(!complete || (this.#book.outstanding.size === 0 && prefixOrdinal === this.#nextOrdinal), "a complete load has nothing outstanding");
    this.#prefixOrdinal = prefixOrdinal;
    const rejected = this.#rejectQueue.popBelow(prefixOrdinal);
    this.#rejectedBelow += rejected.count;
    if (rejected.lastTag !== null) this.#rejectBytesBelow = rejected.lastTag;
    this.#skippedBelow += this.#skipQueue.popBelow(prefixOrdinal).count;
    const loadedByShard = new Map(this.#baseLoadedByShard);
    for (const [shardId, count] of this.#book.loadedBelow(prefixOrdinal)) loadedByShard.set(shardId, (loadedByShard.get(shardId) ?? 0) + count);
    let rowsLoaded = 0;
    for (const count of loadedByShard.values()) rowsLoaded += count;
    this.#rejects.sync();
    const checkpoint: LoadCheckpoint = {
      formatVersion: 1,
      updatedAt: new Date().toISOString(),
      input: this.#options.input,
      recordsDone: prefixOrdinal,
      nextLineNumber: prefix.lineNumber ?? this.#lastLineNumber + 1,
      rowsLoaded,
      rowsRejected: this.#rejectedBelow,
      rowsSkipped: this.#skippedBelow,
      loadedByShard: Object.fromEntries([...loadedByShard].sort((a, b) => a[0] - b[0]).map(([shardId, count]) => [String(shardId), count])),
      rejectFile: { path: this.#rejects.path, sizeBytes: this.#rejectBytesBelow },
      complete,
    };
    writeCheckpoint(this.#options.checkpointPath, checkpoint);
    return checkpoint;
  }

  #reportProgress(): void {
    const baseLoaded = [...this.#baseLoadedByShard.values()].reduce((sum, count) => sum + count, 0);
    this.#options.onProgress?.({
      fileBytesRead: this.#counter.fileBytesRead,
      fileSizeBytes: this.#options.input.sizeBytes,
      rowsLoaded: baseLoaded + this.#runRowsLoaded,
      rowsRejected: (this.#options.resume?.rowsRejected ?? 0) + this.#runRejected,
      elapsedMs: performance.now() - this.#startedMs,
      inflightCount: this.#inflightCount,
    });
  }
}
