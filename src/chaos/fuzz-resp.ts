// The RESP fuzz target: what a Redis client (or anything else) sends to the router's RESP port.
// Each case is parsed twice, once whole and once cut into pieces at points drawn from the input,
// and the two parses must agree exactly (the parser promises the same result for any split of the
// stream). Every parsed command is then resolved by the command table and run against an
// in-memory backend, and its reply encoded in the session's protocol, so argument checking (SET
// options, HELLO versions, CLIENT subcommands, CONFIG GET patterns...) sees the mutated bytes too.
// A command that throws anything but a typed error would reach the client as
// "ERR internal error": that is a failure here, as is any parser throw.
import { decodeKeyedTransaction, encodeKeyedReply, executeKeyedTransaction, withNow } from "../kv/keyed-commands.ts";
import { decodeShardScanRequest, encodeShardScanPage } from "../kv/shard-scan.ts";
import { encodeStoredValue, liveValue } from "../kv/stored-value.ts";
import type { RouteFields } from "../client/shard-routing.ts";
import { CommandTable } from "../router/resp/resp-commands.ts";
import { respConnectionParserLimits } from "../router/resp/resp-connection.ts";
import { keyName, newSession, type CommandContext, type RespBackend, type RespServerStats, type RespSession } from "../router/resp/resp-context.ts";
import { RespWriter, type RespReply } from "../router/resp/resp-encoder.ts";
import { RespParser, type RespParsed, type RespParserLimits } from "../router/resp/resp-parser.ts";
import type { RouterView } from "../router/router-server.ts";
import { checkKvRequest, makeKvResponse, type KvResponse } from "../transport/kv-protocol.ts";
import { Prng } from "../util/prng.ts";

/** Commands run per case: enough to reach state (HELLO 3 then a map reply), few enough to stay fast. */
const commandsRunPerCaseMax = 32;
/** Keys the in-memory backend holds before it starts forgetting (bounds memory over 1M cases). */
const backendKeyCountMax = 10_000;

const encoder = new TextEncoder();

/** Small limits make the over-limit paths (skipped bulks, long arrays and lines) reachable. */
const smallLimits: RespParserLimits = { bulkSizeBytesMax: 48, arrayLengthMax: 6, inlineSizeBytesMax: 64 };
const realLimits: RespParserLimits = respConnectionParserLimits;

/** A single-shard key-value map answering like a healthy router. */
class MemoryBackend implements RespBackend {
  readonly #data = new Map<string, Uint8Array>();

