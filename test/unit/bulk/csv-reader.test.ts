// The csv (RFC 4180) and tsv readers: quoting, line ends, header columns, bad rows with their
// line numbers, and the same result wherever the input is cut into chunks.
import { describe, expect, test } from "bun:test";
import { DelimitedReader } from "../../../src/bulk/csv-reader.ts";
import { parseColumnSelector } from "../../../src/bulk/reader.ts";
import type { ColumnSelector, RowSink } from "../../../src/bulk/reader.ts";
import { isUkvError } from "../../../src/util/errors.ts";
import { keySizeBytesMax } from "../../../src/util/limits.ts";
import { Prng } from "../../../src/util/prng.ts";
import { collectAtEverySplit, collectingSink, feed } from "./collect.ts";

function csv(options: { keyColumn?: ColumnSelector; valueColumn?: ColumnSelector; rowSizeBytesMax?: number } = {}) {
  return (sink: RowSink) => new DelimitedReader(sink, { format: "csv", ...options });
}

describe("csv reader", () => {
  test("reads plain rows after the header, with default columns key and value", () => {
    const result = collectAtEverySplit(csv(), "key,value\na,1\nb,2\n");
    expect(result.rows).toEqual([
      { key: "a", value: "1", lineNumber: 2 },
      { key: "b", value: "2", lineNumber: 3 },
    ]);
    expect(result.bad).toEqual([]);
  });

  test("quoted fields hold separators, line breaks and doubled quotes (RFC 4180 rules 5-7)", () => {
    const input = 'key,value\n"a,1","say ""hi"""\n"multi\nline",x\n"",""\nlast,"end"';
    const result = collectAtEverySplit(csv(), input);
    expect(result.rows).toEqual([
      { key: "a,1", value: 'say "hi"', lineNumber: 2 },
      { key: "multi\nline", value: "x", lineNumber: 3 },
      { key: "last", value: "end", lineNumber: 6 },
    ]);
    // The empty quoted key on line 5 is a bad row, not a skipped empty line.
    expect(result.bad).toEqual([{ lineNumber: 5, reason: "empty key" }]);
  });

  test("CRLF line ends, a byte order mark, empty lines and a missing final line end", () => {
    // The header names "key" second: found by name only if the byte order mark is dropped.
    const input = "\uFEFFvalue,key\r\n\r\n1,a\r\n\"2\",\"b\"\r\n3,c";
    const result = collectAtEverySplit(csv(), input);
    expect(result.rows).toEqual([
      { key: "a", value: "1", lineNumber: 3 },
      { key: "b", value: "2", lineNumber: 4 },
      { key: "c", value: "3", lineNumber: 5 },
    ]);
  });

  test("bad rows carry their line number and reason, and reading goes on after them", () => {
    const input = [
      "id,name,doc",
      "1,x,ok", // 2: good
      "2,x", // 3: too few fields
      '3,x,5" screen', // 4: quote in an unquoted field
      '4,x,"closed"junk', // 5: text after a closing quote
      "5,x,fine", // 6: good
      ',x,nokey', // 7: empty key
      `${"k".repeat(keySizeBytesMax + 1)},x,big`, // 8: key over the limit
      '6,x,"never closed', // 9: unterminated at the end of input
      "7,x,swallowed",
    ].join("\n");
    const result = collectAtEverySplit(csv({ keyColumn: { name: "id" }, valueColumn: { name: "doc" } }), input);
    expect(result.rows.map((row) => [row.key, row.value, row.lineNumber])).toEqual([
      ["1", "ok", 2],
      ["5", "fine", 6],
    ]);
    expect(result.bad).toEqual([
      { lineNumber: 3, reason: "expected 3 fields as in the header, found 2" },
      { lineNumber: 4, reason: "a quote inside an unquoted field (quote the whole field, doubling inner quotes)" },
      { lineNumber: 5, reason: "unexpected character after a closing quote" },
      { lineNumber: 7, reason: "empty key" },
      { lineNumber: 8, reason: `key of ${keySizeBytesMax + 1} bytes over the limit of ${keySizeBytesMax}` },
      { lineNumber: 9, reason: "unterminated quoted field" },
    ]);
  });

  test("after a fault in a record with a multi-line quoted field, reading resumes at the line break after the fault", () => {
    const input = 'key,value\n"a\nb",x"y\nc,1\n';
    const result = collectAtEverySplit(csv(), input);
    expect(result.bad).toEqual([{ lineNumber: 2, reason: "a quote inside an unquoted field (quote the whole field, doubling inner quotes)" }]);
    expect(result.rows).toEqual([{ key: "c", value: "1", lineNumber: 4 }]);
  });

  test("any text survives an RFC 4180 encoding: 300 random rows of quotes, separators, CR, LF and UTF-8, cut anywhere", () => {
    const prng = new Prng(4180);
    const alphabet = ['"', ",", "\n", "\r", "a", "b", " ", "é", "💡", "\t"];
    const randomText = (lengthMax: number, nonEmpty: boolean): string => {
      const length = prng.nextInt(lengthMax) + (nonEmpty ? 1 : 0);
      return Array.from({ length }, () => alphabet[prng.nextInt(alphabet.length)]).join("");
    };
    const encode = (text: string): string => (/[",\r\n]/.test(text) || prng.chance(0.3) ? `"${text.replaceAll('"', '""')}"` : text);
    const expected: { key: string; value: string }[] = [];
    const lines = ["key,value,other"];
    for (let index = 0; index < 300; index += 1) {
      const key = randomText(12, true);
      const value = randomText(30, false);
      expected.push({ key, value });
      lines.push(`${encode(key)},${encode(value)},${encode(randomText(5, false))}`);
    }
    const result = collectAtEverySplit(csv(), `${lines.join(prng.chance(0.5) ? "\r\n" : "\n")}\n`, [1, 5, 13, 4096]);
    expect(result.bad).toEqual([]);
    expect(result.rows.map(({ key, value }) => ({ key, value }))).toEqual(expected);
  });

  test("columns by header name or 0-based index; a header name that is a number wins over the index", () => {
    const byIndex = collectAtEverySplit(csv({ keyColumn: parseColumnSelector("2"), valueColumn: parseColumnSelector("0") }), "a,b,c\n1,2,3\n");
    expect(byIndex.rows).toEqual([{ key: "3", value: "1", lineNumber: 2 }]);
    const byNumericName = collectAtEverySplit(csv({ keyColumn: parseColumnSelector("0"), valueColumn: parseColumnSelector("v") }), "v,0\nvalue,key\n");
    expect(byNumericName.rows).toEqual([{ key: "key", value: "value", lineNumber: 2 }]);
    const defaults = collectAtEverySplit(csv(), "first,second\nk,v\n");
    expect(defaults.rows).toEqual([{ key: "k", value: "v", lineNumber: 2 }]);
  });

  test("a column missing from the header is a BAD_REQUEST naming the flag and the columns", () => {
    const sink = collectingSink();
    let caught: unknown;
    try {
      feed(new DelimitedReader(sink, { format: "csv", keyColumn: { name: "id" } }), "key,value\na,1\n");
    } catch (error) {
      caught = error;
    }
    expect(isUkvError(caught, "BAD_REQUEST")).toBe(true);
    expect((caught as Error).message).toBe('--key-column "id" is not in the header: columns are "key", "value"');
    expect(() => feed(new DelimitedReader(collectingSink(), { format: "csv", valueColumn: { index: 5 } }), "key,value\n")).toThrow(/--value-column #5 is not in the header/);
    expect(() => feed(new DelimitedReader(collectingSink(), { format: "csv" }), "")).toThrow("The csv input has no header row");
  });

  test("a row over the row limit is one bad row; memory stays bounded and reading resumes at the next line", () => {
    const sink = collectingSink();
    const reader = new DelimitedReader(sink, { format: "csv", rowSizeBytesMax: 1024 });
    const input = `key,value\na,"${"x".repeat(10_000)}\nb,2\nc,3\n`;
    feed(reader, input, 100);
    expect(sink.collected.bad[0]).toEqual({ lineNumber: 2, reason: "row longer than 1024 bytes" });
    expect(sink.collected.rows).toEqual([
      { key: "b", value: "2", lineNumber: 3 },
      { key: "c", value: "3", lineNumber: 4 },
    ]);
  });
});

describe("tsv reader", () => {
  test("splits on tabs only and keeps quotes as data (no quoting in tsv)", () => {
    const result = collectAtEverySplit((sink) => new DelimitedReader(sink, { format: "tsv" }), 'key\tvalue\n"a"\tsay "hi", ok\nb\t\r\n');
    expect(result.rows).toEqual([
      { key: '"a"', value: 'say "hi", ok', lineNumber: 2 },
      { key: "b", value: "", lineNumber: 3 },
    ]);
  });
});
