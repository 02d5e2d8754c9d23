// The store's manifest (<store dir>/store.json): which groups this store hosts a replica of, and
// the membership each replica started from. A restart recovers exactly these groups, replaying the
// shared log on top of each bootstrap membership, whatever the config says later; a replica
// created at run time (add-replica) or deleted (removed from its group) changes it. Rewritten
// atomically (temp file, fsync, rename, fsync dir) on every change, before the change is used.
import { closeSync, existsSync, fsyncSync, openSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { UkvError } from "../util/errors.ts";
import { decodeMembership, encodeMembership, type GroupMembership } from "../node/log-codec.ts";

export const manifestFileName = "store.json";
const manifestVersion = 1;

export interface StoreManifest {
  storeId: number;
  clusterName: string;
  /** group id -> the membership its replica here was created with. */
  groups: Map<number, GroupMembership>;
  /**
   * Groups whose replica here was removed and deleted: never re-created by a replayed split or
   * adopted from the metadata (which may lag the removal); only an explicit add-replica does.
   */
  removed: Set<number>;
}

export function readManifest(storeDir: string): StoreManifest | null {
  const path = join(storeDir, manifestFileName);
  if (!existsSync(path)) return null;
  let record: { version?: unknown; storeId?: unknown; clusterName?: unknown; groups?: unknown; removed?: unknown };
  try {
    record = JSON.parse(readFileSync(path, "utf8")) as typeof record;
  } catch (error) {
    throw new UkvError("CONFIG_INVALID", `${path} is not valid JSON`, { cause: error, data: { file: path } });
  }
  if (record.version !== manifestVersion || typeof record.storeId !== "number" || typeof record.clusterName !== "string") {
    throw new UkvError("CONFIG_INVALID", `${path} is not a ukv store manifest (version ${manifestVersion})`, { data: { file: path } });
  }
  const groups = new Map<number, GroupMembership>();
  const encoder = new TextEncoder();
  for (const [id, membership] of Object.entries((record.groups ?? {}) as Record<string, unknown>)) {
    groups.set(Number(id), decodeMembership(encoder.encode(JSON.stringify(membership))));
  }
  const removed = new Set(Array.isArray(record.removed) ? record.removed.filter((id): id is number => Number.isSafeInteger(id)) : []);
  return { storeId: record.storeId, clusterName: record.clusterName, groups, removed };
}

/** Writes the manifest durably; a full or failing disk is a typed DISK_FULL / IO_ERROR, never a raw error. */
export function writeManifest(storeDir: string, manifest: StoreManifest): void {
  try {
    writeManifestFile(storeDir, manifest);
  } catch (error) {
    const errno = (error as { code?: unknown } | null)?.code;
    const code = errno === "ENOSPC" || errno === "EDQUOT" ? "DISK_FULL" : "IO_ERROR";
    throw new UkvError(code, `Cannot write the store manifest in ${storeDir}: ${error instanceof Error ? error.message : String(error)}`, { cause: error, data: { dir: storeDir } });
  }
}

function writeManifestFile(storeDir: string, manifest: StoreManifest): void {
  const path = join(storeDir, manifestFileName);
  const decoder = new TextDecoder();
  const groups: Record<string, unknown> = {};
  for (const [id, membership] of manifest.groups) groups[String(id)] = JSON.parse(decoder.decode(encodeMembership(membership)));
  const temporaryPath = `${path}.tmp`;
  writeFileSync(temporaryPath, JSON.stringify({ version: manifestVersion, storeId: manifest.storeId, clusterName: manifest.clusterName, groups, removed: [...manifest.removed] }, null, 1));
  const fileFd = openSync(temporaryPath, "r");
  fsyncSync(fileFd);
  closeSync(fileFd);
  renameSync(temporaryPath, path);
  const dirFd = openSync(storeDir, "r");
  fsyncSync(dirFd);
  closeSync(dirFd);
}
