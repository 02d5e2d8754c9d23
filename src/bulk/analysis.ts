// One pass over a bulk input: the statistics of `ukv analyze` (row counts, bad rows, key and value
// sizes, distinct keys, the key-hash histogram), every one in bounded memory: about 1.2 MiB of
// histograms, at most 64 MiB for exact distinct counting, and one row of input buffered.
import { routingKey } from "../ring/hash-tag.ts";
import { bulkBadRowSampleCountMax, bulkSkippedNameCountMax } from "../util/limits.ts";
import { UkvError } from "../util/errors.ts";
import { DelimitedReader } from "./csv-reader.ts";
import { DistinctCounter } from "./distinct-counter.ts";
import { HashHistogram } from "./hash-histogram.ts";
import { JsonlReader } from "./jsonl-reader.ts";
import { RespReader } from "./resp-reader.ts";
import { SizeHistogram } from "./size-histogram.ts";
import { fingerprintFile, readInputChunks, statInput } from "./source.ts";
import type { SourceFingerprint } from "./source.ts";
import type { ColumnSelector, InputFormat, RowReader, RowSink } from "./reader.ts";

export interface BadRowSample {
  lineNumber: number;
  reason: string;
}

// Bun.hash.xxHash64 returns a bigint; its two 32-bit words are read through shared memory (one
// store, no BigInt shifts). The word order is the platform's, probed once.
const hashWords = new Uint32Array(2);
const hashBig = new BigUint64Array(hashWords.buffer);
hashBig[0] = 1n;
const lowWordIndex = hashWords[0] === 1 ? 0 : 1;
const highWordIndex = 1 - lowWordIndex;

/** The routing hash of universeKV (xxHash64 of the key or its hash tag, seed 0) as [high, low] unsigned 32-bit words. */
export function keyHashWords(key: Uint8Array): [number, number] {
  hashBig[0] = Bun.hash.xxHash64(routingKey(key), 0n);
  return [hashWords[highWordIndex] as number, hashWords[lowWordIndex] as number];
}

/** Collects the statistics of the rows a reader reports. */
export class AnalysisStats implements RowSink {
  rowCount = 0;
  badRowCount = 0;
  skippedRowCount = 0;
  readonly badRowSamples: BadRowSample[] = [];
  /** Skipped records by reason (RESP command name); bounded, the rest counted under "(other)". */
  readonly skippedByReason = new Map<string, number>();
  readonly keySizes = new SizeHistogram();
  readonly valueSizes = new SizeHistogram();
  readonly distinctKeys = new DistinctCounter();
  readonly hashes = new HashHistogram();

  row(key: Uint8Array, value: Uint8Array): void {
    hashBig[0] = Bun.hash.xxHash64(key, 0n);
    const high = hashWords[highWordIndex] as number;
    const low = hashWords[lowWordIndex] as number;
    this.rowCount += 1;
    this.keySizes.add(key.length);
    this.valueSizes.add(value.length);
    // Distinct keys by the whole key; shard planning by the routing hash (a hash tag's).
    this.distinctKeys.add(high, low);
    const routing = routingKey(key);
    const routingHigh = routing === key ? high : keyHashWords(key)[0];
    this.hashes.add(routingHigh, key.length + value.length);
  }

  bad(lineNumber: number, reason: string): void {
    this.badRowCount += 1;
    if (this.badRowSamples.length < bulkBadRowSampleCountMax) this.badRowSamples.push({ lineNumber, reason });
  }

  skipped(_lineNumber: number, reason: string): void {
    this.skippedRowCount += 1;
    const name = this.skippedByReason.has(reason) || this.skippedByReason.size < bulkSkippedNameCountMax ? reason : "(other)";
    this.skippedByReason.set(name, (this.skippedByReason.get(name) ?? 0) + 1);
  }
}

export interface ReaderOptions {
  format: InputFormat;
  keyColumn?: ColumnSelector;
  valueColumn?: ColumnSelector;
}

export function createReader(sink: RowSink, options: ReaderOptions): RowReader {
  switch (options.format) {
    case "csv":
    case "tsv":
      return new DelimitedReader(sink, { format: options.format, keyColumn: options.keyColumn, valueColumn: options.valueColumn });
    case "jsonl":
      return new JsonlReader(sink, { keyColumn: options.keyColumn, valueColumn: options.valueColumn });
    case "resp":
      if (options.keyColumn !== undefined || options.valueColumn !== undefined) {
        throw new UkvError("BAD_REQUEST", "--key-column and --value-column do not apply to resp input (the key and value of each SET are used)");
      }
      return new RespReader(sink);
  }
}

export interface AnalysisProgress {
  fileBytesRead: number;
  fileSizeBytes: number;
  rowCount: number;
  elapsedMs: number;
}

export interface AnalyzeInputOptions extends ReaderOptions {
  path: string;
  /** Called at most every `progressIntervalMs` (default 250) while reading, and once at the end. */
  onProgress?: (progress: AnalysisProgress) => void;
  progressIntervalMs?: number;
}

export interface Analysis {
  fingerprint: SourceFingerprint;
  stats: AnalysisStats;
  /** Bytes parsed (after decompression). */
  dataBytes: number;
  elapsedMs: number;
}

export async function analyzeInput(options: AnalyzeInputOptions): Promise<Analysis> {
  const fingerprint = await fingerprintFile(options.path);
  const stats = new AnalysisStats();
  const reader = createReader(stats, options);
  const counter = { fileBytesRead: 0 };
  const startedMs = performance.now();
  const progressIntervalMs = options.progressIntervalMs ?? 250;
  let reportedMs = startedMs;
  let dataBytes = 0;
  const report = (nowMs: number): void => {
    options.onProgress?.({ fileBytesRead: counter.fileBytesRead, fileSizeBytes: fingerprint.sizeBytes, rowCount: stats.rowCount, elapsedMs: nowMs - startedMs });
  };
  for await (const chunk of readInputChunks(options.path, counter)) {
    dataBytes += chunk.length;
    reader.push(chunk);
    const nowMs = performance.now();
    if (nowMs - reportedMs >= progressIntervalMs) {
      reportedMs = nowMs;
      report(nowMs);
    }
  }
  reader.end();
  const endedMs = performance.now();
  report(endedMs);
  const after = await statInput(options.path);
  if (after.sizeBytes !== fingerprint.sizeBytes || after.mtimeMs !== fingerprint.mtimeMs) {
    throw new UkvError("BAD_REQUEST", `Input file ${options.path} changed while being analyzed (size or mtime): run again on a file that is not being written`);
  }
  return { fingerprint, stats, dataBytes, elapsedMs: endedMs - startedMs };
}
