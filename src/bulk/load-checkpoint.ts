// The loader's checkpoint: the safe prefix of the input (every record before `recordsDone` is
// loaded and acknowledged, written to the reject file, or skipped), with the counts of that prefix
// and the reject file's length at it, so `ukv load --resume` after kill -9 starts reading at the
// prefix's end, truncates the reject file to the length that belongs to the prefix, and counts on
// from the prefix's numbers. Written atomically (temporary file, fsync, rename, fsync of the
// directory) after the reject file is fsynced: a checkpoint never names rejects that are not on
// disk. Records after the prefix may have been loaded too (acknowledged out of order); they are
// sent again on resume, which sets the same value.
import { closeSync, fsyncSync, openSync, readFileSync, renameSync, writeSync } from "node:fs";
import { dirname } from "node:path";
import { z } from "zod";
import { UkvError } from "../util/errors.ts";

export const checkpointFormatVersion = 1;

const count = z.number().int().nonnegative();

const checkpointSchema = z.strictObject({
  formatVersion: z.literal(checkpointFormatVersion),
  updatedAt: z.string(),
  /** The input this checkpoint counts records of, by the plan's fingerprint (sha of head and tail, size). */
  input: z.strictObject({ path: z.string(), sizeBytes: count, headTailSha256: z.string() }),
  /** Records (rows, bad rows, skipped records) of the safe prefix. */
  recordsDone: count,
  /** Line of the first record after the prefix (1-based; for people reading the file). */
  nextLineNumber: count,
  rowsLoaded: count,
  rowsRejected: count,
  rowsSkipped: count,
  /** Rows acknowledged per cluster shard id, within the prefix. */
  loadedByShard: z.record(z.string().regex(/^[0-9]+$/), count),
  rejectFile: z.strictObject({ path: z.string(), sizeBytes: count }),
  /** Every record of the input is in the prefix: the load finished. */
  complete: z.boolean(),
});

export type LoadCheckpoint = z.infer<typeof checkpointSchema>;

/** The checkpoint at `path`, null when there is none; CONFIG_INVALID naming the file when it is not one. */
export function readCheckpoint(path: string): LoadCheckpoint | null {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return null;
    throw new UkvError("IO_ERROR", `Cannot read the checkpoint ${path}: ${(error as Error).message}`, { cause: error });
  }
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (error) {
    throw new UkvError("CONFIG_INVALID", `${path}: not a load checkpoint (not JSON: ${(error as Error).message}): delete it to start over`, { cause: error });
  }
  const result = checkpointSchema.safeParse(data);
  if (!result.success) {
    const issue = result.error.issues[0];
    const where = issue === undefined || issue.path.length === 0 ? "(root)" : issue.path.join(".");
    throw new UkvError("CONFIG_INVALID", `${path}: not a load checkpoint of this ukv: ${where}: ${issue?.message ?? "invalid"}`);
  }
  return result.data;
}

function fsyncPath(path: string, flags: string): void {
  const fd = openSync(path, flags);
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** Writes the checkpoint atomically and durably (see the header). Synchronous: small, once a second. */
export function writeCheckpoint(path: string, checkpoint: LoadCheckpoint): void {
  const temporaryPath = `${path}.${process.pid}.tmp`;
  try {
    const fd = openSync(temporaryPath, "w");
    try {
      writeSync(fd, `${JSON.stringify(checkpoint, null, 2)}\n`);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(temporaryPath, path);
    fsyncPath(dirname(path), "r");
  } catch (error) {
    throw new UkvError("IO_ERROR", `Cannot write the checkpoint ${path}: ${(error as Error).message}`, { cause: error });
  }
}
