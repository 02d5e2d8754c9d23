// Exclusive lock on a data directory, so two processes never use one WAL and snapshot set.
// Backed by flock in the addon: released by the kernel when the process dies, even by SIGKILL.
import { join } from "node:path";
import { UkvError } from "../util/errors.ts";
import { native } from "./native.ts";

interface LockBindings {
  lockFile(path: string): number;
  unlockFile(fd: number): void;
}

const bindings = native as unknown as LockBindings;

export const lockFileName = "LOCK";

export class DirLock {
  readonly path: string;
  #fd: number | null;

  private constructor(path: string, fd: number) {
    this.path = path;
    this.#fd = fd;
  }

  /** Takes the lock on `dir` or throws UkvError DIR_LOCKED naming the directory. */
  static acquire(dir: string): DirLock {
    const path = join(dir, lockFileName);
    try {
      return new DirLock(path, bindings.lockFile(path));
    } catch (error) {
      const code = (error as { code?: unknown }).code;
      if (code === "LOCKED") {
        throw new UkvError("DIR_LOCKED", `Data directory is in use by another process: ${dir}`, {
          data: { dir },
          cause: error,
        });
      }
      throw new UkvError("IO_ERROR", `Cannot lock data directory: ${dir}`, { data: { dir }, cause: error });
    }
  }

  release(): void {
    if (this.#fd === null) return;
    bindings.unlockFile(this.#fd);
    this.#fd = null;
  }
}
