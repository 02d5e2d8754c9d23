import { afterEach, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { connect, createServer, type Server, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Message } from "../../../src/raft/types.ts";
import { EntryType, MessageType, emptyMessage } from "../../../src/raft/types.ts";
import { ConnectionKind, FrameType, encodeFrame, encodeHello } from "../../../src/transport/frame.ts";
import { encodeRaftBatch } from "../../../src/transport/raft-codec.ts";
import { KvClient } from "../../../src/transport/kv-client.ts";
import { makeKvResponse } from "../../../src/transport/kv-protocol.ts";
import { KvServer } from "../../../src/transport/kv-server.ts";
import { RaftTransport, type RaftTransportOptions } from "../../../src/transport/raft-transport.ts";
import { Prng } from "../../../src/util/prng.ts";
import { captureLogger, waitFor } from "./helpers.ts";

interface Received {
  groupId: number;
  messages: Message[];
}

interface Node {
  transport: RaftTransport;
  port: number;
  received: Received[];
  disconnects: { peerId: number; reason: string }[];
  unreachable: { groupId: number; peerId: number }[];
  events: () => Record<string, unknown>[];
}

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function startNode(nodeId: number, peers: Map<number, string>, overrides: Partial<RaftTransportOptions> = {}, port = 0): Promise<Node> {
  const captured = captureLogger();
  const node: Omit<Node, "transport" | "port"> = { received: [], disconnects: [], unreachable: [], events: captured.events };
  const transport = new RaftTransport({
    nodeId,
    listenHost: "127.0.0.1",
    listenPort: port,
    peers,
    logger: captured.logger,
    onMessages: (groupId, messages) => node.received.push({ groupId, messages }),
    onSnapshot: async () => {},
    onPeerDisconnected: (peerId, reason) => node.disconnects.push({ peerId, reason }),
    ...overrides,
  });
  transport.onUnreachable = (groupId, peerId) => node.unreachable.push({ groupId, peerId });
  const started = await transport.start();
  cleanups.push(() => transport.close());
  return { ...node, transport, port: started.port };
}

/** Two transports that know each other. */
async function startPair(overridesB: Partial<RaftTransportOptions> = {}): Promise<[Node, Node]> {
  const b = await startNode(2, new Map(), overridesB);
  const a = await startNode(1, new Map([[2, `127.0.0.1:${b.port}`]]));
  b.transport.setPeer(1, `127.0.0.1:${a.port}`);
  return [a, b];
}

function append(from: number, to: number, index: number, data: Uint8Array): Message {
  return { ...emptyMessage(MessageType.Append, from, to, 3), index, entries: [{ term: 3, index: index + 1, type: EntryType.Normal, data }] };
}

describe("raft transport", () => {
  test("messages sent in one turn arrive as one batch per group, in order, both ways", async () => {
    const [a, b] = await startPair();
    a.transport.send(7, [append(1, 2, 10, new Uint8Array([1])), append(1, 2, 11, new Uint8Array([2]))]);
    a.transport.send(8, [emptyMessage(MessageType.Heartbeat, 1, 2, 3)]);
    a.transport.send(7, [append(1, 2, 12, new Uint8Array([3]))]);
    await waitFor(() => b.received.length === 2, 5000, "two groups at b");
    expect(b.received.map((batch) => batch.groupId)).toEqual([7, 8]);
    expect(b.received[0]?.messages.map((message) => message.index)).toEqual([10, 11, 12]);
    expect(b.received[1]?.messages).toEqual([emptyMessage(MessageType.Heartbeat, 1, 2, 3)]);
    b.transport.send(8, [emptyMessage(MessageType.HeartbeatResponse, 2, 1, 3)]);
    await waitFor(() => a.received.length === 1, 5000, "the response at a");
    expect(a.received[0]).toEqual({ groupId: 8, messages: [emptyMessage(MessageType.HeartbeatResponse, 2, 1, 3)] });
  });

  test("a turn's messages over the frame limit are split across frames, all delivered in order", async () => {
    const [a, b] = await startPair();
    const big = new Uint8Array(2 * 1024 * 1024 - 4096);
    const messages = Array.from({ length: 6 }, (_, index) => append(1, 2, index, big)); // ~12 MiB > 8 MiB
    a.transport.send(1, messages);
    await waitFor(() => b.received.flatMap((batch) => batch.messages).length === 6, 10000, "six messages");
    expect(b.received.length).toBeGreaterThanOrEqual(2); // more than one frame
    expect(b.received.flatMap((batch) => batch.messages).map((message) => message.index)).toEqual([0, 1, 2, 3, 4, 5]);
  });

  test("a single message over the frame limit is dropped, logged and reported unreachable", async () => {
    const [a, b] = await startPair();
    a.transport.send(3, [append(1, 2, 1, new Uint8Array(8 * 1024 * 1024)), emptyMessage(MessageType.Heartbeat, 1, 2, 3)]);
    await waitFor(() => b.received.length === 1, 5000, "the heartbeat");
    expect(b.received[0]?.messages.map((message) => message.type)).toEqual([MessageType.Heartbeat]);
    expect(a.unreachable).toEqual([{ groupId: 3, peerId: 2 }]);
    expect(a.events().some((event) => event.event === "message_too_large")).toBe(true);
  });

  test("a send to an unknown peer is dropped and reported unreachable", async () => {
    const a = await startNode(1, new Map());
    a.transport.send(4, [emptyMessage(MessageType.Vote, 1, 9, 1)]);
    expect(a.unreachable).toEqual([{ groupId: 4, peerId: 9 }]);
  });

  test("a send to a peer that refuses connections is reported unreachable, then dropped during backoff", async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, "127.0.0.1", resolve));
    const port = (closed.address() as { port: number }).port;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    const a = await startNode(1, new Map([[2, `127.0.0.1:${port}`]]));
    a.transport.send(5, [emptyMessage(MessageType.Heartbeat, 1, 2, 1)]);
    await waitFor(() => a.unreachable.length === 1, 5000, "unreachable report");
    expect(a.transport.peerStats(2)?.state).toBe("backoff");
    a.transport.send(5, [emptyMessage(MessageType.Heartbeat, 1, 2, 1)]);
    await waitFor(() => a.unreachable.length === 2, 5000, "second report");
    expect(a.transport.peerStats(2)?.droppedMessageCount).toBe(2);
  });

  test("redials of a down peer back off exponentially (50 ms doubling, jittered, capped at 2 s)", async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, "127.0.0.1", resolve));
    const port = (closed.address() as { port: number }).port;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    const a = await startNode(1, new Map([[2, `127.0.0.1:${port}`]]));
    const started = performance.now();
    while (performance.now() - started < 1200) {
      a.transport.send(1, [emptyMessage(MessageType.Heartbeat, 1, 2, 1)]);
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    // Delays 50, 100, 200, 400, 800 ms (x 0.75..1.25) fit 4 to 6 dials in 1.2 s; without backoff, ~200.
    const dials = a.transport.peerStats(2)?.dialCount ?? 0;
    expect(dials).toBeGreaterThanOrEqual(3);
    expect(dials).toBeLessThanOrEqual(7);
    expect(a.transport.peerStats(2)?.connectCount).toBe(0);
  });

  test("the link reconnects after the peer restarts on the same address", async () => {
    const [a, b] = await startPair();
    a.transport.send(1, [emptyMessage(MessageType.Heartbeat, 1, 2, 1)]);
    await waitFor(() => b.received.length === 1, 5000, "first delivery");
    await b.transport.close();
    await waitFor(() => a.disconnects.length > 0, 5000, "a sees b go");
    const restarted = await startNode(2, new Map([[1, `127.0.0.1:${a.port}`]]), {}, b.port);
    const deadline = performance.now() + 8000;
    while (restarted.received.length === 0 && performance.now() < deadline) {
      a.transport.send(1, [emptyMessage(MessageType.Heartbeat, 1, 2, 2)]);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    expect(restarted.received[0]?.messages[0]?.term).toBe(2);
    expect(a.transport.peerStats(2)?.connectCount).toBe(2);
  });

  test("onPeerDisconnected fires on both sides when a peer closes", async () => {
    const [a, b] = await startPair();
    a.transport.send(1, [emptyMessage(MessageType.Heartbeat, 1, 2, 1)]);
    b.transport.send(1, [emptyMessage(MessageType.HeartbeatResponse, 2, 1, 1)]);
    await waitFor(() => a.received.length === 1 && b.received.length === 1, 5000, "both delivered");
    await b.transport.close();
    // a loses its inbound connection from b and its outbound link to b.
    await waitFor(() => a.disconnects.length === 2, 5000, "two disconnect reports");
    expect(a.disconnects.every((report) => report.peerId === 2)).toBe(true);
    expect(b.disconnects).toEqual([]); // our own close is not reported
  });

  test("a multi-MB snapshot streams in order, and sendSnapshot resolves after the receiver stored it", async () => {
    const dir = mkdtempSync(join(tmpdir(), "ukv-transport-"));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const prng = new Prng(5);
    const file = new Uint8Array(3 * 1024 * 1024 + 12345);
    for (let index = 0; index < file.byteLength; index += 4) file[index] = prng.nextInt(256);
    const path = join(dir, "snap");
    writeFileSync(path, file);
    const stored: { groupId: number; message: Message; bytes: Uint8Array; chunkCount: number }[] = [];
    const [a] = await startPair({
      onSnapshot: async (groupId, message, chunks) => {
        const parts: Uint8Array[] = [];
        for await (const chunk of chunks) {
          parts.push(chunk.slice());
          await new Promise((resolve) => setTimeout(resolve, 1)); // a slow disk: exercises pausing
        }
        stored.push({ groupId, message, bytes: Buffer.concat(parts), chunkCount: parts.length });
      },
    });
    const message: Message = {
      ...emptyMessage(MessageType.Snapshot, 1, 2, 4),
      snapshot: { metadata: { index: 500, term: 4, conf: { voters: [1, 2, 3], learners: [] } }, data: new Uint8Array(0) },
    };
    await a.transport.sendSnapshot(3, message, path);
    expect(stored.length).toBe(1);
    expect(stored[0]?.groupId).toBe(3);
    expect(stored[0]?.message).toEqual(message);
    expect(stored[0]?.chunkCount).toBe(13);
    expect(Buffer.compare(stored[0]?.bytes as Uint8Array, file)).toBe(0);
  });

  test("sendSnapshot rejects when the receiver fails to store", async () => {
    const dir = mkdtempSync(join(tmpdir(), "ukv-transport-"));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    writeFileSync(join(dir, "snap"), new Uint8Array(600 * 1024));
    const [a] = await startPair({
      onSnapshot: async (_groupId, _message, chunks) => {
        for await (const _chunk of chunks) throw new Error("disk full");
      },
    });
    const message: Message = {
      ...emptyMessage(MessageType.Snapshot, 1, 2, 4),
      snapshot: { metadata: { index: 5, term: 4, conf: { voters: [1, 2], learners: [] } }, data: new Uint8Array(0) },
    };
    await expect(a.transport.sendSnapshot(1, message, join(dir, "snap"))).rejects.toThrow("disk full");
    await expect(a.transport.sendSnapshot(1, message, join(dir, "missing"))).rejects.toThrow("Cannot open snapshot file");
  });

  test("a snapshot receiver that stops reading fails the send after the stall timeout", async () => {
    const dir = mkdtempSync(join(tmpdir(), "ukv-transport-"));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    writeFileSync(join(dir, "snap"), new Uint8Array(24 * 1024 * 1024));
    let received = false;
    // Never reads the chunks and never settles: a stuck disk on the receiver.
    const b = await startNode(2, new Map(), { onSnapshot: () => ((received = true), new Promise<void>(() => {})) });
    const a = await startNode(1, new Map([[2, `127.0.0.1:${b.port}`]]), { snapshotStallTimeoutMs: 300 });
    const message: Message = {
      ...emptyMessage(MessageType.Snapshot, 1, 2, 4),
      snapshot: { metadata: { index: 5, term: 4, conf: { voters: [1, 2], learners: [] } }, data: new Uint8Array(0) },
    };
    const started = performance.now();
    await expect(a.transport.sendSnapshot(1, message, join(dir, "snap"))).rejects.toThrow("read nothing for 300 ms");
    expect(received).toBe(true);
    expect(performance.now() - started).toBeLessThan(10_000);
  });

  test("closing the transport ends its outbound snapshot streams, and the receiver's stream fails", async () => {
    const dir = mkdtempSync(join(tmpdir(), "ukv-transport-"));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    // Larger than the receiver's queue plus both kernel buffers, so the sender is still streaming at close.
    writeFileSync(join(dir, "snap"), new Uint8Array(24 * 1024 * 1024));
    let receiverError: unknown = null;
    let firstChunk = false;
    let openGate: () => void = () => {};
    const gate = new Promise<void>((resolve) => (openGate = resolve));
    const [a] = await startPair({
      onSnapshot: async (_groupId, _message, chunks) => {
        try {
          for await (const _chunk of chunks) {
            firstChunk = true;
            await gate; // a stalled disk: the receiver pauses its socket, the sender waits for drain
          }
        } catch (error) {
          receiverError = error;
          throw error;
        }
      },
    });
    const message: Message = {
      ...emptyMessage(MessageType.Snapshot, 1, 2, 4),
      snapshot: { metadata: { index: 5, term: 4, conf: { voters: [1, 2], learners: [] } }, data: new Uint8Array(0) },
    };
    const sending = a.transport.sendSnapshot(1, message, join(dir, "snap"));
    sending.catch(() => {});
    await waitFor(() => firstChunk, 5000, "the first chunk");
    await a.transport.close();
    await expect(sending).rejects.toThrow();
    openGate();
    await waitFor(() => receiverError !== null, 5000, "the receiver's stream to fail");
    expect(String(receiverError)).toContain("closed before its end");
  });

  test("with a client server attached, a client-protocol connection on the raft port is handed to it (hello split over chunks included); Raft traffic goes on", async () => {
    const [a, b] = await startPair();
    const served: string[] = [];
    const server = new KvServer({
      host: "127.0.0.1",
      port: 0,
      logger: captureLogger().logger,
      handler: async (request) => {
        served.push(new TextDecoder().decode(request.key));
        return makeKvResponse(request.id, "OK", { value: request.value });
      },
    });
    b.transport.onClientConnection = (connection) => server.adopt(connection);
    const client = new KvClient(`127.0.0.1:${b.port}`);
    const answers = await Promise.all(Array.from({ length: 20 }, (_, index) => client.set(new TextEncoder().encode(`k${index}`), new TextEncoder().encode(`v${index}`))));
    expect(answers.map((answer) => answer.code)).toEqual(Array.from({ length: 20 }, () => "OK"));
    expect(new TextDecoder().decode(answers[7]?.value)).toBe("v7");
    expect(served).toHaveLength(20);
    // The hello a byte at a time: the new owner still reads every byte from the first.
    const socket: Socket = connect(b.port, "127.0.0.1");
    socket.on("error", () => {});
    await new Promise<void>((resolve) => socket.once("connect", () => resolve()));
    const hello = encodeHello({ kind: ConnectionKind.Client, nodeId: 0 });
    for (const byte of hello) {
      socket.write(new Uint8Array([byte]));
      await Bun.sleep(2);
    }
    const garbage = new Uint8Array([0xff, 0xff, 0xff, 0xff, 1]); // a frame over the limit: the client protocol's error now
    socket.write(garbage);
    await new Promise<void>((resolve) => socket.once("close", () => resolve()));
    a.transport.send(7, [append(1, 2, 10, new Uint8Array([1]))]);
    await waitFor(() => b.received.length > 0, 5000, "raft messages after the client connections");
    client.close();
    await server.close();
  });

  test("garbage, a client hello and misaddressed messages close that connection only; others are still served", async () => {
    const [a, b] = await startPair();
    const attempts: { bytes: Uint8Array; reason: string }[] = [
      { bytes: new TextEncoder().encode("GET / HTTP/1.1\r\n\r\n"), reason: "bad magic" },
      { bytes: encodeHello({ kind: ConnectionKind.Client, nodeId: 0 }), reason: "a client connection on the raft port" },
      {
        bytes: Buffer.concat([encodeHello({ kind: ConnectionKind.Raft, nodeId: 1 }), encodeFrame(FrameType.RaftBatch, new Uint8Array([0x0a, 0x05, 1]))]),
        reason: "overruns",
      },
      {
        bytes: Buffer.concat([
          encodeHello({ kind: ConnectionKind.Raft, nodeId: 3 }),
          encodeFrame(FrameType.RaftBatch, encodeRaftBatch([{ groupId: 1, messages: [emptyMessage(MessageType.Vote, 1, 2, 1)] }])),
        ]),
        reason: "on a connection from node 3",
      },
      { bytes: Buffer.concat([encodeHello({ kind: ConnectionKind.Raft, nodeId: 1 }), new Uint8Array([0xff, 0xff, 0xff, 0xff, 1])]), reason: "over the limit" },
      {
        bytes: Buffer.concat([
          encodeHello({ kind: ConnectionKind.Raft, nodeId: 1 }),
          encodeFrame(FrameType.RaftBatch, encodeRaftBatch([{ groupId: 1, messages: [emptyMessage(MessageType.Hup, 1, 2, 0)] }])),
        ]),
        reason: "local message type Hup from the wire",
      },
    ];
    for (const attempt of attempts) {
      const socket: Socket = connect(b.port, "127.0.0.1");
      socket.on("error", () => {});
      await new Promise<void>((resolve) => socket.once("connect", () => resolve()));
      socket.write(attempt.bytes);
      await new Promise<void>((resolve) => socket.once("close", () => resolve()));
      const last = b.events().filter((event) => event.event === "frame_invalid").at(-1);
      expect(String(last?.reason)).toContain(attempt.reason);
    }
    // Seeded garbage after a valid hello: framed or not, it closes the connection or waits; never crashes.
    const prng = new Prng(17);
    for (let round = 0; round < 20; round++) {
      const garbage = new Uint8Array(1 + prng.nextInt(300)).map(() => prng.nextInt(256));
      const framed = round % 2 === 0 ? encodeFrame(FrameType.RaftBatch, garbage) : garbage;
      const socket: Socket = connect(b.port, "127.0.0.1");
      socket.on("error", () => {});
      await new Promise<void>((resolve) => socket.once("connect", () => resolve()));
      socket.write(Buffer.concat([encodeHello({ kind: ConnectionKind.Raft, nodeId: 1 }), framed]));
      await Promise.race([new Promise<void>((resolve) => socket.once("close", () => resolve())), new Promise((resolve) => setTimeout(resolve, 30))]);
      socket.destroy();
    }
    expect(b.received).toEqual([]);
    a.transport.send(1, [emptyMessage(MessageType.Heartbeat, 1, 2, 1)]);
    await waitFor(() => b.received.length === 1, 5000, "b still serves a");
  });

  test("a peer that stops reading makes the queue drop its oldest frames, counted and reported", async () => {
    const stalled: Socket[] = [];
    const sink: Server = createServer((socket) => {
      socket.pause(); // never read: the kernel buffers fill, then our queue
      stalled.push(socket);
    });
    await new Promise<void>((resolve) => sink.listen(0, "127.0.0.1", resolve));
    cleanups.push(() => new Promise<void>((resolve) => sink.close(() => resolve())));
    cleanups.push(() => stalled.forEach((socket) => socket.destroy()));
    const port = (sink.address() as { port: number }).port;
    const a = await startNode(1, new Map([[2, `127.0.0.1:${port}`]]), { peerQueueBytesMax: 1024 * 1024 });
    const data = new Uint8Array(512 * 1024);
    for (let round = 0; round < 120 && (a.transport.peerStats(2)?.droppedMessageCount ?? 0) === 0; round++) {
      a.transport.send(6, [append(1, 2, round, data)]);
      await new Promise((resolve) => setImmediate(resolve));
    }
    const stats = a.transport.peerStats(2);
    expect(stats?.droppedMessageCount).toBeGreaterThan(0);
    expect(stats?.queuedBytes).toBeLessThanOrEqual(1024 * 1024);
    expect(a.unreachable.some((report) => report.groupId === 6 && report.peerId === 2)).toBe(true);
  });
});
