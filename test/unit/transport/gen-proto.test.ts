import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { generateAll, generateFile, generatedDir } from "../../../scripts/gen-proto.ts";

describe("gen-proto", () => {
  test("src/proto is what the generator makes from proto/ now (rebuild after editing a .proto)", () => {
    for (const [name, contents] of generateAll()) {
      expect(readFileSync(join(generatedDir, name), "utf8")).toBe(contents);
    }
  });

  test("unsupported constructs fail the build with the field named", () => {
    const wrap = (body: string): string => `syntax = "proto3"; package t; message M { ${body} }`;
    expect(() => generateFile(wrap("map<string, uint64> counts = 1;"), "t.proto")).toThrow("M.counts: map fields are not supported");
    expect(() => generateFile(wrap("oneof choice { uint64 a = 1; string b = 2; }"), "t.proto")).toThrow("oneof is not supported");
    expect(() => generateFile(wrap("double ratio = 1;"), "t.proto")).toThrow("M.ratio: type double is not supported");
    expect(() => generateFile(wrap("sint64 delta = 1;"), "t.proto")).toThrow("type sint64 is not supported");
  });

  test("a supported message generates its interface and codec functions", () => {
    const source = generateFile(
      `syntax = "proto3"; package t; enum E { E_ZERO = 0; E_ONE = 1; } message M { uint64 big_id = 1; repeated E kinds = 2; string name = 3; }`,
      "t.proto",
    );
    expect(source).toContain("export interface M {\n  bigId: number;\n  kinds: E[];\n  name: string;\n}");
    for (const name of ["emptyM", "sizeM", "writeM", "readM", "encodeM", "decodeM"]) expect(source).toContain(`export function ${name}(`);
  });
});
