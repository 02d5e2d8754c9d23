// Active expiry's cost on the event loop: CPU of `ActiveExpiry` over one led shard of 100,000 keys,
// for plain strings (no deadline: the native filter skips them) and for strings that all carry a
// future deadline (every entry becomes a JS object and is decoded): one sample, and the mean of a
// pass over 500 passes in a row (a shard whose samples find nothing is skipped with a growing
// back-off), beside an unfiltered walk of the same slots (what every pass cost before both). Run:
// `bun run scripts/bench/expiry-sweep.ts`; prints a Markdown table, writes nothing, ~10 s.
import pino from "pino";
import { encodeStoredValue, storedValueHeaderSizeBytesMax } from "../../src/kv/stored-value.ts";
import type { GroupRuntime } from "../../src/node/group-runtime.ts";
import { Table } from "../../src/storage/table.ts";
import { ActiveExpiry } from "../../src/store/active-expiry.ts";
import { activeExpirySlotsPerPass } from "../../src/util/limits.ts";

const keyCount = 100_000;
const passCount = 500;

function filledTable(deadlineMs: number | null): Table {
  const table = Table.create();
  const encoder = new TextEncoder();
  const value = encodeStoredValue(new Uint8Array(100), deadlineMs);
  for (let index = 0; index < keyCount; index++) table.set(encoder.encode(`key:${index}`), value);
  return table;
}

function cpuMsPer(runs: number, run: () => void): number {
  const before = process.cpuUsage();
  for (let index = 0; index < runs; index++) run();
  const used = process.cpuUsage(before);
  return (used.user + used.system) / 1000 / runs;
}

const rows: string[] = [];
for (const [name, deadlineMs] of [["plain strings", null], ["strings with a future deadline", Date.now() + 3_600_000]] as const) {
  const table = filledTable(deadlineMs);
  // Only what ActiveExpiry touches: a leader with a table; nothing expires, so nothing is written.
  const runtime = { isLeader: () => true, table } as unknown as GroupRuntime;
  const newExpiry = (): ActiveExpiry => new ActiveExpiry({ replicas: () => [{ groupId: 1, runtime }], logger: pino({ level: "silent" }) });
  // A new instance each run: every pass samples (no idle back-off yet).
  const sampleMs = cpuMsPer(passCount, () => newExpiry().pass());
  const expiry = newExpiry();
  const passMs = cpuMsPer(passCount, () => expiry.pass());
  let slot = 0;
  const unfilteredMs = cpuMsPer(passCount, () => {
    const page = table.scan(slot, activeExpirySlotsPerPass, activeExpirySlotsPerPass, storedValueHeaderSizeBytesMax);
    slot = page.next >= page.capacity ? 0 : page.next;
  });
  rows.push(`| ${name} | ${sampleMs.toFixed(3)} ms | ${passMs.toFixed(3)} ms | ${unfilteredMs.toFixed(3)} ms |`);
  table.close();
}
console.log(`${keyCount.toLocaleString("en-US")} keys, ${activeExpirySlotsPerPass} slots a pass, CPU per pass (mean of ${passCount}):\n`);
console.log("| keys | one sample (filtered walk + decode) | a pass, mean of 500 in a row (idle back-off) | unfiltered walk alone (every sample before) |");
console.log("|---|---:|---:|---:|");
for (const row of rows) console.log(row);
