// The bare write chain that `redis-compare.ts --ceiling` measures (scripts/bench/write-ceiling-node.ts):
// in both modes, every SET is answered once, in order, and its record is in all three logs.
import { afterEach, describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Subprocess } from "bun";
import { startWriteChain } from "../../scripts/bench/write-chain.ts";

let children: Subprocess[] = [];
let dir = "";

afterEach(async () => {
  for (const child of children) child.kill("SIGKILL");
  await Promise.all(children.map((child) => child.exited));
  children = [];
  if (dir !== "") rmSync(dir, { recursive: true, force: true });
});

async function startChain(mode: "forward" | "local"): Promise<number> {
  dir = mkdtempSync(join(tmpdir(), "ukv-write-chain-"));
  const chain = await startWriteChain(dir, 30000 + Math.floor(Math.random() * 3000) * 10, mode);
  children = chain.children;
  return chain.respPort;
}

function setCommand(key: string, value: string): string {
  return `*3\r\n$3\r\nSET\r\n$${key.length}\r\n${key}\r\n$${value.length}\r\n${value}\r\n`;
}

/** Sends the chunks one after another and resolves with every byte answered once `expectedBytes` arrived. */
async function exchange(port: number, chunks: string[], expectedBytes: number): Promise<string> {
  let answered = "";
  const { promise, resolve: done } = Promise.withResolvers<void>();
  const socket = await Bun.connect({
    hostname: "127.0.0.1",
    port,
    socket: {
      data(_socket, data) {
        answered += data.toString();
        if (answered.length >= expectedBytes) done();
      },
    },
  });
  for (const chunk of chunks) {
    socket.write(chunk);
    await Bun.sleep(5);
  }
  await Promise.race([promise, Bun.sleep(10_000)]);
  socket.end();
  return answered;
}

describe("bare write chain", () => {
  for (const mode of ["forward", "local"] as const) {
    test(`${mode}: every SET answered +OK once and written to all three logs`, async () => {
      const port = await startChain(mode);
      const pipelined = Array.from({ length: 20 }, (_, index) => setCommand(`pipelined-${index}`, `value-${index}`)).join("");
      // One read of 20 SETs, one SET split across two reads, then lone SETs.
      const split = setCommand("split-key", "split-value");
      const chunks = [pipelined, split.slice(0, 9), split.slice(9), ...Array.from({ length: 5 }, (_, index) => setCommand(`lone-${index}`, "x"))];
      const answered = await exchange(port, chunks, 26 * 5);
      expect(answered).toBe("+OK\r\n".repeat(26));
      // A reply needs 2 of 3 logs; the third may still be syncing.
      const keys = ["pipelined-0", "pipelined-19", "split-key", "lone-4"];
      const missing = (): string[] => {
        const absent: string[] = [];
        for (const role of ["follower", "leader", "entry"]) {
          const log = readFileSync(join(dir, `${role}.log`)).subarray(0, 64 * 1024).toString("latin1");
          for (const key of keys) if (!log.includes(key)) absent.push(`${role}: ${key}`);
        }
        return absent;
      };
      for (let attempt = 0; attempt < 50 && missing().length > 0; attempt++) await Bun.sleep(50);
      expect(missing()).toEqual([]);
    }, 30_000);
  }
});
