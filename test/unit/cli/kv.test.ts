import { afterEach, describe, expect, test } from "bun:test";
import { Cli } from "clipanion";
import { PassThrough } from "node:stream";
import pino from "pino";
import { kvCommands, noLeaderRetriesMax, redirectHopsMax } from "../../../src/cli/kv.ts";
import { makeKvResponse, type KvRequest } from "../../../src/transport/kv-protocol.ts";
import { KvServer, type KvHandler } from "../../../src/transport/kv-server.ts";

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

/** The leader: a map store. */
function leaderHandler(seen: KvRequest[]): KvHandler {
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
    if (request.op === "STATUS") return makeKvResponse(request.id, "OK", { statusJson: '{"role":"leader"}' });
    return makeKvResponse(request.id, "OK");
  };
}

describe("ukv kv", () => {
  test("set, get and del follow a NOT_LEADER redirect to the leader", async () => {
    const seen: KvRequest[] = [];
    const leader = await serve(leaderHandler(seen));
    let redirects = 0;
    const follower = await serve(async (request) => {
      redirects++;
      return makeKvResponse(request.id, "NOT_LEADER", { leaderAddress: leader });
    });
    const set = await runKv(["kv", "set", "user:1", "alice", "--node", follower]);
    expect(set).toMatchObject({ status: 0, stdout: "OK\n" });
    expect(set.stderr).toContain(`redirected: ${follower} -> ${leader}`);
    const get = await runKv(["kv", "get", "user:1", "--node", follower, "--linearizable"]);
    expect(get).toMatchObject({ status: 0, stdout: "alice\n" });
    expect(seen.at(-1)?.linearizable).toBe(true);
    expect((await runKv(["kv", "del", "user:1", "--node", follower])).status).toBe(0);
    expect(redirects).toBe(3);
    expect(seen.map((request) => request.op)).toEqual(["SET", "GET", "DELETE"]);
  });

  test("a missing key exits 1 with a clear message", async () => {
    const leader = await serve(leaderHandler([]));
    const result = await runKv(["kv", "get", "nobody", "--node", leader]);
    expect(result).toMatchObject({ status: 1, stdout: "" });
    expect(result.stderr).toBe("error (NOT_FOUND): Key not found: nobody\n");
  });

  test("while there is no leader the command waits and asks again", async () => {
    let calls = 0;
    const node = await serve(async (request) => {
      calls++;
      if (calls <= 2) return makeKvResponse(request.id, "NOT_LEADER");
      return makeKvResponse(request.id, "OK");
    });
    expect(await runKv(["kv", "set", "k", "v", "--node", node])).toMatchObject({ status: 0, stdout: "OK\n" });
    expect(calls).toBe(3);
  });

  test("redirects are bounded: a redirect loop fails with NOT_LEADER", async () => {
    const addresses: string[] = [];
    let calls = 0;
    const loopHandler: KvHandler = async (request) => {
      calls++;
      // Each node names the other one as leader.
      return makeKvResponse(request.id, "NOT_LEADER", { leaderAddress: addresses[calls % 2] ?? "" });
    };
    addresses.push(await serve(loopHandler), await serve(loopHandler));
    const result = await runKv(["kv", "get", "k", "--node", addresses[0] as string]);
    expect(result.status).toBe(6);
    expect(result.stderr).toContain(`Gave up after ${redirectHopsMax} redirects`);
    expect(calls).toBe(redirectHopsMax + 1);
    expect(noLeaderRetriesMax).toBeGreaterThan(0);
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

  test("status prints the node's JSON", async () => {
    const leader = await serve(leaderHandler([]));
    expect(await runKv(["kv", "status", "--node", leader])).toMatchObject({ status: 0, stdout: '{"role":"leader"}\n' });
  });
});
