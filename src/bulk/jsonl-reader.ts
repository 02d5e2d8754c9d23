// Reader of JSON Lines: one JSON object per line ("\n" or "\r\n"), empty lines ignored. The key
// and value columns are field names (default "key" and "value"). The key must be a string or a
// number (its JSON text); the value may be anything but absent: a string is taken as it is, any
// other value is JSON-encoded (so {"value": {"a": 1}} stores the 7 bytes {"a":1}). A line that is
// not valid UTF-8, not JSON, not an object, or lacks a field is a bad row.
import { bulkRowSizeBytesMax } from "../util/limits.ts";
import { UkvError } from "../util/errors.ts";
import { assert } from "../util/assert.ts";
import { concatBytes, rowProblem } from "./reader.ts";
import type { ColumnSelector, RowReader, RowSink } from "./reader.ts";

const newlineByte = 0x0a;
const reasonDetailLengthMax = 80;

export interface JsonlReaderOptions {
  /** A field name. Default "key". */
  keyColumn?: ColumnSelector;
  /** A field name. Default "value". */
  valueColumn?: ColumnSelector;
  rowSizeBytesMax?: number;
}

function fieldName(column: ColumnSelector | undefined, defaultName: string): string {
  if (column === undefined) return defaultName;
  // jsonl has no column order: a number given to --key-column is the name of a field.
  return "name" in column ? column.name : String(column.index);
}

function describeJson(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  return typeof value === "object" ? "an object" : `a ${typeof value}`;
}

export class JsonlReader implements RowReader {
  readonly #sink: RowSink;
  readonly #keyField: string;
  readonly #valueField: string;
  readonly #rowSizeBytesMax: number;
  readonly #decoder = new TextDecoder("utf-8", { fatal: true });
  readonly #encoder = new TextEncoder();
  #pending: Uint8Array = new Uint8Array(0);
  #lineNumber = 1;
  #discarding = false;
  #firstObjectSeen = false;

  constructor(sink: RowSink, options: JsonlReaderOptions = {}) {
    this.#sink = sink;
    this.#keyField = fieldName(options.keyColumn, "key");
    this.#valueField = fieldName(options.valueColumn, "value");
    this.#rowSizeBytesMax = options.rowSizeBytesMax ?? bulkRowSizeBytesMax;
    assert(this.#rowSizeBytesMax > 0, "a row limit is positive");
    if (this.#keyField === this.#valueField) throw new UkvError("BAD_REQUEST", `--key-column and --value-column name the same field: ${JSON.stringify(this.#keyField)}`);
  }

  push(chunk: Uint8Array): void {
    this.#consume(concatBytes(this.#pending, chunk), false);
  }

  end(): void {
    this.#consume(this.#pending, true);
  }

  #consume(data: Uint8Array, endOfInput: boolean): void {
    let position = 0;
    while (position < data.length) {
      const newline = data.indexOf(newlineByte, position);
      if (newline === -1 && !endOfInput) {
        if (!this.#discarding && data.length - position > this.#rowSizeBytesMax) {
          this.#sink.bad(this.#lineNumber, `row longer than ${this.#rowSizeBytesMax} bytes`);
          this.#discarding = true;
        }
        if (this.#discarding) position = data.length;
        break;
      }
      const lineEnd = newline === -1 ? data.length : newline;
      if (this.#discarding) this.#discarding = false;
      else this.#handleLine(data.subarray(position, lineEnd > position && data[lineEnd - 1] === 0x0d ? lineEnd - 1 : lineEnd));
      this.#lineNumber += 1;
      position = lineEnd + 1;
    }
    this.#pending = endOfInput || position >= data.length ? new Uint8Array(0) : data.slice(position);
  }

  #handleLine(line: Uint8Array): void {
    if (line.length === 0) return;
    let text: string;
    try {
      text = this.#decoder.decode(line);
    } catch {
      this.#sink.bad(this.#lineNumber, "not valid UTF-8");
      return;
    }
    if (text.trim() === "") return;
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (error) {
      const detail = error instanceof Error ? error.message : String(error);
      this.#sink.bad(this.#lineNumber, `not JSON: ${detail.slice(0, reasonDetailLengthMax)}`);
      return;
    }
    if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
      this.#sink.bad(this.#lineNumber, `expected a JSON object, found ${describeJson(parsed)}`);
      return;
    }
    const record = parsed as Record<string, unknown>;
    this.#checkFirstObject(record);
    const keyValue = record[this.#keyField];
    const valueValue = record[this.#valueField];
    if (keyValue === undefined) return this.#sink.bad(this.#lineNumber, `no field ${JSON.stringify(this.#keyField)}`);
    if (valueValue === undefined) return this.#sink.bad(this.#lineNumber, `no field ${JSON.stringify(this.#valueField)}`);
    if (typeof keyValue !== "string" && typeof keyValue !== "number") {
      return this.#sink.bad(this.#lineNumber, `field ${JSON.stringify(this.#keyField)} is ${describeJson(keyValue)}, not a string or number`);
    }
    const key = this.#encoder.encode(typeof keyValue === "string" ? keyValue : JSON.stringify(keyValue));
    const value = this.#encoder.encode(typeof valueValue === "string" ? valueValue : JSON.stringify(valueValue));
    const problem = rowProblem(key, value);
    if (problem === null) this.#sink.row(key, value, this.#lineNumber);
    else this.#sink.bad(this.#lineNumber, problem);
  }

  /**
   * A wrong --key-column shows on the first object: then every row would be bad, so it is an
   * error of the command line, reported at once, not a million bad rows.
   */
  #checkFirstObject(record: Record<string, unknown>): void {
    if (this.#firstObjectSeen) return;
    this.#firstObjectSeen = true;
    const fields = Object.keys(record);
    const fieldList = fields.map((name) => JSON.stringify(name)).join(", ");
    for (const [field, flag] of [[this.#keyField, "--key-column"], [this.#valueField, "--value-column"]] as const) {
      if (!(field in record)) {
        throw new UkvError("BAD_REQUEST", `${flag} ${JSON.stringify(field)} is not a field of the first object (line ${this.#lineNumber}): fields are ${fieldList}`);
      }
    }
  }
}
