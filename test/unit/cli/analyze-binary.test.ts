// `ukv analyze` through the compiled binary (dist/ukv, built by `npm run build:bin`): exit status,
// the plan file, the summary on stdout and progress on stderr; and bad arguments reported as one
// line on stderr with a non-zero status, never a stack trace.
import { shardCountMax } from "../../../src/util/limits.ts";
import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { gzipSync } from "node:zlib";
import { readPlan } from "../../../src/bulk/plan.ts";

const binaryPath = resolve(import.meta.dir, "../../../dist/ukv");
const dir = mkdtempSync(join(tmpdir(), "ukv-analyze-bin-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function run(args: string[]): { exitCode: number; stdout: string; stderr: string } {
  const result = Bun.spawnSync([binaryPath, "analyze", ...args], { cwd: dir });
  return { exitCode: result.exitCode, stdout: result.stdout.toString(), stderr: result.stderr.toString() };
}

describe("dist/ukv analyze", () => {
  test("plans 4 shards for a generated csv with bad rows: exit 0, a valid balanced plan, the summary and the histogram", async () => {
    const rowCount = 60_000;
    const lines = ["id,name,doc"];
    for (let index = 0; index < rowCount; index += 1) lines.push(`user:${index},n${index},"{""v"":${index}}"`);
    lines.push("broken,row"); // line rowCount + 2
    lines.push(`user:0,again,"dup"`); // a duplicate key
    writeFileSync(join(dir, "users.csv"), `${lines.join("\n")}\n`);
    const result = run(["--input", "users.csv", "--key-column", "id", "--value-column", "2", "--shards", "4", "--out", "plan.json"]);
    expect(result.stderr).toMatch(/^analyze: 100\.0% of /m);
    expect(result.exitCode).toBe(0);
    const plan = await readPlan(join(dir, "plan.json"));
    expect(plan.shardCount).toBe(4);
    expect(plan.source.keyColumn).toBe("id");
    expect(plan.totals).toMatchObject({ rows: rowCount + 1, badRows: 1, skippedRows: 0, duplicateKeys: 1 });
    for (const shard of plan.shards) expect(Math.abs(shard.keys - (rowCount + 1) / 4) / ((rowCount + 1) / 4)).toBeLessThan(0.02);
    expect(result.stdout).toContain("rows            60,001");
    expect(result.stdout).toContain(`line ${rowCount + 2}: expected 3 fields as in the header, found 2`);
    expect(result.stdout).toContain("duplicate keys  1");
    expect(result.stdout).toMatch(/^shard 0 \|#+ *\| [\d,]+$/m);
    expect(result.stdout).toContain("plan written to plan.json");
  });

  test("reads gzipped jsonl and resp, format from the extension", async () => {
    const jsonl = Array.from({ length: 1000 }, (_, index) => JSON.stringify({ key: `k${index}`, value: { index } })).join("\n");
    writeFileSync(join(dir, "events.jsonl.gz"), gzipSync(jsonl));
    const jsonlResult = run(["--input", "events.jsonl.gz", "--shards", "2", "--out", "jsonl-plan.json"]);
    expect(jsonlResult.exitCode).toBe(0);
    expect((await readPlan(join(dir, "jsonl-plan.json"))).totals.rows).toBe(1000);

    const resp = ["*3\r\n$3\r\nSET\r\n$1\r\na\r\n$1\r\n1\r\n", "*2\r\n$3\r\nDEL\r\n$1\r\na\r\n", "*3\r\n$3\r\nSET\r\n$1\r\nb\r\n$1\r\n2\r\n"].join("");
    writeFileSync(join(dir, "dump.resp"), resp);
    const respResult = run(["--input", "dump.resp", "--shards", "1", "--out", "resp-plan.json"]);
    expect(respResult.exitCode).toBe(0);
    expect(respResult.stdout).toContain("command DEL: 1");
    expect((await readPlan(join(dir, "resp-plan.json"))).totals).toMatchObject({ rows: 2, skippedRows: 1 });
  });

  test("bad arguments, a missing file, an unknown format, a bad column: one line on stderr, non-zero exit", () => {
    writeFileSync(join(dir, "small.csv"), "key,value\na,1\n");
    const cases: [string[], number, string][] = [
      [["--input", "small.csv", "--out", "p.json"], 4, "error (BAD_REQUEST): Missing --shards: see ukv analyze --help"],
      [["--input", "small.csv", "--shards", "0", "--out", "p.json"], 4, 'error (BAD_REQUEST): --shards must be a positive integer: "0"'],
      [["--input", "small.csv", "--shards", String(shardCountMax + 1), "--out", "p.json"], 4, `error (BAD_REQUEST): --shards must be at most ${shardCountMax}: ${shardCountMax + 1}`],
      [["--input", "small.csv", "--shards", "2", "--out", "p.json", "--bogus"], 4, "error (BAD_REQUEST): Unknown option --bogus: see ukv analyze --help"],
      [["--input", "small.csv", "--shards", "2", "--out"], 4, "error (BAD_REQUEST): --out needs a value"],
      [["--input", "missing.csv", "--shards", "2", "--out", "p.json"], 1, "error (NOT_FOUND): Input file not found: missing.csv"],
      [["--input", "small.csv", "--format", "xml", "--shards", "2", "--out", "p.json"], 4, 'error (BAD_REQUEST): Unknown format "xml": expected one of csv, tsv, jsonl, resp'],
      [["--input", "small.csv", "--key-column", "id", "--shards", "2", "--out", "p.json"], 4, 'error (BAD_REQUEST): --key-column "id" is not in the header: columns are "key", "value"'],
    ];
    for (const [args, exitCode, line] of cases) {
      const result = run(args);
      expect({ args, exitCode: result.exitCode, stderr: result.stderr }).toEqual({ args, exitCode, stderr: `${line}\n` });
    }
  });

  test("--help prints the options", () => {
    const result = run(["--help"]);
    expect(result.exitCode).toBe(0);
    expect(result.stdout).toContain("--key-column NAME|N");
  });
});
