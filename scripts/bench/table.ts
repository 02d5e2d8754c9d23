// Table benchmark (issue 3): the native Swiss table through its TS face vs a JS Map in the same
// process, 1M entries, 16-byte keys, 100-byte values. The Map side converts each byte key to a
// string key (a server receives bytes) and copies each value into an output buffer (a server must
// copy it out); a second Map figure with prebuilt string keys is the Map's best case.
// Memory: each side fills in its own child process; resident bytes per entry from the RSS delta.
//
//   bun scripts/bench/table.ts            # all figures (~1-2 minutes; CPU time, best of 3 rounds)
//   bun scripts/bench/table.ts memory table|map   # one memory child (used by the parent)
import { Table, type TableOp } from "../../src/storage/table.ts";
import { Prng } from "../../src/util/prng.ts";

const entryCount = 1_000_000;
const keySizeBytes = 16;
const valueSizeBytes = 100;
const batchCount = 100;
const lookupCount = 500_000;

function makeKeys(seed: number): Uint8Array[] {
  const prng = new Prng(seed);
  const keys: Uint8Array[] = [];
  for (let i = 0; i < entryCount; i++) {
    const key = new Uint8Array(keySizeBytes);
    for (let b = 0; b < keySizeBytes; b += 4) {
      const word = prng.nextUint32();
      key[b] = word & 0xff;
      key[b + 1] = (word >>> 8) & 0xff;
      key[b + 2] = (word >>> 16) & 0xff;
      key[b + 3] = word >>> 24;
    }
    keys.push(key);
  }
  return keys;
}

function makeValue(index: number): Uint8Array {
  return new Uint8Array(valueSizeBytes).fill(index & 0xff);
}

const latin1 = new TextDecoder("latin1");
function keyString(key: Uint8Array): string {
  return latin1.decode(key);
}

function lookupOrder(seed: number): Int32Array {
  const prng = new Prng(seed);
  const order = new Int32Array(lookupCount);
  for (let i = 0; i < lookupCount; i++) order[i] = prng.nextInt(entryCount);
  return order;
}

/** Process CPU time (user + system) in ns: the machine is shared, and time spent descheduled is not ours. */
function cpuNs(): number {
  const usage = process.cpuUsage();
  return (usage.user + usage.system) * 1000;
}

const roundCount = 3;

/** Best of `roundCount` runs of `run` (which does `opCount` ops), in ops per CPU second. */
function bestOpsPerSecond(opCount: number, run: () => void): number {
  let best = 0;
  for (let round = 0; round < roundCount; round++) {
    const start = cpuNs();
    run();
    best = Math.max(best, opCount / ((cpuNs() - start) / 1e9));
  }
  return best;
}

function format(value: number): string {
  return Math.round(value).toLocaleString("en-US");
}

function runSpeed(): Record<string, number> {
  const keys = makeKeys(1);
  const values = Array.from({ length: 256 }, (_, index) => makeValue(index));
  const order = lookupOrder(2);
  const results: Record<string, number> = {};
  let sink = 0;

  const table = Table.create();
  const map = new Map<string, Uint8Array>();
  let start = cpuNs();
  for (let i = 0; i < entryCount; i++) table.set(keys[i] as Uint8Array, values[i & 0xff] as Uint8Array);
  results["table set (single, fill 1M)"] = entryCount / ((cpuNs() - start) / 1e9);
  start = cpuNs();
  for (let i = 0; i < entryCount; i++) map.set(keyString(keys[i] as Uint8Array), (values[i & 0xff] as Uint8Array).slice());
  results["map set (single, fill 1M, key->string, value copied)"] = entryCount / ((cpuNs() - start) / 1e9);

  const batchKeys: Uint8Array[] = new Array(batchCount);
  const ops: TableOp[] = Array.from({ length: batchCount }, () => ({ kind: "set", key: keys[0] as Uint8Array, value: values[0] as Uint8Array }));
  const output = new Uint8Array(valueSizeBytes * batchCount);
  const keyStrings = keys.map(keyString);
  // Each figure is the best of three rounds over the same 1M random lookups.
  results["table get (single)"] = bestOpsPerSecond(lookupCount, () => {
    for (let i = 0; i < lookupCount; i++) sink += (table.get(keys[order[i] as number] as Uint8Array) as Uint8Array).length;
  });
  results["table getMany (batch 100)"] = bestOpsPerSecond(lookupCount, () => {
    for (let i = 0; i < lookupCount; i += batchCount) {
      for (let j = 0; j < batchCount; j++) batchKeys[j] = keys[order[i + j] as number] as Uint8Array;
      sink += (table.getMany(batchKeys)[0] as Uint8Array).length;
    }
  });
  results["table applyBatch (batch 100, overwrite)"] = bestOpsPerSecond(lookupCount, () => {
    for (let i = 0; i < lookupCount; i += batchCount) {
      for (let j = 0; j < batchCount; j++) {
        const op = ops[j] as { kind: "set"; key: Uint8Array; value: Uint8Array };
        op.key = keys[order[i + j] as number] as Uint8Array;
        op.value = values[(i + j) & 0xff] as Uint8Array;
      }
      table.applyBatch(ops);
    }
  });
  results["map get (key->string, value copied out)"] = bestOpsPerSecond(lookupCount, () => {
    for (let i = 0; i < lookupCount; i++) {
      const value = map.get(keyString(keys[order[i] as number] as Uint8Array)) as Uint8Array;
      output.set(value, 0);
      sink += value.length;
    }
  });
  results["map get x100 into one buffer (key->string, copied)"] = bestOpsPerSecond(lookupCount, () => {
    for (let i = 0; i < lookupCount; i += batchCount) {
      let offset = 0;
      for (let j = 0; j < batchCount; j++) {
        const value = map.get(keyString(keys[order[i + j] as number] as Uint8Array)) as Uint8Array;
        output.set(value, offset);
        offset += value.length;
      }
      sink += offset;
    }
  });
  results["map get x100 (prebuilt string keys, copied)"] = bestOpsPerSecond(lookupCount, () => {
    for (let i = 0; i < lookupCount; i += batchCount) {
      let offset = 0;
      for (let j = 0; j < batchCount; j++) {
        const value = map.get(keyStrings[order[i + j] as number] as string) as Uint8Array;
        output.set(value, offset);
        offset += value.length;
      }
      sink += offset;
    }
  });
  table.close();
  if (sink === 0) throw new Error("Benchmark sink is empty: lookups found nothing");
  return results;
}

