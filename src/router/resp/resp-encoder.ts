// RESP reply values and their encoding, in RESP2 or RESP3 (chosen per connection by HELLO).
// Replies are small trees (RespReply); RespWriter appends their bytes to one growing buffer per
// connection, which is handed to the socket once per flush. The two protocols differ only where a
// RESP3 type exists: null (`_` vs `$-1`), map (`%` vs a flat array of pairs), and verbatim text
// (INFO: `=` vs a bulk string). Error texts are one line: CR and LF are replaced by spaces.
import { assert } from "../../util/assert.ts";

export type RespProtocol = 2 | 3;

export type RespReply =
  | { type: "simple"; text: string }
  /** `text` starts with the error code, e.g. "ERR unknown command 'FOO'". */
  | { type: "error"; text: string }
  | { type: "integer"; value: number | bigint }
  /** null: the null bulk string (absent key). */
  | { type: "bulk"; value: Uint8Array | null }
  /** A bulk string from text (UTF-8). */
  | { type: "text"; value: string }
  /** Verbatim text in RESP3 (format "txt"), a bulk string in RESP2. */
  | { type: "verbatim"; value: string }
  | { type: "array"; items: readonly RespReply[] }
  | { type: "map"; entries: readonly (readonly [RespReply, RespReply])[] }
  | { type: "null" }
  /** The null array (EXEC after a watched key changed): `*-1` in RESP2, `_` in RESP3. */
  | { type: "nullArray" };

export const okReply: RespReply = { type: "simple", text: "OK" };
export const nullReply: RespReply = { type: "null" };
export const nullBulkReply: RespReply = { type: "bulk", value: null };

export function errorReply(text: string): RespReply {
  return { type: "error", text };
}

export function integerReply(value: number | bigint): RespReply {
  return { type: "integer", value };
}

export function bulkReply(value: Uint8Array | null): RespReply {
  return { type: "bulk", value };
}

export function textReply(value: string): RespReply {
  return { type: "text", value };
}

export function arrayReply(items: readonly RespReply[]): RespReply {
  return { type: "array", items };
}

export function mapReply(entries: readonly (readonly [RespReply, RespReply])[]): RespReply {
  return { type: "map", entries };
}

/** A map with text keys, the common case (HELLO, CONFIG GET, COMMAND DOCS). */
export function textMapReply(entries: readonly (readonly [string, RespReply])[]): RespReply {
  return mapReply(entries.map(([key, value]) => [textReply(key), value] as const));
}

const textEncoder = new TextEncoder();
const initialSizeBytes = 16 * 1024;
/** Nesting bound of one reply (COMMAND DOCS is the deepest, at 4). */
const replyDepthMax = 16;

export class RespWriter {
  #bytes = new Uint8Array(initialSizeBytes);
  #length = 0;

  get sizeBytes(): number {
    return this.#length;
  }

