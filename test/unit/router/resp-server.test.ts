// The RESP listener over real sockets against an in-memory backend (two fake shards): replies in
// request order while a slow shard's request finishes after a fast one, pipelined writes then
// reads of one key in order, error mapping (CLUSTERDOWN, TRYAGAIN, ERR), recoverable and fatal
// protocol errors, QUIT, HELLO 3, and the command semantics that do not need a real cluster.
import { afterEach, describe, expect, test } from "bun:test";
import { connect, type Socket } from "node:net";
import type { RouteFields } from "../../../src/client/shard-routing.ts";
import type { RespBackend } from "../../../src/router/resp/resp-context.ts";
import { RespServer } from "../../../src/router/resp/resp-server.ts";
import { CommandTable } from "../../../src/router/resp/resp-commands.ts";
import type { RouterView } from "../../../src/router/router-server.ts";
import { makeKvResponse, type KvCode, type KvResponse } from "../../../src/transport/kv-protocol.ts";
import { captureLogger } from "../transport/helpers.ts";
import { decodeKeyedTransaction, encodeKeyedReply, executeKeyedTransaction, withNow } from "../../../src/kv/keyed-commands.ts";
import { decodeStoredValue, encodeStoredValue, liveValue } from "../../../src/kv/stored-value.ts";
import { decodeShardScanRequest, encodeShardScanPage } from "../../../src/kv/shard-scan.ts";

const encoder = new TextEncoder();

/**
 * Keys starting with "s" are on shard 2, others on shard 1. Hooks delay or fail requests. `data`
 * holds client values; KEYED requests run the real state-machine code over them.
 */
class FakeBackend implements RespBackend {
  readonly data = new Map<string, Uint8Array>();
  readonly #deadlines = new Map<string, number>();
  readonly routed: RouteFields[] = [];
  readonly completed: string[] = [];
  delayMsByKey = new Map<string, number>();
  failShard: { shardId: number; code: KvCode; message: string } | null = null;

  shardIdOf(key: Uint8Array): number {
    return key[0] === 0x73 ? 2 : 1;
  }

