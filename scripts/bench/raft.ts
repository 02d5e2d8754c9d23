// Raft core throughput: three in-memory RawNodes wired directly (no IO, messages handed over
// in-process, persist = MemoryStorage), the leader proposing 128-byte entries in batches.
// Reports committed entries/s (applied on the leader and on both followers) and the allocation
// picture: heap before/after, peak, and GC-visible growth per entry.
// Usage: bun run scripts/bench/raft.ts [--entries N] [--batch N] [--seconds S]
import { heapStats } from "bun:jsc";
import { defaultRaftConfig } from "../../src/raft/config.ts";
import { MemoryStorage } from "../../src/raft/memory-storage.ts";
import { RawNode } from "../../src/raft/raw-node.ts";
import { Role, type Message, type NodeId } from "../../src/raft/types.ts";
import { Prng } from "../../src/util/prng.ts";

const entrySizeBytes = 128;
const measureStartMarker = "ukv-bench-measure-start";
const measureEndMarker = "ukv-bench-measure-end";
/** Storage is compacted every this many applied entries, as a runtime taking snapshots would. */
const compactEveryEntries = 100_000;
const pumpRoundsMax = 1_000_000;

function argument(name: string, fallback: number): number {
  const position = process.argv.indexOf(`--${name}`);
  if (position < 0) return fallback;
  const value = Number(process.argv[position + 1]);
  if (!Number.isFinite(value) || value <= 0) throw new Error(`Bad --${name}: ${process.argv[position + 1]}`);
  return value;
}

interface BenchNode {
  id: NodeId;
  storage: MemoryStorage;
  node: RawNode;
  appliedCount: number;
  appliedIndex: number;
  lastCompactIndex: number;
}

if (!process.argv.includes("--child")) {
  // Parent: rerun this script with JSC's GC log on, and sum the bytes each GC cycle reports as
  // "allocated this cycle" inside the measured window: that is the allocation rate.
  const child = Bun.spawnSync([process.execPath, import.meta.path, ...process.argv.slice(2), "--child"], {
    env: { ...process.env, BUN_JSC_logGC: "1" },
    stdout: "pipe",
    stderr: "pipe",
  });
  const stderr = child.stderr.toString();
  const start = stderr.indexOf(measureStartMarker);
  const end = stderr.indexOf(measureEndMarker);
  if (child.exitCode !== 0 || start < 0 || end < 0) {
    console.error(stderr.slice(-4000));
    throw new Error(`bench child failed: exit ${child.exitCode}`);
  }
  let allocatedBytes = 0;
  let gcCycles = 0;
  for (const match of stderr.slice(start, end).matchAll(/bytes allocated this cycle: (\d+)/g)) {
    allocatedBytes += Number(match[1]);
    gcCycles++;
  }
  const report = JSON.parse(child.stdout.toString()) as { proposed: number; seconds: number };
  const full = {
    ...report,
    gcCyclesMeasured: gcCycles,
    allocatedMiB: Number((allocatedBytes / 1024 / 1024).toFixed(1)),
    allocatedBytesPerEntry: Number((allocatedBytes / report.proposed).toFixed(0)),
    allocationRateMiBPerSecond: Number((allocatedBytes / 1024 / 1024 / report.seconds).toFixed(0)),
  };
  console.log(JSON.stringify(full, null, 2));
  process.exit(0);
}

const voters = [1, 2, 3];
const nodes: BenchNode[] = voters.map((id) => {
  const storage = new MemoryStorage({ conf: { voters, learners: [] } });
  const node = new RawNode(defaultRaftConfig({ id, storage, random: new Prng(id) }));
  return { id, storage, node, appliedCount: 0, appliedIndex: 0, lastCompactIndex: 0 };
});
const byId = new Map(nodes.map((n) => [n.id, n]));

let messageCount = 0;

