// The compiled single executable must work alone: copied to an empty directory, with the addon
// embedded (unpacked by Bun into $TMPDIR at start-up).
import { describe, expect, test } from "bun:test";
import { copyFileSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

const binaryPath = resolve(import.meta.dir, "../../../dist/ukv");

describe("dist/ukv", () => {
  test("runs `version` and `--help` from a copy in an empty temporary directory", () => {
    const dir = mkdtempSync(join(tmpdir(), "ukv-bin-"));
    try {
      const copy = join(dir, "ukv");
      copyFileSync(binaryPath, copy);
      Bun.spawnSync(["chmod", "+x", copy]);
      const version = Bun.spawnSync([copy, "version"], { cwd: dir });
      expect(version.exitCode).toBe(0);
      expect(version.stdout.toString()).toMatch(/^ukv \d+\.\d+\.\d+ \(ukv_native \d+\)/);
      const help = Bun.spawnSync([copy, "--help"], { cwd: dir });
      expect(help.exitCode).toBe(0);
      expect(help.stdout.toString()).toContain("ukv");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
