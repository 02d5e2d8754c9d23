import { passwordMatches } from "../../../src/transport/client-auth.ts";
import { afterEach, describe, expect, test } from "bun:test";
import { connect, createServer, type Socket } from "node:net";
import * as pb from "../../../src/proto/kv.ts";
import { ConnectionKind, FrameDecoder, FrameType, encodeFrame, encodeHello } from "../../../src/transport/frame.ts";
import { KvClient } from "../../../src/transport/kv-client.ts";
import { makeKvResponse, type KvRequest } from "../../../src/transport/kv-protocol.ts";
import { KvServer, type KvHandler } from "../../../src/transport/kv-server.ts";
import { UkvError } from "../../../src/util/errors.ts";
import { keySizeBytesMax } from "../../../src/util/limits.ts";
import { storedPayloadSizeBytesMax as valueSizeBytesMax } from "../../../src/kv/stored-value.ts";
import { Prng } from "../../../src/util/prng.ts";
import { captureLogger, waitFor } from "./helpers.ts";

const text = new TextEncoder();
const untext = new TextDecoder();

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** A map-backed handler; answers after a seeded random delay so completions come out of order. */
function mapHandler(seed = 1): { handler: KvHandler; seen: KvRequest[] } {
  const store = new Map<string, Uint8Array>();
  const prng = new Prng(seed);
  const seen: KvRequest[] = [];
  const handler: KvHandler = async (request) => {
    seen.push(request);
    const delayMs = prng.nextInt(3);
    if (delayMs > 0) await new Promise((resolve) => setTimeout(resolve, delayMs));
    const key = untext.decode(request.key);
    switch (request.op) {
      case "SET":
        store.set(key, request.value.slice());
        return makeKvResponse(request.id, "OK");
      case "GET": {
        const value = store.get(key);
        return value === undefined ? makeKvResponse(request.id, "NOT_FOUND") : makeKvResponse(request.id, "OK", { value });
      }
      case "DELETE":
        store.delete(key);
        return makeKvResponse(request.id, "OK");
      case "STATUS":
        return makeKvResponse(request.id, "OK", { statusJson: JSON.stringify({ keys: store.size }) });
      default:
        return makeKvResponse(request.id, "BAD_REQUEST", { message: `Unsupported op ${request.op}` });
    }
  };
  return { handler, seen };
}

async function startServer(handler: KvHandler, options: { inflightCountMax?: number; password?: string } = {}) {
  const captured = captureLogger();
  const server = new KvServer({ host: "127.0.0.1", port: 0, handler, logger: captured.logger, ...options });
  const { port } = await server.start();
  cleanups.push(() => server.close());
  const client = new KvClient(`127.0.0.1:${port}`, { timeoutMs: 5000 });
  cleanups.push(() => client.close());
  return { server, port, client, events: captured.events };
}

