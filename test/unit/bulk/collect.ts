// A RowSink that records everything, for the reader tests; and a way to feed input in pieces.
import type { RowReader, RowSink } from "../../../src/bulk/reader.ts";

export interface Collected {
  rows: { key: string; value: string; lineNumber: number }[];
  bad: { lineNumber: number; reason: string }[];
  skipped: { lineNumber: number; reason: string }[];
}

export function collectingSink(): RowSink & { collected: Collected } {
  const collected: Collected = { rows: [], bad: [], skipped: [] };
  const decoder = new TextDecoder();
  return {
    collected,
    row: (key, value, lineNumber) => collected.rows.push({ key: decoder.decode(key), value: decoder.decode(value), lineNumber }),
    bad: (lineNumber, reason) => collected.bad.push({ lineNumber, reason }),
    skipped: (lineNumber, reason) => collected.skipped.push({ lineNumber, reason }),
  };
}

/** Feeds `input` in pieces of `pieceBytes` (the last may be shorter), then ends. */
export function feed(reader: RowReader, input: string | Uint8Array, pieceBytes = Number.MAX_SAFE_INTEGER): void {
  const bytes = typeof input === "string" ? new TextEncoder().encode(input) : input;
  for (let offset = 0; offset < bytes.length; offset += pieceBytes) {
    // A fresh copy per piece: readers must not keep views of a chunk the caller reuses.
    reader.push(bytes.slice(offset, Math.min(bytes.length, offset + pieceBytes)));
  }
  reader.end();
}

/** Runs `make` once per piece size in `pieceSizes` and checks every run collects the same thing. */
export function collectAtEverySplit(make: (sink: RowSink) => RowReader, input: string, pieceSizes: readonly number[] = [1, 2, 3, 7, 64, Number.MAX_SAFE_INTEGER]): Collected {
  let first: Collected | null = null;
  for (const pieceBytes of pieceSizes) {
    const sink = collectingSink();
    feed(make(sink), input, pieceBytes);
    if (first === null) first = sink.collected;
    else if (JSON.stringify(first) !== JSON.stringify(sink.collected)) {
      throw new Error(`pieces of ${pieceBytes} bytes give ${JSON.stringify(sink.collected)}, not ${JSON.stringify(first)}`);
    }
  }
  return first as Collected;
}
