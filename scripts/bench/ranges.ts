// Range map benchmark: routing rate of 16-byte keys (keyHash + binary search over range starts),
// hash-only and lookup-only, for 16 and 4096 ranges. Run: `bun run scripts/bench/ranges.ts`;
// prints a Markdown table, writes nothing. Keeps well under a minute.
import { keyHash } from "../../src/ring/key-hash.ts";
import { RangeMap } from "../../src/ring/range-map.ts";
import { Prng } from "../../src/util/prng.ts";

const keyCount = 1 << 16;
const durationMs = 1000;
const repeatCount = 3;
const prng = new Prng(2024);
const keys = Array.from({ length: keyCount }, () => Uint8Array.from({ length: 16 }, () => prng.nextInt(256)));
const hashes = keys.map(keyHash);

function measure(pass: () => number): number {
  let sink = 0;
  const run = (): number => {
    const started = performance.now();
    let operations = 0;
    while (performance.now() - started < durationMs) {
      sink ^= pass();
      operations += keyCount;
    }
    return operations / ((performance.now() - started) / 1000);
  };
  run();
  const best = Math.max(...Array.from({ length: repeatCount }, run));
  if (sink === 0.5) console.log("unreachable");
  return best;
}

const rows = ["| measurement | ranges | best of 3 |", "|---|---|---|"];
const format = (rate: number): string => `${(rate / 1e6).toFixed(2)} M/s`;
rows.push(`| keyHash | - | ${format(measure(() => { let c = 0; for (const key of keys) c ^= Number(keyHash(key) & 0xffn); return c; }))} |`);
for (const count of [16, 4096]) {
  const map = RangeMap.equal(Array.from({ length: count }, (_, index) => index + 1));
  rows.push(`| lookup (binary search) | ${count} | ${format(measure(() => { let c = 0; for (const hash of hashes) c ^= map.lookup(hash).shardId; return c; }))} |`);
  rows.push(`| shardForKey (hash + lookup) | ${count} | ${format(measure(() => { let c = 0; for (const key of keys) c ^= map.shardForKey(key); return c; }))} |`);
}
console.log(rows.join("\n"));
