// The snapshot files of one Raft group in one directory: saving a table (native, off the event
// loop), listing by header, loading the newest good one, pruning to keepCount, and receiving a
// snapshot over the network, held apart until the replica installs it. File format and
// durability steps: native/snapshot.h.
import { closeSync, fstatSync, openSync, readdirSync, readSync, unlinkSync } from "node:fs";
import { open, rename, type FileHandle } from "node:fs/promises";
import { join } from "node:path";
import { assert } from "../util/assert.ts";
import { isUkvError, UkvError, type ErrorCode } from "../util/errors.ts";
import { snapshotMetadataSizeBytesMax } from "../util/limits.ts";
import { childLogger, type Logger } from "../util/log.ts";
import { native } from "./native.ts";
import type { NativeTableHandle, Table } from "./table.ts";

export interface SnapshotInfo {
  path: string;
  index: number;
  term: number;
  metadata: Uint8Array;
  sizeBytes: number;
}

export interface IncomingSnapshot {
  write(chunk: Uint8Array): Promise<void>;
  finish(): Promise<SnapshotInfo>;
  abort(): void;
}

interface NativeSnapshotHeader extends SnapshotInfo {
  entryCount: number;
}

interface SnapshotBindings {
  snapshotSave(
    table: NativeTableHandle,
    dir: string,
    index: number,
    term: number,
    metadata: Uint8Array,
  ): Promise<{ path: string; sizeBytes: number }>;
  snapshotLoad(table: NativeTableHandle, path: string): Promise<NativeSnapshotHeader>;
  snapshotInstall(tmpPath: string, finalPath: string, dir: string, index: number, term: number): Promise<NativeSnapshotHeader>;
  snapshotLimits: { metadataSizeBytesMax: number; headerSizeBytes: number };
}

const bindings = native as unknown as SnapshotBindings;
assert(
  bindings.snapshotLimits.metadataSizeBytesMax === snapshotMetadataSizeBytesMax,
  "native and TS snapshot metadata limits agree",
);

export const snapshotKeepCountDefault = 2;
const headerSizeBytes = bindings.snapshotLimits.headerSizeBytes;
const magic = "UKVSNAP1";
const formatVersion = 1;
const snapshotNamePattern = /^snap-(\d{20})-(\d+)\.snap$/;
const receivedNamePattern = /^snap-(\d{20})-(\d+)\.recv$/;

export function snapshotFileName(index: number, term: number): string {
  return `snap-${String(index).padStart(20, "0")}-${term}.snap`;
}

/** A received snapshot's name until it is installed: not a `.snap`, so nothing lists or loads it. */
export function receivedSnapshotFileName(index: number, term: number): string {
  return snapshotFileName(index, term).replace(/\.snap$/, ".recv");
}

/** Native rejections carry code, path and offset; turn them into typed errors. */
function toUkvError(error: unknown): UkvError {
  if (isUkvError(error)) return error;
  const fields = error as { code?: unknown; path?: unknown; offset?: unknown; message?: unknown };
  const known: readonly ErrorCode[] = ["SNAPSHOT_CORRUPT", "DISK_FULL", "IO_ERROR", "CLOSED"];
  const code = known.find((candidate) => candidate === fields.code) ?? "IO_ERROR";
  const data: Record<string, unknown> = {};
  if (typeof fields.path === "string") data.path = fields.path;
  if (typeof fields.offset === "number" && fields.offset >= 0) data.offset = fields.offset;
  return new UkvError(code, String(fields.message ?? error), { data, cause: error });
}

function checkPosition(index: number, term: number): void {
  if (!Number.isSafeInteger(index) || index < 0 || !Number.isSafeInteger(term) || term < 0) {
    throw new UkvError("BAD_REQUEST", `Snapshot index and term must be non-negative integers: ${index}/${term}`, {
      data: { index, term },
    });
  }
}

type HeaderResult = { info: SnapshotInfo } | { error: UkvError };

/** Reads and checks the fixed header and the metadata of one file (no entries, no CRC). */
function readHeader(path: string): HeaderResult {
  let fd: number;
  try {
    fd = openSync(path, "r");
  } catch (error) {
    return { error: new UkvError("IO_ERROR", `Cannot open snapshot: ${path}`, { data: { path }, cause: error }) };
  }
  try {
    const sizeBytes = fstatSync(fd).size;
    const fixed = new Uint8Array(headerSizeBytes);
    const corrupt = (offset: number, what: string): HeaderResult => ({
      error: new UkvError("SNAPSHOT_CORRUPT", `Snapshot is corrupt: ${path} at offset ${offset}: ${what}`, {
        data: { path, offset },
      }),
    });
    if (readSync(fd, fixed, 0, headerSizeBytes, 0) !== headerSizeBytes) return corrupt(sizeBytes, "file ends inside the header");
    const view = new DataView(fixed.buffer);
    if (new TextDecoder().decode(fixed.subarray(0, 8)) !== magic) return corrupt(0, "bad magic (not a UKVSNAP1 file)");
    if (view.getUint32(8, true) !== formatVersion) return corrupt(8, `unknown format version ${view.getUint32(8, true)}`);
    const metadataSizeBytes = view.getUint32(12, true);
    if (metadataSizeBytes > snapshotMetadataSizeBytesMax) return corrupt(12, `metadata size ${metadataSizeBytes} over the limit`);
    const index = Number(view.getBigUint64(16, true));
    const term = Number(view.getBigUint64(24, true));
    const metadata = new Uint8Array(metadataSizeBytes);
    if (readSync(fd, metadata, 0, metadataSizeBytes, headerSizeBytes) !== metadataSizeBytes) {
      return corrupt(sizeBytes, "file ends inside the metadata");
    }
    return { info: { path, index, term, metadata, sizeBytes } };
  } finally {
    closeSync(fd);
  }
}

