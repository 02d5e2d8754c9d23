// The client protocol as plain TypeScript values (what handlers and callers see), its mapping to
// the wire (proto/kv.proto), and the request checks every server applies before its handler runs.
// Codes are strings equal to the proto enum names, so the wire code, the UkvError code and the CLI
// message all read the same.
import * as pb from "../proto/kv.ts";
import { ProtoDecodeError } from "../proto/wire.ts";
import { assert } from "../util/assert.ts";
import { isUkvError } from "../util/errors.ts";
import { batchSetHeaderSizeBytes, batchSetPairCountMax, batchSetPairOverheadBytes, batchSetSizeBytesMax, keyedCommandSizeBytesMax, keySizeBytesMax } from "../util/limits.ts";
import { storedPayloadSizeBytesMax } from "../kv/stored-value.ts";

export type KvOp = "GET" | "SET" | "DELETE" | "KEYED" | "SCAN" | "FLUSH" | "STATUS" | "ADMIN" | "TOPOLOGY" | "BATCH_SET";

export type KvCode =
  | "OK"
  | "NOT_FOUND"
  | "NOT_LEADER"
  | "SHARD_UNAVAILABLE"
  | "KEY_TOO_LARGE"
  | "VALUE_TOO_LARGE"
  | "BAD_REQUEST"
  | "TIMEOUT"
  | "INTERNAL"
  /** Client side only: the node could not be reached, or the connection broke before the answer. */
  | "UNREACHABLE"
  /** The server is shutting down or over a limit: retry later or elsewhere. */
  | "UNAVAILABLE"
  /** The named shard has no replica on that store, or does not own the key: refresh and reroute. */
  | "WRONG_SHARD"
  /** The shard no longer owns the key (split): nothing was applied; refresh the ranges and reroute. */
  | "STALE_EPOCH"
  /** The cluster has a password and this connection gave none or a wrong one: nothing was done. */
  | "UNAUTHENTICATED"
  /** The key holds another type (GET on a list): nothing was done. */
  | "WRONG_TYPE";

export interface KvRequest {
  /** Unique per connection among requests in flight; the response carries it back. */
  id: number;
  op: KvOp;
  key: Uint8Array;
  /** SET only. */
  value: Uint8Array;
  /** GET only: read through the leader (read index) instead of the local replica. */
  linearizable: boolean;
  /**
   * 0 or absent: the receiving store routes the request (by key). Otherwise the shard the sender
   * routed it to: served from that store's replica of it, never forwarded again.
   */
  shard?: number;
  /** BATCH_SET only: the keys, and the value of each (same length). */
  batchKeys?: Uint8Array[];
  batchValues?: Uint8Array[];
  /** With `shard`: the version of the shard's range the sender routed by (0 or absent: none). */
  rangeVersion?: number;
}

export interface KvResponse {
  id: number;
  code: KvCode;
  /** GET + OK: the value. */
  value: Uint8Array;
  /** NOT_LEADER: the leader's client address, "" while there is no leader. */
  leaderAddress: string;
  /** Errors: a human-readable reason. */
  message: string;
  /** STATUS: a JSON document describing the node. */
  statusJson: string;
}

const emptyBytes = new Uint8Array(0);

const opToWire: Record<KvOp, pb.Op> = { GET: pb.Op.GET, SET: pb.Op.SET, DELETE: pb.Op.DELETE, KEYED: pb.Op.KEYED, SCAN: pb.Op.SCAN, FLUSH: pb.Op.FLUSH, STATUS: pb.Op.STATUS, ADMIN: pb.Op.ADMIN, TOPOLOGY: pb.Op.TOPOLOGY, BATCH_SET: pb.Op.BATCH_SET };
const opFromWire = new Map<number, KvOp>(Object.entries(opToWire).map(([name, value]) => [value, name as KvOp]));

const codeToWire: Record<KvCode, pb.Code> = {
  OK: pb.Code.OK,
  NOT_FOUND: pb.Code.NOT_FOUND,
  NOT_LEADER: pb.Code.NOT_LEADER,
  SHARD_UNAVAILABLE: pb.Code.SHARD_UNAVAILABLE,
  KEY_TOO_LARGE: pb.Code.KEY_TOO_LARGE,
  VALUE_TOO_LARGE: pb.Code.VALUE_TOO_LARGE,
  BAD_REQUEST: pb.Code.BAD_REQUEST,
  TIMEOUT: pb.Code.TIMEOUT,
  INTERNAL: pb.Code.INTERNAL,
  UNREACHABLE: pb.Code.UNREACHABLE,
  UNAVAILABLE: pb.Code.UNAVAILABLE,
  WRONG_SHARD: pb.Code.WRONG_SHARD,
  STALE_EPOCH: pb.Code.STALE_EPOCH,
  UNAUTHENTICATED: pb.Code.UNAUTHENTICATED,
  WRONG_TYPE: pb.Code.WRONG_TYPE,
};
const codeFromWire = new Map<number, KvCode>(Object.entries(codeToWire).map(([name, value]) => [value, name as KvCode]));
assert(codeFromWire.size === Object.keys(pb.Code).length / 2 - 1, "every wire code but CODE_UNSPECIFIED has a name");

