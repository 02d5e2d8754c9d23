// The connection base both client-facing listeners use (kv-server.ts, resp-server.ts), with a tiny
// line protocol: each line is a request answered "<line>\n" once the test releases it. Checks the
// parts the protocols share: the connection limit and refusal, the counts, a bounded close that
// waits for taken requests, then ends, and destroys what is still busy at the drain timeout.
import { afterEach, describe, expect, test } from "bun:test";
import { connect, type Socket } from "node:net";
import { ConnectionServer, ServedConnection, type ConnectionServerOptions } from "../../../src/transport/connection-server.ts";
import { captureLogger, waitFor } from "./helpers.ts";

/** A request per line; answered when released. Stops taking (ignores lines) once close() began. */
class LineConnection extends ServedConnection {
  readonly pending: string[] = [];
  stopped = false;

  protected override onData(chunk: Uint8Array): void {
    if (this.stopped) return;
    for (const line of Buffer.from(chunk).toString("latin1").split("\n")) if (line !== "") this.pending.push(line);
    this.updateReading();
  }

  protected override isIdle(): boolean {
    return this.pending.length === 0;
  }

  protected override readingBlocked(): boolean {
    return this.pending.length >= 2;
  }

  protected override stopTaking(): void {
    this.stopped = true;
  }

  releaseAll(): void {
    for (const line of this.pending.splice(0)) this.write(new TextEncoder().encode(`${line}\n`));
    this.noteAnswered();
  }
}

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

interface Started {
  server: ConnectionServer<LineConnection>;
  port: number;
  connections: LineConnection[];
  refusals: string[];
  counts: number[];
}

async function startServer(options: Partial<ConnectionServerOptions<LineConnection>> = {}): Promise<Started> {
  const connections: LineConnection[] = [];
  const refusals: string[] = [];
  const counts: number[] = [];
  const server = new ConnectionServer<LineConnection>({
    host: "127.0.0.1",
    port: 0,
    logger: captureLogger().logger,
    open: (socket, onClosed) => {
      const connection = new LineConnection(socket, onClosed);
      connections.push(connection);
      return connection;
    },
    refuse: (socket, reason) => {
      refusals.push(reason);
      socket.end(`refused: ${reason}\n`);
    },
    onConnectionCountChanged: (count) => counts.push(count),
    ...options,
  });
  const port = await server.start();
  cleanups.push(() => server.close());
  return { server, port, connections, refusals, counts };
}

/** A client socket that records what it receives and when it closed. */
async function dial(port: number): Promise<{ socket: Socket; received: () => string; closed: () => boolean }> {
  const socket = connect(port, "127.0.0.1");
  let received = "";
  let closed = false;
  socket.on("data", (chunk: Buffer) => {
    received += chunk.toString("latin1");
  });
  socket.on("close", () => {
    closed = true;
  });
  socket.on("error", () => {});
  await new Promise<void>((resolve) => socket.once("connect", () => resolve()));
  cleanups.push(() => void socket.destroy());
  return { socket, received: () => received, closed: () => closed };
}

describe("ConnectionServer", () => {
  test("at the connection limit the next client is refused with the protocol's answer; a close frees a slot", async () => {
    const { server, port, refusals, counts } = await startServer({ connectionCountMax: 2 });
    const first = await dial(port);
    await dial(port);
    await waitFor(() => server.connectionCount === 2, 2000, "two connections");
    const third = await dial(port);
    await waitFor(() => third.closed(), 2000, "the third refused");
    expect(third.received()).toBe("refused: full\n");
    expect(refusals).toEqual(["full"]);
    first.socket.destroy();
    await waitFor(() => server.connectionCount === 1, 2000, "a slot freed");
    await dial(port);
    await waitFor(() => server.connectionCount === 2, 2000, "the slot taken again");
    expect(counts).toEqual([1, 2, 1, 2]);
  });

  test("close() waits for taken requests, answers them, then ends the connection", async () => {
    const { server, port, connections } = await startServer();
    const client = await dial(port);
    client.socket.write("a\n");
    await waitFor(() => connections[0]?.pending.length === 1, 2000, "a request taken");
    const closed = server.close();
    await Bun.sleep(30);
    expect(client.closed()).toBe(false);
    connections[0]!.releaseAll();
    await closed;
    await waitFor(() => client.closed(), 2000, "the client sees the end");
    expect(client.received()).toBe("a\n");
    expect(server.connectionCount).toBe(0);
  });

  test("close() destroys a connection still busy at the drain timeout", async () => {
    const { server, port, connections } = await startServer({ drainTimeoutMs: 50 });
    const client = await dial(port);
    client.socket.write("never\n");
    await waitFor(() => connections[0]?.pending.length === 1, 2000, "a request taken");
    const startedMs = performance.now();
    await server.close();
    expect(performance.now() - startedMs).toBeLessThan(1000);
    await waitFor(() => client.closed(), 2000, "the client sees the close");
    expect(client.received()).toBe("");
  });

  test("reading pauses while the protocol is blocked and resumes when it is not", async () => {
    const { port, connections } = await startServer();
    const client = await dial(port);
    client.socket.write("a\nb\n");
    await waitFor(() => connections[0]?.pending.length === 2, 2000, "two requests taken");
    client.socket.write("c\n");
    await Bun.sleep(50);
    expect(connections[0]!.pending).toEqual(["a", "b"]); // "c" waits in the socket, unread
    connections[0]!.releaseAll();
    await waitFor(() => connections[0]!.pending.length === 1, 2000, "reading resumed");
    connections[0]!.releaseAll();
    await waitFor(() => client.received() === "a\nb\nc\n", 2000, "every answer");
  });
});
