// `ukv top` and the dashboard's embedded files, from dist/ukv copied alone into an empty dir (uPlot
// and the page must be inside the binary, not read from node_modules): a `cluster up` of 3 stores
// by the copy; the page, uPlot's script and style served by a store; top's plain lines (stdout not
// a terminal) for every store and shard, with ops/s moving after RESP writes; on a terminal (a pty
// made by script(1)) the screen is drawn and q or Ctrl-C exits 0 restoring the terminal; bad
// arguments are one line and an exit code.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { copyFileSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Subprocess } from "bun";
import Redis from "ioredis";
import { findFreePortBase, ukvBinary, waitFor } from "./harness.ts";

const decoder = new TextDecoder();
let dir: string;
let binary: string;
let up: Subprocess<"ignore", "pipe", "pipe">;
let upOutput = "";
let portBase: number;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "ukv-top-"));
  mkdirSync(join(dir, "bin"));
  binary = join(dir, "bin", "ukv");
  copyFileSync(ukvBinary, binary);
  Bun.spawnSync(["chmod", "+x", binary]);
  portBase = await findFreePortBase(40);
  up = Bun.spawn([binary, "cluster", "up", "--dir", join(dir, "c"), "--port-base", String(portBase), "--shards", "2"], { cwd: join(dir, "bin"), stdin: "ignore", stdout: "pipe", stderr: "pipe" });
  void (async () => {
    for await (const chunk of up.stdout) upOutput += decoder.decode(chunk);
  })();
  await waitFor("ukv cluster ready", () => Promise.resolve(upOutput), (output) => output.includes("ukv cluster ready"), 45_000);
  // Ready means every shard has a leader: a store may still be opening its HTTP listener.
  for (const storeIndex of [0, 1, 2]) {
    await waitFor(`store ${storeIndex + 1}'s HTTP listener`, () => fetch(`http://${httpAddress(storeIndex)}/api/store`).then((response) => response.ok, () => false), (ok) => ok, 15_000);
  }
}, 60_000);

afterAll(async () => {
  up.kill("SIGTERM");
  await up.exited;
  rmSync(dir, { recursive: true, force: true });
}, 30_000);

/** Runs the copied binary without blocking this process (the test's own clients keep running). */
async function runAsync(args: string[]): Promise<{ exitCode: number; stdout: string; stderr: string }> {
  const child = Bun.spawn([binary, ...args], { cwd: dir, stdout: "pipe", stderr: "pipe" });
  const [stdout, stderr, exitCode] = await Promise.all([new Response(child.stdout).text(), new Response(child.stderr).text(), child.exited]);
  return { exitCode, stdout, stderr };
}

function run(args: string[]): { exitCode: number; stdout: string; stderr: string } {
  const result = Bun.spawnSync([binary, ...args], { cwd: dir, stdout: "pipe", stderr: "pipe" });
  return { exitCode: result.exitCode, stdout: result.stdout.toString(), stderr: result.stderr.toString() };
}

const httpAddress = (storeIndex: number): string => `127.0.0.1:${portBase + 10 * storeIndex + 3}`;

describe("the copied binary", () => {
  test("cluster up prints each store's dashboard address; a store serves the page, uPlot's script and its style", async () => {
    expect(upOutput).toContain(`http http://${httpAddress(0)}/`);
    const page = await fetch(`http://${httpAddress(1)}/`);
    expect(page.headers.get("content-type")).toContain("text/html");
    const html = await page.text();
    expect(html).toContain("<title>universeKV dashboard</title>");
    expect(html).toContain('src="/uplot.js"');
    const script = await (await fetch(`http://${httpAddress(1)}/uplot.js`)).text();
    expect(script.length).toBeGreaterThan(20_000);
    expect(script).toContain("uPlot");
    const style = await (await fetch(`http://${httpAddress(2)}/uplot.css`)).text();
    expect(style).toContain(".uplot");
    expect((await fetch(`http://${httpAddress(0)}/nothing-here`)).status).toBe(404);
    expect((await fetch(`http://${httpAddress(0)}/metrics`, { method: "POST", body: "x" })).status).toBe(405);
  });
});

