// Bytes a directory tree takes on disk (allocated blocks, like `du`): the store log preallocates
// its segments, so their allocated size, not the bytes written, is what fills a disk.
import { lstat, readdir } from "node:fs/promises";
import { join } from "node:path";

/** Entries visited at most: a store dir holds a few files per replica; this bounds a runaway walk. */
const entryCountMax = 1_000_000;

/** Allocated bytes under `path` (0 when it does not exist); symlinks are not followed. */
export async function diskUsage(path: string): Promise<number> {
  let total = 0;
  let visited = 0;
  const pending = [path];
  while (pending.length > 0 && visited < entryCountMax) {
    const current = pending.pop()!;
    visited++;
    let stats;
    try {
      stats = await lstat(current);
    } catch {
      continue; // gone meanwhile (a segment reclaimed, a replica deleted)
    }
    total += stats.blocks * 512;
    if (!stats.isDirectory()) continue;
    try {
      for (const name of await readdir(current)) pending.push(join(current, name));
    } catch {
      // removed between lstat and readdir
    }
  }
  return total;
}
