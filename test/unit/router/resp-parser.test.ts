// The RESP request parser: any split of the stream gives the same commands, arguments are
// binary-safe views of the input, inline commands follow Redis's quoting, over-limit commands are
// errors that keep the stream in step, and unrecoverable bytes give one fatal error.
import { describe, expect, test } from "bun:test";
import { RespParser, splitInlineArgs, type RespParsed, type RespParserLimits } from "../../../src/router/resp/resp-parser.ts";
import { Prng } from "../../../src/util/prng.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder("latin1");
const limits: RespParserLimits = { bulkSizeBytesMax: 1024, arrayLengthMax: 8, inlineSizeBytesMax: 64 };

function bytes(text: string): Uint8Array {
  return encoder.encode(text);
}

function encodeCommand(args: readonly (string | Uint8Array)[]): Uint8Array {
  const parts: Uint8Array[] = [bytes(`*${args.length}\r\n`)];
  for (const arg of args) {
    const raw = typeof arg === "string" ? bytes(arg) : arg;
    parts.push(bytes(`$${raw.byteLength}\r\n`), raw, bytes("\r\n"));
  }
  return Buffer.concat(parts);
}

/** Commands as latin1 strings, errors as "!message" (fatal) or "?message". */
function render(parsed: readonly RespParsed[]): string[] {
  return parsed.map((item) => (item.kind === "command" ? item.args.map((arg) => decoder.decode(arg)).join(" ") : `${item.fatal ? "!" : "?"}${item.message}`));
}

function parseAll(chunks: readonly Uint8Array[], parserLimits: RespParserLimits = limits): string[] {
  const parser = new RespParser(parserLimits);
  const out: RespParsed[] = [];
  for (const chunk of chunks) out.push(...parser.push(chunk));
  return render(out);
}

function splitAt(stream: Uint8Array, cuts: readonly number[]): Uint8Array[] {
  const chunks: Uint8Array[] = [];
  let start = 0;
  for (const cut of [...cuts].sort((a, b) => a - b)) {
    chunks.push(stream.slice(start, cut));
    start = cut;
  }
  chunks.push(stream.slice(start));
  return chunks;
}

const mixedStream = Buffer.concat([
  encodeCommand(["SET", "key", "value"]),
  bytes("GET key\r\n"),
  encodeCommand(["MGET", "a", "", "c"]),
  bytes("*0\r\n"),
  bytes("\r\n"),
  encodeCommand(["ECHO", "x".repeat(300)]),
]);
const mixedExpected = ["SET key value", "GET key", "MGET a  c", `ECHO ${"x".repeat(300)}`];

