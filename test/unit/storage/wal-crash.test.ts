// Crash safety of the WAL: a child appends with many appends in flight and prints each
// acknowledged index; the parent SIGKILLs it mid-stream, several times on the same directory,
// and after each kill every acknowledged entry must be recovered with its exact bytes.
import { afterEach, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Wal } from "../../../src/storage/wal.ts";
import { crashPayload } from "./fixtures/wal-crash-child.ts";

const childScript = join(import.meta.dir, "fixtures", "wal-crash-child.ts");
const segmentSizeBytes = 64 * 1024;
const dirs: string[] = [];

afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/** Runs the child until it has acknowledged `ackCountTarget` appends, then SIGKILLs it. */
async function runChildUntil(dir: string, ackCountTarget: number): Promise<number> {
  const child = Bun.spawn([process.execPath, childScript, dir, String(segmentSizeBytes)], {
    stdout: "pipe",
    stderr: "inherit",
  });
  const reader = child.stdout.getReader();
  const decoder = new TextDecoder();
  let pending = "";
  let ackCount = 0;
  let lastAcknowledged = 0;
  const deadline = Date.now() + 15_000;
  while (ackCount < ackCountTarget && Date.now() < deadline) {
    const chunk = await reader.read();
    if (chunk.done) break;
    pending += decoder.decode(chunk.value, { stream: true });
    const lines = pending.split("\n");
    pending = lines.pop() ?? "";
    for (const line of lines) {
      if (line === "") continue;
      const index = Number(line);
      // Acknowledgements come in index order: the writer resolves appends in order.
      expect(index).toBeGreaterThan(lastAcknowledged);
      lastAcknowledged = index;
      ackCount++;
    }
  }
  child.kill("SIGKILL");
  await child.exited;
  expect(child.signalCode).toBe("SIGKILL");
  expect(ackCount).toBeGreaterThanOrEqual(ackCountTarget);
  return lastAcknowledged;
}

test("every acknowledged append survives SIGKILL of the writing process, round after round", async () => {
  const dir = mkdtempSync(join(tmpdir(), "ukv-wal-crash-"));
  dirs.push(dir);
  let acknowledgedMax = 0;
  for (const ackCountTarget of [400, 1500, 800]) {
    acknowledgedMax = Math.max(acknowledgedMax, await runChildUntil(dir, ackCountTarget));
    const { wal, recovery } = await Wal.open(dir, { segmentSizeBytes });
    try {
      expect(recovery.firstIndex).toBe(1);
      expect(recovery.entries.length).toBeGreaterThanOrEqual(acknowledgedMax);
      recovery.entries.forEach((entry, position) => {
        expect(entry.index).toBe(position + 1);
        expect(entry.data).toEqual(crashPayload(entry.index));
      });
      expect(recovery.hardState).not.toBeNull();
      expect(wal.segmentCount()).toBeGreaterThan(1);
    } finally {
      await wal.close();
    }
  }
}, 60_000);
