// The input file of a bulk import: its format (from --format or the extension), its fingerprint
// (cheap: size, mtime, and a SHA-256 of the first and last MiB plus the size, so a 100 GB file is
// fingerprinted by reading 2 MiB; it catches a replaced, truncated or appended file, not an edit
// in the middle that keeps size and mtime), and its bytes as a stream of chunks, gunzipped when
// the name ends in ".gz" (node:zlib, streaming: never the whole file in memory).
import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { open, stat } from "node:fs/promises";
import { basename } from "node:path";
import { createGunzip } from "node:zlib";
import { bulkReadChunkSizeBytes } from "../util/limits.ts";
import { UkvError } from "../util/errors.ts";
import { inputFormats } from "./reader.ts";
import type { InputFormat } from "./reader.ts";

const fingerprintPartBytes = 1024 * 1024;
export const fingerprintMethod = "sha256(first MiB, last MiB, decimal size)";

export interface SourceFingerprint {
  sizeBytes: number;
  mtimeMs: number;
  /** Hex SHA-256 of the first MiB, the last MiB (overlapping for files under 2 MiB) and the size in decimal. */
  headTailSha256: string;
}

const formatByExtension: Record<string, InputFormat> = { csv: "csv", tsv: "tsv", tab: "tsv", jsonl: "jsonl", ndjson: "jsonl", resp: "resp" };

export function isGzipPath(path: string): boolean {
  return path.toLowerCase().endsWith(".gz");
}

/** The --format text checked, or the format of the extension (under ".gz"); BAD_REQUEST if neither. */
export function resolveFormat(path: string, formatText: string | undefined): InputFormat {
  if (formatText !== undefined) {
    const format = inputFormats.find((candidate) => candidate === formatText);
    if (format === undefined) throw new UkvError("BAD_REQUEST", `Unknown format ${JSON.stringify(formatText)}: expected one of ${inputFormats.join(", ")}`);
    return format;
  }
  const name = basename(path).toLowerCase().replace(/\.gz$/, "");
  const dot = name.lastIndexOf(".");
  const format = dot === -1 ? undefined : formatByExtension[name.slice(dot + 1)];
  if (format === undefined) {
    throw new UkvError("BAD_REQUEST", `Cannot tell the format of ${path} from its extension: pass --format ${inputFormats.join("|")}`);
  }
  return format;
}

/** Size and mtime of a regular file; NOT_FOUND or BAD_REQUEST naming the path otherwise. */
export async function statInput(path: string): Promise<{ sizeBytes: number; mtimeMs: number }> {
  let stats;
  try {
    stats = await stat(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") throw new UkvError("NOT_FOUND", `Input file not found: ${path}`, { cause: error });
    throw new UkvError("BAD_REQUEST", `Cannot read input file ${path}: ${(error as Error).message}`, { cause: error });
  }
  if (!stats.isFile()) throw new UkvError("BAD_REQUEST", `Input is not a regular file: ${path}`);
  return { sizeBytes: stats.size, mtimeMs: stats.mtimeMs };
}

export async function fingerprintFile(path: string): Promise<SourceFingerprint> {
  const { sizeBytes, mtimeMs } = await statInput(path);
  const hash = createHash("sha256");
  const handle = await open(path, "r");
  try {
    const headBytes = Math.min(fingerprintPartBytes, sizeBytes);
    const tailStart = Math.max(0, sizeBytes - fingerprintPartBytes);
    for (const [start, length] of [[0, headBytes], [tailStart, sizeBytes - tailStart]] as const) {
      const buffer = Buffer.alloc(length);
      const { bytesRead } = await handle.read(buffer, 0, length, start);
      if (bytesRead !== length) throw new UkvError("BAD_REQUEST", `Input file ${path} changed while being read: expected ${length} bytes at offset ${start}, read ${bytesRead}`);
      hash.update(buffer);
    }
  } finally {
    await handle.close();
  }
  hash.update(String(sizeBytes));
  return { sizeBytes, mtimeMs, headTailSha256: hash.digest("hex") };
}

/**
 * The file's content as chunks (decompressed for ".gz"), counting raw file bytes read into
 * `counter.fileBytesRead` (what progress and ETA are measured against).
 */
export async function* readInputChunks(path: string, counter: { fileBytesRead: number }): AsyncGenerator<Uint8Array> {
  const file = createReadStream(path, { highWaterMark: bulkReadChunkSizeBytes });
  if (!isGzipPath(path)) {
    for await (const chunk of file) {
      counter.fileBytesRead += (chunk as Buffer).length;
      yield chunk as Buffer;
    }
    return;
  }
  const gunzip = createGunzip({ chunkSize: 256 * 1024 });
  file.on("data", (chunk) => {
    counter.fileBytesRead += (chunk as Buffer).length;
  });
  file.on("error", (error) => gunzip.destroy(error));
  file.pipe(gunzip);
  try {
    for await (const chunk of gunzip) yield chunk as Buffer;
  } catch (error) {
    if (error instanceof UkvError) throw error;
    throw new UkvError("BAD_REQUEST", `Cannot decompress ${path}: ${(error as Error).message}`, { cause: error });
  } finally {
    file.destroy();
  }
}