/** Loads one snapshot file (anywhere: a backup copy too) into `table`; changes it only if the whole file verifies. */
export async function loadSnapshotFile(path: string, table: Table): Promise<SnapshotInfo> {
  let header: NativeSnapshotHeader;
  try {
    header = await bindings.snapshotLoad(table.nativeHandle(), path);
  } catch (error) {
    throw toUkvError(error);
  }
  return { path, index: header.index, term: header.term, metadata: header.metadata, sizeBytes: header.sizeBytes };
}

export class SnapshotStore {
  readonly dir: string;
  readonly #keepCount: number;
  readonly #logger: Logger;
  /** Saves run one at a time, so pruning never races a save. */
  #saveQueue: Promise<unknown> = Promise.resolve();

  /**
   * `keepCount` (default 2): snapshots kept after a save, newest first; older ones are deleted.
   * `logger` (default: the root logger with `{ dir }`): receives `snapshot_corrupt` events.
   * Leftover `.tmp` files from a crash are removed, and so are received snapshots never installed
   * (see createIncoming): the replica restarts without them.
   */
  constructor(dir: string, options: { keepCount?: number; logger?: Logger } = {}) {
    const keepCount = options.keepCount ?? snapshotKeepCountDefault;
    if (!Number.isInteger(keepCount) || keepCount < 1) {
      throw new UkvError("CONFIG_INVALID", `Snapshot keepCount must be an integer >= 1: ${keepCount}`, { data: { keepCount } });
    }
    this.dir = dir;
    this.#keepCount = keepCount;
    this.#logger = options.logger ?? childLogger({ dir });
    for (const name of readdirSync(dir)) {
      if (name.startsWith("snap-") && (name.endsWith(".tmp") || receivedNamePattern.test(name))) unlinkSync(join(dir, name));
    }
  }

  /** Streams the table to a new snapshot file (native thread), then prunes beyond keepCount. */
  save(table: Table, args: { index: number; term: number; metadata: Uint8Array }): Promise<SnapshotInfo> {
    checkPosition(args.index, args.term);
    if (args.metadata.length > snapshotMetadataSizeBytesMax) {
      throw new UkvError(
        "BAD_REQUEST",
        `Snapshot metadata is too large: ${args.metadata.length} bytes (max ${snapshotMetadataSizeBytesMax})`,
        { data: { sizeBytes: args.metadata.length, sizeBytesMax: snapshotMetadataSizeBytesMax } },
      );
    }
    const metadata = args.metadata.slice();
    const handle = table.nativeHandle();
    const run = async (): Promise<SnapshotInfo> => {
      let written: { path: string; sizeBytes: number };
      try {
        written = await bindings.snapshotSave(handle, this.dir, args.index, args.term, metadata);
      } catch (error) {
        throw toUkvError(error);
      }
      this.#prune();
      return { path: written.path, index: args.index, term: args.term, metadata, sizeBytes: written.sizeBytes };
    };
    const result = this.#saveQueue.then(run, run);
    this.#saveQueue = result.catch(() => undefined);
    return result;
  }

