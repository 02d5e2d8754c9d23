// Short fuzz runs of every decoder (npm run fuzz does >= 1M cases): mutated and random inputs
// must end in a typed error or a valid result, never a crash, a hang or runaway memory.
import { expect, test } from "bun:test";
import { fuzzInput, fuzzTarget, mutate } from "../../src/chaos/fuzz.ts";
import { assertSameParse } from "../../src/chaos/fuzz-resp.ts";
import { Prng } from "../../src/util/prng.ts";

const seed = 20_261_125;

test.each([
  ["raft-frames", 4000],
  ["client-frames", 4000],
  ["resp", 4000],
  ["snapshot", 2000],
  ["config-yaml", 800],
  ["wal", 150],
] as const)("fuzzed %s inputs end in a typed error or a valid result (%d cases)", async (target, caseCount) => {
  const result = await fuzzTarget(target, { seed, caseCount });
  expect(result.failures).toEqual([]);
  expect(result.caseCount).toBe(caseCount);
}, 60_000);

test("a case replays: the same seed and index give the same input", async () => {
  const first = await fuzzInput("client-frames", { seed, caseIndex: 17 });
  const second = await fuzzInput("client-frames", { seed, caseIndex: 17 });
  expect(first).toEqual(second);
  expect(await fuzzInput("client-frames", { seed, caseIndex: 18 })).not.toEqual(first);
});

test("mutations change the input most of the time (the fuzzer is not a no-op)", () => {
  const prng = new Prng(1);
  const input = new Uint8Array(64).fill(7);
  let changedCount = 0;
  for (let caseIndex = 0; caseIndex < 200; caseIndex++) {
    const output = mutate(prng, input);
    if (output.length !== input.length || output.some((byte, index) => byte !== input[index])) changedCount++;
  }
  expect(changedCount).toBeGreaterThan(180);
});

test("the RESP target's split-parse oracle reports a parse that depends on how the bytes were cut", () => {
  const command = { kind: "command" as const, args: [new TextEncoder().encode("GET"), new TextEncoder().encode("k")] };
  expect(() => assertSameParse([command], [command])).not.toThrow();
  expect(() => assertSameParse([command], [])).toThrow(/differs when the input is split/);
  expect(() => assertSameParse([command], [{ kind: "command", args: [new TextEncoder().encode("GET"), new TextEncoder().encode("j")] }])).toThrow(/differs/);
});
