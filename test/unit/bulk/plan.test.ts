// The whole analysis on real files (plain and gzip) and the plan it writes: round trip through
// readPlan, and readPlan's errors for every way a plan can be wrong.
import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { analyzeInput } from "../../../src/bulk/analysis.ts";
import { buildPlan, parsePlan, readPlan, writePlan } from "../../../src/bulk/plan.ts";
import type { ShardPlan } from "../../../src/bulk/plan.ts";
import { fingerprintFile, resolveFormat } from "../../../src/bulk/source.ts";
import { isUkvError, UkvError } from "../../../src/util/errors.ts";

const dir = mkdtempSync(join(tmpdir(), "ukv-plan-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function csvText(rowCount: number): string {
  const lines = ["key,value"];
  for (let index = 0; index < rowCount; index += 1) lines.push(`key-${index},${"v".repeat(index % 50)}`);
  return `${lines.join("\n")}\n`;
}

async function analyzeAndPlan(path: string, shardCount: number): Promise<ShardPlan> {
  const format = resolveFormat(path, undefined);
  const analysis = await analyzeInput({ path, format });
  return buildPlan(analysis, { path, format, gzip: path.endsWith(".gz"), keyColumn: null, valueColumn: null, shardCount, balance: "both" });
}

function expectPlanError(data: unknown, message: string | RegExp): void {
  let caught: unknown;
  try {
    parsePlan(data, "plan.json");
  } catch (error) {
    caught = error;
  }
  expect(isUkvError(caught, "CONFIG_INVALID")).toBe(true);
  expect((caught as UkvError).message).toMatch(message);
}

describe("analyze a file and plan", () => {
  test("a gzip file gives the same statistics and shards as the plain file (only the fingerprint differs)", async () => {
    const text = csvText(20_000);
    writeFileSync(join(dir, "data.csv"), text);
    writeFileSync(join(dir, "data.csv.gz"), gzipSync(text));
    const plain = await analyzeAndPlan(join(dir, "data.csv"), 3);
    const gzip = await analyzeAndPlan(join(dir, "data.csv.gz"), 3);
    expect(plain.totals.rows).toBe(20_000);
    expect(plain.totals.distinctKeys).toEqual({ count: 20_000, method: "exact", relativeStandardError: 0 });
    expect(gzip.totals).toEqual(plain.totals);
    expect(gzip.shards).toEqual(plain.shards);
    expect(gzip.source.gzip).toBe(true);
    expect(gzip.source.fingerprint.sizeBytes).toBeLessThan(plain.source.fingerprint.sizeBytes);
  });

  test("a corrupt gzip file is a BAD_REQUEST naming the file", async () => {
    const path = join(dir, "corrupt.csv.gz");
    const gzip = gzipSync(csvText(1000));
    gzip.fill(0x55, 20, 200);
    writeFileSync(path, gzip);
    await expect(analyzeInput({ path, format: "csv" })).rejects.toThrow(/Cannot decompress .*corrupt\.csv\.gz/);
  });

  test("the fingerprint changes with the content at either end and with the size, not with an untouched file", async () => {
    const path = join(dir, "fingerprint.csv");
    writeFileSync(path, csvText(100_000)); // over 2 MiB: head and tail are separate
    const first = await fingerprintFile(path);
    expect(await fingerprintFile(path)).toEqual(first);
    writeFileSync(path, csvText(100_000).replace("key-0,", "kez-0,"));
    utimesSync(path, first.mtimeMs / 1000, first.mtimeMs / 1000);
    const edited = await fingerprintFile(path);
    expect(edited.sizeBytes).toBe(first.sizeBytes);
    expect(edited.headTailSha256).not.toBe(first.headTailSha256);
  });

  test("a missing file is NOT_FOUND; an unknown extension or format is BAD_REQUEST", async () => {
    await expect(analyzeInput({ path: join(dir, "absent.csv"), format: "csv" })).rejects.toThrow("Input file not found");
    expect(() => resolveFormat("data.txt", undefined)).toThrow("Cannot tell the format of data.txt from its extension: pass --format csv|tsv|jsonl|resp");
    expect(() => resolveFormat("data.csv", "xml")).toThrow('Unknown format "xml": expected one of csv, tsv, jsonl, resp');
    expect(resolveFormat("dump.RESP.gz", undefined)).toBe("resp");
    expect(resolveFormat("events.ndjson", undefined)).toBe("jsonl");
  });
});

describe("plan file", () => {
  test("round trip: readPlan returns what writePlan wrote; ranges cover 0..2^64 contiguously", async () => {
    const path = join(dir, "round.csv");
    writeFileSync(path, csvText(5000));
    const plan = await analyzeAndPlan(path, 5);
    const planPath = join(dir, "plan.json");
    await writePlan(planPath, plan);
    const read = await readPlan(planPath);
    expect(read).toEqual(plan);
    expect(read.shards[0]?.start).toBe("0");
    expect(read.shards[4]?.end).toBe((1n << 64n).toString());
    for (let index = 1; index < 5; index += 1) expect(read.shards[index]?.start).toBe(read.shards[index - 1]?.end as string);
    expect(read.shards.reduce((sum, shard) => sum + shard.keys, 0)).toBe(5000);
  });

  test("validation names the file, the field and the reason", async () => {
    const path = join(dir, "valid.csv");
    writeFileSync(path, csvText(100));
    const plan = await analyzeAndPlan(path, 3);
    const copy = (): ShardPlan => structuredClone(plan);

    const gap = copy();
    (gap.shards[1] as { start: string }).start = (BigInt(gap.shards[0]?.end as string) + 1n).toString();
    expectPlanError(gap, /^plan\.json: shards\.1\.start: expected \d+ \(ranges must be contiguous from 0\), found \d+/);

    const short = copy();
    (short.shards[2] as { end: string }).end = "18446744073709551615";
    expectPlanError(short, "plan.json: shards.2.end: the last range must end at 2^64 = 18446744073709551616, found 18446744073709551615");

    const notDecimal = copy();
    (notDecimal.shards[0] as { end: string }).end = "0x10";
    expectPlanError(notDecimal, /^plan\.json: shards\.0\.end: expected a non-negative integer in decimal, as a string/);

    const wrongCount = copy();
    wrongCount.shardCount = 4;
    expectPlanError(wrongCount, "plan.json: shards: expected shardCount = 4 entries, found 3");

    const keysOff = copy();
    (keysOff.shards[0] as { keys: number }).keys += 1;
    expectPlanError(keysOff, /^plan\.json: shards: expected keys add up to \d+, not totals\.rows = 100/);

    expectPlanError({ ...copy(), formatVersion: 2 }, "plan.json: formatVersion: this ukv reads plan format 1, found 2");
    expectPlanError({ ...copy(), extra: true }, /^plan\.json: \(root\): Unrecognized key/);
    const { shards: _shards, ...noShards } = copy();
    expectPlanError(noShards, /^plan\.json: shards: /);
    expectPlanError([], /^plan\.json: \(root\): /);
  });

  test("a missing plan is NOT_FOUND and a plan that is not JSON is CONFIG_INVALID", async () => {
    await expect(readPlan(join(dir, "none.json"))).rejects.toThrow(new UkvError("NOT_FOUND", `Plan file not found: ${join(dir, "none.json")}`));
    const broken = join(dir, "broken.json");
    writeFileSync(broken, "{ not json");
    await expect(readPlan(broken)).rejects.toThrow(/broken\.json: not JSON: /);
  });
});
