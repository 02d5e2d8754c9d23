// The fault injectors on their own: the link proxy forwards, blackholes while blocked and
// reconnects after heal; the torn-WAL fault lands after the last record (not at the file end of
// a preallocated segment) and Wal.open drops it, keeping every durable entry; on a store's shared
// log (a Wal of store-level records) recovery keeps every durable record of every group; the
// fatal-log scan of a chaos run tells the routing's CRITICAL availability alerts from real fatals.
import { afterEach, expect, test } from "bun:test";
import { createServer, connect, type Server, type Socket } from "node:net";
import { mkdtempSync, openSync, closeSync, fstatSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { isAvailabilityAlert } from "../../src/chaos/chaos-cluster.ts";
import { LinkProxy } from "../../src/chaos/link-proxy.ts";
import { findLogEnd, newestSegment, tearWalTail } from "../../src/chaos/torn-wal.ts";
import { StoreLog } from "../../src/storage/store-log.ts";
import { Wal } from "../../src/storage/wal.ts";

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function echoServer(): Promise<{ server: Server; port: number }> {
  const server = createServer((socket) => socket.pipe(socket));
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", () => resolve()));
  const address = server.address();
  if (address === null || typeof address !== "object") throw new Error("no address");
  cleanups.push(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return { server, port: address.port };
}

async function roundTrip(address: string, text: string, waitMs: number): Promise<string> {
  const [host, port] = address.split(":");
  const socket: Socket = connect({ host: host!, port: Number(port) });
  socket.on("error", () => undefined);
  let received = "";
  socket.on("data", (chunk: Buffer) => (received += chunk.toString()));
  await new Promise<void>((resolve) => socket.once("connect", () => resolve()));
  socket.write(text);
  await Bun.sleep(waitMs);
  socket.destroy();
  return received;
}

test("a link proxy forwards, drops everything while blocked, and forwards again after heal", async () => {
  const { port } = await echoServer();
  const proxy = await LinkProxy.start({ fromId: 1, toId: 2, target: `127.0.0.1:${port}` });
  cleanups.push(() => proxy.close());
  expect(await roundTrip(proxy.address, "hello", 100)).toBe("hello");
  proxy.block();
  expect(await roundTrip(proxy.address, "lost", 200)).toBe("");
  proxy.heal();
  expect(await roundTrip(proxy.address, "again", 100)).toBe("again");
});

test("a torn WAL tail is written after the last record and recovery keeps every durable entry", async () => {
  const dir = mkdtempSync(join(tmpdir(), "ukv-torn-"));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  const segmentSizeBytes = 64 * 1024;
  const { wal } = await Wal.open(dir, { segmentSizeBytes });
  const entries = Array.from({ length: 20 }, (_, index) => ({ term: 1, index: index + 1, data: new TextEncoder().encode(`entry-${index}`) }));
  await wal.append({ entries, hardState: { term: 1, vote: 2, commit: 20 } });
  await wal.close();
  const segment = newestSegment(dir)!;
  const fd = openSync(segment, "r");
  const fileSizeBytes = fstatSync(fd).size;
  const endBefore = findLogEnd(fd, fileSizeBytes);
  closeSync(fd);
  expect(fileSizeBytes).toBe(segmentSizeBytes); // preallocated: the file end is not the log end
  expect(endBefore).toBeGreaterThan(0);
  expect(endBefore).toBeLessThan(fileSizeBytes);
  for (const tearSeed of [1, 2, 3, 4]) {
    const torn = tearWalTail(dir, tearSeed);
    expect(torn?.logEndOffset).toBe(endBefore);
    const { wal: reopened, recovery } = await Wal.open(dir, { segmentSizeBytes });
    expect(recovery.entries.map((entry) => entry.index)).toEqual(entries.map((entry) => entry.index));
    expect(recovery.hardState).toEqual({ term: 1, vote: 2, commit: 20 });
    await reopened.close();
  }
});

test("a torn tail of a store's shared log is dropped and every group keeps its durable entries", async () => {
  const dir = mkdtempSync(join(tmpdir(), "ukv-torn-store-"));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  const segmentSizeBytes = 64 * 1024;
  const { log } = await StoreLog.open(dir, { segmentSizeBytes });
  const encoder = new TextEncoder();
  const entriesOf = (groupId: number) => Array.from({ length: 10 }, (_, index) => ({ term: 1, index: index + 1, data: encoder.encode(`group-${groupId}-entry-${index}`) }));
  for (const groupId of [0, 3, 7]) await log.group(groupId).append({ entries: entriesOf(groupId), hardState: { term: 1, vote: groupId, commit: 10 } });
  await log.close();
  for (const tearSeed of [1, 2, 3, 4]) {
    expect(tearWalTail(dir, tearSeed)).not.toBeNull();
    const { log: reopened, recovery } = await StoreLog.open(dir, { segmentSizeBytes });
    for (const groupId of [0, 3, 7]) {
      expect(recovery.get(groupId)?.entries.map((entry) => entry.index)).toEqual(entriesOf(groupId).map((entry) => entry.index));
      expect(recovery.get(groupId)?.hardState).toEqual({ term: 1, vote: groupId, commit: 10 });
    }
    await reopened.close();
  }
});

test("the fatal-log scan counts the routing's CRITICAL shard alerts apart and keeps every other fatal line", () => {
  const alert = JSON.stringify({ level: 60, component: "router", severity: "CRITICAL", event: "shard_health_changed", shard: 2, msg: "shard 2 unavailable: no quorum" });
  const refusal = JSON.stringify({ level: 60, component: "router", severity: "CRITICAL", event: "shard_unavailable", shard: 2 });
  expect(isAvailabilityAlert(alert)).toBe(true);
  expect(isAvailabilityAlert(refusal)).toBe(true);
  expect(isAvailabilityAlert(JSON.stringify({ level: 60, shard: 2, event: "group_stopped", msg: "raft group stopped" }))).toBe(false);
  expect(isAvailabilityAlert(JSON.stringify({ level: 60, component: "router", event: "something_else" }))).toBe(false);
  expect(isAvailabilityAlert("AssertionError: a router line that is not JSON")).toBe(false);
});
