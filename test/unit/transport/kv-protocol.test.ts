import { describe, expect, test } from "bun:test";
import * as pb from "../../../src/proto/kv.ts";
import { ProtoDecodeError } from "../../../src/proto/wire.ts";
import {
  checkKvRequest,
  isKvCode,
  kvResponseFromError,
  makeKvResponse,
  requestFromWire,
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
];

describe("kv protocol", () => {
  test("every code keeps its name through the wire, and the wire number is the proto enum's", () => {
    for (const code of allCodes) {
      const wire = responseToWire(makeKvResponse(7, code));
      expect(pb.Code[wire.code]).toBe(code);
      expect(responseFromWire(pb.decodeResponse(pb.encodeResponse(wire))).code).toBe(code);
    }
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
  });
});