/** Runs Ready loops and delivers messages until every node is quiet. */
function pump(): void {
  for (let round = 0; round < pumpRoundsMax; round++) {
    const outbox: Message[] = [];
    let busy = false;
    for (const n of nodes) {
      if (!n.node.hasReady()) continue;
      busy = true;
      const ready = n.node.ready();
      if (ready.hardState !== null) n.storage.setHardState(ready.hardState);
      if (ready.snapshot !== null) n.storage.applySnapshot(ready.snapshot);
      n.storage.append(ready.entries);
      for (const m of ready.messages) outbox.push(m);
      const committed = ready.committedEntries;
      if (committed.length > 0) {
        n.appliedCount += committed.length;
        n.appliedIndex = (committed[committed.length - 1] as { index: number }).index;
      }
      n.node.advance(ready);
      if (n.appliedIndex - n.lastCompactIndex >= compactEveryEntries) {
        n.storage.createSnapshot(n.appliedIndex, { voters, learners: [] }, new Uint8Array(0));
        n.storage.compact(n.appliedIndex);
        n.lastCompactIndex = n.appliedIndex;
      }
    }
    messageCount += outbox.length;
    for (const m of outbox) byId.get(m.to)?.node.step(m);
    if (!busy && outbox.length === 0) return;
  }
  throw new Error("pump did not settle");
}

function mib(bytes: number): string {
  return (bytes / 1024 / 1024).toFixed(1);
}

const entriesTarget = argument("entries", 2_000_000);
const batchSize = argument("batch", 1024);
const secondsMax = argument("seconds", 60);

const leader = nodes[0] as BenchNode;
leader.node.campaign();
pump();
if (leader.node.status().role !== Role.Leader) throw new Error("node 1 did not become leader");

const payload = new Uint8Array(entrySizeBytes).fill(7);
// Warm-up (JIT), not measured.
for (let i = 0; i < 50_000; i++) {
  leader.node.propose(payload);
  if (i % batchSize === batchSize - 1) pump();
}
pump();

Bun.gc(true);
const heapBefore = process.memoryUsage().heapUsed;
const objectsBefore = heapStats().objectCount;
const startAppliedLeader = leader.appliedCount;
const startAppliedMin = Math.min(...nodes.map((n) => n.appliedCount));
messageCount = 0;
let heapPeak = heapBefore;
let proposed = 0;

console.error(measureStartMarker);
const startNs = Bun.nanoseconds();
const deadlineNs = startNs + secondsMax * 1e9;
while (proposed < entriesTarget && Bun.nanoseconds() < deadlineNs) {
  for (let i = 0; i < batchSize; i++) leader.node.propose(payload);
  proposed += batchSize;
  pump();
  if ((proposed / batchSize) % 64 === 0) heapPeak = Math.max(heapPeak, process.memoryUsage().heapUsed);
}
const elapsedNs = Bun.nanoseconds() - startNs;
console.error(measureEndMarker);
const heapAfterNoGc = process.memoryUsage().heapUsed;
Bun.gc(true);
const heapAfter = process.memoryUsage().heapUsed;
const objectsAfter = heapStats().objectCount;

const seconds = elapsedNs / 1e9;

const leaderCommitted = leader.appliedCount - startAppliedLeader;
const allCommitted = Math.min(...nodes.map((n) => n.appliedCount)) - startAppliedMin;
const report = {
  entrySizeBytes,
  batchSize,
  proposed,
  seconds: Number(seconds.toFixed(3)),
  leaderCommittedEntriesPerSecond: Math.round(leaderCommitted / seconds),
  allNodesAppliedEntriesPerSecond: Math.round(allCommitted / seconds),
  messagesPerSecond: Math.round(messageCount / seconds),
  replicatedEntriesPerMessage: Number(((proposed * 2) / Math.max(1, messageCount)).toFixed(1)),
  heapBeforeMiB: mib(heapBefore),
  heapPeakSampledMiB: mib(heapPeak),
  heapAfterBeforeGcMiB: mib(heapAfterNoGc),
  heapAfterGcMiB: mib(heapAfter),
  retainedBytesPerEntry: Number(((heapAfter - heapBefore) / proposed).toFixed(1)),
  liveObjectsDelta: objectsAfter - objectsBefore,
};
console.log(JSON.stringify(report, null, 2));
if (leaderCommitted !== proposed) throw new Error(`committed ${leaderCommitted} of ${proposed} proposed entries`);
