// The read pool's rejected design, measured (issue 20, FR3.2): the Raft thread parses and hands
// batches of reads to Workers by postMessage, versus reading the shared table itself. Prints, for
// batches of 16 keys (one redis-benchmark -P 16 pipeline), the Raft thread's cost per batch:
// reading in-thread (one getMany) against a postMessage round trip to a Worker that reads (many
// batches in flight, so this is throughput cost, not latency). If the hand-off costs the Raft
// thread more than the read it saves, handing reads over cannot raise throughput: the thread
// still parses, routes and encodes every command. The chosen design (Workers own the sockets)
// takes the whole command off the Raft thread instead.
//
// Usage: bun scripts/bench/read-handoff.ts [--batches 20000]
import { Table } from "../../src/storage/table.ts";

const argv = process.argv.slice(2);
const batchesIndex = argv.indexOf("--batches");
const batchCount = batchesIndex >= 0 ? Number(argv[batchesIndex + 1]) : 20_000;
const keyCount = 100_000;
const batchSize = 16;
const encoder = new TextEncoder();
const table = Table.create();
const keys = Array.from({ length: keyCount }, (_, index) => encoder.encode(`key:${String(index).padStart(12, "0")}`));
for (const key of keys) table.set(key, new Uint8Array(101).fill(0x78));
const batchOf = (index: number): Uint8Array[] => Array.from({ length: batchSize }, (_, offset) => keys[(index * 7919 + offset * 104729) % keyCount] as Uint8Array);

function threadCpuMicros(): number {
  const usage = process.cpuUsage();
  return usage.user + usage.system;
}

// In-thread: the Raft thread reads each batch itself.
let cpuBefore = threadCpuMicros();
let wallBefore = performance.now();
let bytes = 0;
for (let index = 0; index < batchCount; index++) for (const value of table.getMany(batchOf(index))) bytes += value?.byteLength ?? 0;
const inThreadWallUs = ((performance.now() - wallBefore) * 1000) / batchCount;
const inThreadCpuUs = (threadCpuMicros() - cpuBefore) / batchCount;

// Hand-off: the same batches to a Worker attached to the table, answers back by postMessage.
const worker = new Worker(new URL("./fixtures/read-handoff-worker.ts", import.meta.url).href);
await new Promise<void>((resolve) => {
  worker.onmessage = () => resolve();
  worker.postMessage({ tableId: table.tableId });
});
let answered = 0;
const inflightMax = 256;
let sent = 0;
cpuBefore = threadCpuMicros();
wallBefore = performance.now();
await new Promise<void>((resolve) => {
  worker.onmessage = (event: MessageEvent<Uint8Array[]>) => {
    for (const value of event.data) bytes += value?.byteLength ?? 0;
    answered++;
    if (sent < batchCount) worker.postMessage(batchOf(sent++));
    if (answered === batchCount) resolve();
  };
  while (sent < Math.min(inflightMax, batchCount)) worker.postMessage(batchOf(sent++));
});
const handoffWallUs = ((performance.now() - wallBefore) * 1000) / batchCount;
// Process CPU includes the Worker's: the Raft thread's share is at least wall-clock-bound below.
const handoffCpuUs = (threadCpuMicros() - cpuBefore) / batchCount;
worker.terminate();
table.close();
console.log(`batches of ${batchSize} keys, ${batchCount} batches, ${navigator.hardwareConcurrency} cores (bytes read ${bytes})`);
console.log(`| path | wall us per batch | process CPU us per batch |`);
console.log(`|---|---:|---:|`);
console.log(`| Raft thread reads (getMany) | ${inThreadWallUs.toFixed(2)} | ${inThreadCpuUs.toFixed(2)} |`);
console.log(`| hand-off to a Worker (postMessage both ways, ${inflightMax} in flight) | ${handoffWallUs.toFixed(2)} | ${handoffCpuUs.toFixed(2)} |`);
