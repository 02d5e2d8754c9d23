// Reader of csv (RFC 4180) and tsv input with a header row. Works on bytes: a key or value that
// needs no unquoting is passed on as a view of the input, never decoded or copied.
//
// csv: fields separated by ","; a field that starts with '"' is quoted: it ends at a '"' not
// followed by another, '""' inside stands for one '"', and it may hold "," and line breaks. A '"'
// inside an unquoted field, or anything but a separator or line end after a closing quote, makes
// the row bad (RFC 4180 section 2, rules 5-7). tsv: fields separated by tab, no quoting at all
// (the IANA text/tab-separated-values rule: a field holds no tab or line break).
// Records end at "\n" or "\r\n"; an empty line is ignored; a UTF-8 byte order mark is dropped.
// Every row must have as many fields as the header. The first record is the header.
//
// A record is parsed from its first byte each time more input arrives while it is incomplete, so
// a row spread over k chunks is scanned k times; rows are bounded by bulkRowSizeBytesMax, and a
// longer one is reported bad and skipped up to the next line break.
import { bulkColumnCountMax, bulkRowSizeBytesMax } from "../util/limits.ts";
import { UkvError } from "../util/errors.ts";
import { assert } from "../util/assert.ts";
import { concatBytes, countNewlines, describeColumn, rowProblem } from "./reader.ts";
import type { ColumnSelector, RowReader, RowSink } from "./reader.ts";

const quoteByte = 0x22;
const newlineByte = 0x0a;
const carriageReturnByte = 0x0d;

export interface DelimitedReaderOptions {
  format: "csv" | "tsv";
  /** Default: the column named "key" if the header has one, else column 0. */
  keyColumn?: ColumnSelector;
  /** Default: the column named "value" if the header has one, else column 1. */
  valueColumn?: ColumnSelector;
  /** Row limit in bytes (tests make it small). Default bulkRowSizeBytesMax. */
  rowSizeBytesMax?: number;
}

/** What parsing one record from a position found. */
type RecordScan =
  | { kind: "incomplete" }
  | { kind: "record"; next: number; fieldCount: number; newlineCount: number }
  | { kind: "bad"; next: number; reason: string; newlineCount: number };

export class DelimitedReader implements RowReader {
  readonly #sink: RowSink;
  readonly #options: DelimitedReaderOptions;
  readonly #delimiter: number;
  readonly #quoting: boolean;
  readonly #rowSizeBytesMax: number;
  // Field i of the last scanned record is bytes [fieldStarts[i], fieldEnds[i]); fieldQuoted[i] is
  // 1 when the field was quoted (its bounds exclude the quotes, '""' still doubled inside).
  readonly #fieldStarts = new Int32Array(bulkColumnCountMax);
  readonly #fieldEnds = new Int32Array(bulkColumnCountMax);
  readonly #fieldQuoted = new Uint8Array(bulkColumnCountMax);
  #pending: Uint8Array = new Uint8Array(0);
  #lineNumber = 1;
  /** Set after an over-long row: bytes are dropped up to the next "\n". */
  #discarding = false;
  #header: string[] | null = null;
  #keyIndex = -1;
  #valueIndex = -1;

  constructor(sink: RowSink, options: DelimitedReaderOptions) {
    this.#sink = sink;
    this.#options = options;
    this.#delimiter = options.format === "csv" ? 0x2c : 0x09;
    this.#quoting = options.format === "csv";
    this.#rowSizeBytesMax = options.rowSizeBytesMax ?? bulkRowSizeBytesMax;
    assert(this.#rowSizeBytesMax > 0, "a row limit is positive");
  }

  /** The header's column names, once the header row has been read. */
  get header(): readonly string[] | null {
    return this.#header;
  }

  push(chunk: Uint8Array): void {
    this.#consume(concatBytes(this.#pending, chunk), false);
  }

  end(): void {
    this.#consume(this.#pending, true);
    if (this.#header === null) throw new UkvError("BAD_REQUEST", `The ${this.#options.format} input has no header row`);
  }

  #consume(data: Uint8Array, endOfInput: boolean): void {
    let position = 0;
    while (position < data.length) {
      if (this.#discarding) {
        position = this.#skipDiscarded(data, position);
        continue;
      }
      const scan = this.#scanRecord(data, position, endOfInput);
      if (scan.kind === "incomplete") {
        if (data.length - position <= this.#rowSizeBytesMax) break;
        this.#sink.bad(this.#lineNumber, `row longer than ${this.#rowSizeBytesMax} bytes`);
        this.#discarding = true;
        continue;
      }
      if (scan.kind === "bad") {
        this.#sink.bad(this.#lineNumber, scan.reason);
      } else if (!this.#isEmptyLine(scan.fieldCount)) {
        this.#handleRecord(data, scan.fieldCount);
      }
      this.#lineNumber += scan.newlineCount;
      position = scan.next;
    }
    // A copy, so the caller's chunk (and the joined buffer) can be dropped.
    this.#pending = endOfInput || position >= data.length ? new Uint8Array(0) : data.slice(position);
  }

  #isEmptyLine(fieldCount: number): boolean {
    return fieldCount === 1 && this.#fieldEnds[0] === this.#fieldStarts[0] && this.#fieldQuoted[0] === 0;
  }

  /** Drops bytes up to and including the next "\n"; returns the position after it (or the end). */
  #skipDiscarded(data: Uint8Array, from: number): number {
    const newline = data.indexOf(newlineByte, from);
    if (newline === -1) return data.length;
    this.#discarding = false;
    this.#lineNumber += 1;
    return newline + 1;
  }

