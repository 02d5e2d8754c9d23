// Progress on stderr for the long-running commands that stream a file (`ukv analyze`, `ukv load`):
// a cli-progress bar on a terminal, else a plain line every 5 s and one at the end, so that logs
// of a run under a script stay readable.
import { SingleBar } from "cli-progress";

const plainProgressIntervalMs = 5000;

/** What every streaming command reports: how far through the input it is. */
export interface FileProgress {
  elapsedMs: number;
  fileBytesRead: number;
  fileSizeBytes: number;
}

export interface ProgressReporter<P extends FileProgress> {
  update: (progress: P) => void;
  stop: () => void;
}

export interface ProgressFormat<P extends FileProgress> {
  /** cli-progress format of the bar; its {names} are filled from `payload`. */
  barFormat: string;
  payload: (progress: P, seconds: number) => Record<string, string>;
  /** The plain line written when stderr is not a terminal. */
  plainLine: (progress: P) => string;
}

export function createProgressReporter<P extends FileProgress>(stderr: NodeJS.WritableStream & { isTTY?: boolean }, format: ProgressFormat<P>): ProgressReporter<P> {
  if (stderr.isTTY === true) {
    const bar = new SingleBar({ stream: stderr, format: format.barFormat, hideCursor: true, etaBuffer: 40 });
    let started = false;
    return {
      update(progress) {
        const payload = format.payload(progress, Math.max(progress.elapsedMs / 1000, 1e-3));
        if (!started) bar.start(Math.max(progress.fileSizeBytes, 1), 0, payload);
        started = true;
        bar.update(progress.fileBytesRead, payload);
      },
      stop: () => bar.stop(),
    };
  }
  let printedMs = 0;
  let last: P | null = null;
  return {
    update(progress) {
      last = progress;
      if (progress.elapsedMs - printedMs < plainProgressIntervalMs) return;
      printedMs = progress.elapsedMs;
      stderr.write(`${format.plainLine(progress)}\n`);
    },
    stop() {
      if (last !== null) stderr.write(`${format.plainLine(last)}\n`);
    },
  };
}
