// The disk-full fault needs one store whose data dir (its shared log, every replica's snapshots)
// is a small file system of its own: a tmpfs mounted over the store dir before the store starts
// (root only; elsewhere the fault is skipped with a message, as issue 9 allows). Filling it is a
// ballast file written until ENOSPC; removing the ballast ends the fault.
import { spawnSync } from "node:child_process";
import { closeSync, mkdirSync, mkdtempSync, openSync, rmSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const ballastChunkBytes = 1 << 20;
/** The loop bound: a ballast never exceeds the mount. */
const ballastChunkCountMax = 4096;

export class SmallFileSystem {
  readonly mountPath: string;
  #mounted = true;

  private constructor(mountPath: string) {
    this.mountPath = mountPath;
  }

  /** Mounts a tmpfs of `sizeBytes` at `mountPath`, or returns the reason it cannot. */
  static mount(mountPath: string, sizeBytes: number): SmallFileSystem | string {
    if (process.getuid?.() !== 0) return "not root: cannot mount a small file system";
    mkdirSync(mountPath, { recursive: true });
    const result = spawnSync("mount", ["-t", "tmpfs", "-o", `size=${sizeBytes}`, "tmpfs", mountPath], { encoding: "utf8" });
    if (result.status !== 0) return `mount -t tmpfs failed: ${(result.stderr ?? "").trim() || `exit ${result.status}`}`;
    return new SmallFileSystem(mountPath);
  }

  /** Why no small file system can be mounted here (not root, mount refused), or null when one can. */
  static unavailableReason(): string | null {
    const probeDir = mkdtempSync(join(tmpdir(), "ukv-tmpfs-probe-"));
    try {
      const mounted = SmallFileSystem.mount(probeDir, 1024 * 1024);
      if (typeof mounted === "string") return mounted;
      mounted.unmount();
      return null;
    } finally {
      rmSync(probeDir, { recursive: true, force: true });
    }
  }

  get #ballastPath(): string {
    return join(this.mountPath, "chaos-ballast");
  }

  /** Writes the ballast until the file system is full; returns the bytes written. */
  fill(): number {
    const chunk = Buffer.alloc(ballastChunkBytes, 0x5a);
    const fd = openSync(this.#ballastPath, "a");
    let writtenBytes = 0;
    try {
      for (let chunkIndex = 0; chunkIndex < ballastChunkCountMax; chunkIndex++) {
        try {
          writtenBytes += writeSync(fd, chunk);
        } catch {
          // ENOSPC with a large chunk: fill the last bytes in small pieces.
          const small = Buffer.alloc(4096, 0x5a);
          for (let pieceIndex = 0; pieceIndex < ballastChunkBytes / 4096; pieceIndex++) {
            try {
              writtenBytes += writeSync(fd, small);
            } catch {
              return writtenBytes;
            }
          }
          return writtenBytes;
        }
      }
      return writtenBytes;
    } finally {
      closeSync(fd);
    }
  }

  release(): void {
    rmSync(this.#ballastPath, { force: true });
  }

  unmount(): void {
    if (!this.#mounted) return;
    this.#mounted = false;
    spawnSync("umount", ["-l", this.mountPath]);
  }
}
