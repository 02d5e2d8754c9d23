// The RESP reader (`redis-cli --pipe` input): SET rows with options ignored, other commands
// skipped by name, framing errors as bad rows with resynchronisation, bounded buffering.
import { describe, expect, test } from "bun:test";
import type { RowSink } from "../../../src/bulk/reader.ts";
import { RespReader } from "../../../src/bulk/resp-reader.ts";
import { respBulkSizeBytesMax } from "../../../src/util/limits.ts";
import { collectAtEverySplit, collectingSink, feed } from "./collect.ts";

function command(...args: string[]): string {
  return `*${args.length}\r\n${args.map((arg) => `$${Buffer.byteLength(arg)}\r\n${arg}\r\n`).join("")}`;
}

const respReader = (sink: RowSink) => new RespReader(sink);

describe("resp reader", () => {
  test("SET key value is a row, options are ignored, the command name is case-insensitive", () => {
    const input = command("SET", "a", "1") + command("set", "b", "two", "EX", "10", "NX") + "\r\n" + command("Set", "multi\r\nline", "v\nw");
    const result = collectAtEverySplit(respReader, input);
    expect(result.rows).toEqual([
      { key: "a", value: "1", lineNumber: 1 },
      { key: "b", value: "two", lineNumber: 8 },
      { key: "multi\r\nline", value: "v\nw", lineNumber: 22 },
    ]);
    expect(result.bad).toEqual([]);
  });

  test("other commands are skipped with their name; a short SET is a bad row", () => {
    const input = command("SELECT", "0") + command("HSET", "h", "f", "v") + command("SET", "only-key") + command("DEL", "x") + command("SET", "k", "v");
    const result = collectAtEverySplit(respReader, input);
    expect(result.skipped.map((skip) => skip.reason)).toEqual(["command SELECT", "command HSET", "command DEL"]);
    expect(result.bad).toEqual([{ lineNumber: 15, reason: "SET needs a key and a value, found 1 argument(s)" }]);
    expect(result.rows.map((row) => row.key)).toEqual(["k"]);
  });

  test("framing errors are one bad row each; parsing resumes at the next line starting with *", () => {
    const input = [
      command("SET", "a", "1"), // lines 1-7
      "PING\r\n", // 8: inline command
      "garbage\r\n", // 9: skipped while resynchronising
      "*3\r\n$3\r\nSET\r\n$1\r\nb\r\n:5\r\n", // 10-15: integer where a bulk string must be
      "*2\r\n$3\r\nGET\r\n$1\r\nxy\r\n", // 16-20: bulk longer than announced
      command("SET", "c", "3"), // 21-27
    ].join("");
    const result = collectAtEverySplit(respReader, input);
    expect(result.rows.map((row) => [row.key, row.lineNumber])).toEqual([
      ["a", 1],
      ["c", 21],
    ]);
    expect(result.bad).toEqual([
      { lineNumber: 8, reason: 'expected a RESP array ("*N"), found "PING"' },
      { lineNumber: 10, reason: 'expected a bulk string ("$N") for argument 2 of 3, found ":5"' },
      { lineNumber: 16, reason: "bulk string not followed by CRLF" },
    ]);
  });

  test("a command cut short by the end of input is a bad row", () => {
    const sink = collectingSink();
    feed(new RespReader(sink), command("SET", "a", "1") + "*3\r\n$3\r\nSET\r\n$1\r\nb\r\n$5\r\nab");
    expect(sink.collected.rows.length).toBe(1);
    expect(sink.collected.bad).toEqual([{ lineNumber: 8, reason: "command cut short by the end of input" }]);
  });

  test("a SET value over the bulk limit is a bad row; a huge skipped command is counted through, not buffered", () => {
    const sink = collectingSink();
    const reader = new RespReader(sink);
    const encoder = new TextEncoder();
    const tooLarge = respBulkSizeBytesMax + 1;
    reader.push(encoder.encode(`*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$${tooLarge}\r\n`));
    const block = new Uint8Array(1024 * 1024).fill(0x61);
    for (let sent = 0; sent < tooLarge; sent += block.length) reader.push(block.subarray(0, Math.min(block.length, tooLarge - sent)));
    reader.push(encoder.encode("\r\n"));
    // 64 MiB of HSET value in 1 MiB chunks: memory would show it if the reader kept it.
    const hsetSize = 64 * 1024 * 1024;
    reader.push(encoder.encode(`*4\r\n$4\r\nHSET\r\n$1\r\nh\r\n$1\r\nf\r\n$${hsetSize}\r\n`));
    const heapBefore = process.memoryUsage().heapUsed;
    for (let sent = 0; sent < hsetSize; sent += block.length) reader.push(block);
    const heapGrowthBytes = process.memoryUsage().heapUsed - heapBefore;
    reader.push(encoder.encode(`\r\n${command("SET", "after", "ok")}`));
    reader.end();
    expect(sink.collected.bad).toEqual([{ lineNumber: 1, reason: `value of ${tooLarge} bytes over the limit of ${respBulkSizeBytesMax}` }]);
    expect(sink.collected.skipped.map((skip) => skip.reason)).toEqual(["command HSET"]);
    expect(sink.collected.rows.map((row) => row.key)).toEqual(["after"]);
    expect(heapGrowthBytes).toBeLessThan(16 * 1024 * 1024);
  });
});
