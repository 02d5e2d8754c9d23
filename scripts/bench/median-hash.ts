// Split-point benchmark: times Table.medianHash (the leader's default split point, on its event
// loop) over a whole 1M-key table, 5 runs after one warm-up, and checks how close to half of the
// keys the point falls. Run: `bun run scripts/bench/median-hash.ts [keyCount]`; prints one line,
// writes nothing, starts no cluster. To time another build, swap build/Release/ukv_native.node.
import { keyHash } from "../../src/ring/key-hash.ts";
import { Table } from "../../src/storage/table.ts";

const keyCount = Number(process.argv[2] ?? 1_000_000);
const runCount = 5;
// Under the table's batch limit (65,536 ops).
const batchCount = 50_000;
const allHashes = (1n << 64n) - 1n;

const encoder = new TextEncoder();
const keys = Array.from({ length: keyCount }, (_, index) => encoder.encode(`key-${index}`));
const table = Table.create();
for (let begin = 0; begin < keyCount; begin += batchCount) {
  const batch = keys.slice(begin, begin + batchCount);
  table.applyBatch(batch.map((key, offset) => ({ kind: "set", key, value: encoder.encode(`value-${begin + offset}-padding`) })));
}

let result = table.medianHash(0n, allHashes);
const runsMs: number[] = [];
for (let run = 0; run < runCount; run++) {
  const started = performance.now();
  result = table.medianHash(0n, allHashes);
  runsMs.push(performance.now() - started);
}
const median = result.median ?? 0n;
const below = keys.reduce((sum, key) => sum + (keyHash(key) < median ? 1 : 0), 0);
const runs = runsMs.map((ms) => ms.toFixed(1)).join(", ");
console.log(`${keyCount} keys: medianHash ${runs} ms; count estimate ${result.countEstimate}; ${((100 * below) / keyCount).toFixed(2)}% of the keys below the point`);
table.close();
