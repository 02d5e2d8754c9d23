import { describe, expect, test } from "bun:test";
import * as pb from "../../../src/proto/kv.ts";
import { ProtoDecodeError } from "../../../src/proto/wire.ts";
import {
  checkKvRequest,
  isKvCode,
  kvResponseFromError,
  makeKvResponse,
  requestFromWire,
  requestToWire,
  responseFromWire,
  responseToWire,
  type KvCode,
} from "../../../src/transport/kv-protocol.ts";
import { UkvError } from "../../../src/util/errors.ts";

const allCodes: KvCode[] = [
  "OK",
  "NOT_FOUND",
  "NOT_LEADER",
  "SHARD_UNAVAILABLE",
  "KEY_TOO_LARGE",
  "VALUE_TOO_LARGE",
  "BAD_REQUEST",
  "TIMEOUT",
  "INTERNAL",
  "UNREACHABLE",
  "UNAVAILABLE",
  "WRONG_SHARD",
  "STALE_EPOCH",
  "UNAUTHENTICATED",
  "WRONG_TYPE",
];

describe("kv protocol", () => {
  test("every code keeps its name through the wire, and the wire number is the proto enum's", () => {
    for (const code of allCodes) {
      const wire = responseToWire(makeKvResponse(7, code));
      expect(pb.Code[wire.code]).toBe(code);
      expect(responseFromWire(pb.decodeResponse(pb.encodeResponse(wire))).code).toBe(code);
    }
  });

  test("every wire code but CODE_UNSPECIFIED is listed here (a new code needs a test)", () => {
    const wireNames = Object.keys(pb.Code).filter((name) => Number.isNaN(Number(name)) && name !== "CODE_UNSPECIFIED");
    expect(wireNames.sort()).toEqual([...allCodes].sort());
  });

  test("the shard and range version fields and the TOPOLOGY op keep their values through the wire; an absent shard is 0 (the store routes)", () => {
    const base = { id: 9, op: "GET" as const, key: new Uint8Array([1, 2]), value: new Uint8Array(0), linearizable: true };
    for (const shard of [0, 1, 4096, 2 ** 32 + 5]) {
      const decoded = requestFromWire(pb.decodeRequest(pb.encodeRequest(requestToWire({ ...base, shard, rangeVersion: shard + 3 }))));
      expect(decoded).toEqual({ ...base, shard, rangeVersion: shard + 3 });
    }
    expect(requestToWire(base).rangeVersion).toBe(0);
    expect(requestToWire(base).shard).toBe(0);
    const topology = requestFromWire(pb.decodeRequest(pb.encodeRequest(requestToWire({ ...base, op: "TOPOLOGY", key: new Uint8Array(0), value: new TextEncoder().encode("12"), linearizable: false }))));
    expect(topology).toMatchObject({ op: "TOPOLOGY", shard: 0 });
    expect(new TextDecoder().decode((topology as { value: Uint8Array }).value)).toBe("12");
  });

  test("a range version beyond a safe integer is a BAD_REQUEST answer", () => {
    const decoded = requestFromWire({ ...pb.emptyRequest(), id: 4, op: pb.Op.GET, key: new Uint8Array([1]), shard: 1, rangeVersion: 2 ** 53 });
    expect(decoded).toMatchObject({ id: 4, code: "BAD_REQUEST" });
  });

  test("a shard id beyond a safe integer is a BAD_REQUEST answer, never a rounded shard", () => {
    const decoded = requestFromWire({ ...pb.emptyRequest(), id: 3, op: pb.Op.GET, key: new Uint8Array([1]), shard: 2 ** 53 });
    expect(decoded).toMatchObject({ id: 3, code: "BAD_REQUEST", message: `Shard id out of range: ${2 ** 53}` });
  });

  test("a WRONG_SHARD error from a handler keeps its code", () => {
    const wrong = new UkvError("WRONG_SHARD", "Key belongs to shard 2, not 1", { data: { shardId: 2 } });
    expect(kvResponseFromError(4, wrong)).toMatchObject({ id: 4, code: "WRONG_SHARD", message: "Key belongs to shard 2, not 1", leaderAddress: "" });
  });

  test("a missing or unknown response code is refused, never read as OK", () => {
    expect(() => responseFromWire(pb.emptyResponse())).toThrow(ProtoDecodeError);
    expect(() => responseFromWire({ ...pb.emptyResponse(), code: 200 as pb.Code })).toThrow("Unknown response code 200");
  });

  test("a missing op is a BAD_REQUEST answer for that request id", () => {
    const decoded = requestFromWire({ ...pb.emptyRequest(), id: 12 });
    expect(decoded).toMatchObject({ id: 12, code: "BAD_REQUEST" });
  });

  test("handler errors: client codes pass through with the leader hint, others become INTERNAL", () => {
    const notLeader = new UkvError("NOT_LEADER", "Not the leader", { data: { leaderAddress: "127.0.0.2:7000" } });
    expect(kvResponseFromError(1, notLeader)).toMatchObject({ code: "NOT_LEADER", leaderAddress: "127.0.0.2:7000", message: "Not the leader" });
    expect(kvResponseFromError(2, new UkvError("WAL_CORRUPT", "Bad record"))).toMatchObject({ code: "INTERNAL" });
    expect(kvResponseFromError(3, "a string")).toMatchObject({ code: "INTERNAL", message: "Internal error: a string" });
    expect(isKvCode("WAL_CORRUPT")).toBe(false);
    expect(isKvCode("TIMEOUT")).toBe(true);
  });

  test("request checks: empty key, key and value limits, a value only on SET", () => {
    const request = { id: 1, op: "GET" as const, key: new Uint8Array([1]), value: new Uint8Array(0), linearizable: false };
    expect(checkKvRequest(request)).toBeNull();
    expect(checkKvRequest({ ...request, key: new Uint8Array(0) })?.code).toBe("BAD_REQUEST");
    expect(checkKvRequest({ ...request, value: new Uint8Array(1) })?.code).toBe("BAD_REQUEST");
    expect(checkKvRequest({ ...request, op: "SET", value: new Uint8Array(1) })).toBeNull();
    expect(checkKvRequest({ ...request, op: "STATUS", key: new Uint8Array(0) })).toBeNull();
    // TOPOLOGY has no key; its value is an optional known epoch.
    expect(checkKvRequest({ ...request, op: "TOPOLOGY", key: new Uint8Array(0), value: new TextEncoder().encode("3") })).toBeNull();
  });
});
