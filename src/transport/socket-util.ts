// Address helpers shared by the transport and the CLI: parsing "host:port" and checking, before
// anything starts, that the addresses a process will listen on are free. Connections themselves
// are the connection base's (tcp-connection.ts).
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

/**
 * Whether host:port can be bound now: binds and closes at once. null when free, else the error
 * code (EADDRINUSE: another process holds it). For start-up checks that must fail before anything
 * starts; the real listen can still lose a race and reports ADDRESS_IN_USE itself.
 */
export function bindProblem(host: string, port: number): Promise<string | null> {
  try {
    const listener = Bun.listen({ hostname: host, port, exclusive: true, socket: { data: () => {} } });
    listener.stop(true);
    return Promise.resolve(null);
  } catch (error) {
    const code = (error as { code?: string }).code;
    return Promise.resolve(code ?? (error instanceof Error ? error.message : String(error)));
  }
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