describe("ukv top", () => {
  test("plain lines when stdout is not a terminal: every store and shard, ops/s after RESP writes", async () => {
    const redis = new Redis({ host: "127.0.0.1", port: portBase + 2, maxRetriesPerRequest: 0 });
    redis.on("error", () => undefined);
    let writing = true;
    const writer = (async () => {
      for (let index = 0; writing; index++) await redis.set(`top-${index}`, "v");
    })();
    let result: ReturnType<typeof run>;
    try {
      await Bun.sleep(500);
      result = await runAsync(["top", "--dir", join(dir, "c"), "--count", "2", "--interval", "1"]);
    } finally {
      writing = false;
      await writer.catch(() => undefined);
      redis.disconnect();
    }
    expect(result.stderr).toBe("");
    expect(result.exitCode).toBe(0);
    const blocks = result.stdout.trimEnd().split("\n\n");
    expect(blocks.length).toBe(2);
    for (const block of blocks) {
      const lines = block.split("\n");
      for (const store of [1, 2, 3]) expect(lines.some((line) => line.includes(` store=${store} state=up `))).toBe(true);
      for (const shard of ["meta", "1", "2"]) expect(lines.some((line) => new RegExp(` shard=${shard} leader=[123] .* quorum=yes `).test(line))).toBe(true);
    }
    // Store 1 took the writes: its ops/s is a number above 0 in the last block.
    const store1 = blocks[1]!.split("\n").find((line) => line.includes(" store=1 "))!;
    expect(Number(/ops_per_sec=([0-9.]+)/.exec(store1)?.[1] ?? "0")).toBeGreaterThan(0);
  }, 30_000);

  for (const [name, key] of [["q", "q"], ["Ctrl-C", "\x03"]] as const) {
    test(`on a terminal the screen is drawn, and ${name} exits 0 and restores the terminal`, async () => {
      const script = Bun.which("script");
      if (script === null) {
        console.log("SKIP: script(1) not installed (util-linux): no pty to run ukv top on");
        return;
      }
      const child = Bun.spawn([script, "-qfec", `${binary} top --dir ${join(dir, "c")} --interval 0.5`, "/dev/null"], { stdin: "pipe", stdout: "pipe", stderr: "pipe", env: { ...process.env, TERM: "xterm" } });
      let output = "";
      const reading = (async () => {
        for await (const chunk of child.stdout) output += decoder.decode(chunk);
      })();
      try {
        await waitFor("the top screen", () => Promise.resolve(output), (text) => text.includes("SHARD") && text.includes("q or Ctrl-C to quit"), 15_000);
        expect(output).toContain("\x1b[?1049h");
        child.stdin.write(key);
        child.stdin.flush();
        const exitCode = await Promise.race([child.exited, Bun.sleep(10_000).then(() => "still running")]);
        expect(exitCode).toBe(0);
        await reading;
        expect(output).toContain("\x1b[?1049l");
        expect(output).toContain("\x1b[?25h");
      } finally {
        child.kill("SIGKILL");
      }
    }, 30_000);
  }

  test("bad arguments: one line on stderr and an exit code, nothing on stdout", () => {
    const cases: [string[], number, string][] = [
      [["top", "--interval", "0"], 4, "--interval must be a number of seconds"],
      [["top", "--interval", "soon"], 4, "--interval must be a number of seconds"],
      [["top", "--count", "0"], 4, "--count must be a positive integer"],
      [["top", "--http", "nowhere"], 4, "--http"],
      [["top", "--http", "127.0.0.1:1", "--dir", "x"], 4, "Pass one of --config, --dir or --http"],
      [["top", "--dir", join(dir, "missing")], 3, "Cannot read cluster config"],
      [["top", "--http", "127.0.0.1:1", "--count", "1"], 9, "No store's HTTP listener answered"],
    ];
    for (const [args, exitCode, message] of cases) {
      const result = run(args);
      expect({ args, exitCode: result.exitCode }).toEqual({ args, exitCode });
      expect(result.stdout).toBe("");
      expect(result.stderr.trimEnd().split("\n").length).toBe(1);
      expect(result.stderr).toContain(message);
    }
  });
});