  /** The bytes written since the last take, as a new array; the writer starts empty again. */
  take(): Uint8Array {
    const out = this.#bytes.slice(0, this.#length);
    this.#length = 0;
    // Give back the memory of one huge reply instead of keeping it per connection.
    if (this.#bytes.byteLength > 4 * 1024 * 1024) this.#bytes = new Uint8Array(initialSizeBytes);
    return out;
  }

  /** Appends `reply` encoded in `protocol`; depth-first with an explicit stack, no recursion. */
  write(reply: RespReply, protocol: RespProtocol): void {
    const stack: { reply: RespReply; depth: number }[] = [{ reply, depth: 0 }];
    while (stack.length > 0) {
      const top = stack.pop();
      assert(top !== undefined, "the stack is not empty");
      assert(top.depth <= replyDepthMax, "replies are shallow trees");
      const children = this.#writeOne(top.reply, protocol);
      for (let index = children.length - 1; index >= 0; index--) {
        const child = children[index];
        assert(child !== undefined, "children are dense");
        stack.push({ reply: child, depth: top.depth + 1 });
      }
    }
  }

  /** Writes one node's own bytes and returns its children, in order. */
  #writeOne(reply: RespReply, protocol: RespProtocol): readonly RespReply[] {
    switch (reply.type) {
      case "simple":
        this.#line(0x2b /* '+' */, oneLine(reply.text));
        return [];
      case "error":
        this.#line(0x2d /* '-' */, oneLine(reply.text));
        return [];
      case "integer":
        this.#line(0x3a /* ':' */, typeof reply.value === "bigint" ? reply.value.toString() : String(Math.trunc(reply.value)));
        return [];
      case "bulk":
        if (reply.value === null) this.#writeNull(protocol);
        else this.#bulk(0x24 /* '$' */, reply.value);
        return [];
      case "text":
        this.#bulk(0x24, textEncoder.encode(reply.value));
        return [];
      case "verbatim":
        if (protocol === 3) this.#bulk(0x3d /* '=' */, textEncoder.encode(`txt:${reply.value}`));
        else this.#bulk(0x24, textEncoder.encode(reply.value));
        return [];
      case "array":
        this.#line(0x2a /* '*' */, String(reply.items.length));
        return reply.items;
      case "map":
        if (protocol === 3) this.#line(0x25 /* '%' */, String(reply.entries.length));
        else this.#line(0x2a, String(reply.entries.length * 2));
        return reply.entries.flat();
      case "null":
        this.#writeNull(protocol);
        return [];
      case "nullArray":
        if (protocol === 3) this.#line(0x5f /* '_' */, "");
        else this.#line(0x2a /* '*' */, "-1");
        return [];
    }
  }

  /** A bulk string of bytes[start, end): GET's answer without a reply object (the read pool's pipelined GETs). */
  writeBulkRange(bytes: Uint8Array, start: number, end: number): void {
    this.#bulk(0x24, bytes, start, end);
  }

  /** The null bulk string (an absent key) in `protocol`. */
  writeNullBulk(protocol: RespProtocol): void {
    this.#writeNull(protocol);
  }

  #writeNull(protocol: RespProtocol): void {
    if (protocol === 3) this.#line(0x5f /* '_' */, "");
    else this.#line(0x24, "-1");
  }

  #bulk(typeByte: number, value: Uint8Array, start = 0, end = value.byteLength): void {
    const sizeBytes = end - start;
    this.#line(typeByte, String(sizeBytes));
    this.#reserve(sizeBytes + 2);
    this.#bytes.set(start === 0 && end === value.byteLength ? value : value.subarray(start, end), this.#length);
    this.#length += sizeBytes;
    this.#bytes[this.#length++] = 0x0d;
    this.#bytes[this.#length++] = 0x0a;
  }

  /** typeByte, text (ASCII fast path, else UTF-8), CRLF. */
  #line(typeByte: number, text: string): void {
    this.#reserve(text.length * 3 + 3);
    const bytes = this.#bytes;
    bytes[this.#length++] = typeByte;
    let ascii = true;
    for (let index = 0; index < text.length; index++) {
      const code = text.charCodeAt(index);
      if (code >= 0x80) {
        ascii = false;
        break;
      }
    }
    if (ascii) {
      for (let index = 0; index < text.length; index++) bytes[this.#length++] = text.charCodeAt(index);
    } else {
      const { written } = textEncoder.encodeInto(text, bytes.subarray(this.#length));
      this.#length += written;
    }
    bytes[this.#length++] = 0x0d;
    bytes[this.#length++] = 0x0a;
  }

  #reserve(sizeBytes: number): void {
    const needed = this.#length + sizeBytes;
    if (needed <= this.#bytes.byteLength) return;
    const grown = new Uint8Array(Math.max(needed, this.#bytes.byteLength * 2));
    grown.set(this.#bytes.subarray(0, this.#length));
    this.#bytes = grown;
  }
}

/** Simple strings and errors cannot hold CR or LF. */
function oneLine(text: string): string {
  return text.includes("\r") || text.includes("\n") ? text.replace(/[\r\n]+/g, " ") : text;
}
