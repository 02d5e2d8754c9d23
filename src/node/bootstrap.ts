// The membership a group member started from, kept in its data dir (group.json) so that a
// restart replays the log on top of the same base, whatever the config says later, and so a
// member that joined at run time (no entry in the config) restarts without asking anyone.
// Written once, atomically (temp file, fsync, rename, fsync dir).
import { closeSync, existsSync, fsyncSync, openSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { UkvError } from "../util/errors.ts";
import { decodeMembership, encodeMembership, type GroupMembership } from "./log-codec.ts";

export const bootstrapFileName = "group.json";

export function readBootstrap(dataDir: string, groupId: number): GroupMembership | null {
  const path = join(dataDir, bootstrapFileName);
  if (!existsSync(path)) return null;
  const text = readFileSync(path, "utf8");
  let record: { groupId?: unknown; membership?: unknown };
  try {
    record = JSON.parse(text) as { groupId?: unknown; membership?: unknown };
  } catch (error) {
    throw new UkvError("CONFIG_INVALID", `${path} is not valid JSON`, { cause: error, data: { file: path } });
  }
  if (record.groupId !== groupId) {
    throw new UkvError("CONFIG_INVALID", `${path} belongs to group ${String(record.groupId)}, not ${groupId}: wrong --id or --data-dir?`, {
      data: { file: path },
    });
  }
  return decodeMembership(new TextEncoder().encode(JSON.stringify(record.membership)));
}

export function writeBootstrap(dataDir: string, groupId: number, membership: GroupMembership): void {
  const path = join(dataDir, bootstrapFileName);
  const temporaryPath = `${path}.tmp`;
  const membershipJson: unknown = JSON.parse(new TextDecoder().decode(encodeMembership(membership)));
  writeFileSync(temporaryPath, JSON.stringify({ groupId, membership: membershipJson }, null, 2));
  const fileFd = openSync(temporaryPath, "r");
  fsyncSync(fileFd);
  closeSync(fileFd);
  renameSync(temporaryPath, path);
  const dirFd = openSync(dataDir, "r");
  fsyncSync(dirFd);
  closeSync(dirFd);
}
