// The connection base (tcp-connection.ts) on its own: addresses, dial failures, one send per turn
// for everything written in it, partial sends kept in order and finished on drain (with the
// writable flag and drain() for push-back), data that arrives before the owner attached, and the
// one close notification.
import { afterEach, describe, expect, test } from "bun:test";
import { connect, createServer, type Server, type Socket } from "node:net";
import { parseAddress } from "../../../src/transport/socket-util.ts";
import { dialTcp, listenTcp, type TcpConnection, type TcpListener } from "../../../src/transport/tcp-connection.ts";
import { atTurnEnd } from "../../../src/transport/turn-end.ts";
import { captureLogger, waitFor } from "./helpers.ts";

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** A node:net server recording each chunk it receives (one chunk per send on an idle loopback). */
async function recordingServer(): Promise<{ port: number; chunks: Uint8Array[]; sockets: Socket[] }> {
  const chunks: Uint8Array[] = [];
  const sockets: Socket[] = [];
  const server: Server = createServer((socket) => {
    sockets.push(socket);
    socket.on("data", (chunk: Buffer) => chunks.push(chunk));
    socket.on("error", () => {});
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  cleanups.push(() => {
    for (const socket of sockets) socket.destroy();
    return new Promise<void>((resolve) => server.close(() => resolve()));
  });
  return { port: (server.address() as { port: number }).port, chunks, sockets };
}

function total(chunks: readonly Uint8Array[]): number {
  return chunks.reduce((sum, chunk) => sum + chunk.byteLength, 0);
}

describe("tcp connection", () => {
  test("addresses are host:port with a port in 1..65535; IPv6 hosts in brackets", () => {
    expect(parseAddress("127.0.0.1:7000")).toEqual({ host: "127.0.0.1", port: 7000 });
    expect(parseAddress("node-1.local:1")).toEqual({ host: "node-1.local", port: 1 });
    expect(parseAddress("[::1]:65535")).toEqual({ host: "::1", port: 65535 });
    for (const bad of ["", "7000", ":7000", "host:", "host:0", "host:65536", "host:70.5", "host:x"]) {
      expect(() => parseAddress(bad)).toThrow("Address must be host:port");
    }
  });

  test("a refused dial rejects with CLOSED; writes on a destroyed connection are refused", async () => {
    const { port, sockets } = await recordingServer();
    const connection = await dialTcp(`127.0.0.1:${port}`);
    let closes = 0;
    connection.attach({ data: () => {}, close: () => closes++ });
    connection.destroy();
    expect(connection.closed).toBe(true);
    expect(connection.write(new Uint8Array(1))).toBe(false);
    await waitFor(() => closes === 1, 2000, "the close notification");
    for (const socket of sockets) socket.destroy();
    const listener = await listenTcp({ host: "127.0.0.1", port: 0, logger: captureLogger().logger, accept: (c) => c.destroy() });
    const freePort = listener.port;
    listener.stop();
    await expect(dialTcp(`127.0.0.1:${freePort}`)).rejects.toMatchObject({ code: "CLOSED" });
  });

  test("a port in use is refused with ADDRESS_IN_USE", async () => {
    const { port } = await recordingServer();
    await expect(listenTcp({ host: "127.0.0.1", port, logger: captureLogger().logger, accept: () => {} })).rejects.toMatchObject({ code: "ADDRESS_IN_USE" });
  });

  test("everything written in one turn leaves in one send, in order", async () => {
    const { port, chunks } = await recordingServer();
    const connection = await dialTcp(`127.0.0.1:${port}`);
    connection.attach({ data: () => {}, close: () => {} });
    cleanups.push(() => connection.destroy());
    for (let index = 0; index < 100; index++) expect(connection.write(new Uint8Array([index]))).toBe(true);
    // A write made by another end-of-turn task joins the same send.
    atTurnEnd(() => connection.write(new Uint8Array([100])));
    await waitFor(() => total(chunks) === 101, 2000, "101 bytes");
    expect(chunks.length).toBe(1);
    expect([...(chunks[0] as Uint8Array)]).toEqual(Array.from({ length: 101 }, (_, index) => index));
  });

  test("bytes the kernel refused are sent on drain, in order; the connection says when it is writable again", async () => {
    const { port, chunks, sockets } = await recordingServer();
    const connection = await dialTcp(`127.0.0.1:${port}`);
    let drains = 0;
    connection.attach({ data: () => {}, drain: () => drains++, close: () => {} });
    cleanups.push(() => connection.destroy());
    await waitFor(() => sockets.length === 1, 2000, "the accepted socket");
    const reader = sockets[0] as Socket;
    reader.pause();
    const big = new Uint8Array(32 * 1024 * 1024);
    for (let index = 0; index < big.byteLength; index += 4096) big[index] = (index / 4096) % 251;
    connection.write(big);
    await waitFor(() => !connection.writable, 5000, "the kernel to refuse bytes");
    expect(connection.write(new Uint8Array([7]))).toBe(false);
    expect(connection.bufferedBytes).toBeGreaterThan(0);
    reader.resume();
    await waitFor(() => total(chunks) === big.byteLength + 1, 10_000, "every byte");
    await waitFor(() => drains === 1, 2000, "drain()");
    expect(connection.writable).toBe(true);
    const received = Buffer.concat(chunks);
    for (let index = 0; index < big.byteLength; index += 4096) expect(received[index]).toBe((index / 4096) % 251);
    expect(received[big.byteLength]).toBe(7);
  });

  test("data that arrives before attach is delivered on attach; end() sends what was written, then closes", async () => {
    const accepted: TcpConnection[] = [];
    const listener: TcpListener = await listenTcp({ host: "127.0.0.1", port: 0, logger: captureLogger().logger, accept: (connection) => accepted.push(connection) });
    cleanups.push(() => listener.stop());
    const client = connect(listener.port, "127.0.0.1");
    let echoed = "";
    let clientClosed = false;
    client.on("data", (chunk) => (echoed += chunk.toString("latin1")));
    client.on("close", () => (clientClosed = true));
    client.write("early");
    await waitFor(() => accepted.length === 1, 2000, "the accepted connection");
    await Bun.sleep(20);
    const server = accepted[0] as TcpConnection;
    const got: string[] = [];
    let closes = 0;
    server.attach({ data: (chunk) => got.push(Buffer.from(chunk).toString("latin1")), close: () => closes++ });
    expect(got.join("")).toBe("early");
    server.write(new TextEncoder().encode("bye"));
    server.end("!");
    await waitFor(() => clientClosed && closes === 1, 2000, "both ends closed");
    expect(echoed).toBe("bye!");
  });
});
