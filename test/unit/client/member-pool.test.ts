// MemberPool's dial address (inside a store: writes go to a member's Raft port, follower GETs to its
// client port): requests reach the address dialAddressOf names, while health stays the member's.
import { expect, test } from "bun:test";
import { MemberPool } from "../../../src/client/member-pool.ts";
import { makeKvResponse } from "../../../src/transport/kv-protocol.ts";
import type { KvServer } from "../../../src/transport/kv-server.ts";
import { startKvServer } from "./fake-cluster.ts";

const encoder = new TextEncoder();

test("requests go where dialAddressOf says; the member's health is recorded under its own address", async () => {
  const seen: { server: string; op: string }[] = [];
  const start = (name: string): Promise<{ server: KvServer; address: string }> =>
    startKvServer((request) => {
      seen.push({ server: name, op: request.op });
      return makeKvResponse(request.id, "OK");
    });
  const clientPort = await start("client port");
  const raftPort = await start("raft port");
  const pool = new MemberPool({
    requestTimeoutMs: 2000,
    dialAddressOf: (address, fields) => (fields.op === "GET" ? address : address === clientPort.address ? raftPort.address : address),
  });
  const empty = new Uint8Array(0);
  expect((await pool.send(clientPort.address, { op: "SET", key: encoder.encode("k"), value: encoder.encode("v"), linearizable: false })).code).toBe("OK");
  expect((await pool.send(clientPort.address, { op: "GET", key: encoder.encode("k"), value: empty, linearizable: false })).code).toBe("OK");
  expect((await pool.send(clientPort.address, { op: "STATUS", key: empty, value: empty, linearizable: false })).code).toBe("OK");
  expect(seen).toEqual([
    { server: "raft port", op: "SET" },
    { server: "client port", op: "GET" },
    { server: "raft port", op: "STATUS" },
  ]);
  expect(pool.answeredRecently(clientPort.address, 10_000)).toBe(true);
  expect(pool.health(raftPort.address).lastAnswerMs).toBeNull();
  pool.close();
  await Promise.all([clientPort.server.close(), raftPort.server.close()]);
});
