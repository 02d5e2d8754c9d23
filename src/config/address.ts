// Network addresses in the cluster config: "host:port", where host is a DNS name, an IPv4
// address, or a bracketed IPv6 address ("[::1]:7101"), and port is 1..65535. Parsed here once,
// so that config validation and the node runtime agree on one format.

export interface HostPort {
  host: string;
  port: number;
}

const portMax = 65535;
const addressPattern = /^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9](?:[A-Za-z0-9.-]{0,252}[A-Za-z0-9])?):([0-9]{1,5})$/;

/** The parsed address, or the reason it is not one (a sentence for a config error message). */
export function parseAddress(text: string): HostPort | { reason: string } {
  const match = addressPattern.exec(text);
  if (match === null) return { reason: `expected host:port (e.g. "127.0.0.1:7101"), got ${JSON.stringify(text)}` };
  const port = Number(match[2]);
  if (port < 1 || port > portMax) return { reason: `port must be in 1..${portMax}, got ${port} in ${JSON.stringify(text)}` };
  return { host: match[1] as string, port };
}

/**
 * The key under which two addresses collide: the same port on the same host. "localhost" and
 * 127.0.0.1 name the same interface, so they share a key.
 */
export function addressCollisionKey(address: HostPort): string {
  const host = address.host.toLowerCase();
  return `${host === "localhost" ? "127.0.0.1" : host}:${address.port}`;
}

/**
 * True for an address that binds every interface ("0.0.0.0", "[::]"): a listener may bind it, but
 * no other process can dial it, and it takes its port on every host name of the machine.
 */
export function isWildcardAddress(address: HostPort): boolean {
  return address.host === "0.0.0.0" || /^\[[0:]+\]$/.test(address.host);
}

/**
 * Whether two listeners cannot both bind: the same port on the same host (see addressCollisionKey),
 * or the same port where either one binds every interface.
 */
export function addressesCollide(first: HostPort, second: HostPort): boolean {
  if (first.port !== second.port) return false;
  if (isWildcardAddress(first) || isWildcardAddress(second)) return true;
  return addressCollisionKey(first) === addressCollisionKey(second);
}
