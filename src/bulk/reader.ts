// The contract every bulk input reader (csv, tsv, jsonl, resp) keeps: bytes are pushed in chunks
// of any size, split anywhere (inside a field, a UTF-8 sequence, a CRLF); each complete record is
// reported to a sink as a row (key and value bytes), a bad row (line number and reason) or a
// skipped record (a RESP command that is not a SET). Memory is bounded by the longest row
// accepted (bulkRowSizeBytesMax), never by the input.
import { keySizeBytesMax, valueSizeBytesMax } from "../util/limits.ts";

export type InputFormat = "csv" | "tsv" | "jsonl" | "resp";
export const inputFormats: readonly InputFormat[] = ["csv", "tsv", "jsonl", "resp"];

export interface RowSink {
  /**
   * One good row. `key` and `value` may be views of the reader's buffers: valid only during the
   * call (copy them to keep them). `lineNumber` is 1-based: the line where the record starts.
   */
  row(key: Uint8Array, value: Uint8Array, lineNumber: number): void;
  /** A record that cannot be imported: unparsable, wrong shape, or a key or value over the limits. */
  bad(lineNumber: number, reason: string): void;
  /** A well-formed record that is not imported on purpose (RESP commands other than SET). */
  skipped(lineNumber: number, reason: string): void;
}

export interface RowReader {
  /** Parses what it can of `chunk`; keeps an incomplete trailing record for the next push. */
  push(chunk: Uint8Array): void;
  /** End of input: reports the last record (or why it is incomplete). */
  end(): void;
}

/** A column of a csv/tsv header or a jsonl field: by name, or by 0-based index (csv/tsv only). */
export type ColumnSelector = { name: string } | { index: number };

/** Parses `--key-column` text: a name, or digits meaning an index (a header name wins if both fit). */
export function parseColumnSelector(text: string): ColumnSelector {
  return /^(0|[1-9][0-9]*)$/.test(text) ? { index: Number(text) } : { name: text };
}

export function describeColumn(column: ColumnSelector): string {
  return "name" in column ? JSON.stringify(column.name) : `#${column.index}`;
}

/**
 * The checks every format applies to a row before it counts as good: the same limits the store
 * enforces, so a row the analyzer counts is a row the loader can write.
 */
export function rowProblem(key: Uint8Array, value: Uint8Array): string | null {
  if (key.length === 0) return "empty key";
  if (key.length > keySizeBytesMax) return `key of ${key.length} bytes over the limit of ${keySizeBytesMax}`;
  if (value.length > valueSizeBytesMax) return `value of ${value.length} bytes over the limit of ${valueSizeBytesMax}`;
  return null;
}

/** Joins a kept tail with a new chunk (copies: the caller may reuse the chunk's memory). */
export function concatBytes(head: Uint8Array, tail: Uint8Array): Uint8Array {
  if (head.length === 0) return tail;
  const joined = new Uint8Array(head.length + tail.length);
  joined.set(head, 0);
  joined.set(tail, head.length);
  return joined;
}

/** Counts "\n" bytes in data[start, end). */
export function countNewlines(data: Uint8Array, start: number, end: number): number {
  let count = 0;
  let position = data.indexOf(10, start);
  while (position !== -1 && position < end) {
    count += 1;
    position = data.indexOf(10, position + 1);
  }
  return count;
}
