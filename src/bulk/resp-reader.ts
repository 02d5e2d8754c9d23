// Reader of `redis-cli --pipe` input: a stream of RESP arrays of bulk strings, one command each
// ("*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n"). `SET key value [options]` is a row (the options,
// such as EX or NX, are ignored); any other command is skipped and counted by its name. Empty
// lines between commands are ignored, as Redis does.
//
// The parser is a state machine fed byte ranges, so a command may be split anywhere between
// chunks and only what a row needs is kept: the first 64 bytes of the command name, and the key
// and value of a SET. Every other bulk string is counted through, never buffered, so memory stays
// bounded whatever the input (a 1 GiB HSET costs nothing). Framing errors (a line that is not
// "*N" where a command starts, not "$N" where a bulk string starts, a bulk string without its
// CRLF) report one bad row, then the parser skips to the next line that starts with "*".
import { respArrayLengthMax, respBulkSizeBytesMax, respInlineSizeBytesMax } from "../util/limits.ts";
import { assert } from "../util/assert.ts";
import { countNewlines, rowProblem } from "./reader.ts";
import type { RowReader, RowSink } from "./reader.ts";

const newlineByte = 0x0a;
const carriageReturnByte = 0x0d;
const commandNameBytesKept = 64;

/** What the next complete line is read as. */
type LineRole = "command" | "bulkHeader" | "resync";

export class RespReader implements RowReader {
  readonly #sink: RowSink;
  #lineNumber = 1;
  #inBulk = false;
  #lineRole: LineRole = "command";
  #lineParts: Uint8Array[] = [];
  #lineLength = 0;
  /** The current line went over respInlineSizeBytesMax: its bytes are dropped up to its end. */
  #lineOverflow = false;
  // The command being read.
  #commandLineNumber = 0;
  #arrayLength = 0;
  #elementIndex = 0;
  #commandName = "";
  #commandProblem: string | null = null;
  #key: Uint8Array | null = null;
  #value: Uint8Array | null = null;
  // The bulk string being read: data bytes left, then the CRLF bytes left.
  #bulkBytesLeft = 0;
  #bulkTrailerBytesLeft = 0;
  #bulkBuffer: Uint8Array | null = null;
  #bulkFilled = 0;

  constructor(sink: RowSink) {
    this.#sink = sink;
  }

  push(chunk: Uint8Array): void {
    let position = 0;
    while (position < chunk.length) {
      position = this.#inBulk ? this.#readBulk(chunk, position) : this.#readLine(chunk, position);
    }
  }

  end(): void {
    if (this.#inBulk || this.#lineRole === "bulkHeader") {
      this.#sink.bad(this.#commandLineNumber, "command cut short by the end of input");
    } else if (this.#lineLength > 0 && this.#lineRole === "command") {
      this.#sink.bad(this.#lineNumber, "incomplete line at the end of input");
    }
  }

  #readLine(chunk: Uint8Array, position: number): number {
    const newline = chunk.indexOf(newlineByte, position);
    const end = newline === -1 ? chunk.length : newline;
    if (!this.#lineOverflow) {
      this.#lineParts.push(chunk.subarray(position, end));
      this.#lineLength += end - position;
      if (this.#lineLength > respInlineSizeBytesMax) {
        this.#lineOverflow = true;
        this.#lineParts = [];
        if (this.#lineRole !== "resync") this.#badFraming(this.#lineNumber, `line longer than ${respInlineSizeBytesMax} bytes`);
      }
    }
    if (newline === -1) {
      // Keep copies: the chunk's memory may be reused by the caller.
      this.#lineParts = this.#lineParts.map((part) => (part.buffer === chunk.buffer ? part.slice() : part));
      return chunk.length;
    }
    const line = this.#takeLine();
    const overflowed = this.#lineOverflow;
    this.#lineOverflow = false;
    const lineNumber = this.#lineNumber;
    this.#lineNumber += 1;
    if (!overflowed) this.#onLine(line, lineNumber);
    return newline + 1;
  }

  /** The line's bytes without its "\n" or "\r\n". */
  #takeLine(): Uint8Array {
    let line: Uint8Array;
    if (this.#lineParts.length === 1) {
      line = this.#lineParts[0] as Uint8Array;
    } else {
      line = new Uint8Array(this.#lineLength);
      let offset = 0;
      for (const part of this.#lineParts) {
        line.set(part, offset);
        offset += part.length;
      }
    }
    this.#lineParts = [];
    this.#lineLength = 0;
    return line.length > 0 && line[line.length - 1] === carriageReturnByte ? line.subarray(0, line.length - 1) : line;
  }

