// The cluster's password (config `requirepass`) on the raw client protocol. A client connection
// opens with its hello, then (when the client has a password) one KvAuth frame whose payload is
// the password's bytes, then request frames. A server with a password answers every request of a
// connection that sent no KvAuth frame, or a wrong one, UNAUTHENTICATED (the connection stays open
// so each request gets its answer and the client one clear error); a server without a password
// ignores the frame. No round trip is added: the frame goes out with the first requests.
//
// Every client of a process uses the same secret: the process sets it once at start
// (setClientPassword: a store or router from its config, a CLI from --password, UKV_PASSWORD or its
// config), and every KvClient takes it unless its options name another. So the router, the smart
// client, admin and status clients, the coordinator, store-to-store forwarding, the chaos harness
// and the dashboard's monitor all authenticate without each being told.
import { createHash, timingSafeEqual } from "node:crypto";
import { UkvError } from "../util/errors.ts";

/** As the config's requirepass (schema.ts). */
export const passwordSizeBytesMax = 512;

let processPassword: string | null = null;

/** The password every KvClient of this process sends (null: none). */
export function setClientPassword(password: string | null): void {
  if (password !== null) checkPassword(password);
  processPassword = password;
}

export function clientPassword(): string | null {
  return processPassword;
}

/**
 * The password a CLI uses: its --password flag, else UKV_PASSWORD, else the config's requirepass
 * (when it read one), else none.
 */
export function resolveCliPassword(flag: string | undefined, configPassword: string | null = null): string | null {
  const chosen = flag ?? process.env["UKV_PASSWORD"] ?? configPassword;
  return chosen === undefined || chosen === null || chosen === "" ? null : chosen;
}

function checkPassword(password: string): void {
  const sizeBytes = Buffer.byteLength(password, "utf8");
  if (sizeBytes === 0 || sizeBytes > passwordSizeBytesMax) {
    throw new UkvError("BAD_REQUEST", `A password has 1 to ${passwordSizeBytesMax} bytes, not ${sizeBytes}`);
  }
}

export function encodePassword(password: string): Uint8Array {
  checkPassword(password);
  return new TextEncoder().encode(password);
}

/**
 * True when `given` is the password. Constant time: both sides are hashed first, so the
 * comparison takes the same time whatever the bytes and length given.
 */
export function passwordMatches(given: Uint8Array, expected: string): boolean {
  const digest = (bytes: Uint8Array | string): Buffer => createHash("sha256").update(bytes).digest();
  return timingSafeEqual(digest(given), digest(expected));
}

export const noAuthMessage = "NOAUTH Authentication required: the cluster has a password (give it with --password or UKV_PASSWORD)";
export const wrongPassMessage = "WRONGPASS invalid password for this cluster";