  /** Snapshots with a readable header, newest (index, then term) first. */
  list(): SnapshotInfo[] {
    const infos: SnapshotInfo[] = [];
    for (const result of this.#scan()) if ("info" in result) infos.push(result.info);
    return infos;
  }

  latest(): SnapshotInfo | null {
    return this.list()[0] ?? null;
  }

  /**
   * Loads the newest snapshot that verifies into `table` (replacing its content). A corrupt one is
   * logged as `snapshot_corrupt` and the next older one is tried. With none good: clears the table
   * and returns null.
   */
  async loadLatest(table: Table): Promise<SnapshotInfo | null> {
    for (const result of this.#scan()) {
      try {
        if ("error" in result) throw result.error;
        return await this.load(result.info.path, table);
      } catch (error) {
        if (!isUkvError(error, "SNAPSHOT_CORRUPT")) throw error;
        this.#logger.error({ event: "snapshot_corrupt", path: error.data.path, offset: error.data.offset, error: error.message });
      }
    }
    table.clear();
    return null;
  }

  /** Loads one file into `table` on a native thread; the table changes only if the whole file verifies. */
  load(path: string, table: Table): Promise<SnapshotInfo> {
    return loadSnapshotFile(path, table);
  }

  /**
   * A snapshot arriving in chunks: written to a temp file, then verified (CRC, index, term) and
   * kept by finish() as a received file, which is not one of this group's snapshots (list,
   * latest, loadLatest) until installReceived makes it one. The Raft core may never install it
   * (its log already holds that index), or only after the replica has waited for its split
   * children: as a `.snap` at once, a crash before that restarted the replica from it, past
   * entries (a split) that the replica had not applied and that a held split child needed
   * replayed (found by the simulator, seeds 256, 264 and 1188).
   */
  createIncoming(args: { index: number; term: number }): IncomingSnapshot {
    checkPosition(args.index, args.term);
    const finalPath = join(this.dir, receivedSnapshotFileName(args.index, args.term));
    const tmpPath = `${finalPath}.tmp`;
    let file: Promise<FileHandle> | null = null;
    let chain: Promise<void> = Promise.resolve();
    let state: "open" | "finished" | "aborted" = "open";
    const fileHandle = (): Promise<FileHandle> => (file ??= open(tmpPath, "w"));
    const closeFile = async (): Promise<void> => {
      if (file !== null) await (await file).close();
    };
    const removeTemp = (): void => {
      try {
        unlinkSync(tmpPath);
      } catch {
        // Already gone (never written, or kept as the received file).
      }
    };
    const checkOpen = (): void => {
      if (state !== "open") throw new UkvError("CLOSED", `Incoming snapshot is ${state}: ${finalPath}`, { data: { path: finalPath } });
    };
    return {
      write: (chunk: Uint8Array): Promise<void> => {
        checkOpen();
        const copy = chunk.slice();
        chain = chain.then(async () => {
          const handle = await fileHandle();
          let offset = 0;
          while (offset < copy.length) offset += (await handle.write(copy, offset)).bytesWritten;
        });
        return chain.catch((error: unknown) => {
          throw new UkvError("IO_ERROR", `Cannot write incoming snapshot: ${tmpPath}`, { data: { path: tmpPath }, cause: error });
        });
      },
      finish: async (): Promise<SnapshotInfo> => {
        checkOpen();
        state = "finished";
        try {
          await chain;
          await fileHandle();
          await closeFile();
          const header = await bindings.snapshotInstall(tmpPath, finalPath, this.dir, args.index, args.term);
          return { path: finalPath, index: header.index, term: header.term, metadata: header.metadata, sizeBytes: header.sizeBytes };
        } catch (error) {
          removeTemp();
          throw toUkvError(error);
        }
      },
      abort: (): void => {
        if (state !== "open") return;
        state = "aborted";
        void chain.then(closeFile, closeFile).finally(removeTemp);
      },
    };
  }

  /**
   * Makes the received snapshot at index/term (createIncoming) one of this group's snapshots, the
   * newest: renamed to its `.snap` name, durably (the directory synced), then pruned to keepCount.
   */
  async installReceived(index: number, term: number): Promise<SnapshotInfo> {
    checkPosition(index, term);
    const receivedPath = join(this.dir, receivedSnapshotFileName(index, term));
    const finalPath = join(this.dir, snapshotFileName(index, term));
    const header = readHeader(receivedPath);
    if ("error" in header) {
      throw new UkvError("SNAPSHOT_CORRUPT", `No received snapshot ${index}/${term} to install: ${header.error.message}`, {
        data: { path: receivedPath },
        cause: header.error,
      });
    }
    try {
      // Off the event loop: the rename and the directory's fsync are disk waits.
      await rename(receivedPath, finalPath);
      const directory = await open(this.dir, "r");
      try {
        await directory.sync();
      } finally {
        await directory.close();
      }
    } catch (error) {
      throw toUkvError(error);
    }
    this.#prune();
    return { ...header.info, path: finalPath };
  }

  /** Every `.snap` file, newest first: a readable header, or the error that made it unreadable. */
  #scan(): HeaderResult[] {
    const named: { name: string; index: bigint; term: bigint }[] = [];
    for (const name of readdirSync(this.dir)) {
      const match = snapshotNamePattern.exec(name);
      if (match !== null) named.push({ name, index: BigInt(match[1] as string), term: BigInt(match[2] as string) });
    }
    named.sort((a, b) => (a.index !== b.index ? (a.index < b.index ? 1 : -1) : a.term < b.term ? 1 : a.term > b.term ? -1 : 0));
    return named.map(({ name }) => readHeader(join(this.dir, name)));
  }

  /**
   * Keeps the newest keepCount snapshots by name; corrupt-headed files are left for inspection.
   * Received files at or below the newest snapshot go too: the core installs a snapshot only
   * beyond its commit index, which is at least that.
   */
  #prune(): void {
    const infos = this.list();
    for (const stale of infos.slice(this.#keepCount)) unlinkSync(stale.path);
    const newestIndex = BigInt(infos[0]?.index ?? 0);
    for (const name of readdirSync(this.dir)) {
      const match = receivedNamePattern.exec(name);
      if (match !== null && BigInt(match[1] as string) <= newestIndex) unlinkSync(join(this.dir, name));
    }
  }
}