  async route(request: RouteFields): Promise<KvResponse> {
    // The same checks a data node makes, so oversized and empty keys get the node's answers.
    const refused = checkKvRequest({ id: 0, ...request });
    if (refused !== null) return refused;
    const name = keyName(request.key);
    switch (request.op) {
      case "GET": {
        const value = liveValue(this.#data.get(name) ?? null, Date.now());
        return value === null ? makeKvResponse(0, "NOT_FOUND") : makeKvResponse(0, "OK", { value: value.payload });
      }
      case "SET":
        if (this.#data.size >= backendKeyCountMax) this.#data.clear();
        this.#data.set(name, encodeStoredValue(request.value, null));
        return makeKvResponse(0, "OK");
      case "KEYED": {
        // The state machine's own code, as a shard leader runs it.
        const result = executeKeyedTransaction(decodeKeyedTransaction(withNow(request.value, Date.now())), (key) => this.#data.get(keyName(key)) ?? null);
        if (this.#data.size >= backendKeyCountMax) this.#data.clear();
        for (const op of result.ops) {
          if (op.kind === "delete") this.#data.delete(keyName(op.key));
          else this.#data.set(keyName(op.key), op.value);
        }
        return makeKvResponse(0, "OK", { value: encodeKeyedReply(result.reply) });
      }
      case "DELETE":
        this.#data.delete(name);
        return makeKvResponse(0, "OK");
      default:
        return makeKvResponse(0, "BAD_REQUEST", { message: `unexpected op ${request.op}` });
    }
  }

  shardIdOf(): number {
    return 1;
  }

  shardIds(): number[] {
    return [1];
  }

  async routeShard(_shardId: number, request: RouteFields): Promise<KvResponse> {
    if (request.op === "FLUSH") {
      this.#data.clear();
      return makeKvResponse(0, "OK");
    }
    const scan = decodeShardScanRequest(request.value);
    const names = [...this.#data.keys()];
    const start = scan.randomStart ? Math.floor(Math.random() * names.length) : scan.slot;
    const end = Math.min(names.length, start + scan.slotCountMax);
    const keys = names.slice(start, end).map((name) => Buffer.from(name, "latin1"));
    return makeKvResponse(0, "OK", { value: encodeShardScanPage({ layout: 1, next: end, capacity: names.length, keyCount: names.length, keys }) });
  }

  view(): RouterView {
    const member = { id: 1, address: "127.0.0.1:1", reachable: true, role: "leader", term: 1, commitIndex: 1, appliedIndex: 1, keyCount: this.#data.size, lastIndex: 1 };
    return {
      role: "router",
      port: 0,
      epoch: 1,
      shards: [
        {
          shardId: 1,
          state: "available",
          detail: null,
          leader: { memberId: 1, address: "127.0.0.1:1", term: 1 },
          reachableCount: 1,
          memberCount: 1,
          inflightCount: 0,
          waitingCount: 0,
          refusedQueueFullCount: 0,
          refusedNoQuorumCount: 0,
          members: [member as RouterView["shards"][number]["members"][number]],
        },
      ],
    };
  }
}

function bulkCommand(...args: string[]): string {
  return `*${args.length}\r\n${args.map((arg) => `$${encoder.encode(arg).byteLength}\r\n${arg}\r\n`).join("")}`;
}

/** Valid pipelines covering every command and both request forms. */
function respCorpus(prng: Prng): Uint8Array[] {
  const key = (): string => `key:${prng.nextInt(8)}`;
  const commands: string[] = [
    bulkCommand("SET", key(), "value"),
    bulkCommand("SET", key(), "v", "EX", "10", "NX"),
    bulkCommand("SET", key(), "v", "PX", "1500", "XX", "GET"),
    bulkCommand("SET", key(), "v", "KEEPTTL"),
    bulkCommand("GET", key()),
    bulkCommand("DEL", key(), key(), key()),
    bulkCommand("EXISTS", key(), key()),
    bulkCommand("MGET", key(), key(), key()),
    bulkCommand("MSET", key(), "a", key(), "b"),
    bulkCommand("DBSIZE"),
    bulkCommand("PING"),
    bulkCommand("PING", "hello"),
    bulkCommand("ECHO", "echo"),
    bulkCommand("SELECT", "0"),
    bulkCommand("HELLO", "3"),
    bulkCommand("HELLO", "2", "SETNAME", "fuzz"),
    bulkCommand("AUTH", "user", "password"),
    bulkCommand("INFO"),
    bulkCommand("INFO", "server"),
    bulkCommand("COMMAND", "COUNT"),
    bulkCommand("COMMAND", "INFO", "get", "set"),
    bulkCommand("COMMAND", "DOCS", "get"),
    bulkCommand("CONFIG", "GET", "*max*"),
    bulkCommand("CLIENT", "SETNAME", "fuzz"),
    bulkCommand("CLIENT", "GETNAME"),
    bulkCommand("CLIENT", "ID"),
    bulkCommand("CLIENT", "INFO"),
    bulkCommand("CLIENT", "READMODE", "linearizable"),
    bulkCommand("CLIENT", "SETINFO", "LIB-NAME", "fuzz"),
    bulkCommand("QUIT"),
    "PING\r\n",
    "SET inline 'quoted value' \"with \\x41 escape\"\r\n",
    "GET inline\n",
    "  \r\n",
  ];
  const corpus: Uint8Array[] = [];
  for (let index = 0; index < 48; index++) {
    const count = 1 + prng.nextInt(6);
    const pipeline = Array.from({ length: count }, () => commands[prng.nextInt(commands.length)]!).join("");
    corpus.push(encoder.encode(pipeline));
  }
  for (const command of commands) corpus.push(encoder.encode(command));
  return corpus;
}

/** The parse of `input` fed in pieces cut at points drawn from the input itself (replayable). */
function parseInPieces(limits: RespParserLimits, input: Uint8Array): RespParsed[] {
  const parser = new RespParser(limits);
  const out: RespParsed[] = [];
  const prng = new Prng(input.byteLength * 31 + (input[0] ?? 0));
  let offset = 0;
  while (offset < input.byteLength) {
    const length = 1 + prng.nextInt(Math.min(input.byteLength - offset, 1 + prng.nextInt(24)));
    out.push(...parser.push(input.subarray(offset, offset + length)));
    offset += length;
  }
  return out;
}

function describeParsed(parsed: RespParsed): string {
  if (parsed.kind === "error") return `error(${parsed.fatal ? "fatal" : "recoverable"}: ${parsed.message})`;
  return `command[${parsed.args.map((arg) => Buffer.from(arg).toString("hex")).join(",")}]`;
}

/** Throws a plain Error (a fuzz failure) when the whole and the pieced parse differ. */
export function assertSameParse(whole: readonly RespParsed[], pieces: readonly RespParsed[]): void {
  const length = Math.max(whole.length, pieces.length);
  for (let index = 0; index < length; index++) {
    const a = whole[index] === undefined ? "nothing" : describeParsed(whole[index]!);
    const b = pieces[index] === undefined ? "nothing" : describeParsed(pieces[index]!);
    if (a !== b) throw new Error(`parse ${index} differs when the input is split: whole gives ${a.slice(0, 200)}, pieces give ${b.slice(0, 200)}`);
  }
}

export interface RespFuzzCase {
  runCase(input: Uint8Array): Promise<void>;
  corpus: Uint8Array[];
}

export function respFuzzTarget(prng: Prng): RespFuzzCase {
  const table = new CommandTable();
  const backend = new MemoryBackend();
  const stats: RespServerStats = { startedAtMs: Date.now(), port: 0, connectionCount: 1, connectionCountTotal: 1, commandCountTotal: 0, rejectedConnectionCountTotal: 0 };
  let caseCount = 0;
  return {
    corpus: respCorpus(prng),
    async runCase(input) {
      caseCount++;
      const limits = caseCount % 2 === 0 ? smallLimits : realLimits;
      const whole = new RespParser(limits).push(input);
      assertSameParse(whole, parseInPieces(limits, input));
      const session: RespSession = newSession(caseCount);
      const writer = new RespWriter();
      let runCount = 0;
      for (const parsed of whole) {
        if (parsed.kind === "error" || runCount >= commandsRunPerCaseMax || session.closeAfterReply) break;
        runCount++;
        stats.commandCountTotal++;
        const resolved = table.resolve(parsed.args);
        const reply: RespReply = "run" in resolved ? await resolved.run(contextFor(backend, session, stats), parsed.args) : resolved;
        writer.write(reply, session.protocol);
      }
      writer.take();
    },
  };
}

function contextFor(backend: RespBackend, session: RespSession, stats: RespServerStats): CommandContext {
  return { backend, session, stats, linearizable: session.readMode === "linearizable" };
}
