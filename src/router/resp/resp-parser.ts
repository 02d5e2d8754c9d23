// Incremental RESP request parser: bytes in (any split of the stream), commands out, each an array
// of binary-safe arguments. Both request forms of Redis are read: arrays of bulk strings
// (`*2\r\n$3\r\nGET\r\n$1\r\nk\r\n`) and inline lines (`GET k\n`, telnet style, with Redis's
// quoting rules). Arguments are subarrays of the received bytes (no copy) whenever a bulk lies
// inside one read; bytes left over from a read are joined with the next reads only once enough
// has arrived to make progress, so a 1 MiB value in 64 KiB reads is copied once, not per read.
// The parser resumes where it stopped (arguments already read are kept), so a command of many
// arguments split over many reads is parsed in linear time.
//
// Limits: an array longer than arrayLengthMax, or a bulk longer than bulkSizeBytesMax, makes that
// command an error while its bytes are still read and dropped (the stream stays in step, the
// connection stays usable). Bytes that cannot be resynchronised (a bad type byte, a length that is
// not a number, a header or inline line over its limit, a bulk not ended by CRLF) give one fatal
// error: the caller answers it and closes the connection, as Redis does.
import { assert } from "../../util/assert.ts";

export type RespParsed = { kind: "command"; args: Uint8Array[] } | { kind: "error"; message: string; fatal: boolean };

export interface RespParserLimits {
  bulkSizeBytesMax: number;
  arrayLengthMax: number;
  inlineSizeBytesMax: number;
}

/** A `*N` or `$N` line: a sign and up to 19 digits, plenty for any length we accept. */
const headerLineSizeBytesMax = 32;
const cr = 13;
const lf = 10;
const emptyBytes = new Uint8Array(0);

export class RespParser {
  readonly #limits: RespParserLimits;
  #buffer: Uint8Array = emptyBytes;
  #offset = 0;
  /** Bytes from earlier reads not parsed yet (the start of an incomplete item). */
  #pending: Uint8Array[] = [];
  #pendingSizeBytes = 0;
  /** How many pending bytes the incomplete item needs before parsing can progress. */
  #neededSizeBytes = 0;
  /** Elements of the array being read; -1 between commands. */
  #elementCountExpected = -1;
  #elementCountSeen = 0;
  #args: Uint8Array[] = [];
  /** Set when the command in progress broke a limit: its elements are dropped, then this is answered. */
  #commandError: string | null = null;
  /** Length of the bulk whose header was read and whose body is awaited; -1 otherwise. */
  #bulkSizeBytes = -1;
  /** Bytes of an over-limit bulk (and its CRLF) still to drop. */
  #skipSizeBytes = 0;
  #failed = false;

  constructor(limits: RespParserLimits) {
    assert(limits.bulkSizeBytesMax > 0 && limits.arrayLengthMax > 0, "parser limits are positive");
    assert(limits.inlineSizeBytesMax >= headerLineSizeBytesMax, "an inline line may be as long as a header line");
    this.#limits = limits;
  }

  /** Bytes held for an incomplete item (for tests and memory accounting). */
  get bufferedSizeBytes(): number {
    return this.#pendingSizeBytes;
  }

