// The JSON Lines reader: field selection, non-string values JSON-encoded, bad lines reported.
import { describe, expect, test } from "bun:test";
import { JsonlReader } from "../../../src/bulk/jsonl-reader.ts";
import type { RowSink } from "../../../src/bulk/reader.ts";
import { isUkvError } from "../../../src/util/errors.ts";
import { collectAtEverySplit, collectingSink, feed } from "./collect.ts";

describe("jsonl reader", () => {
  test("takes key and value fields; a non-string value is JSON-encoded, a number key is its JSON text", () => {
    const input = ['{"key":"a","value":"x"}', '{"value":{"n":1,"s":[true,null]},"key":"b"}', '{"key":7,"value":2.5}', "", '{"key":"é","value":"ü"}'].join("\r\n");
    const result = collectAtEverySplit((sink: RowSink) => new JsonlReader(sink), input);
    expect(result.rows).toEqual([
      { key: "a", value: "x", lineNumber: 1 },
      { key: "b", value: '{"n":1,"s":[true,null]}', lineNumber: 2 },
      { key: "7", value: "2.5", lineNumber: 3 },
      { key: "é", value: "ü", lineNumber: 5 },
    ]);
  });

  test("bad lines: not JSON, not an object, missing field, key not a string or number, not UTF-8", () => {
    const lines = [
      '{"id":"ok","doc":"1"}', // 1
      "{not json", // 2
      "[1,2]", // 3
      '{"id":"nodoc"}', // 4
      '{"id":{"a":1},"doc":"x"}', // 5
      '{"id":"","doc":"x"}', // 6
      '{"id":"last","doc":null}', // 7: null is a value, JSON-encoded
    ];
    const bytes = new TextEncoder().encode(`${lines.join("\n")}\n`);
    const invalidUtf8 = new Uint8Array([...bytes, 0x7b, 0xff, 0x7d, 0x0a]); // line 8
    const sink = collectingSink();
    feed(new JsonlReader(sink, { keyColumn: { name: "id" }, valueColumn: { name: "doc" } }), invalidUtf8, 5);
    expect(sink.collected.rows.map((row) => [row.key, row.value, row.lineNumber])).toEqual([
      ["ok", "1", 1],
      ["last", "null", 7],
    ]);
    expect(sink.collected.bad.map((bad) => bad.lineNumber)).toEqual([2, 3, 4, 5, 6, 8]);
    expect(sink.collected.bad[0]?.reason).toStartWith("not JSON: ");
    expect(sink.collected.bad.slice(1).map((bad) => bad.reason)).toEqual([
      "expected a JSON object, found an array",
      'no field "doc"',
      'field "id" is an object, not a string or number',
      "empty key",
      "not valid UTF-8",
    ]);
  });

  test("a key field absent from the first object is a BAD_REQUEST listing the fields it has", () => {
    let caught: unknown;
    try {
      feed(new JsonlReader(collectingSink(), { keyColumn: { name: "id" } }), '{"key":"a","value":"b"}\n');
    } catch (error) {
      caught = error;
    }
    expect(isUkvError(caught, "BAD_REQUEST")).toBe(true);
    expect((caught as Error).message).toBe('--key-column "id" is not a field of the first object (line 1): fields are "key", "value"');
  });

  test("a line over the row limit is one bad row and the next line is read", () => {
    const sink = collectingSink();
    feed(new JsonlReader(sink, { rowSizeBytesMax: 100 }), `{"key":"a","value":"${"x".repeat(1000)}"}\n{"key":"b","value":"c"}\n`, 30);
    expect(sink.collected.bad).toEqual([{ lineNumber: 1, reason: "row longer than 100 bytes" }]);
    expect(sink.collected.rows).toEqual([{ key: "b", value: "c", lineNumber: 2 }]);
  });
});
