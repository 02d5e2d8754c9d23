// docs/operations.md's deployment guide, run for real: scripts/ops/loopback-deploy.sh (three
// "servers" on 127.0.0.2..4) must end with "deployment trial passed"; and every command line the
// guide shows in a ```sh block is a line of that script, so the guide cannot drift from what was
// run. Skips, saying why, where 127.0.0.2 cannot be bound or curl / redis-cli are missing.
import { expect, test } from "bun:test";
import { existsSync, readFileSync } from "node:fs";
import { createServer } from "node:net";
import { resolve } from "node:path";
import { findFreePortBase, ukvBinary } from "../cluster/harness.ts";

const repoRoot = resolve(import.meta.dir, "../..");
const scriptPath = join("scripts/ops/loopback-deploy.sh");
const guidePath = join("docs/operations.md");

function join(relative: string): string {
  return resolve(repoRoot, relative);
}

function canBind(host: string): Promise<boolean> {
  return new Promise((resolvePromise) => {
    const server = createServer();
    server.once("error", () => resolvePromise(false));
    server.listen(0, host, () => server.close(() => resolvePromise(true)));
  });
}

/** The command lines of the guide's ```sh blocks (comments and blank lines left out). */
function guideCommands(): string[] {
  const text = readFileSync(guidePath, "utf8");
  const commands: string[] = [];
  for (const block of text.matchAll(/```sh\n([\s\S]*?)```/g)) {
    for (const line of block[1]!.split("\n")) {
      const trimmed = line.trim();
      if (trimmed === "" || trimmed.startsWith("#")) continue;
      commands.push(trimmed);
    }
  }
  return commands;
}

test("every command of the deployment guide is a line of the script that runs it", () => {
  const script = readFileSync(scriptPath, "utf8").split("\n").map((line) => line.trim());
  const commands = guideCommands();
  expect(commands.length).toBeGreaterThanOrEqual(15);
  const missing = commands.filter((command) => !script.includes(command));
  expect(missing).toEqual([]);
});

test("the deployment trial on 127.0.0.2..4 passes: install, systemd command, status, metrics, backup/restore, rolling upgrade, quorum loss", async () => {
  const missingTools = ["curl", "redis-cli"].filter((tool) => Bun.which(tool) === null);
  if (missingTools.length > 0 || !(await canBind("127.0.0.2")) || !(await canBind("127.0.0.4"))) {
    console.log(`SKIP: the loopback deployment trial needs 127.0.0.2..4 and ${missingTools.join(", ") || "nothing else"}`);
    return;
  }
  expect(existsSync(ukvBinary)).toBe(true);
  const port = await findFreePortBase(20);
  const child = Bun.spawn(["bash", scriptPath], { cwd: repoRoot, env: { ...process.env, PORT: String(port), UKV_BIN: ukvBinary }, stdout: "pipe", stderr: "pipe" });
  const [stdout, stderr, exitCode] = await Promise.all([new Response(child.stdout).text(), new Response(child.stderr).text(), child.exited]);
  if (exitCode !== 0) console.log(`${stdout.slice(-4000)}\n${stderr.slice(-2000)}`);
  expect(exitCode).toBe(0);
  expect(stdout).toContain("deployment trial passed");
  expect(stdout).toContain("store 3 upgraded: every shard has a leader again");
}, 300_000);
