// The shard plan written by `ukv analyze` and read by `ukv load`: where the input came from (and
// its fingerprint, so the loader refuses another file), the shard ranges of the 64-bit key-hash
// space (contiguous [start, end) ranges from 0 to 2^64, as decimal strings: JSON numbers lose
// precision past 2^53), the expected rows and bytes of each shard, and the input's statistics.
// readPlan validates everything a loader relies on and names the field that is wrong.
import { readFile, rename, writeFile } from "node:fs/promises";
import { z } from "zod";
import { bulkHashBucketCount, shardCountMax } from "../util/limits.ts";
import { UkvError } from "../util/errors.ts";
import { assert } from "../util/assert.ts";
import { balanceModes, bucketStartHash } from "./hash-histogram.ts";
import type { BalanceMode } from "./hash-histogram.ts";
import { fingerprintMethod } from "./source.ts";
import type { Analysis } from "./analysis.ts";
import type { InputFormat } from "./reader.ts";
import { inputFormats } from "./reader.ts";

export const planFormatVersion = 1;
const hashSpaceEnd = 1n << 64n;

const decimalText = z.string().regex(/^(0|[1-9][0-9]*)$/, "expected a non-negative integer in decimal, as a string");
const count = z.number().int().nonnegative();
const sizeSummarySchema = z.strictObject({ count, sumBytes: count, min: count, p50: count, p99: count, max: count });

const planSchema = z.strictObject({
  formatVersion: z.literal(planFormatVersion),
  createdAt: z.string(),
  source: z.strictObject({
    path: z.string().min(1),
    format: z.enum(inputFormats as [InputFormat, ...InputFormat[]]),
    gzip: z.boolean(),
    /** --key-column / --value-column as given; null: the format's default. */
    keyColumn: z.string().nullable(),
    valueColumn: z.string().nullable(),
    fingerprint: z.strictObject({
      sizeBytes: count,
      mtimeMs: z.number().nonnegative(),
      headTailSha256: z.string().regex(/^[0-9a-f]{64}$/, "expected 64 lowercase hex digits"),
      method: z.literal(fingerprintMethod),
    }),
  }),
  hash: z.strictObject({ algorithm: z.literal("xxhash64"), seed: z.literal(0) }),
  balance: z.enum(balanceModes as [BalanceMode, ...BalanceMode[]]),
  shardCount: z.number().int().min(1).max(shardCountMax),
  shards: z.array(z.strictObject({ start: decimalText, end: decimalText, keys: count, bytes: count })).min(1).max(shardCountMax),
  totals: z.strictObject({
    rows: count,
    badRows: count,
    skippedRows: count,
    keyBytes: count,
    valueBytes: count,
    distinctKeys: z.strictObject({ count, method: z.enum(["exact", "hyperloglog"]), relativeStandardError: z.number().min(0).max(1) }),
    duplicateKeys: count,
  }),
  keySizeBytes: sizeSummarySchema,
  valueSizeBytes: sizeSummarySchema,
});

export type ShardPlan = z.infer<typeof planSchema>;

export interface BuildPlanOptions {
  path: string;
  format: InputFormat;
  gzip: boolean;
  keyColumn: string | null;
  valueColumn: string | null;
  shardCount: number;
  balance: BalanceMode;
  createdAt?: Date;
}

export function buildPlan(analysis: Analysis, options: BuildPlanOptions): ShardPlan {
  const { stats, fingerprint } = analysis;
  const split = stats.hashes.split(options.shardCount, options.balance);
  const shards = split.startBuckets.map((startBucket, index) => {
    const endBucket = split.startBuckets[index + 1] ?? bulkHashBucketCount;
    return { start: bucketStartHash(startBucket).toString(), end: bucketStartHash(endBucket).toString(), keys: split.keys[index] as number, bytes: split.bytes[index] as number };
  });
  const distinct = stats.distinctKeys.estimate();
  const keySizes = stats.keySizes.summary();
  const valueSizes = stats.valueSizes.summary();
  const plan: ShardPlan = {
    formatVersion: planFormatVersion,
    createdAt: (options.createdAt ?? new Date()).toISOString(),
    source: {
      path: options.path,
      format: options.format,
      gzip: options.gzip,
      keyColumn: options.keyColumn,
      valueColumn: options.valueColumn,
      fingerprint: { ...fingerprint, method: fingerprintMethod },
    },
    hash: { algorithm: "xxhash64", seed: 0 },
    balance: options.balance,
    shardCount: options.shardCount,
    shards,
    totals: {
      rows: stats.rowCount,
      badRows: stats.badRowCount,
      skippedRows: stats.skippedRowCount,
      keyBytes: keySizes.sumBytes,
      valueBytes: valueSizes.sumBytes,
      distinctKeys: { count: distinct.distinctCount, method: distinct.method, relativeStandardError: distinct.relativeStandardError },
      // An estimate can exceed the row count by its error: never report a negative duplicate count.
      duplicateKeys: Math.max(0, stats.rowCount - distinct.distinctCount),
    },
    keySizeBytes: keySizes,
    valueSizeBytes: valueSizes,
  };
  const problems = planProblems(plan);
  assert(problems.length === 0, `a built plan is valid: ${problems.join("; ")}`);
  return plan;
}

