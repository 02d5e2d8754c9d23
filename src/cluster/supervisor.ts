// Child processes of `ukv cluster up`: each in its own process group (so a terminal's Ctrl-C
// reaches only the supervisor, which then stops each child exactly once: a second SIGTERM would
// hit a child after its handler was removed and kill it uncleanly), stdout and stderr appended
// to <logDir>/<name>.log, UKV_PARENT_PID set so a child stops itself if the supervisor dies
// without stopping it (see parent-watch.ts). stopAll: SIGTERM, wait up to stopTimeoutMs, then
// SIGKILL, so shutdown is bounded even if a child hangs.
import { closeSync, mkdirSync, openSync } from "node:fs";
import { join } from "node:path";
import type { Subprocess } from "bun";
import { assert } from "../util/assert.ts";
import { parentPidEnvironmentName } from "./parent-watch.ts";

export interface ChildSpec {
  /** Unique; names the log file. */
  name: string;
  argv: string[];
}

export interface SupervisedChild {
  name: string;
  logPath: string;
  process: Subprocess;
  /** Exit code, or null while running (or when killed by a signal: see signalCode). */
  exitCode: number | null;
  exited: boolean;
  /** Set when the supervisor asked it to stop: its exit is then expected, not reported. */
  stopRequested: boolean;
}

/** Children of one supervisor (every node of the largest config, plus the router). */
export const supervisedChildCountMax = 64 * 9 + 8;

export class Supervisor {
  readonly logDir: string;
  readonly #children = new Map<string, SupervisedChild>();
  #onExit: ((child: SupervisedChild) => void) | null = null;

  constructor(logDir: string) {
    this.logDir = logDir;
    mkdirSync(logDir, { recursive: true });
  }

  /** Called when a child exits without being asked to stop (a crash or a kill from outside). */
  onUnexpectedExit(listener: (child: SupervisedChild) => void): void {
    this.#onExit = listener;
  }

  children(): SupervisedChild[] {
    return [...this.#children.values()];
  }

  spawn(spec: ChildSpec): SupervisedChild {
    assert(!this.#children.has(spec.name), "child names are unique");
    assert(this.#children.size < supervisedChildCountMax, "the number of children is bounded by the config limits");
    const logPath = join(this.logDir, `${spec.name}.log`);
    const logFd = openSync(logPath, "a");
    try {
      const process_ = Bun.spawn(spec.argv, {
        stdin: "ignore",
        stdout: logFd,
        stderr: logFd,
        detached: true,
        env: { ...process.env, [parentPidEnvironmentName]: String(process.pid) },
      });
      const child: SupervisedChild = { name: spec.name, logPath, process: process_, exitCode: null, exited: false, stopRequested: false };
      this.#children.set(spec.name, child);
      void process_.exited.then((exitCode) => {
        child.exitCode = exitCode;
        child.exited = true;
        if (!child.stopRequested) this.#onExit?.(child);
      });
      return child;
    } finally {
      // The child holds its own copy of the descriptor.
      closeSync(logFd);
    }
  }

  /**
   * Resolves once every child spawned so far has exited (asked to or not): a supervisor whose
   * children all died has nothing left to supervise and must not linger.
   */
  async allExited(): Promise<void> {
    assert(this.#children.size > 0, "allExited waits for children that were spawned");
    await Promise.all(this.children().map((child) => child.process.exited));
  }

  /** Stops `names` (default: all) concurrently: SIGTERM, then SIGKILL after stopTimeoutMs. */
  async stop(names: readonly string[] | null, stopTimeoutMs: number): Promise<void> {
    const targets = this.children().filter((child) => names === null || names.includes(child.name));
    for (const child of targets) child.stopRequested = true;
    await Promise.all(targets.map((child) => stopChild(child, stopTimeoutMs)));
  }

  /** Stops everything. */
  async stopAll(stopTimeoutMs: number): Promise<void> {
    await this.stop(null, stopTimeoutMs);
  }
}

async function stopChild(child: SupervisedChild, stopTimeoutMs: number): Promise<void> {
  if (child.exited) return;
  child.process.kill("SIGTERM");
  let timer: ReturnType<typeof setTimeout> | null = null;
  const timedOut = new Promise<"timeout">((resolve) => {
    timer = setTimeout(() => resolve("timeout"), stopTimeoutMs);
  });
  const outcome = await Promise.race([child.process.exited.then(() => "exited" as const), timedOut]);
  if (timer !== null) clearTimeout(timer);
  if (outcome === "timeout") {
    child.process.kill("SIGKILL");
    await child.process.exited;
  }
}