  /** Parses `chunk` after what came before; after a fatal error every later call returns nothing. */
  push(chunk: Uint8Array): RespParsed[] {
    const out: RespParsed[] = [];
    if (this.#failed || chunk.byteLength === 0) return out;
    if (this.#pendingSizeBytes > 0) {
      this.#pending.push(chunk);
      this.#pendingSizeBytes += chunk.byteLength;
      if (this.#pendingSizeBytes < this.#neededSizeBytes) return out;
      this.#buffer = Buffer.concat(this.#pending, this.#pendingSizeBytes);
      this.#pending = [];
      this.#pendingSizeBytes = 0;
    } else {
      this.#buffer = chunk;
    }
    this.#offset = 0;
    this.#parse(out);
    if (!this.#failed && this.#offset < this.#buffer.byteLength) {
      const rest = this.#buffer.subarray(this.#offset);
      this.#pending = [rest];
      this.#pendingSizeBytes = rest.byteLength;
    }
    this.#buffer = emptyBytes;
    return out;
  }

  #parse(out: RespParsed[]): void {
    // Each pass consumes at least one item or returns: bounded by the bytes of the buffer.
    for (;;) {
      if (this.#skipSizeBytes > 0) {
        const dropped = Math.min(this.#skipSizeBytes, this.#buffer.byteLength - this.#offset);
        this.#offset += dropped;
        this.#skipSizeBytes -= dropped;
        if (this.#skipSizeBytes > 0) return;
      }
      if (this.#offset >= this.#buffer.byteLength) return;
      const progressed = this.#elementCountExpected < 0 ? this.#parseCommandStart(out) : this.#parseElement(out);
      if (!progressed || this.#failed) return;
    }
  }

  /** Between commands: an array header or an inline line. False when more bytes are needed. */
  #parseCommandStart(out: RespParsed[]): boolean {
    if (this.#buffer[this.#offset] !== 0x2a /* '*' */) return this.#parseInline(out);
    const lineStart = this.#offset;
    const lineEnd = this.#readLine(headerLineSizeBytesMax, out, "multibulk length line");
    if (lineEnd < 0) return false;
    const count = parseDecimal(this.#buffer, lineStart + 1, lineEnd);
    if (count === null) return this.#fail(out, "Protocol error: invalid multibulk length");
    if (count <= 0) return true; // `*0` and `*-1` are empty commands: Redis ignores them
    this.#elementCountExpected = count;
    this.#elementCountSeen = 0;
    this.#args = [];
    this.#commandError = count > this.#limits.arrayLengthMax ? `Protocol error: ${count} arguments, limit ${this.#limits.arrayLengthMax}` : null;
    return true;
  }

  /** Inside an array: one `$N` header, then its body. False when more bytes are needed. */
  #parseElement(out: RespParsed[]): boolean {
    if (this.#bulkSizeBytes < 0) {
      const typeByte = this.#buffer[this.#offset];
      if (typeByte !== 0x24 /* '$' */) return this.#fail(out, `Protocol error: expected '$', got '${printable(typeByte ?? 0)}'`);
      const lineStart = this.#offset;
      const lineEnd = this.#readLine(headerLineSizeBytesMax, out, "bulk length line");
      if (lineEnd < 0) return false;
      const sizeBytes = parseDecimal(this.#buffer, lineStart + 1, lineEnd);
      if (sizeBytes === null || sizeBytes < 0) return this.#fail(out, "Protocol error: invalid bulk length");
      if (sizeBytes > this.#limits.bulkSizeBytesMax) {
        this.#commandError ??= `Protocol error: bulk of ${sizeBytes} bytes, limit ${this.#limits.bulkSizeBytesMax}`;
        this.#skipSizeBytes = sizeBytes + 2;
        this.#elementDone(out, null);
        return true;
      }
      this.#bulkSizeBytes = sizeBytes;
    }
    const sizeBytes = this.#bulkSizeBytes;
    const availableSizeBytes = this.#buffer.byteLength - this.#offset;
    if (availableSizeBytes < sizeBytes + 2) {
      this.#neededSizeBytes = sizeBytes + 2;
      return false;
    }
    const end = this.#offset + sizeBytes;
    if (this.#buffer[end] !== cr || this.#buffer[end + 1] !== lf) return this.#fail(out, "Protocol error: bulk not followed by CRLF");
    const arg = this.#buffer.subarray(this.#offset, end);
    this.#offset = end + 2;
    this.#bulkSizeBytes = -1;
    this.#elementDone(out, arg);
    return true;
  }

  #elementDone(out: RespParsed[], arg: Uint8Array | null): void {
    this.#elementCountSeen++;
    if (this.#commandError === null && arg !== null) this.#args.push(arg);
    if (this.#elementCountSeen < this.#elementCountExpected) return;
    assert(this.#elementCountSeen === this.#elementCountExpected, "an array ends after its last element");
    if (this.#commandError !== null) out.push({ kind: "error", message: this.#commandError, fatal: false });
    else out.push({ kind: "command", args: this.#args });
    this.#elementCountExpected = -1;
    this.#args = [];
    this.#commandError = null;
  }

  #parseInline(out: RespParsed[]): boolean {
    const newlineIndex = this.#buffer.indexOf(lf, this.#offset);
    const limit = this.#limits.inlineSizeBytesMax;
    if (newlineIndex < 0) {
      const availableSizeBytes = this.#buffer.byteLength - this.#offset;
      if (availableSizeBytes > limit) return this.#fail(out, "Protocol error: too big inline request");
      this.#neededSizeBytes = availableSizeBytes + 1;
      return false;
    }
    if (newlineIndex - this.#offset > limit) return this.#fail(out, "Protocol error: too big inline request");
    const line = this.#buffer.subarray(this.#offset, newlineIndex);
    this.#offset = newlineIndex + 1;
    const args = splitInlineArgs(line);
    if (args === null) out.push({ kind: "error", message: "Protocol error: unbalanced quotes in request", fatal: false });
    else if (args.length > 0) out.push({ kind: "command", args });
    return true;
  }

  /**
   * Consumes the line at the offset and its CRLF; returns where the line ends (its CR), or -1: more
   * bytes needed, or failed. An index, not a subarray: three header lines per GET made three objects.
   */
  #readLine(sizeBytesMax: number, out: RespParsed[], what: string): number {
    const buffer = this.#buffer;
    const searchEnd = Math.min(buffer.byteLength, this.#offset + sizeBytesMax + 1);
    let crIndex = this.#offset;
    while (crIndex < searchEnd && buffer[crIndex] !== cr) crIndex++;
    if (crIndex === searchEnd || crIndex + 1 >= buffer.byteLength) {
      const availableSizeBytes = buffer.byteLength - this.#offset;
      if (crIndex === searchEnd && searchEnd < buffer.byteLength) this.#fail(out, `Protocol error: ${what} too long`);
      else if (availableSizeBytes > sizeBytesMax + 2) this.#fail(out, `Protocol error: ${what} too long`);
      else this.#neededSizeBytes = availableSizeBytes + 1;
      return -1;
    }
    if (buffer[crIndex + 1] !== lf) {
      this.#fail(out, `Protocol error: ${what} not ended by CRLF`);
      return -1;
    }
    this.#offset = crIndex + 2;
    return crIndex;
  }

  #fail(out: RespParsed[], message: string): false {
    this.#failed = true;
    this.#pending = [];
    this.#pendingSizeBytes = 0;
    out.push({ kind: "error", message, fatal: true });
    return false;
  }
}

function printable(byte: number): string {
  return byte >= 0x20 && byte < 0x7f ? String.fromCharCode(byte) : `\\x${byte.toString(16).padStart(2, "0")}`;
}

/** The signed decimal in `line` from `startIndex`, or null when it is not one (or unsafe). */
/** The decimal integer in bytes[start, end) (an optional '-', at most 18 digits), or null. */
function parseDecimal(bytes: Uint8Array, start: number, end: number): number | null {
  let index = start;
  let negative = false;
  if (index < end && bytes[index] === 0x2d /* '-' */) {
    negative = true;
    index++;
  }
  if (index >= end || end - index > 18) return null;
  let value = 0;
  for (; index < end; index++) {
    const digit = (bytes[index] ?? 0) - 0x30;
    if (digit < 0 || digit > 9) return null;
    value = value * 10 + digit;
  }
  return negative ? -value : value;
}

function isSpace(byte: number): boolean {
  return byte === 0x20 || byte === 0x09 || byte === 0x0a || byte === 0x0b || byte === 0x0c || byte === 0x0d;
}

function hexValue(byte: number): number {
  if (byte >= 0x30 && byte <= 0x39) return byte - 0x30;
  if (byte >= 0x61 && byte <= 0x66) return byte - 0x61 + 10;
  if (byte >= 0x41 && byte <= 0x46) return byte - 0x41 + 10;
  return -1;
}

const escapeBytes = new Map<number, number>([
  [0x6e, 0x0a], // \n
  [0x72, 0x0d], // \r
  [0x74, 0x09], // \t
  [0x62, 0x08], // \b
  [0x61, 0x07], // \a
]);

/**
 * Splits an inline command line like Redis's sdssplitargs: whitespace separates arguments;
 * "double quotes" take \n \r \t \b \a \xHH and \<any>; 'single quotes' take \'. A closing quote
 * must be followed by whitespace or the end. Null for unbalanced quotes. Unquoted arguments are
 * subarrays of `line`.
 */
export function splitInlineArgs(line: Uint8Array): Uint8Array[] | null {
  const args: Uint8Array[] = [];
  let index = 0;
  while (index < line.byteLength) {
    while (index < line.byteLength && isSpace(line[index] ?? 0)) index++;
    if (index >= line.byteLength) break;
    const quote = line[index];
    if (quote !== 0x22 && quote !== 0x27) {
      const start = index;
      while (index < line.byteLength && !isSpace(line[index] ?? 0)) index++;
      args.push(line.subarray(start, index));
      continue;
    }
    const parsed = readQuoted(line, index + 1, quote === 0x22);
    if (parsed === null) return null;
    args.push(parsed.arg);
    index = parsed.nextIndex;
    if (index < line.byteLength && !isSpace(line[index] ?? 0)) return null;
  }
  return args;
}

function readQuoted(line: Uint8Array, startIndex: number, double: boolean): { arg: Uint8Array; nextIndex: number } | null {
  const bytes: number[] = [];
  let index = startIndex;
  while (index < line.byteLength) {
    const byte = line[index] ?? 0;
    const next = line[index + 1] ?? -1;
    if (double && byte === 0x5c /* '\' */ && next >= 0) {
      const high = hexValue(line[index + 2] ?? 0);
      const low = hexValue(line[index + 3] ?? 0);
      if (next === 0x78 /* 'x' */ && high >= 0 && low >= 0) {
        bytes.push(high * 16 + low);
        index += 4;
      } else {
        bytes.push(escapeBytes.get(next) ?? next);
        index += 2;
      }
    } else if (!double && byte === 0x5c && next === 0x27) {
      bytes.push(0x27);
      index += 2;
    } else if (byte === (double ? 0x22 : 0x27)) {
      return { arg: Uint8Array.from(bytes), nextIndex: index + 1 };
    } else {
      bytes.push(byte);
      index++;
    }
  }
  return null;
}
