// The shared progress reporter of `ukv analyze` and `ukv load` (src/cli/progress.ts): off a
// terminal, one plain line at most every 5 s of the run's own clock, and the last state at stop.
import { describe, expect, test } from "bun:test";
import { Writable } from "node:stream";
import { createProgressReporter, type FileProgress } from "../../../src/cli/progress.ts";

function captureStream(): { stream: Writable; lines: () => string[] } {
  let text = "";
  const stream = new Writable({
    write(chunk, _encoding, done) {
      text += chunk.toString();
      done();
    },
  });
  return { stream, lines: () => text.split("\n").filter((line) => line !== "") };
}

describe("createProgressReporter off a terminal", () => {
  test("writes a plain line every 5 s of progress and the last one at stop", () => {
    const { stream, lines } = captureStream();
    const reporter = createProgressReporter<FileProgress>(stream, {
      barFormat: "unused",
      payload: () => ({}),
      plainLine: (progress) => `at ${progress.elapsedMs} ms: ${progress.fileBytesRead}/${progress.fileSizeBytes}`,
    });
    for (const elapsedMs of [1000, 4999, 5000, 7000, 10500, 11000]) reporter.update({ elapsedMs, fileBytesRead: elapsedMs, fileSizeBytes: 20000 });
    reporter.stop();
    expect(lines()).toEqual(["at 5000 ms: 5000/20000", "at 10500 ms: 10500/20000", "at 11000 ms: 11000/20000"]);
  });

  test("writes nothing when no progress was reported", () => {
    const { stream, lines } = captureStream();
    createProgressReporter<FileProgress>(stream, { barFormat: "unused", payload: () => ({}), plainLine: () => "x" }).stop();
    expect(lines()).toEqual([]);
  });
});