export function isKvCode(value: string): value is KvCode {
  return Object.hasOwn(codeToWire, value);
}

export function makeKvResponse(id: number, code: KvCode, fields: Partial<Omit<KvResponse, "id" | "code">> = {}): KvResponse {
  return {
    id,
    code,
    value: fields.value ?? emptyBytes,
    leaderAddress: fields.leaderAddress ?? "",
    message: fields.message ?? "",
    statusJson: fields.statusJson ?? "",
  };
}

/**
 * The response for an error thrown by a handler: a UkvError whose code is a client code keeps it
 * (NOT_LEADER takes `data.leaderAddress`); anything else is INTERNAL.
 */
export function kvResponseFromError(id: number, error: unknown): KvResponse {
  if (isUkvError(error) && isKvCode(error.code)) {
    const leader = error.data.leaderAddress;
    return makeKvResponse(id, error.code, { message: error.message, leaderAddress: typeof leader === "string" ? leader : "" });
  }
  const message = error instanceof Error ? error.message : String(error);
  return makeKvResponse(id, "INTERNAL", { message: `Internal error: ${message}` });
}

/** The checks of the protocol itself, before any handler: an error response, or null when valid. */
export function checkKvRequest(request: KvRequest): KvResponse | null {
  const { id, key, value } = request;
  if (request.op === "STATUS" || request.op === "ADMIN" || request.op === "TOPOLOGY") return null;
  if (request.op === "BATCH_SET") {
    const problem = batchSetProblem(request);
    return problem === null ? null : makeKvResponse(id, problem.code, { message: problem.message });
  }
  if ((request.batchKeys?.length ?? 0) > 0 || (request.batchValues?.length ?? 0) > 0) {
    return makeKvResponse(id, "BAD_REQUEST", { message: `A ${request.op} request carries no batch pairs` });
  }
  // Whole-shard requests name their shard instead of a key.
  if (request.op === "SCAN" || request.op === "FLUSH") {
    if ((request.shard ?? 0) === 0) return makeKvResponse(id, "BAD_REQUEST", { message: `A ${request.op} names its shard` });
    if (key.byteLength !== 0 || value.byteLength > 64) return makeKvResponse(id, "BAD_REQUEST", { message: `A ${request.op} carries no key` });
    return null;
  }
  if (key.byteLength === 0) return makeKvResponse(id, "BAD_REQUEST", { message: "Key must not be empty" });
  if (key.byteLength > keySizeBytesMax) {
    return makeKvResponse(id, "KEY_TOO_LARGE", { message: `Key too large: ${key.byteLength} bytes, limit ${keySizeBytesMax}` });
  }
  const valueLimitBytes = request.op === "KEYED" ? keyedCommandSizeBytesMax : storedPayloadSizeBytesMax;
  if (value.byteLength > valueLimitBytes) {
    return makeKvResponse(id, "VALUE_TOO_LARGE", { message: `Value too large: ${value.byteLength} bytes, limit ${valueLimitBytes}` });
  }
  if (request.op !== "SET" && request.op !== "KEYED" && value.byteLength !== 0) {
    return makeKvResponse(id, "BAD_REQUEST", { message: `A ${request.op} request carries no value` });
  }
  return null;
}

/** Encoded size of a batch command holding these pairs (what batchSetSizeBytesMax bounds). */
export function batchSetSizeBytes(keys: readonly Uint8Array[], values: readonly Uint8Array[]): number {
  let sizeBytes = batchSetHeaderSizeBytes;
  for (let index = 0; index < keys.length; index++) sizeBytes += batchSetPairOverheadBytes + (keys[index] as Uint8Array).byteLength + (values[index]?.byteLength ?? 0);
  return sizeBytes;
}

