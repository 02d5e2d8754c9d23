// Active expiry's sampling, over a real table and a stand-in leader: it proposes the expired keys
// it finds, skips plain strings natively, and backs off on a shard whose samples find nothing.
import { expect, test } from "bun:test";
import pino from "pino";
import { decodeKeyedTransaction } from "../../../src/kv/keyed-commands.ts";
import { encodeStoredValue } from "../../../src/kv/stored-value.ts";
import type { GroupRuntime } from "../../../src/node/group-runtime.ts";
import { Table } from "../../../src/storage/table.ts";
import { ActiveExpiry } from "../../../src/store/active-expiry.ts";
import { activeExpiryIdleBackoffPassesMax } from "../../../src/util/limits.ts";

const nowMs = 1_000_000;

/** A leader over `table` counting the passes that sampled it (a sample may scan twice: to the table's end, then on from its start). */
function leaderOver(table: Table): { runtime: GroupRuntime; scans: () => number; nextPass: () => void; proposedKeys: string[] } {
  let pass = 0;
  const sampledPasses = new Set<number>();
  const proposedKeys: string[] = [];
  const counted = new Proxy(table, {
    get(target, property) {
      if (property === "scan") return (...args: Parameters<Table["scan"]>) => (sampledPasses.add(pass), target.scan(...args));
      const value = Reflect.get(target, property, target) as unknown;
      return typeof value === "function" ? (value as (...args: unknown[]) => unknown).bind(target) : value;
    },
  });
  const runtime = {
    isLeader: () => true,
    table: counted,
    write: (_op: number, _first: Uint8Array, value: Uint8Array) => {
      for (const step of decodeKeyedTransaction(value).steps) proposedKeys.push(new TextDecoder().decode(step.key));
      return Promise.resolve(new Uint8Array(0));
    },
  } as unknown as GroupRuntime;
  return { runtime, scans: () => sampledPasses.size, nextPass: () => void pass++, proposedKeys };
}

test("a shard whose samples find nothing is sampled less and less often, and at once again after one finds an expired key", async () => {
  const table = Table.create();
  const encoder = new TextEncoder();
  for (let index = 0; index < 1000; index++) table.set(encoder.encode(`plain-${index}`), encodeStoredValue(new Uint8Array(8), null));
  for (let index = 0; index < 100; index++) table.set(encoder.encode(`later-${index}`), encodeStoredValue(new Uint8Array(8), nowMs + 60_000));
  const leader = leaderOver(table);
  let clockMs = nowMs;
  const expiry = new ActiveExpiry({ replicas: () => [{ groupId: 7, runtime: leader.runtime }], logger: pino({ level: "silent" }), nowMs: () => clockMs });
  const passCount = 200;
  for (let pass = 0; pass < passCount; pass++) {
    leader.nextPass();
    expect(expiry.pass()).toBe(0);
  }
  // Skips of 1, 2, 4, 8, then 16 passes between samples: 5 samples in the first 20 passes, then one every 17.
  const expectedSamples = 5 + Math.ceil((passCount - 20) / (activeExpiryIdleBackoffPassesMax + 1));
  expect(leader.scans()).toBeGreaterThanOrEqual(expectedSamples - 1);
  expect(leader.scans()).toBeLessThanOrEqual(expectedSamples + 1);

  // The deadlines pass: within one back-off the sweep finds them, proposes them all, and samples
  // every pass again while it finds more.
  clockMs = nowMs + 60_000;
  let proposed = 0;
  for (let pass = 0; pass <= activeExpiryIdleBackoffPassesMax && proposed === 0; pass++) {
    leader.nextPass();
    proposed = expiry.pass();
    await Bun.sleep(0);
  }
  expect(proposed).toBe(100);
  expect(leader.proposedKeys.every((key) => key.startsWith("later-"))).toBe(true);
  const scansBefore = leader.scans();
  leader.nextPass();
  expiry.pass();
  expect(leader.scans()).toBe(scansBefore + 1);
  table.close();
});
