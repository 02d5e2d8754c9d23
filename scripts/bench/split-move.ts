// Split key-move benchmark: times Table.takeHashRange (run by every replica inside the split's
// Raft apply, on its event loop) moving the upper half of the hash range out of a fresh table of
// 1M keys (16-byte keys, 100-byte values), 5 runs, each on a newly filled table. Run:
// `bun run scripts/bench/split-move.ts [keyCount]`; prints one line per run and the load, writes
// nothing, starts no cluster. To time another build, swap build/Release/ukv_native.node.
import { loadavg } from "node:os";
import { Table } from "../../src/storage/table.ts";

const keyCount = Number(process.argv[2] ?? 1_000_000);
const runCount = 5;
// Under the table's batch limit (65,536 ops).
const batchCount = 50_000;
const low = 1n << 63n;
const high = (1n << 64n) - 1n;

const encoder = new TextEncoder();
// "key:" and 12 digits: 16 bytes.
const keys = Array.from({ length: keyCount }, (_, index) => encoder.encode(`key:${String(index).padStart(12, "0")}`));
const value = new Uint8Array(100).fill(0x76);

function filled(): Table {
  const table = Table.create();
  for (let begin = 0; begin < keyCount; begin += batchCount) {
    const batch = keys.slice(begin, begin + batchCount);
    table.applyBatch(batch.map((key) => ({ kind: "set", key, value })));
  }
  return table;
}

const runsMs: number[] = [];
for (let run = 0; run < runCount; run++) {
  const table = filled();
  const started = performance.now();
  const child = table.takeHashRange(low, high);
  runsMs.push(performance.now() - started);
  if (child.count() + table.count() !== keyCount) throw new Error("the split lost or duplicated keys");
  console.log(`run ${run + 1}: ${runsMs[run]!.toFixed(1)} ms, ${child.count()} keys moved, ${table.count()} kept`);
  child.close();
  table.close();
}
const sorted = [...runsMs].sort((a, b) => a - b);
const load = loadavg().map((value) => value.toFixed(2)).join(" ");
console.log(`${keyCount} keys: takeHashRange ${runsMs.map((ms) => ms.toFixed(1)).join(", ")} ms (median ${sorted[runCount >> 1]!.toFixed(1)}); load ${load}`);