describe("RespParser", () => {
  test("every single split point of the stream gives the same commands", () => {
    expect(parseAll([mixedStream])).toEqual(mixedExpected);
    for (let cut = 0; cut <= mixedStream.byteLength; cut++) expect(parseAll(splitAt(mixedStream, [cut]))).toEqual(mixedExpected);
  });

  test("byte-by-byte and random multi-way splits give the same commands (seed 8)", () => {
    expect(parseAll([...mixedStream].map((byte) => Uint8Array.of(byte)))).toEqual(mixedExpected);
    const prng = new Prng(8);
    for (let round = 0; round < 200; round++) {
      const cuts = Array.from({ length: 1 + (prng.nextUint32() % 12) }, () => prng.nextUint32() % mixedStream.byteLength);
      expect(parseAll(splitAt(mixedStream, cuts))).toEqual(mixedExpected);
    }
  });

  test("keys and values are binary safe: all 256 byte values, CR and LF inside a bulk", () => {
    const all = Uint8Array.from({ length: 256 }, (_, index) => index);
    const parser = new RespParser(limits);
    const parsed = parser.push(encodeCommand(["SET", all, Buffer.concat([all, all])]));
    expect(parsed).toHaveLength(1);
    const command = parsed[0]!;
    if (command.kind !== "command") throw new Error("expected a command");
    expect([...command.args[1]!]).toEqual([...all]);
    expect(command.args[2]!.byteLength).toBe(512);
  });

  test("arguments within one read are views of it, not copies", () => {
    const chunk = encodeCommand(["SET", "k", "v"]);
    const parsed = new RespParser(limits).push(chunk);
    const command = parsed[0]!;
    if (command.kind !== "command") throw new Error("expected a command");
    expect(command.args[2]!.buffer).toBe(chunk.buffer);
  });

  test("a large bulk split into many reads is held once and parsed whole", () => {
    const big = new Uint8Array(1024 * 1024).fill(0x61);
    const stream = encodeCommand(["SET", "k", big]);
    const parser = new RespParser({ ...limits, bulkSizeBytesMax: 2 * 1024 * 1024 });
    const out: RespParsed[] = [];
    for (let offset = 0; offset < stream.byteLength; offset += 65536) out.push(...parser.push(stream.subarray(offset, offset + 65536)));
    expect(out).toHaveLength(1);
    const command = out[0]!;
    if (command.kind !== "command") throw new Error("expected a command");
    expect(command.args[2]!.byteLength).toBe(big.byteLength);
    expect(parser.bufferedSizeBytes).toBe(0);
  });

  test("inline commands split on whitespace and follow Redis quoting", () => {
    expect(parseAll([bytes('SET "a b" \'c\\\'d\' "\\x41\\n"\n  PING\r\n')])).toEqual(["SET a b c'd A\n", "PING"]);
    expect(splitInlineArgs(bytes('"abc"def'))).toBeNull();
    expect(splitInlineArgs(bytes("   "))).toEqual([]);
  });

  test("unbalanced quotes answer an error and the next command still parses", () => {
    expect(parseAll([bytes('SET "abc\nPING\n')])).toEqual(["?Protocol error: unbalanced quotes in request", "PING"]);
  });

  test("a bulk over the limit is an error, its bytes are dropped, and the stream stays in step", () => {
    const stream = Buffer.concat([encodeCommand(["SET", "k", "v".repeat(1025)]), encodeCommand(["PING"])]);
    const expected = ["?Protocol error: bulk of 1025 bytes, limit 1024", "PING"];
    expect(parseAll([stream])).toEqual(expected);
    for (let cut = 1; cut < stream.byteLength; cut += 97) expect(parseAll(splitAt(stream, [cut]))).toEqual(expected);
  });

  test("an array over the limit is an error and the next command still parses", () => {
    const stream = Buffer.concat([encodeCommand(["DEL", "1", "2", "3", "4", "5", "6", "7", "8"]), encodeCommand(["PING"])]);
    expect(parseAll([stream])).toEqual(["?Protocol error: 9 arguments, limit 8", "PING"]);
  });

  test("unrecoverable bytes give one fatal error and nothing after it", () => {
    expect(parseAll([bytes("*1\r\n:5\r\n"), encodeCommand(["PING"])])).toEqual(["!Protocol error: expected '$', got ':'"]);
    expect(parseAll([bytes("*x\r\n")])).toEqual(["!Protocol error: invalid multibulk length"]);
    expect(parseAll([bytes("*1\r\n$-5\r\n")])).toEqual(["!Protocol error: invalid bulk length"]);
    expect(parseAll([bytes("*1\r\n$3\r\nabcXY")])).toEqual(["!Protocol error: bulk not followed by CRLF"]);
    expect(parseAll([bytes(`*${"1".repeat(40)}`)])).toEqual(["!Protocol error: multibulk length line too long"]);
    expect(parseAll([bytes("x".repeat(65)), bytes("x")])).toEqual(["!Protocol error: too big inline request"]);
  });

  test("an inline line up to the limit parses, split or not", () => {
    const line = `ECHO ${"y".repeat(59)}\n`;
    expect(parseAll([bytes(line)])).toEqual([`ECHO ${"y".repeat(59)}`]);
    expect(parseAll(splitAt(bytes(line), [10, 30, 50]))).toEqual([`ECHO ${"y".repeat(59)}`]);
  });
});