describe("kv server and client", () => {
  test("1,000 pipelined requests are each answered by id, in one connection", async () => {
    const { handler, seen } = mapHandler();
    const { client } = await startServer(handler);
    const sets = Array.from({ length: 500 }, (_, index) => client.set(text.encode(`key-${index}`), text.encode(`value-${index}`)));
    expect((await Promise.all(sets)).every((response) => response.code === "OK")).toBe(true);
    const gets = Array.from({ length: 500 }, (_, index) => client.get(text.encode(`key-${index}`)));
    const answers = await Promise.all(gets);
    answers.forEach((response, index) => {
      expect(response.code).toBe("OK");
      expect(untext.decode(response.value)).toBe(`value-${index}`);
    });
    expect(seen.length).toBe(1000);
    expect(client.pendingCount).toBe(0);
  });

  test("with a password, requests of a connection without it or with a wrong one are UNAUTHENTICATED and never reach the handler", async () => {
    const { handler, seen } = mapHandler();
    const { port, client, events } = await startServer(handler, { password: "pw" });
    // The test process has no process-wide password: this client sends none.
    const none = await client.set(text.encode("k"), text.encode("v"));
    expect(none.code).toBe("UNAUTHENTICATED");
    expect(none.message).toStartWith("NOAUTH Authentication required");
    const wrong = new KvClient(`127.0.0.1:${port}`, { password: "pX" });
    const right = new KvClient(`127.0.0.1:${port}`, { password: "pw" });
    cleanups.push(() => wrong.close(), () => right.close());
    const refused = await Promise.all([wrong.set(text.encode("k"), text.encode("v")), wrong.status()]);
    expect(refused.map((response) => response.code)).toEqual(["UNAUTHENTICATED", "UNAUTHENTICATED"]);
    expect(refused[0]?.message).toBe("WRONGPASS invalid password for this cluster");
    expect(seen.length).toBe(0);
    expect(events().some((event) => event["event"] === "auth_failed")).toBe(true);
    expect((await right.set(text.encode("k"), text.encode("v"))).code).toBe("OK");
    expect(untext.decode((await right.get(text.encode("k"))).value)).toBe("v");
    // A server without a password ignores a client's.
    const open = await startServer(mapHandler().handler);
    const withPassword = new KvClient(`127.0.0.1:${open.port}`, { password: "pw" });
    cleanups.push(() => withPassword.close());
    expect((await withPassword.set(text.encode("k"), text.encode("v"))).code).toBe("OK");
  });

  test("passwords compare in constant time over a digest: equal only when identical", () => {
    expect(passwordMatches(text.encode("pw"), "pw")).toBe(true);
    expect(passwordMatches(text.encode("pw "), "pw")).toBe(false);
    expect(passwordMatches(text.encode(""), "pw")).toBe(false);
    expect(passwordMatches(text.encode("pW"), "pw")).toBe(false);
  });

  test("a missing key is NOT_FOUND, delete removes, status carries JSON", async () => {
    const { client } = await startServer(mapHandler().handler);
    expect((await client.get(text.encode("nope"))).code).toBe("NOT_FOUND");
    await client.set(text.encode("k"), text.encode("v"));
    expect((await client.delete(text.encode("k"))).code).toBe("OK");
    expect((await client.get(text.encode("k"))).code).toBe("NOT_FOUND");
    expect(JSON.parse((await client.status()).statusJson)).toEqual({ keys: 0 });
  });

  test("protocol limits are answered with their codes before the handler runs", async () => {
    const { handler, seen } = mapHandler();
    const { client } = await startServer(handler);
    const bigKey = new Uint8Array(keySizeBytesMax + 1);
    const bigValue = new Uint8Array(valueSizeBytesMax + 1);
    expect((await client.set(bigKey, text.encode("v"))).code).toBe("KEY_TOO_LARGE");
    expect((await client.set(text.encode("k"), bigValue)).code).toBe("VALUE_TOO_LARGE");
    expect((await client.get(new Uint8Array(0))).code).toBe("BAD_REQUEST");
    expect(seen).toEqual([]);
    const largest = await client.set(new Uint8Array(keySizeBytesMax).fill(1), new Uint8Array(valueSizeBytesMax).fill(2));
    expect(largest.code).toBe("OK");
    const read = await client.get(new Uint8Array(keySizeBytesMax).fill(1));
    expect(read.value.byteLength).toBe(valueSizeBytesMax);
  });

  test("the server checks limits itself (a raw client bypassing KvClient's checks gets the codes)", async () => {
    const { handler, seen } = mapHandler();
    const { port } = await startServer(handler);
    const requests: pb.Request[] = [
      { id: 1, op: pb.Op.SET, key: new Uint8Array(keySizeBytesMax + 1), value: new Uint8Array(0), linearizable: false, shard: 0, batchKeys: [], batchValues: [], rangeVersion: 0 },
      { id: 2, op: pb.Op.SET, key: text.encode("k"), value: new Uint8Array(valueSizeBytesMax + 1), linearizable: false, shard: 3, batchKeys: [], batchValues: [], rangeVersion: 0 },
      { id: 3, op: pb.Op.OP_UNSPECIFIED, key: text.encode("k"), value: new Uint8Array(0), linearizable: false, shard: 0, batchKeys: [], batchValues: [], rangeVersion: 0 },
      { id: 4, op: 99 as pb.Op, key: text.encode("k"), value: new Uint8Array(0), linearizable: false, shard: 0, batchKeys: [], batchValues: [], rangeVersion: 0 },
      { id: 5, op: pb.Op.GET, key: text.encode("k"), value: text.encode("no value on a GET"), linearizable: false, shard: 1, batchKeys: [], batchValues: [], rangeVersion: 0 },
    ];
    const socket: Socket = connect(port, "127.0.0.1");
    socket.on("error", () => {});
    await new Promise<void>((resolve) => socket.once("connect", () => resolve()));
    const decoder = new FrameDecoder({ expectHello: false });
    const codes = new Map<number, pb.Code>();
    socket.on("data", (chunk: Uint8Array) => {
      for (const frame of decoder.push(chunk).frames) {
        for (const response of pb.decodeResponseBatch(frame.payload).responses) codes.set(response.id, response.code);
      }
    });
    socket.write(encodeHello({ kind: ConnectionKind.Client, nodeId: 0 }));
    socket.write(encodeFrame(FrameType.KvRequests, pb.encodeRequestBatch({ requests })));
    await waitFor(() => codes.size === requests.length, 5000, "five answers");
    socket.destroy();
    expect(Object.fromEntries(codes)).toEqual({
      1: pb.Code.KEY_TOO_LARGE,
      2: pb.Code.VALUE_TOO_LARGE,
      3: pb.Code.BAD_REQUEST,
      4: pb.Code.BAD_REQUEST,
      5: pb.Code.BAD_REQUEST,
    });
    expect(seen).toEqual([]);
  });

  test("the shard a request names reaches the handler; an untagged request has shard 0 (the store routes it)", async () => {
    const { handler, seen } = mapHandler();
    const { client } = await startServer(handler);
    expect((await client.request({ op: "SET", key: text.encode("tagged"), value: text.encode("v"), linearizable: false, shard: 7 })).code).toBe("OK");
    expect((await client.get(text.encode("tagged"))).code).toBe("OK");
    expect(seen.map((request) => request.shard)).toEqual([7, 0]);
  });

  test("WRONG_SHARD from a handler reaches the client with its message; TOPOLOGY carries its epoch and answers JSON", async () => {
    const topologies: string[] = [];
    const { client } = await startServer(async (request) => {
      if (request.op === "TOPOLOGY") {
        topologies.push(untext.decode(request.value));
        return makeKvResponse(request.id, "OK", { statusJson: JSON.stringify({ topology: { epoch: 5 } }) });
      }
      throw new UkvError("WRONG_SHARD", `Store 2 holds no replica of shard ${request.shard}`);
    });
    const wrong = await client.request({ op: "GET", key: text.encode("k"), value: new Uint8Array(0), linearizable: false, shard: 9 });
    expect(wrong).toMatchObject({ code: "WRONG_SHARD", message: "Store 2 holds no replica of shard 9" });
    const topology = await client.request({ op: "TOPOLOGY", key: new Uint8Array(0), value: text.encode("4"), linearizable: false });
    expect(topology.code).toBe("OK");
    expect(JSON.parse(topology.statusJson)).toEqual({ topology: { epoch: 5 } });
    expect(topologies).toEqual(["4"]);
  });

  test("a handler answer too large for a frame becomes INTERNAL instead of crashing the server", async () => {
    const { client } = await startServer(async (request) => makeKvResponse(request.id, "OK", { statusJson: "x".repeat(9 * 1024 * 1024) }));
    const response = await client.status();
    expect(response.code).toBe("INTERNAL");
    expect(response.message).toContain("over the frame limit");
  });

  test("batches over the frame limit are split both ways: ten 1 MiB values set and read in one turn", async () => {
    const { client } = await startServer(mapHandler().handler);
    const values = Array.from({ length: 10 }, (_, index) => new Uint8Array(valueSizeBytesMax).fill(index));
    const sets = await Promise.all(values.map((value, index) => client.set(text.encode(`big-${index}`), value)));
    expect(sets.every((response) => response.code === "OK")).toBe(true);
    const gets = await Promise.all(values.map((_, index) => client.get(text.encode(`big-${index}`))));
    gets.forEach((response, index) => {
      expect(response.value.byteLength).toBe(valueSizeBytesMax);
      expect(response.value[valueSizeBytesMax - 1]).toBe(index);
    });
  });

  test("a throwing handler becomes INTERNAL; a thrown UkvError keeps its code and leader hint", async () => {
    let calls = 0;
    const { client } = await startServer(async (request) => {
      calls++;
      if (calls === 1) throw new Error("boom");
      throw new UkvError("NOT_LEADER", "Not the leader", { data: { leaderAddress: "127.0.0.1:9" } });
    });
    const first = await client.get(text.encode("a"));
    expect(first.code).toBe("INTERNAL");
    expect(first.message).toContain("boom");
    const second = await client.get(text.encode("a"));
    expect(second).toMatchObject({ code: "NOT_LEADER", leaderAddress: "127.0.0.1:9" });
  });

  test("a request with no answer in time settles as TIMEOUT", async () => {
    const { port } = await startServer(() => new Promise(() => {}));
    const client = new KvClient(`127.0.0.1:${port}`, { timeoutMs: 50 });
    cleanups.push(() => client.close());
    const response = await client.get(text.encode("a"));
    expect(response.code).toBe("TIMEOUT");
    expect(client.pendingCount).toBe(0);
  });

  test("an unreachable node settles as UNREACHABLE, and the client redials later", async () => {
    const { handler } = mapHandler();
    const probe = new KvServer({ host: "127.0.0.1", port: 0, handler, logger: captureLogger().logger });
    const { port } = await probe.start();
    await probe.close();
    const client = new KvClient(`127.0.0.1:${port}`, { timeoutMs: 2000 });
    cleanups.push(() => client.close());
    expect((await client.get(text.encode("a"))).code).toBe("UNREACHABLE");
    const server = new KvServer({ host: "127.0.0.1", port, handler, logger: captureLogger().logger });
    await server.start();
    cleanups.push(() => server.close());
    expect((await client.get(text.encode("a"))).code).toBe("NOT_FOUND");
  });

  test("malformed bytes on the client port close that connection only; the server keeps serving", async () => {
    const { client, port, events } = await startServer(mapHandler().handler);
    const prng = new Prng(3);
    const hello = encodeHello({ kind: ConnectionKind.Client, nodeId: 0 });
    const inputs: Uint8Array[] = [
      text.encode("SET a b\r\n"),
      Buffer.concat([hello, encodeFrame(FrameType.KvRequests, new Uint8Array([0x0a, 0x7f, 0x08]))]),
      Buffer.concat([hello, encodeFrame(FrameType.RaftBatch, new Uint8Array(0))]),
      Buffer.concat([hello, new Uint8Array([0x7f, 0xff, 0xff, 0xff, FrameType.KvRequests])]),
      encodeHello({ kind: ConnectionKind.Raft, nodeId: 2 }),
    ];
    for (let round = 0; round < 20; round++) {
      const garbage = new Uint8Array(1 + prng.nextInt(200)).map(() => prng.nextInt(256));
      inputs.push(Buffer.concat([hello, garbage]));
    }
    for (const input of inputs) {
      const socket: Socket = connect(port, "127.0.0.1");
      socket.on("error", () => {});
      await new Promise<void>((resolve) => socket.once("connect", () => resolve()));
      socket.write(input);
      // Garbage that happens to look like a partial frame leaves the server waiting: close ours then.
      await Promise.race([new Promise<void>((resolve) => socket.once("close", () => resolve())), new Promise((resolve) => setTimeout(resolve, 50))]);
      socket.destroy();
    }
    expect(events().filter((event) => event.event === "frame_invalid").length).toBeGreaterThanOrEqual(5);
    expect((await client.set(text.encode("still"), text.encode("alive"))).code).toBe("OK");
  });

  test("a request that never left (nobody listens) is UNREACHABLE: nothing was executed, safe to send again", async () => {
    const probe = createServer();
    await new Promise<void>((resolve) => probe.listen(0, "127.0.0.1", resolve));
    const port = (probe.address() as { port: number }).port;
    await new Promise<void>((resolve) => probe.close(() => resolve()));
    const client = new KvClient(`127.0.0.1:${port}`, { timeoutMs: 2000 });
    const response = await client.set(text.encode("a"), text.encode("b"));
    expect(response.code).toBe("UNREACHABLE");
    client.close();
  });

  test("a server answering garbage fails the client's sent requests as TIMEOUT (outcome unknown), without throwing", async () => {
    const replies = [
      new TextEncoder().encode("HTTP/1.1 400 Bad Request\r\n\r\n"), // a length far over the limit
      encodeFrame(FrameType.KvResponses, new Uint8Array([0x0a, 0x50, 0x08])), // a truncated response
      encodeFrame(FrameType.RaftBatch, new Uint8Array(0)), // a frame type a client never gets
      encodeFrame(FrameType.KvResponses, pb.encodeResponseBatch({ responses: [{ ...pb.emptyResponse(), id: 1, code: 99 as pb.Code }] })),
    ];
    for (const reply of replies) {
      const sockets: Socket[] = [];
      const liar = createServer((socket) => {
        sockets.push(socket);
        socket.once("data", () => socket.write(reply));
      });
      await new Promise<void>((resolve) => liar.listen(0, "127.0.0.1", resolve));
      const client = new KvClient(`127.0.0.1:${(liar.address() as { port: number }).port}`, { timeoutMs: 2000 });
      const response = await client.get(text.encode("a"));
      // The request was written before the answer turned out bad: it may have been executed.
      expect(response.code).toBe("TIMEOUT");
      expect(response.message).toContain("Invalid answer");
      expect(response.message).toContain("outcome unknown");
      client.close();
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => liar.close(() => resolve()));
    }
  });

  test("at the in-flight limit the server stops reading, and resumes when an answer completes", async () => {
    const releases: (() => void)[] = [];
    const { client } = await startServer(
      (request) => new Promise((resolve) => releases.push(() => resolve(makeKvResponse(request.id, "OK")))),
      { inflightCountMax: 4 },
    );
    const first = Array.from({ length: 4 }, (_, index) => client.get(text.encode(`a${index}`)));
    await waitFor(() => releases.length === 4, 5000, "four requests in flight");
    const second = Array.from({ length: 10 }, (_, index) => client.get(text.encode(`b${index}`)));
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(releases.length).toBe(4); // the second frame waits in the socket, unread
    releases[0]?.();
    // One answer frees a slot: reading resumes and the second frame (a batch of 10) is dispatched whole.
    await waitFor(() => releases.length === 14, 5000, "the second batch dispatched");
    for (const release of releases.slice(1)) release();
    expect((await Promise.all([...first, ...second])).every((response) => response.code === "OK")).toBe(true);
  });

  test("close() answers requests in flight, then refuses new connections", async () => {
    let release: (() => void) | null = null;
    const { server, client, port } = await startServer(
      (request) => new Promise((resolve) => (release = () => resolve(makeKvResponse(request.id, "OK", { value: text.encode("late") })))),
    );
    const answer = client.get(text.encode("a"));
    await waitFor(() => release !== null, 5000, "request in flight");
    const closed = server.close();
    setTimeout(() => release?.(), 20);
    expect(untext.decode((await answer).value)).toBe("late");
    await closed;
    const again = new KvClient(`127.0.0.1:${port}`, { timeoutMs: 1000 });
    cleanups.push(() => again.close());
    expect((await again.get(text.encode("a"))).code).toBe("UNREACHABLE");
  });
});