  #onLine(line: Uint8Array, lineNumber: number): void {
    if (this.#lineRole === "bulkHeader") {
      const length = line[0] === 0x24 ? parseLength(line) : null;
      if (length !== null) return this.#startBulk(length);
      this.#badFraming(this.#commandLineNumber, `expected a bulk string ("$N") for argument ${this.#elementIndex} of ${this.#arrayLength}, found ${describeLine(line)}`);
      // The line may start the next command (this one was cut short): read it as such.
    }
    if (line.length === 0) return;
    const isArray = line[0] === 0x2a;
    if (this.#lineRole === "resync" && !isArray) return;
    const length = isArray ? parseLength(line) : null;
    if (length === null || length > respArrayLengthMax) {
      const reason = !isArray ? `expected a RESP array ("*N"), found ${describeLine(line)}` : `invalid array length: ${describeLine(line)}`;
      return this.#badFraming(lineNumber, reason);
    }
    this.#lineRole = "command";
    if (length === 0) return;
    this.#commandLineNumber = lineNumber;
    this.#arrayLength = length;
    this.#elementIndex = 0;
    this.#commandName = "";
    this.#commandProblem = null;
    this.#key = null;
    this.#value = null;
    this.#lineRole = "bulkHeader";
  }

  #badFraming(lineNumber: number, reason: string): void {
    this.#sink.bad(lineNumber, reason);
    this.#lineRole = "resync";
    this.#inBulk = false;
  }

  #startBulk(length: number): void {
    const isSetArgument = this.#commandName === "SET" && (this.#elementIndex === 1 || this.#elementIndex === 2);
    let keptBytes = 0;
    if (this.#elementIndex === 0) keptBytes = Math.min(length, commandNameBytesKept);
    else if (isSetArgument && length <= respBulkSizeBytesMax) keptBytes = length;
    else if (isSetArgument) this.#commandProblem ??= `${this.#elementIndex === 1 ? "key" : "value"} of ${length} bytes over the limit of ${respBulkSizeBytesMax}`;
    this.#bulkBuffer = keptBytes > 0 ? new Uint8Array(keptBytes) : null;
    this.#bulkFilled = 0;
    this.#bulkBytesLeft = length;
    this.#bulkTrailerBytesLeft = 2;
    this.#inBulk = true;
  }

  #readBulk(chunk: Uint8Array, position: number): number {
    let cursor = position;
    const dataBytes = Math.min(this.#bulkBytesLeft, chunk.length - cursor);
    if (dataBytes > 0) {
      const buffer = this.#bulkBuffer;
      if (buffer !== null && this.#bulkFilled < buffer.length) {
        const copied = Math.min(dataBytes, buffer.length - this.#bulkFilled);
        buffer.set(chunk.subarray(cursor, cursor + copied), this.#bulkFilled);
        this.#bulkFilled += copied;
      }
      this.#lineNumber += countNewlines(chunk, cursor, cursor + dataBytes);
      this.#bulkBytesLeft -= dataBytes;
      cursor += dataBytes;
    }
    while (this.#bulkBytesLeft === 0 && this.#bulkTrailerBytesLeft > 0 && cursor < chunk.length) {
      const expected = this.#bulkTrailerBytesLeft === 2 ? carriageReturnByte : newlineByte;
      if (chunk[cursor] !== expected) {
        this.#badFraming(this.#commandLineNumber, "bulk string not followed by CRLF");
        return cursor;
      }
      if (expected === newlineByte) this.#lineNumber += 1;
      this.#bulkTrailerBytesLeft -= 1;
      cursor += 1;
    }
    if (this.#bulkBytesLeft === 0 && this.#bulkTrailerBytesLeft === 0) this.#finishBulk();
    return cursor;
  }

  #finishBulk(): void {
    const bytes = this.#bulkBuffer ?? new Uint8Array(0);
    if (this.#elementIndex === 0) this.#commandName = new TextDecoder().decode(bytes).toUpperCase();
    else if (this.#elementIndex === 1) this.#key = bytes;
    else if (this.#elementIndex === 2) this.#value = bytes;
    this.#bulkBuffer = null;
    this.#inBulk = false;
    this.#elementIndex += 1;
    if (this.#elementIndex < this.#arrayLength) return;
    this.#lineRole = "command";
    this.#finishCommand();
  }

  #finishCommand(): void {
    const lineNumber = this.#commandLineNumber;
    if (this.#commandName !== "SET") {
      this.#sink.skipped(lineNumber, `command ${this.#commandName}`);
      return;
    }
    if (this.#commandProblem !== null) return this.#sink.bad(lineNumber, this.#commandProblem);
    if (this.#arrayLength < 3) return this.#sink.bad(lineNumber, `SET needs a key and a value, found ${this.#arrayLength - 1} argument(s)`);
    const key = this.#key;
    const value = this.#value;
    assert(key !== null && value !== null, "a SET of 3+ elements kept its key and value");
    const problem = rowProblem(key, value);
    if (problem === null) this.#sink.row(key, value, lineNumber);
    else this.#sink.bad(lineNumber, problem);
  }
}

/** The decimal after the type byte ("*12" -> 12), or null if not a non-negative decimal. */
function parseLength(line: Uint8Array): number | null {
  if (line.length < 2 || line.length > 12) return null;
  let value = 0;
  for (let index = 1; index < line.length; index += 1) {
    const digit = (line[index] as number) - 0x30;
    if (digit < 0 || digit > 9) return null;
    value = value * 10 + digit;
  }
  return value;
}

function describeLine(line: Uint8Array): string {
  const text = new TextDecoder().decode(line.subarray(0, 40));
  return JSON.stringify(line.length > 40 ? `${text}...` : text);
}