  /**
   * Finds the fields of the record starting at `start`. Needs the record's line end (or the end
   * of input) to be in `data`: otherwise "incomplete", and the caller waits for more bytes.
   */
  #scanRecord(data: Uint8Array, start: number, endOfInput: boolean): RecordScan {
    let position = start;
    let fieldCount = 0;
    let newlineCount = 0;
    for (;;) {
      if (fieldCount === bulkColumnCountMax) return this.#badUntilLineEnd(data, start, position, `more than ${bulkColumnCountMax} fields`, endOfInput);
      if (this.#quoting && data[position] === quoteByte) {
        const closing = this.#findClosingQuote(data, position + 1, endOfInput);
        if (closing === -1) {
          if (!endOfInput) return { kind: "incomplete" };
          return { kind: "bad", next: data.length, reason: "unterminated quoted field", newlineCount: countNewlines(data, start, data.length) };
        }
        this.#fieldStarts[fieldCount] = position + 1;
        this.#fieldEnds[fieldCount] = closing;
        this.#fieldQuoted[fieldCount] = 1;
        fieldCount += 1;
        newlineCount += countNewlines(data, position + 1, closing);
        position = closing + 1;
        const after = data[position];
        if (after === this.#delimiter) {
          position += 1;
          continue;
        }
        const lineEnd = this.#lineEndAt(data, position, endOfInput);
        if (lineEnd === "incomplete") return { kind: "incomplete" };
        if (lineEnd === -1) return this.#badUntilLineEnd(data, start, position, "unexpected character after a closing quote", endOfInput);
        return { kind: "record", next: lineEnd, fieldCount, newlineCount: newlineCount + (lineEnd > position ? 1 : 0) };
      }
      const fieldEnd = this.#unquotedFieldEnd(data, position);
      if (fieldEnd === -2) return this.#badUntilLineEnd(data, start, position, "a quote inside an unquoted field (quote the whole field, doubling inner quotes)", endOfInput);
      if (fieldEnd === -1 && !endOfInput) return { kind: "incomplete" };
      const end = fieldEnd === -1 ? data.length : fieldEnd;
      this.#fieldStarts[fieldCount] = position;
      this.#fieldEnds[fieldCount] = end > position && data[end - 1] === carriageReturnByte && data[end] === newlineByte ? end - 1 : end;
      this.#fieldQuoted[fieldCount] = 0;
      fieldCount += 1;
      if (end < data.length && data[end] === this.#delimiter) {
        position = end + 1;
        continue;
      }
      // At "\n" or the end of input.
      return { kind: "record", next: end < data.length ? end + 1 : end, fieldCount, newlineCount: newlineCount + (end < data.length ? 1 : 0) };
    }
  }

  /** Index of the quote closing a quoted field whose content starts at `from`, or -1 if not in `data`. */
  #findClosingQuote(data: Uint8Array, from: number, endOfInput: boolean): number {
    let position = data.indexOf(quoteByte, from);
    while (position !== -1) {
      if (data[position + 1] !== quoteByte) {
        // A quote as the last byte could be the first half of '""': wait for the next byte.
        return position + 1 < data.length || endOfInput ? position : -1;
      }
      position = data.indexOf(quoteByte, position + 2);
    }
    return -1;
  }

  /** Where an unquoted field starting at `from` ends (delimiter or "\n"), -1 if not in `data`, -2 on a quote. */
  #unquotedFieldEnd(data: Uint8Array, from: number): number {
    const delimiter = this.#delimiter;
    for (let position = from; position < data.length; position += 1) {
      const byte = data[position];
      if (byte === delimiter || byte === newlineByte) return position;
      if (byte === quoteByte && this.#quoting) return -2;
    }
    return -1;
  }

  /** After a closing quote: position after "\n" / "\r\n", data.length at the end of input, -1 if another byte. */
  #lineEndAt(data: Uint8Array, position: number, endOfInput: boolean): number | "incomplete" {
    if (position >= data.length) return endOfInput ? data.length : "incomplete";
    if (data[position] === newlineByte) return position + 1;
    if (data[position] === carriageReturnByte) {
      if (position + 1 >= data.length) return endOfInput ? -1 : "incomplete";
      return data[position + 1] === newlineByte ? position + 2 : -1;
    }
    return -1;
  }

  /**
   * A bad record: skips to the first "\n" after the fault at `faultPosition` (quotes no longer
   * trusted), so parsing can resume there; line breaks from `start` are counted.
   */
  #badUntilLineEnd(data: Uint8Array, start: number, faultPosition: number, reason: string, endOfInput: boolean): RecordScan {
    const newline = data.indexOf(newlineByte, faultPosition);
    if (newline === -1 && !endOfInput) return { kind: "incomplete" };
    const next = newline === -1 ? data.length : newline + 1;
    return { kind: "bad", next, reason, newlineCount: countNewlines(data, start, next) };
  }

  #handleRecord(data: Uint8Array, fieldCount: number): void {
    if (this.#header === null) {
      this.#setHeader(data, fieldCount);
      return;
    }
    const header = this.#header;
    if (fieldCount !== header.length) {
      this.#sink.bad(this.#lineNumber, `expected ${header.length} fields as in the header, found ${fieldCount}`);
      return;
    }
    const key = this.#field(data, this.#keyIndex);
    const value = this.#field(data, this.#valueIndex);
    const problem = rowProblem(key, value);
    if (problem === null) this.#sink.row(key, value, this.#lineNumber);
    else this.#sink.bad(this.#lineNumber, problem);
  }

  /** Field bytes: a view when unquoted or free of '""', else an unescaped copy. */
  #field(data: Uint8Array, index: number): Uint8Array {
    const start = this.#fieldStarts[index] as number;
    const end = this.#fieldEnds[index] as number;
    const view = data.subarray(start, end);
    if (this.#fieldQuoted[index] === 0 || view.indexOf(quoteByte) === -1) return view;
    const unescaped = new Uint8Array(view.length);
    let length = 0;
    for (let position = 0; position < view.length; position += 1) {
      const byte = view[position] as number;
      unescaped[length++] = byte;
      if (byte === quoteByte) position += 1;
    }
    return unescaped.subarray(0, length);
  }

  #setHeader(data: Uint8Array, fieldCount: number): void {
    const decoder = new TextDecoder();
    const header: string[] = [];
    // TextDecoder drops a UTF-8 byte order mark at the start of the first name, the file's start.
    for (let index = 0; index < fieldCount; index += 1) header.push(decoder.decode(this.#field(data, index)));
    this.#keyIndex = resolveColumn(header, this.#options.keyColumn, "key", 0, "--key-column");
    this.#valueIndex = resolveColumn(header, this.#options.valueColumn, "value", 1, "--value-column");
    if (this.#keyIndex === this.#valueIndex) throw new UkvError("BAD_REQUEST", `--key-column and --value-column name the same column: ${JSON.stringify(header[this.#keyIndex])}`);
    this.#header = header;
  }
}

/** A column's index in the header: by name first, then as an index; BAD_REQUEST naming the flag if neither. */
function resolveColumn(header: readonly string[], column: ColumnSelector | undefined, defaultName: string, defaultIndex: number, flag: string): number {
  if (column === undefined) {
    const named = header.indexOf(defaultName);
    if (named !== -1) return named;
    if (defaultIndex < header.length) return defaultIndex;
    throw new UkvError("BAD_REQUEST", `The header has ${header.length} column(s), no ${JSON.stringify(defaultName)} and no column ${defaultIndex}: pass ${flag}`);
  }
  if ("name" in column) {
    const named = header.indexOf(column.name);
    if (named !== -1) return named;
  } else {
    const named = header.indexOf(String(column.index));
    if (named !== -1) return named;
    if (column.index < header.length) return column.index;
  }
  const columns = header.map((name) => JSON.stringify(name)).join(", ");
  throw new UkvError("BAD_REQUEST", `${flag} ${describeColumn(column)} is not in the header: columns are ${columns}`);
}
