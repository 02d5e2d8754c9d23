// No orphans: a process started by `ukv cluster up` gets UKV_PARENT_PID in its environment and
// checks every parentCheckIntervalMs that its parent is still the one that started it. When the
// parent died (even by SIGKILL, which it cannot catch), the child sends itself SIGTERM and so
// shuts down by its normal clean path. Linux reparents an orphan to init or a subreaper, so a
// changed process.ppid is the signal; it needs no cooperation from the dead parent.

export const parentPidEnvironmentName = "UKV_PARENT_PID";
export const parentCheckIntervalMs = 500;

/** Starts the watch if UKV_PARENT_PID is set (a no-op otherwise); the timer never keeps the process alive. */
export function watchParentFromEnvironment(): void {
  const text = process.env[parentPidEnvironmentName];
  if (text === undefined || text === "") return;
  const parentPid = Number(text);
  if (!Number.isSafeInteger(parentPid) || parentPid <= 1) return;
  const timer = setInterval(() => {
    if (process.ppid === parentPid) return;
    clearInterval(timer);
    process.kill(process.pid, "SIGTERM");
  }, parentCheckIntervalMs);
  timer.unref();
}