/**
 * What is wrong with a BATCH_SET (null: nothing): it names its shard, has 1..batchSetPairCountMax
 * pairs, keys and values pair up, every key and value is within the single-write limits (the
 * pair's index named), and the whole encodes within batchSetSizeBytesMax. `valueLimitBytes`: a
 * client's value (the payload limit) on the wire; in the log command values carry their header.
 */
export function batchSetProblem(
  request: Pick<KvRequest, "key" | "value" | "shard" | "batchKeys" | "batchValues">,
  valueLimitBytes: number = storedPayloadSizeBytesMax,
): { code: KvCode; message: string } | null {
  const keys = request.batchKeys ?? [];
  const values = request.batchValues ?? [];
  if ((request.shard ?? 0) === 0) return { code: "BAD_REQUEST", message: "A BATCH_SET names its shard: a store never splits or routes a batch" };
  if (request.key.byteLength !== 0 || request.value.byteLength !== 0) return { code: "BAD_REQUEST", message: "A BATCH_SET carries its pairs in batch_keys and batch_values, not key and value" };
  if (keys.length === 0) return { code: "BAD_REQUEST", message: "A BATCH_SET needs at least one pair" };
  if (keys.length !== values.length) return { code: "BAD_REQUEST", message: `A BATCH_SET has ${keys.length} keys but ${values.length} values` };
  if (keys.length > batchSetPairCountMax) return { code: "BAD_REQUEST", message: `Batch of ${keys.length} pairs over the limit of ${batchSetPairCountMax}` };
  for (let index = 0; index < keys.length; index++) {
    const keySize = (keys[index] as Uint8Array).byteLength;
    const valueSize = (values[index] as Uint8Array).byteLength;
    if (keySize === 0) return { code: "BAD_REQUEST", message: `Batch pair ${index}: key must not be empty` };
    if (keySize > keySizeBytesMax) return { code: "KEY_TOO_LARGE", message: `Batch pair ${index}: key too large: ${keySize} bytes, limit ${keySizeBytesMax}` };
    if (valueSize > valueLimitBytes) return { code: "VALUE_TOO_LARGE", message: `Batch pair ${index}: value too large: ${valueSize} bytes, limit ${valueLimitBytes}` };
  }
  const sizeBytes = batchSetSizeBytes(keys, values);
  if (sizeBytes > batchSetSizeBytesMax) return { code: "BAD_REQUEST", message: `Batch of ${sizeBytes} encoded bytes over the limit of ${batchSetSizeBytesMax}` };
  return null;
}

export function requestToWire(request: KvRequest): pb.Request {
  return {
    id: request.id,
    op: opToWire[request.op],
    key: request.key,
    value: request.value,
    linearizable: request.linearizable,
    shard: request.shard ?? 0,
    batchKeys: request.batchKeys ?? [],
    batchValues: request.batchValues ?? [],
    rangeVersion: request.rangeVersion ?? 0,
  };
}

/** A decoded wire request, or a BAD_REQUEST response for one whose op is unknown. */
export function requestFromWire(request: pb.Request): KvRequest | KvResponse {
  const op = opFromWire.get(request.op);
  if (op === undefined) return makeKvResponse(request.id, "BAD_REQUEST", { message: `Unknown op ${request.op}` });
  if (!Number.isSafeInteger(request.shard)) return makeKvResponse(request.id, "BAD_REQUEST", { message: `Shard id out of range: ${request.shard}` });
  if (!Number.isSafeInteger(request.rangeVersion)) return makeKvResponse(request.id, "BAD_REQUEST", { message: `Range version out of range: ${request.rangeVersion}` });
  const batch = request.batchKeys.length > 0 || request.batchValues.length > 0 ? { batchKeys: request.batchKeys, batchValues: request.batchValues } : {};
  return { id: request.id, op, key: request.key, value: request.value, linearizable: request.linearizable, shard: request.shard, rangeVersion: request.rangeVersion, ...batch };
}

export function responseToWire(response: KvResponse): pb.Response {
  return {
    id: response.id,
    code: codeToWire[response.code],
    value: response.value,
    leaderAddress: response.leaderAddress,
    message: response.message,
    statusJson: response.statusJson,
  };
}

/** Throws ProtoDecodeError for a code this client does not know (a newer server): never guess OK. */
export function responseFromWire(response: pb.Response): KvResponse {
  const code = codeFromWire.get(response.code);
  if (code === undefined) throw new ProtoDecodeError(`Unknown response code ${response.code}`);
  return {
    id: response.id,
    code,
    value: response.value,
    leaderAddress: response.leaderAddress,
    message: response.message,
    statusJson: response.statusJson,
  };
}
