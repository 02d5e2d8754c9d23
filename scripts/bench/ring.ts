// Ring benchmark: routing rate of 16-byte keys (xxHash64 + binary search), split into hash-only and
// lookup-only, plus ring build time and encoded sizes. Run: `bun run scripts/bench/ring.ts`; writes nothing,
// prints a Markdown table (docs/benchmarks/ring.md records a run). Keeps well under 2 minutes.
import { encodeRing } from "../../src/ring/ring-codec.ts";
import { Ring, vnodeCountForShardCount } from "../../src/ring/ring.ts";
import { xxHash64, xxHash64Halves } from "../../src/ring/ring.ts";
import { Prng } from "../../src/util/prng.ts";

const keyCount = 1 << 16; // reused round-robin, so keys stay in cache as in a router's hot loop
const keySizeBytes = 16;
const durationMs = 1000; // per timed window, after a warm-up window of the same length
const repeatCount = 5; // the best of 5 windows is reported (the machine is shared), all are listed

const prng = new Prng(2024);
const keys: Uint8Array[] = [];
for (let i = 0; i < keyCount; i++) {
  const key = new Uint8Array(keySizeBytes);
  for (let j = 0; j < keySizeBytes; j++) key[j] = prng.nextInt(256);
  keys.push(key);
}
const hashes = keys.map((key) => xxHash64(key));

/**
 * Operations per second of `pass` (one pass over all keys, returning a checksum), best of
 * `repeatCount` timed windows after a warm-up. Each pass is its own function with its own loop,
 * so the loop body is monomorphic, as in a router's hot path.
 */
function measure(pass: () => number): { best: number; all: number[] } {
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
  const all = Array.from({ length: repeatCount }, run);
  if (sink === 0.5) console.log("unreachable"); // keeps `sink` alive so the loop is not removed
  return { best: Math.max(...all), all };
}

const format = (rate: number): string => `${(rate / 1e6).toFixed(2)} M/s`;
const rows: string[] = ["| measurement | shards | best | runs |", "|---|---|---|---|"];
const record = (name: string, shards: number | string, result: { best: number; all: number[] }): void => {
  rows.push(`| ${name} | ${shards} | ${format(result.best)} | ${result.all.map(format).join(", ")} |`);
};

const halves = new Uint32Array(2);
record(
  "xxHash64Halves (pure TS, no allocation)",
  "-",
  measure(() => {
    let checksum = 0;
    for (let i = 0; i < keyCount; i++) {
      xxHash64Halves(keys[i] as Uint8Array, halves);
      checksum ^= halves[1] as number;
    }
    return checksum;
  }),
);
record(
  "xxHash64 (Bun native XXH64, bigint result)",
  "-",
  measure(() => {
    let checksum = 0n;
    for (let i = 0; i < keyCount; i++) checksum ^= xxHash64(keys[i] as Uint8Array);
    return Number(checksum & 1n);
  }),
);
record(
  "Bun.hash.xxHash64 (native, reference)",
  "-",
  measure(() => {
    let checksum = 0n;
    for (let i = 0; i < keyCount; i++) checksum ^= BigInt(Bun.hash.xxHash64(keys[i] as Uint8Array));
    return Number(checksum & 1n);
  }),
);

for (const shardCount of [3, 16, 64, 1000]) {
  const buildStarted = performance.now();
  // The vnodes a cluster of this many shards routes by (client/topology.ts picks the same).
  const ring = Ring.build(Array.from({ length: shardCount }, (_, index) => index + 1), { vnodeCount: vnodeCountForShardCount(shardCount) });
  const buildMs = performance.now() - buildStarted;
  const jsonBytes = JSON.stringify(ring).length;
  const binaryBytes = encodeRing(ring).length;
  record(
    "shardForKey (hash + lookup)",
    shardCount,
    measure(() => {
      let checksum = 0;
      for (let i = 0; i < keyCount; i++) checksum ^= ring.shardForKey(keys[i] as Uint8Array);
      return checksum;
    }),
  );
  record(
    "lookup(bigint hash)",
    shardCount,
    measure(() => {
      let checksum = 0;
      for (let i = 0; i < keyCount; i++) checksum ^= ring.lookup(hashes[i] as bigint);
      return checksum;
    }),
  );
  rows.push(`| build: ${ring.rangeCount} ranges in ${buildMs.toFixed(0)} ms; JSON ${(jsonBytes / 1024).toFixed(0)} KiB, binary ${(binaryBytes / 1024).toFixed(0)} KiB | ${shardCount} | | |`);
}

console.log(rows.join("\n"));
