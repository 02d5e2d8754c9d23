// `ukv kv --node`: one request to one store (the store routes it), never a redirect loop of its
// own; every answer code maps to its exit status.
import { afterEach, describe, expect, test } from "bun:test";
import { Cli } from "clipanion";
import { PassThrough } from "node:stream";
import pino from "pino";
import { reportCliError } from "../../../src/cli/errors.ts";
import { kvCommands, kvExitStatus } from "../../../src/cli/kv.ts";
import { makeKvResponse, type KvCode, type KvRequest } from "../../../src/transport/kv-protocol.ts";
import { KvServer, type KvHandler } from "../../../src/transport/kv-server.ts";
import { UkvError, type ErrorCode } from "../../../src/util/errors.ts";

const silent = pino({ level: "silent" });
const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0)) await cleanup();
});

async function serve(handler: KvHandler): Promise<string> {
  const server = new KvServer({ host: "127.0.0.1", port: 0, handler, logger: silent });
  const { port } = await server.start();
  cleanups.push(() => server.close());
  return `127.0.0.1:${port}`;
}

async function runKv(args: string[]): Promise<{ status: number; stdout: string; stderr: string }> {
  const cli = new Cli({ binaryName: "ukv" });
  for (const command of kvCommands) cli.register(command);
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  stdout.on("data", (chunk: Buffer) => out.push(chunk));
  stderr.on("data", (chunk: Buffer) => err.push(chunk));
  const status = await cli.run(args, { stdin: process.stdin, stdout, stderr, env: {}, colorDepth: 1 });
  return { status, stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString() };
}

/** A store answering from one map (its routing is not the subject here). */
function storeHandler(seen: KvRequest[]): KvHandler {
  const store = new Map<string, Uint8Array>();
  return async (request) => {
    seen.push(request);
    const key = new TextDecoder().decode(request.key);
    if (request.op === "SET") store.set(key, request.value.slice());
    if (request.op === "DELETE") store.delete(key);
    if (request.op === "GET") {
      const value = store.get(key);
      return value === undefined ? makeKvResponse(request.id, "NOT_FOUND") : makeKvResponse(request.id, "OK", { value });
    }
    if (request.op === "STATUS") return makeKvResponse(request.id, "OK", { statusJson: '{"role":"store"}' });
    return makeKvResponse(request.id, "OK");
  };
}

describe("ukv kv", () => {
  test("set, get and del go to the store named, as one untagged request each", async () => {
    const seen: KvRequest[] = [];
    const store = await serve(storeHandler(seen));
    expect(await runKv(["kv", "set", "user:1", "alice", "--node", store])).toMatchObject({ status: 0, stdout: "OK\n", stderr: "" });
    const get = await runKv(["kv", "get", "user:1", "--node", store, "--linearizable"]);
    expect(get).toMatchObject({ status: 0, stdout: "alice\n" });
    expect(seen.at(-1)?.linearizable).toBe(true);
    expect((await runKv(["kv", "del", "user:1", "--node", store])).status).toBe(0);
    expect(seen.map((request) => [request.op, request.shard])).toEqual([["SET", 0], ["GET", 0], ["DELETE", 0]]);
  });

  test("a missing key exits 1 with a clear message", async () => {
    const store = await serve(storeHandler([]));
    const result = await runKv(["kv", "get", "nobody", "--node", store]);
    expect(result).toMatchObject({ status: 1, stdout: "" });
    expect(result.stderr).toBe("error (NOT_FOUND): Key not found: nobody\n");
  });

  test("a NOT_LEADER answer is reported, not followed: the store routes, so the CLI asks once", async () => {
    let calls = 0;
    const other = await serve(async (request) => {
      calls++;
      return makeKvResponse(request.id, "OK");
    });
    const store = await serve(async (request) => {
      calls++;
      return makeKvResponse(request.id, "NOT_LEADER", { leaderAddress: other, message: "No leader for shard 3 yet" });
    });
    const result = await runKv(["kv", "set", "k", "v", "--node", store]);
    expect(result).toMatchObject({ status: 6, stdout: "", stderr: "error (NOT_LEADER): No leader for shard 3 yet\n" });
    expect(calls).toBe(1);
  });

  test("WRONG_SHARD and every other code exit with their own status; OK is 0", async () => {
    const store = await serve(async (request) => makeKvResponse(request.id, "WRONG_SHARD", { message: "Store 2 holds no replica of shard 9" }));
    expect(await runKv(["kv", "get", "k", "--node", store])).toMatchObject({ status: 13, stderr: "error (WRONG_SHARD): Store 2 holds no replica of shard 9\n" });
    const codes: KvCode[] = ["OK", "NOT_FOUND", "INTERNAL", "BAD_REQUEST", "NOT_LEADER", "SHARD_UNAVAILABLE", "TIMEOUT", "UNREACHABLE", "KEY_TOO_LARGE", "VALUE_TOO_LARGE", "UNAVAILABLE", "WRONG_SHARD"];
    const statuses = codes.map(kvExitStatus);
    expect(statuses).toEqual([0, 1, 2, 4, 6, 7, 8, 9, 10, 11, 12, 13]);
    // 3 is CONFIG_INVALID, 5 is DIR_LOCKED: no two codes share a status.
    expect(new Set(statuses).size).toBe(codes.length);
    // Other commands exit with the same status for a typed error of that code.
    const context = { stdin: process.stdin, stdout: new PassThrough(), stderr: new PassThrough(), env: {}, colorDepth: 1 };
    for (const code of codes.filter((candidate) => candidate !== "OK" && candidate !== "NOT_FOUND")) {
      expect([code, reportCliError(context, new UkvError(code as ErrorCode, "failed"))]).toEqual([code, kvExitStatus(code)]);
    }
  });

  test("errors exit with their code's status; an unreachable node is UNREACHABLE", async () => {
    const node = await serve(async (request) => makeKvResponse(request.id, "SHARD_UNAVAILABLE", { message: "Shard 3 has no quorum" }));
    const unavailable = await runKv(["kv", "set", "k", "v", "--node", node]);
    expect(unavailable).toMatchObject({ status: 7, stderr: "error (SHARD_UNAVAILABLE): Shard 3 has no quorum\n" });
    const tooLarge = await runKv(["kv", "set", "k".repeat(5000), "v", "--node", node]);
    expect(tooLarge.status).toBe(10);
    expect(tooLarge.stderr).toContain("KEY_TOO_LARGE");
    const closedPort = node.replace(/:\d+$/, ":1");
    const unreachable = await runKv(["kv", "get", "k", "--node", closedPort, "--timeout-ms", "1000"]);
    expect(unreachable.status).toBe(9);
    expect(unreachable.stderr).toContain("error (UNREACHABLE)");
    const badAddress = await runKv(["kv", "get", "k", "--node", "nowhere"]);
    expect(badAddress.status).toBe(3);
  });

  test("status prints the store's JSON, asked without a shard (the whole store)", async () => {
    const seen: KvRequest[] = [];
    const store = await serve(storeHandler(seen));
    expect(await runKv(["kv", "status", "--node", store])).toMatchObject({ status: 0, stdout: '{"role":"store"}\n' });
    expect(seen.map((request) => [request.op, request.shard])).toEqual([["STATUS", 0]]);
  });
});