/** The checks zod's shape cannot say: ranges contiguous over [0, 2^64), counts adding up. */
function planProblems(plan: ShardPlan): string[] {
  const problems: string[] = [];
  if (plan.shards.length !== plan.shardCount) problems.push(`shards: expected shardCount = ${plan.shardCount} entries, found ${plan.shards.length}`);
  let expectedStart = 0n;
  plan.shards.forEach((shard, index) => {
    const start = BigInt(shard.start);
    const end = BigInt(shard.end);
    if (start !== expectedStart) problems.push(`shards.${index}.start: expected ${expectedStart} (ranges must be contiguous from 0), found ${shard.start}`);
    if (end <= start) problems.push(`shards.${index}.end: must be above start ${shard.start}, found ${shard.end}`);
    if (end > hashSpaceEnd) problems.push(`shards.${index}.end: must be at most 2^64 = ${hashSpaceEnd}, found ${shard.end}`);
    expectedStart = end;
  });
  const lastIndex = plan.shards.length - 1;
  if (expectedStart !== hashSpaceEnd) problems.push(`shards.${lastIndex}.end: the last range must end at 2^64 = ${hashSpaceEnd}, found ${expectedStart}`);
  const plannedKeys = plan.shards.reduce((sum, shard) => sum + shard.keys, 0);
  if (plannedKeys !== plan.totals.rows) problems.push(`shards: expected keys add up to ${plannedKeys}, not totals.rows = ${plan.totals.rows}`);
  const plannedBytes = plan.shards.reduce((sum, shard) => sum + shard.bytes, 0);
  const totalBytes = plan.totals.keyBytes + plan.totals.valueBytes;
  if (plannedBytes !== totalBytes) problems.push(`shards: expected bytes add up to ${plannedBytes}, not totals.keyBytes + totals.valueBytes = ${totalBytes}`);
  return problems;
}

/** Writes the plan atomically (a temporary file renamed over the target). */
export async function writePlan(path: string, plan: ShardPlan): Promise<void> {
  const temporaryPath = `${path}.${process.pid}.tmp`;
  try {
    await writeFile(temporaryPath, `${JSON.stringify(plan, null, 2)}\n`);
    await rename(temporaryPath, path);
  } catch (error) {
    throw new UkvError("IO_ERROR", `Cannot write the plan to ${path}: ${(error as Error).message}`, { cause: error });
  }
}

/**
 * Reads and validates a plan file. NOT_FOUND if missing; CONFIG_INVALID naming the file, the
 * field and the reason (every problem in `data.problems`) if it is not a valid plan.
 */
export async function readPlan(path: string): Promise<ShardPlan> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") throw new UkvError("NOT_FOUND", `Plan file not found: ${path}`, { cause: error });
    throw new UkvError("IO_ERROR", `Cannot read the plan ${path}: ${(error as Error).message}`, { cause: error });
  }
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (error) {
    throw new UkvError("CONFIG_INVALID", `${path}: not JSON: ${(error as Error).message}`, { cause: error, data: { path } });
  }
  return parsePlan(data, path);
}

/** Validates a parsed plan; `path` names it in errors. */
export function parsePlan(data: unknown, path: string): ShardPlan {
  const version = typeof data === "object" && data !== null ? (data as Record<string, unknown>).formatVersion : undefined;
  if (typeof version === "number" && version !== planFormatVersion) {
    throw new UkvError("CONFIG_INVALID", `${path}: formatVersion: this ukv reads plan format ${planFormatVersion}, found ${version}`, { data: { path, problems: [] } });
  }
  const result = planSchema.safeParse(data);
  const problems = result.success
    ? planProblems(result.data)
    : result.error.issues.map((issue) => `${issue.path.length === 0 ? "(root)" : issue.path.join(".")}: ${issue.message}`);
  if (problems.length > 0) {
    const more = problems.length > 1 ? ` (and ${problems.length - 1} more problem${problems.length > 2 ? "s" : ""})` : "";
    throw new UkvError("CONFIG_INVALID", `${path}: ${problems[0]}${more}`, { data: { path, problems } });
  }
  assert(result.success, "no problems means the shape parsed");
  return result.data;
}
