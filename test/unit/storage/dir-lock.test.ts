// The data-directory lock: a second holder is refused while the first lives; a SIGKILLed holder
// leaves no stale lock behind.
import { afterEach, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { DirLock } from "../../../src/storage/dir-lock.ts";
import { isUkvError } from "../../../src/util/errors.ts";

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), "ukv-lock-"));
  dirs.push(dir);
  return dir;
}

const holderScript = `
  const { DirLock } = await import(${JSON.stringify(resolve(import.meta.dir, "../../../src/storage/dir-lock.ts"))});
  DirLock.acquire(process.argv.at(-1));
  console.log("locked");
  setInterval(() => {}, 1000);
`;

test("a second process is refused with DIR_LOCKED while the holder lives, and may lock after SIGKILL", async () => {
  const dir = tempDir();
  const holder = Bun.spawn([process.execPath, "-e", holderScript, dir], { stdout: "pipe" });
  const reader = holder.stdout.getReader();
  const first = await reader.read();
  expect(new TextDecoder().decode(first.value)).toContain("locked");

  let refused: unknown = null;
  try {
    DirLock.acquire(dir);
  } catch (error) {
    refused = error;
  }
  expect(isUkvError(refused, "DIR_LOCKED")).toBe(true);

  holder.kill("SIGKILL");
  await holder.exited;
  const lock = DirLock.acquire(dir);
  lock.release();
});

test("release lets the same process lock again", () => {
  const dir = tempDir();
  const lock = DirLock.acquire(dir);
  lock.release();
  DirLock.acquire(dir).release();
});
