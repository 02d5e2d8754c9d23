// Transport benchmark: (1) Raft codec encode/decode of an Append with 64 entries of 100 bytes;
// (2) Raft transport: Append messages per second between two transports on 127.0.0.1;
// (3) client protocol: idle GET round-trip latency (one request at a time, p50/p99) and pipelined
// GET throughput (windows of 1,000), against a KvServer whose handler answers from a Map.
// Run: `bun run scripts/bench/transport.ts`; prints Markdown (docs/benchmarks/transport.md records a run).
// Bounded: a few seconds per measurement, well under 2 minutes in total.
import pino from "pino";
import type { Message } from "../../src/raft/types.ts";
import { EntryType, MessageType, emptyMessage } from "../../src/raft/types.ts";
import { KvClient } from "../../src/transport/kv-client.ts";
import { makeKvResponse } from "../../src/transport/kv-protocol.ts";
import { KvServer } from "../../src/transport/kv-server.ts";
import { decodeMessage, encodeMessage } from "../../src/transport/raft-codec.ts";
import { RaftTransport } from "../../src/transport/raft-transport.ts";

const silent = pino({ level: "silent" });
const durationMs = 2000;

function appendMessage(entryCount: number, entrySizeBytes: number): Message {
  const entries = Array.from({ length: entryCount }, (_, index) => ({
    term: 5,
    index: 1000 + index,
    type: EntryType.Normal,
    data: new Uint8Array(entrySizeBytes).fill(index),
  }));
  return { ...emptyMessage(MessageType.Append, 1, 2, 5), logTerm: 5, index: 999, commit: 990, entries };
}

function benchCodec(): string[] {
  const message = appendMessage(64, 100);
  const encoded = encodeMessage(message);
  const rate = (body: () => void): number => {
    for (let i = 0; i < 2000; i++) body(); // warm-up
    const started = performance.now();
    let count = 0;
    while (performance.now() - started < durationMs) {
      for (let i = 0; i < 500; i++) body();
      count += 500;
    }
    return count / ((performance.now() - started) / 1000);
  };
  const encodeRate = rate(() => encodeMessage(message));
  const decodeRate = rate(() => decodeMessage(encoded));
  const mb = (perSecond: number): string => ((perSecond * encoded.byteLength) / 1e6).toFixed(0);
  return [
    `| codec encode, Append 64 x 100 B (${encoded.byteLength} B) | ${Math.round(encodeRate).toLocaleString("en")} msg/s | ${mb(encodeRate)} MB/s |`,
    `| codec decode, same message | ${Math.round(decodeRate).toLocaleString("en")} msg/s | ${mb(decodeRate)} MB/s |`,
  ];
}

async function benchRaftTransport(): Promise<string[]> {
  let receivedCount = 0;
  const b = new RaftTransport({
    nodeId: 2,
    listenHost: "127.0.0.1",
    listenPort: 0,
    peers: new Map(),
    logger: silent,
    onMessages: (_groupId, messages) => (receivedCount += messages.length),
    onSnapshot: async () => {},
  });
  const { port } = await b.start();
  const a = new RaftTransport({
    nodeId: 1,
    listenHost: "127.0.0.1",
    listenPort: 0,
    peers: new Map([[2, `127.0.0.1:${port}`]]),
    logger: silent,
    onMessages: () => {},
    onSnapshot: async () => {},
  });
  await a.start();
  const message = appendMessage(8, 100);
  const perTurn = 64; // messages per event-loop turn (one frame)
  let sentCount = 0;
  const started = performance.now();
  while (performance.now() - started < durationMs) {
    // Keep at most ~4 turns in flight so the measurement is delivery, not queueing (or dropping).
    if (sentCount - receivedCount < perTurn * 4) {
      a.send(1, Array.from({ length: perTurn }, () => message));
      sentCount += perTurn;
    }
    await new Promise((resolve) => setImmediate(resolve));
  }
  const elapsedS = (performance.now() - started) / 1000;
  const dropped = a.peerStats(2)?.droppedMessageCount ?? 0;
  await a.close();
  await b.close();
  const rate = receivedCount / elapsedS;
  return [`| raft transport, Append 8 x 100 B, 64 per turn | ${Math.round(rate).toLocaleString("en")} msg/s delivered | ${((rate * 8 * 100) / 1e6).toFixed(0)} MB/s entry data, ${dropped} dropped |`];
}

async function benchClientProtocol(): Promise<string[]> {
  const store = new Map<string, Uint8Array>([["key", new Uint8Array(100).fill(7)]]);
  const server = new KvServer({
    host: "127.0.0.1",
    port: 0,
    logger: silent,
    handler: async (request) => makeKvResponse(request.id, "OK", { value: store.get(new TextDecoder().decode(request.key)) ?? new Uint8Array(0) }),
  });
  const { port } = await server.start();
  const client = new KvClient(`127.0.0.1:${port}`);
  const key = new TextEncoder().encode("key");
  for (let i = 0; i < 500; i++) await client.get(key); // warm-up
  const latenciesMs: number[] = [];
  let started = performance.now();
  while (performance.now() - started < durationMs) {
    const before = performance.now();
    await client.get(key);
    latenciesMs.push(performance.now() - before);
  }
  latenciesMs.sort((x, y) => x - y);
  const percentile = (p: number): string => (latenciesMs[Math.floor((latenciesMs.length - 1) * p)] ?? 0).toFixed(3);
  const windowSize = 1000;
  let pipelinedCount = 0;
  started = performance.now();
  while (performance.now() - started < durationMs) {
    await Promise.all(Array.from({ length: windowSize }, () => client.get(key)));
    pipelinedCount += windowSize;
  }
  const pipelinedRate = pipelinedCount / ((performance.now() - started) / 1000);
  client.close();
  await server.close();
  return [
    `| client GET round trip, idle, one at a time (${latenciesMs.length} requests) | p50 ${percentile(0.5)} ms, p99 ${percentile(0.99)} ms | target < 1 ms |`,
    `| client GET pipelined, windows of ${windowSize}, 100 B values | ${Math.round(pipelinedRate).toLocaleString("en")} req/s | one connection |`,
  ];
}

const rows = [...benchCodec(), ...(await benchRaftTransport()), ...(await benchClientProtocol())];
console.log("| measurement | result | notes |");
console.log("| --- | --- | --- |");
for (const row of rows) console.log(row);