  async route(request: RouteFields): Promise<KvResponse> {
    this.routed.push(request);
    const name = Buffer.from(request.key).toString("latin1");
    const delayMs = this.delayMsByKey.get(name) ?? 0;
    if (delayMs > 0) await Bun.sleep(delayMs);
    this.completed.push(`${request.op} ${name}`);
    if (this.failShard !== null && this.failShard.shardId === this.shardIdOf(request.key)) return makeKvResponse(0, this.failShard.code, { message: this.failShard.message });
    switch (request.op) {
      case "GET": {
        const value = liveValue(this.#stored(name), Date.now());
        return value === null ? makeKvResponse(0, "NOT_FOUND") : makeKvResponse(0, "OK", { value: value.payload });
      }
      case "SET":
        // Copy: the test checks the listener's views of socket reads stay intact until routed.
        this.data.set(name, request.value.slice());
        this.#deadlines.delete(name);
        return makeKvResponse(0, "OK");
      case "KEYED": {
        const transaction = decodeKeyedTransaction(withNow(request.value, Date.now()));
        const result = executeKeyedTransaction(transaction, (key) => this.#stored(Buffer.from(key).toString("latin1")));
        for (const op of result.ops) {
          const opName = Buffer.from(op.key).toString("latin1");
          if (op.kind === "delete") {
            this.data.delete(opName);
            this.#deadlines.delete(opName);
          } else {
            const stored = decodeStoredValue(op.value);
            this.data.set(opName, stored.payload.slice());
            if (stored.deadlineMs === null) this.#deadlines.delete(opName);
            else this.#deadlines.set(opName, stored.deadlineMs);
          }
        }
        return makeKvResponse(0, "OK", { value: encodeKeyedReply(result.reply) });
      }
      default:
        this.data.delete(name);
        return makeKvResponse(0, "OK");
    }
  }

  shardIds(): number[] {
    return [1, 2];
  }

  /** SCAN pages walk the shard's keys in insertion order; FLUSH clears the shard. */
  async routeShard(shardId: number, request: RouteFields): Promise<KvResponse> {
    const names = [...this.data.keys()].filter((name) => this.shardIdOf(Buffer.from(name, "latin1")) === shardId);
    if (request.op === "FLUSH") {
      for (const name of names) this.data.delete(name);
      return makeKvResponse(0, "OK");
    }
    const scan = decodeShardScanRequest(request.value);
    const start = scan.randomStart ? Math.floor(Math.random() * names.length) : scan.slot;
    const end = Math.min(names.length, start + scan.slotCountMax);
    const keys = names.slice(start, end).map((name) => Buffer.from(name, "latin1"));
    return makeKvResponse(0, "OK", { value: encodeShardScanPage({ layout: 1, next: end, capacity: names.length, keyCount: names.length, keys }) });
  }

  #stored(name: string): Uint8Array | null {
    const value = this.data.get(name);
    return value === undefined ? null : encodeStoredValue(value, this.#deadlines.get(name) ?? null);
  }

  view(): RouterView {
    const shard = (shardId: number, keyCount: number): RouterView["shards"][number] => ({
      shardId,
      state: "available",
      detail: null,
      leader: { memberId: shardId * 10, address: "127.0.0.1:1", term: 3 },
      reachableCount: 3,
      memberCount: 3,
      inflightCount: 0,
      waitingCount: 0,
      refusedQueueFullCount: 0,
      refusedNoQuorumCount: 0,
      members: [{ id: shardId * 10, address: "127.0.0.1:1", reachable: true, role: "leader", term: 3, commitIndex: 1, appliedIndex: 1, keyCount, lastIndex: 1 } as RouterView["shards"][number]["members"][number]],
    });
    const keys = [...this.data.keys()];
    return { role: "router", port: 0, epoch: 0, shards: [shard(1, keys.filter((key) => !key.startsWith("s")).length), shard(2, keys.filter((key) => key.startsWith("s")).length)] };
  }
}

function command(...args: (string | Uint8Array)[]): Uint8Array {
  const parts: Uint8Array[] = [encoder.encode(`*${args.length}\r\n`)];
  for (const arg of args) {
    const raw = typeof arg === "string" ? encoder.encode(arg) : arg;
    parts.push(encoder.encode(`$${raw.byteLength}\r\n`), raw, encoder.encode("\r\n"));
  }
  return Buffer.concat(parts);
}

/** A raw client: sends bytes, collects everything the server writes, sees the close. */
class RawClient {
  readonly socket: Socket;
  received = "";
  closed = false;

  private constructor(socket: Socket) {
    this.socket = socket;
    socket.on("data", (chunk: Buffer) => {
      this.received += chunk.toString("latin1");
    });
    socket.on("close", () => {
      this.closed = true;
    });
    socket.on("error", () => {});
  }

  static open(port: number): Promise<RawClient> {
    return new Promise((resolve, reject) => {
      const socket = connect({ host: "127.0.0.1", port }, () => resolve(new RawClient(socket)));
      socket.once("error", reject);
    });
  }

  /** Sends `bytes`, waits for exactly `expected` more bytes (then a short settle), returns them. */
  async exchange(bytes: Uint8Array | string, expected: string, timeoutMs = 3000): Promise<string> {
    const start = this.received.length;
    this.socket.write(bytes);
    const deadline = performance.now() + timeoutMs;
    while (this.received.length - start < expected.length && performance.now() < deadline && !this.closed) await Bun.sleep(2);
    return this.received.slice(start);
  }

  /** Polls (bounded) until everything received so far satisfies `done`; returns whether it did. */
  async waitFor(done: (received: string) => boolean, timeoutMs = 3000): Promise<boolean> {
    const deadline = performance.now() + timeoutMs;
    while (!done(this.received) && performance.now() < deadline && !this.closed) await Bun.sleep(2);
    return done(this.received);
  }

  async waitClosed(timeoutMs = 3000): Promise<boolean> {
    const deadline = performance.now() + timeoutMs;
    while (!this.closed && performance.now() < deadline) await Bun.sleep(2);
    return this.closed;
  }

  close(): void {
    this.socket.destroy();
  }
}

let server: RespServer | null = null;
const clients: RawClient[] = [];

afterEach(async () => {
  for (const client of clients.splice(0)) client.close();
  await server?.close();
  server = null;
});

async function setUp(): Promise<{ backend: FakeBackend; client: RawClient; open(): Promise<RawClient> }> {
  const backend = new FakeBackend();
  server = await RespServer.start({ backend, host: "127.0.0.1", port: 0, logger: captureLogger().logger, drainTimeoutMs: 500 });
  const port = server.port;
  const open = async (): Promise<RawClient> => {
    const client = await RawClient.open(port);
    clients.push(client);
    return client;
  };
  return { backend, client: await open(), open };
}

async function expectExchange(client: RawClient, bytes: Uint8Array | string, expected: string): Promise<void> {
  expect(await client.exchange(bytes, expected)).toBe(expected);
}

describe("RespServer", () => {
  test("replies come in request order while a slow shard's request finishes after a fast one", async () => {
    const { backend, client } = await setUp();
    backend.data.set("slow", encoder.encode("S"));
    backend.data.set("fast", encoder.encode("F"));
    backend.delayMsByKey.set("slow", 100);
    await expectExchange(client, Buffer.concat([command("GET", "slow"), command("GET", "fast"), command("PING")]), "$1\r\nS\r\n$1\r\nF\r\n+PONG\r\n");
    expect(backend.completed).toEqual(["GET fast", "GET slow"]);
  });

  test("a pipelined SET then GET of one key reads the new value, through the leader", async () => {
    const { backend, client } = await setUp();
    backend.delayMsByKey.set("k", 30);
    await expectExchange(client, Buffer.concat([command("SET", "k", "v1"), command("SET", "k", "v2"), command("GET", "k")]), "+OK\r\n+OK\r\n$2\r\nv2\r\n");
    expect(backend.routed.map((request) => `${request.op}${request.linearizable ? " linearizable" : ""}`)).toEqual(["SET", "SET", "GET linearizable"]);
  });

  test("a value received across several reads stays intact while its command waits its turn", async () => {
    const { backend, client } = await setUp();
    backend.delayMsByKey.set("k", 20);
    const value = Uint8Array.from({ length: 200_000 }, (_, index) => index % 251);
    const stream = Buffer.concat([command("SET", "k", "first"), command("SET", "k", value), command("PING")]);
    client.socket.write(stream.subarray(0, 1000));
    await Bun.sleep(5);
    await expectExchange(client, stream.subarray(1000), "+OK\r\n+OK\r\n+PONG\r\n");
    expect(Buffer.from(backend.data.get("k")!).equals(Buffer.from(value))).toBe(true);
  });

  test("routing errors map to CLUSTERDOWN, TRYAGAIN and ERR; other shards keep serving", async () => {
    const { backend, client } = await setUp();
    backend.failShard = { shardId: 2, code: "SHARD_UNAVAILABLE", message: "shard 2 unavailable: no quorum" };
    await expectExchange(client, Buffer.concat([command("SET", "sk", "v"), command("SET", "k", "v")]), "-CLUSTERDOWN shard 2 unavailable: no quorum\r\n+OK\r\n");
    backend.failShard = { shardId: 2, code: "TIMEOUT", message: "No answer" };
    await expectExchange(client, command("GET", "sk"), "-TRYAGAIN TIMEOUT: No answer\r\n");
    await expectExchange(client, command("MGET", "k", "sk"), "-TRYAGAIN TIMEOUT: No answer\r\n");
    backend.failShard = null;
    await expectExchange(client, command("SET", "k", new Uint8Array(1024 * 1024 + 1)), "-ERR Value too large: 1048577 bytes, limit 1048567\r\n");
    await expectExchange(client, command("GET", ""), "-ERR Key must not be empty\r\n");
  });

  test("unknown commands and wrong arity answer Redis's errors", async () => {
    const { client } = await setUp();
    await expectExchange(client, command("FOO", "a", "b"), "-ERR unknown command 'FOO', with args beginning with: 'a' 'b'\r\n");
    await expectExchange(client, command("GET"), "-ERR wrong number of arguments for 'get' command\r\n");
    await expectExchange(client, command("MSET", "a", "1", "b"), "-ERR wrong number of arguments for 'mset' command\r\n");
    await expectExchange(client, command("SET", "a", "1", "EX", "0"), "-ERR invalid expire time in 'set' command\r\n");
    await expectExchange(client, command("SET", "a", "1", "NX", "XX"), "-ERR syntax error\r\n");
  });

  test("an over-limit bulk is answered -ERR and the connection stays usable", async () => {
    const { client } = await setUp();
    const huge = new Uint8Array(2 * 1024 * 1024);
    const reply = await client.exchange(Buffer.concat([command("SET", "k", huge), command("PING")]), "-ERR Protocol error: bulk of 2097152 bytes, limit 1114112\r\n+PONG\r\n");
    expect(reply).toBe("-ERR Protocol error: bulk of 2097152 bytes, limit 1114112\r\n+PONG\r\n");
    expect(client.closed).toBe(false);
  });

  test("malformed bytes are answered, that connection closes, another one is unaffected", async () => {
    const { client, open } = await setUp();
    const other = await open();
    await expectExchange(client, "*1\r\n:1\r\n", "-ERR Protocol error: expected '$', got ':'\r\n");
    expect(await client.waitClosed()).toBe(true);
    await expectExchange(other, command("PING"), "+PONG\r\n");
  });

  test("inline commands work, QUIT answers +OK and closes", async () => {
    const { client } = await setUp();
    await expectExchange(client, "PING\r\nECHO \"a b\"\r\n", "+PONG\r\n$3\r\na b\r\n");
    await expectExchange(client, "QUIT\r\nPING\r\n", "+OK\r\n");
    expect(await client.waitClosed()).toBe(true);
  });

  test("HELLO 3 switches later replies to RESP3; replies pipelined before it stay RESP2", async () => {
    const { backend, client } = await setUp();
    backend.delayMsByKey.set("missing", 20);
    const reply = await client.exchange(Buffer.concat([command("GET", "missing"), command("HELLO", "3"), command("GET", "absent")]), "$-1\r\n%7\r\n");
    expect(reply.startsWith("$-1\r\n%7\r\n$6\r\nserver\r\n$5\r\nredis\r\n")).toBe(true);
    const helloTail = "$7\r\nmodules\r\n*0\r\n_\r\n";
    await client.waitFor((received) => received.endsWith(helloTail));
    expect(client.received.endsWith(helloTail)).toBe(true);
    await expectExchange(client, command("HELLO", "4"), "-NOPROTO unsupported protocol version\r\n");
  });

  test("SET NX/XX/GET, DEL counts, EXISTS counts duplicates, MSET then MGET", async () => {
    const { client } = await setUp();
    await expectExchange(client, command("SET", "a", "1", "XX"), "$-1\r\n");
    await expectExchange(client, command("SET", "a", "1", "NX"), "+OK\r\n");
    await expectExchange(client, command("SET", "a", "2", "NX"), "$-1\r\n");
    await expectExchange(client, command("SET", "a", "3", "XX", "GET"), "$1\r\n1\r\n");
    await expectExchange(client, command("MSET", "b", "x", "sb", "y"), "+OK\r\n");
    await expectExchange(client, command("MGET", "a", "b", "sb", "nope"), "*4\r\n$1\r\n3\r\n$1\r\nx\r\n$1\r\ny\r\n$-1\r\n");
    await expectExchange(client, command("EXISTS", "a", "a", "nope"), ":2\r\n");
    await expectExchange(client, command("DBSIZE"), ":3\r\n");
    await expectExchange(client, command("DEL", "a", "sb", "nope"), ":2\r\n");
    await expectExchange(client, command("DBSIZE"), ":1\r\n");
  });

  test("CLIENT READMODE linearizable makes reads go through the leader; names and SELECT", async () => {
    const { backend, client } = await setUp();
    await expectExchange(client, command("GET", "x"), "$-1\r\n");
    await expectExchange(client, command("CLIENT", "READMODE", "linearizable"), "+OK\r\n");
    await expectExchange(client, command("GET", "x"), "$-1\r\n");
    expect(backend.routed.map((request) => request.linearizable)).toEqual([false, true]);
    await expectExchange(client, command("CLIENT", "READMODE"), "$12\r\nlinearizable\r\n");
    await expectExchange(client, command("CLIENT", "READMODE", "stale"), "-ERR CLIENT READMODE takes follower or linearizable\r\n");
    await expectExchange(client, command("CLIENT", "GETNAME"), "$-1\r\n");
    await expectExchange(client, command("CLIENT", "SETNAME", "app"), "+OK\r\n");
    await expectExchange(client, command("CLIENT", "GETNAME"), "$3\r\napp\r\n");
    await expectExchange(client, command("SELECT", "0"), "+OK\r\n");
    await expectExchange(client, command("SELECT", "1"), "-ERR DB index is out of range\r\n");
  });

  test("CONFIG GET answers the keys redis-benchmark asks; COMMAND COUNT matches the table", async () => {
    const { client } = await setUp();
    await expectExchange(client, command("CONFIG", "GET", "save"), "*2\r\n$4\r\nsave\r\n$0\r\n\r\n");
    await expectExchange(client, command("CONFIG", "GET", "appendonly"), "*2\r\n$10\r\nappendonly\r\n$3\r\nyes\r\n");
    await expectExchange(client, command("COMMAND", "COUNT"), `:${new CommandTable().specs.length}\r\n`);
    const info = await client.exchange(command("INFO", "keyspace"), "$");
    const keyspace = "# Keyspace\r\ndb0:keys=0,expires=0,avg_ttl=0";
    await client.waitFor((received) => received.includes(keyspace));
    expect(client.received).toContain(keyspace);
    expect(info.startsWith("$")).toBe(true);
  });
});
