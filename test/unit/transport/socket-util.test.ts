import { describe, expect, test } from "bun:test";
import { createServer } from "node:net";
import { connectSocket, parseAddress, writeWithBackpressure } from "../../../src/transport/socket-util.ts";

describe("socket util", () => {
  test("addresses are host:port with a port in 1..65535; IPv6 hosts in brackets", () => {
    expect(parseAddress("127.0.0.1:7000")).toEqual({ host: "127.0.0.1", port: 7000 });
    expect(parseAddress("node-1.local:1")).toEqual({ host: "node-1.local", port: 1 });
    expect(parseAddress("[::1]:65535")).toEqual({ host: "::1", port: 65535 });
    for (const bad of ["", "7000", ":7000", "host:", "host:0", "host:65536", "host:70.5", "host:x"]) {
      expect(() => parseAddress(bad)).toThrow("Address must be host:port");
    }
  });

  test("a refused dial rejects with CLOSED; a write on a destroyed socket rejects with CLOSED", async () => {
    const server = createServer((socket) => socket.destroy());
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const port = (server.address() as { port: number }).port;
    const socket = await connectSocket(`127.0.0.1:${port}`);
    socket.destroy();
    await expect(writeWithBackpressure(socket, new Uint8Array(1))).rejects.toMatchObject({ code: "CLOSED" });
    await new Promise<void>((resolve) => server.close(() => resolve()));
    await expect(connectSocket(`127.0.0.1:${port}`)).rejects.toMatchObject({ code: "CLOSED" });
  });
});