/** Key i computed from i (no key array), so the child's baseline RSS holds nothing to reuse. */
function writeKey(index: number, key: Uint8Array): void {
  let state = (index * 0x9e3779b1) >>> 0;
  for (let b = 0; b < keySizeBytes; b++) {
    state = (Math.imul(state ^ (state >>> 15), 0x2c1b3c6d) + b) >>> 0;
    key[b] = state & 0xff;
  }
}

/** Child process: fill one side and print resident bytes per entry. */
function runMemory(side: string): void {
  const key = new Uint8Array(keySizeBytes);
  const value = new Uint8Array(valueSizeBytes);
  Bun.gc(true);
  const before = process.memoryUsage().rss;
  let keep: unknown;
  if (side === "table") {
    const table = Table.create();
    for (let i = 0; i < entryCount; i++) {
      writeKey(i, key);
      value.fill(i & 0xff);
      table.set(key, value);
    }
    Bun.gc(true);
    const count = table.count();
    console.log(JSON.stringify({ side, count, rssBytesPerEntry: (process.memoryUsage().rss - before) / count, bytesUsedPerEntry: table.bytesUsed() / count }));
    keep = table;
  } else {
    const map = new Map<string, Uint8Array>();
    for (let i = 0; i < entryCount; i++) {
      writeKey(i, key);
      map.set(keyString(key), new Uint8Array(valueSizeBytes).fill(i & 0xff));
    }
    Bun.gc(true);
    console.log(JSON.stringify({ side, count: map.size, rssBytesPerEntry: (process.memoryUsage().rss - before) / map.size }));
    keep = map;
  }
  if (keep === null) throw new Error("unreachable: keeps the filled structure alive until measured");
}

function memoryChild(side: string): Record<string, number> {
  const child = Bun.spawnSync([process.execPath, import.meta.path, "memory", side]);
  if (child.exitCode !== 0) throw new Error(`memory child ${side} failed: ${child.stderr.toString()}`);
  return JSON.parse(child.stdout.toString().trim()) as Record<string, number>;
}

if (process.argv[2] === "memory") {
  runMemory(process.argv[3] ?? "table");
} else {
  const speed = runSpeed();
  for (const [name, value] of Object.entries(speed)) console.log(`${name.padEnd(56)} ${format(value).padStart(12)} ops/s`);
  const tableMemory = memoryChild("table");
  const mapMemory = memoryChild("map");
  console.log(`table resident bytes/entry (RSS delta)  ${tableMemory.rssBytesPerEntry?.toFixed(1)}  (bytesUsed/entry ${tableMemory.bytesUsedPerEntry?.toFixed(1)})`);
  console.log(`map   resident bytes/entry (RSS delta)  ${mapMemory.rssBytesPerEntry?.toFixed(1)}`);
  const batched = speed["table getMany (batch 100)"] as number;
  const mapBatched = speed["map get x100 into one buffer (key->string, copied)"] as number;
  const memoryRatio = (tableMemory.rssBytesPerEntry as number) / (mapMemory.rssBytesPerEntry as number);
  console.log(`batched get: table/map = ${(batched / mapBatched).toFixed(2)}x (target >= 1.5x)`);
  console.log(`memory: table/map = ${memoryRatio.toFixed(2)}x (target <= 0.5x)`);
}
