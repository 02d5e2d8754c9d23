// Small helpers over node:net sockets shared by the Raft transport and the client protocol:
// parsing "host:port", dialing with a deadline, and waiting out write backpressure.
import { createConnection, createServer, type Server, type Socket } from "node:net";
import { assert } from "../util/assert.ts";
import type { Logger } from "../util/log.ts";
import { UkvError } from "../util/errors.ts";

export const connectTimeoutMsDefault = 2000;

export interface HostPort {
  host: string;
  port: number;
}

/** "host:port" (IPv6 hosts in brackets: "[::1]:7000"); throws CONFIG_INVALID otherwise. */
export function parseAddress(address: string): HostPort {
  const colonIndex = address.lastIndexOf(":");
  const port = Number(address.slice(colonIndex + 1));
  let host = address.slice(0, Math.max(colonIndex, 0));
  if (host.startsWith("[") && host.endsWith("]")) host = host.slice(1, -1);
  if (colonIndex <= 0 || host === "" || !Number.isInteger(port) || port < 1 || port > 65535 || address.slice(colonIndex + 1) === "") {
    throw new UkvError("CONFIG_INVALID", `Address must be host:port with a port in 1..65535: ${address}`);
  }
  return { host, port };
}

function ignoreError(): void {}

/** Dials `address`; rejects with CLOSED when refused or TIMEOUT after `timeoutMs`. */
export function connectSocket(address: string, timeoutMs = connectTimeoutMsDefault): Promise<Socket> {
  const { host, port } = parseAddress(address);
  return new Promise<Socket>((resolve, reject) => {
    const socket = createConnection({ host, port });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new UkvError("TIMEOUT", `Connect to ${address} timed out after ${timeoutMs} ms`));
    }, timeoutMs);
    socket.once("connect", () => {
      clearTimeout(timer);
      socket.removeAllListeners("error");
      // Errors are followed by 'close', where owners react; without a listener an error would throw.
      socket.on("error", ignoreError);
      socket.setNoDelay(true);
      resolve(socket);
    });
    socket.once("error", (error) => {
      clearTimeout(timer);
      socket.destroy();
      reject(new UkvError("CLOSED", `Connect to ${address} failed: ${error.message}`, { cause: error }));
    });
  });
}

/**
 * Writes and, when the socket's buffer is over its high-water mark, waits for 'drain'. Rejects
 * with CLOSED if the socket closes first, so a sender never waits forever on a dead peer, and
 * with TIMEOUT (destroying the socket) when the peer reads nothing for `stallTimeoutMs`.
 */
export function writeWithBackpressure(socket: Socket, bytes: Uint8Array, stallTimeoutMs = Number.POSITIVE_INFINITY): Promise<void> {
  if (socket.destroyed) return Promise.reject(new UkvError("CLOSED", "Socket closed before the write"));
  if (socket.write(bytes)) return Promise.resolve();
  return new Promise<void>((resolve, reject) => {
    const timer = Number.isFinite(stallTimeoutMs)
      ? setTimeout(() => {
          settle();
          socket.destroy();
          reject(new UkvError("TIMEOUT", `Peer read nothing for ${stallTimeoutMs} ms`));
        }, stallTimeoutMs)
      : null;
    const settle = (): void => {
      if (timer !== null) clearTimeout(timer);
      socket.off("drain", onDrain);
      socket.off("close", onClose);
    };
    const onDrain = (): void => {
      settle();
      resolve();
    };
    const onClose = (): void => {
      settle();
      reject(new UkvError("CLOSED", "Socket closed while waiting for drain"));
    };
    socket.once("drain", onDrain);
    socket.once("close", onClose);
  });
}

/**
 * Listens on host:port and resolves with the bound port (port 0 picks one). A start-up error
 * (address in use) rejects; later listener errors are logged, never thrown.
 */
/**
 * Listens on host:port; resolves with the bound port. A port another process holds rejects with
 * ADDRESS_IN_USE (data.address): the caller names the role, so the user sees one line saying which
 * listener of which process could not start.
 */
export function listenTcp(server: Server, args: { host: string; port: number; logger: Logger }): Promise<number> {
  return new Promise((resolve, reject) => {
    const onError = (error: Error & { code?: string }): void => {
      const address = `${args.host}:${args.port}`;
      if (error.code === "EADDRINUSE") reject(new UkvError("ADDRESS_IN_USE", `Address in use: ${address}`, { data: { address }, cause: error }));
      else reject(new UkvError("IO_ERROR", `Cannot listen on ${address}: ${error.message}`, { data: { address }, cause: error }));
    };
    server.once("error", onError);
    server.listen({ host: args.host, port: args.port }, () => {
      server.off("error", onError);
      server.on("error", (error) => args.logger.error({ event: "listener_error", err: error }));
      const address = server.address();
      assert(address !== null && typeof address === "object", "a TCP listener has an address");
      resolve(address.port);
    });
  });
}

/**
 * Whether host:port can be bound now: binds and closes at once. null when free, else the error
 * code (EADDRINUSE: another process holds it). For start-up checks that must fail before anything
 * starts; the real listen can still lose a race and reports ADDRESS_IN_USE itself.
 */
export function bindProblem(host: string, port: number): Promise<string | null> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once("error", (error: Error & { code?: string }) => resolve(error.code ?? error.message));
    server.listen({ host, port, exclusive: true }, () => server.close(() => resolve(null)));
  });
}

/** Throws ADDRESS_IN_USE (or IO_ERROR) naming the first of `addresses` that cannot be bound, with its role. */
export async function checkAddressesFree(addresses: readonly { address: string; role: string }[], hint: string): Promise<void> {
  for (const { address, role } of addresses) {
    const { host, port } = parseAddress(address);
    const problem = await bindProblem(host, port);
    if (problem === "EADDRINUSE") throw new UkvError("ADDRESS_IN_USE", `${role} ${address} is in use by another process: ${hint}`, { data: { address } });
    if (problem !== null) throw new UkvError("IO_ERROR", `Cannot listen on ${role} ${address}: ${problem}`, { data: { address } });
  }
}
