// The RESP connection and server commands: PING, ECHO, QUIT, SELECT 0, HELLO (RESP2/RESP3, AUTH),
// AUTH (the config's requirepass for the one user, "default"), INFO (server, clients, memory, persistence, stats, keyspace, cluster with the
// router's live shard view), COMMAND (COUNT, LIST, INFO, DOCS: what redis-cli and client
// handshakes ask), CONFIG GET (the keys redis-benchmark reads), CLIENT (SETNAME, GETNAME, SETINFO,
// ID, INFO, READMODE). Enough for Redis tools to connect unchanged; nothing here touches data.
import { passwordMatches } from "../../transport/client-auth.ts";
import { arch, platform } from "node:os";
import { ukvVersion } from "../../util/version.ts";
import { keyName, type CommandContext, type CommandSpec, type RespServerStats } from "./resp-context.ts";
import { dbSize } from "./resp-data-commands.ts";
import {
  arrayReply,
  bulkReply,
  errorReply,
  integerReply,
  mapReply,
  nullBulkReply,
  okReply,
  textMapReply,
  textReply,
  type RespReply,
} from "./resp-encoder.ts";

/** The Redis version we answer as: the command set and replies follow Redis 7.2. */
export const redisCompatibleVersion = "7.2.0";

const emptyBytes = new Uint8Array(0);

function word(arg: Uint8Array | undefined): string {
  return keyName(arg ?? emptyBytes).toUpperCase();
}

const wrongPass = errorReply("WRONGPASS invalid username-password pair or user is disabled.");

/** Checks a username (only "default" exists) and password; null when accepted. */
function authenticate(context: CommandContext, user: Uint8Array, password: Uint8Array): RespReply | null {
  const required = context.session.requirepass;
  if (required === null) return errorReply("ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?");
  // The raw protocol's check (client-auth.ts): constant time, neither bytes nor length leak.
  if (keyName(user) !== "default" || !passwordMatches(password, required)) return wrongPass;
  context.session.authenticated = true;
  return null;
}

function auth(context: CommandContext, args: readonly Uint8Array[]): RespReply {
  if (args.length > 3) return errorReply("ERR syntax error");
  const refused = args.length === 3 ? authenticate(context, args[1] ?? emptyBytes, args[2] ?? emptyBytes) : authenticate(context, new TextEncoder().encode("default"), args[1] ?? emptyBytes);
  return refused ?? okReply;
}

function hello(context: CommandContext, args: readonly Uint8Array[]): RespReply {
  let index = 1;
  if (args.length > 1) {
    const version = word(args[1]);
    if (version !== "2" && version !== "3") return errorReply("NOPROTO unsupported protocol version");
    context.session.protocol = version === "3" ? 3 : 2;
    index = 2;
  }
  for (; index < args.length; index++) {
    const option = word(args[index]);
    if (option === "AUTH" && index + 2 < args.length) {
      const refused = authenticate(context, args[index + 1] ?? emptyBytes, args[index + 2] ?? emptyBytes);
      if (refused !== null) return refused;
      index += 2;
      continue;
    }
    if (option === "SETNAME" && index + 1 < args.length) {
      context.session.name = keyName(args[++index] ?? emptyBytes);
      continue;
    }
    return errorReply(`ERR syntax error in HELLO option '${option}'`);
  }
  return textMapReply([
    ["server", textReply("redis")],
    ["version", textReply(redisCompatibleVersion)],
    ["proto", integerReply(context.session.protocol)],
    ["id", integerReply(context.session.id)],
    ["mode", textReply("standalone")],
    ["role", textReply("master")],
    ["modules", arrayReply([])],
  ]);
}

function infoSections(context: CommandContext): Map<string, string[]> {
  const { stats } = context;
  const uptimeSeconds = Math.floor((Date.now() - stats.startedAtMs) / 1000);
  const view = context.backend.view();
  const sections = new Map<string, string[]>();
  sections.set("server", [
    `redis_version:${redisCompatibleVersion}`,
    `ukv_version:${ukvVersion}`,
    "redis_mode:standalone",
    `os:${platform()}`,
    `arch_bits:${arch().includes("64") ? 64 : 32}`,
    `process_id:${process.pid}`,
    `tcp_port:${stats.port}`,
    `uptime_in_seconds:${uptimeSeconds}`,
    `uptime_in_days:${Math.floor(uptimeSeconds / 86400)}`,
  ]);
  sections.set("clients", [`connected_clients:${stats.connectionCount}`, "blocked_clients:0"]);
  sections.set("memory", memorySection(context));
  sections.set("persistence", ["loading:0", "aof_enabled:1", "ukv_durability:raft_majority_fsync"]);
  sections.set("stats", [
    `total_connections_received:${stats.connectionCountTotal}`,
    `total_commands_processed:${stats.commandCountTotal}`,
    `instantaneous_ops_per_sec:${instantaneousOpsPerSecond(stats)}`,
    `rejected_connections:${stats.rejectedConnectionCountTotal}`,
    `keyspace_hits:${stats.keyspaceHitCountTotal ?? 0}`,
    `keyspace_misses:${stats.keyspaceMissCountTotal ?? 0}`,
    // Only with a read pool (store/read-pool.ts): the reads its Workers answered themselves.
    ...(stats.poolReadCountTotal === undefined ? [] : [`ukv_pool_reads:${stats.poolReadCountTotal}`]),
  ]);
  sections.set("keyspace", [`db0:keys=${dbSize(context)},expires=0,avg_ttl=0`]);
  const cluster = ["cluster_enabled:0", `ukv_topology_epoch:${view.epoch}`, `ukv_shards:${view.shards.length}`];
  cluster.push(`ukv_shards_available:${view.shards.filter((shard) => shard.state !== "unavailable").length}`);
  for (const shard of view.shards) {
    const leader = shard.leader === null ? "none" : `${shard.leader.memberId}@${shard.leader.address}`;
    const keyCount = shard.members.find((member) => member.id === shard.leader?.memberId)?.keyCount ?? "unknown";
    cluster.push(
      `ukv_shard_${shard.shardId}:state=${shard.state},leader=${leader},term=${shard.leader?.term ?? 0},members=${shard.memberCount},reachable=${shard.reachableCount},keys=${keyCount},inflight=${shard.inflightCount},waiting=${shard.waitingCount},refused_queue_full=${shard.refusedQueueFullCount},refused_no_quorum=${shard.refusedNoQuorumCount}`,
    );
  }
  sections.set("cluster", cluster);
  return sections;
}

const defaultInfoSections = ["server", "clients", "memory", "persistence", "stats", "keyspace", "cluster"];

/** Redis's human form of a byte count: 1.50M, 12.00K, 900B. */
export function humanBytes(sizeBytes: number): string {
  const units = ["B", "K", "M", "G", "T"] as const;
  let value = sizeBytes;
  let unitIndex = 0;
  while (value >= 1024 && unitIndex < units.length - 1) {
    value /= 1024;
    unitIndex++;
  }
  return unitIndex === 0 ? `${value}B` : `${value.toFixed(2)}${units[unitIndex]}`;
}

/**
 * used_memory is the bytes of this store's tables (every replica it hosts: keys, values, slots),
 * the data Redis would count; a router holds no table and reports 0. The process's own memory is
 * beside it as used_memory_rss.
 */
function memorySection(context: CommandContext): string[] {
  const usedBytes = context.backend.tableBytesUsed?.() ?? 0;
  const rssBytes = process.memoryUsage().rss;
  return [
    `used_memory:${usedBytes}`,
    `used_memory_human:${humanBytes(usedBytes)}`,
    `used_memory_rss:${rssBytes}`,
    `used_memory_rss_human:${humanBytes(rssBytes)}`,
    "maxmemory:0",
    "maxmemory_policy:noeviction",
  ];
}

/** Samples of the command count, at most one per opsSampleIntervalMs, per listener (its stats object). */
const opsSamplesByStats = new WeakMap<RespServerStats, { atMs: number; commandCount: number }[]>();
const opsSampleIntervalMs = 100;
const opsSampleCountMax = 16;
/** The rate covers at least this long when the samples allow (Redis: 16 samples of 100 ms). */
const opsWindowMs = 1000;

/**
 * Commands per second over about the last second. Sampled when INFO is asked (the listener's
 * counter is all we have), so the window runs from the newest sample at least opsWindowMs old
 * (or the oldest kept, back to the listener's start) to now: `redis-cli --stat`, asking every
 * second, sees the rate of the last second.
 */
export function instantaneousOpsPerSecond(stats: RespServerStats, nowMs: number = Date.now()): number {
  let samples = opsSamplesByStats.get(stats);
  if (samples === undefined) {
    samples = [{ atMs: stats.startedAtMs, commandCount: 0 }];
    opsSamplesByStats.set(stats, samples);
  }
  let from = samples[0];
  for (const sample of samples) if (nowMs - sample.atMs >= opsWindowMs) from = sample;
  const last = samples[samples.length - 1];
  if (last !== undefined && nowMs - last.atMs >= opsSampleIntervalMs) {
    samples.push({ atMs: nowMs, commandCount: stats.commandCountTotal });
    if (samples.length > opsSampleCountMax) samples.shift();
  }
  if (from === undefined || nowMs <= from.atMs) return 0;
  return Math.round(((stats.commandCountTotal - from.commandCount) * 1000) / (nowMs - from.atMs));
}

function info(context: CommandContext, args: readonly Uint8Array[]): RespReply {
  const sections = infoSections(context);
  const asked = args.length === 1 ? ["default"] : args.slice(1).map((arg) => keyName(arg).toLowerCase());
  const names = asked.some((name) => name === "all" || name === "everything" || name === "default") ? defaultInfoSections : asked;
  const lines: string[] = [];
  for (const name of names) {
    const section = sections.get(name);
    if (section === undefined) continue;
    if (lines.length > 0) lines.push("");
    lines.push(`# ${name[0]?.toUpperCase()}${name.slice(1)}`, ...section);
  }
  return { type: "verbatim", value: `${lines.join("\r\n")}\r\n` };
}

function commandInfo(spec: CommandSpec): RespReply {
  return arrayReply([
    textReply(spec.name),
    integerReply(spec.arity),
    arrayReply(spec.flags.map((flag) => ({ type: "simple", text: flag }))),
    integerReply(spec.firstKeyIndex),
    integerReply(spec.lastKeyIndex),
    integerReply(spec.keyStep),
    arrayReply([{ type: "simple", text: `@${spec.group}` }]),
    arrayReply([]),
    arrayReply([]),
    arrayReply([]),
  ]);
}

function commandDocs(spec: CommandSpec): RespReply {
  return textMapReply([
    ["summary", textReply(spec.summary)],
    ["since", textReply("1.0.0")],
    ["group", textReply(spec.group)],
  ]);
}

function command(table: () => readonly CommandSpec[], args: readonly Uint8Array[]): RespReply {
  const specs = table();
  const find = (arg: Uint8Array): CommandSpec | undefined => specs.find((spec) => spec.name === keyName(arg).toLowerCase());
  const named = args.slice(2);
  switch (args.length === 1 ? "" : word(args[1])) {
    case "":
      return arrayReply(specs.map(commandInfo));
    case "COUNT":
      return integerReply(specs.length);
    case "LIST":
      return arrayReply(specs.map((spec) => textReply(spec.name)));
    case "INFO":
      return arrayReply((named.length === 0 ? specs : named.map(find)).map((spec) => (spec === undefined ? nullBulkReply : commandInfo(spec))));
    case "DOCS": {
      const chosen = named.length === 0 ? specs : named.map(find).filter((spec) => spec !== undefined);
      return mapReply(chosen.map((spec) => [textReply(spec.name), commandDocs(spec)] as const));
    }
    default:
      return errorReply(`ERR unknown subcommand '${keyName(args[1] ?? emptyBytes)}'. Try COMMAND HELP.`);
  }
}

/** What CONFIG GET answers: the keys redis-benchmark and common clients read, with our truth. */
const configValues: readonly (readonly [string, string])[] = [
  ["save", ""],
  ["appendonly", "yes"],
  ["appendfsync", "always"],
  ["databases", "1"],
  ["maxmemory", "0"],
  ["maxclients", "10000"],
  ["timeout", "0"],
  ["cluster-enabled", "no"],
];

function globToRegExp(pattern: string): RegExp {
  const escaped = pattern.replace(/[.+^${}()|[\]\\]/g, "\\$&").replace(/\*/g, ".*").replace(/\?/g, ".");
  return new RegExp(`^${escaped}$`, "i");
}

function config(args: readonly Uint8Array[]): RespReply {
  const sub = word(args[1]);
  if (sub !== "GET") return errorReply(`ERR CONFIG ${sub} is not supported by ukv (only CONFIG GET)`);
  if (args.length < 3) return errorReply("ERR wrong number of arguments for 'config|get' command");
  const patterns = args.slice(2).map((arg) => globToRegExp(keyName(arg)));
  const matched = configValues.filter(([name]) => patterns.some((pattern) => pattern.test(name)));
  return textMapReply(matched.map(([name, value]) => [name, textReply(value)] as const));
}

function client(context: CommandContext, args: readonly Uint8Array[]): RespReply {
  const { session } = context;
  const sub = word(args[1]);
  const argument = args[2];
  switch (sub) {
    case "SETNAME":
      if (argument === undefined || args.length !== 3) return errorReply("ERR wrong number of arguments for 'client|setname' command");
      if (argument.some((byte) => byte <= 0x20 || byte > 0x7e)) return errorReply("ERR Client names cannot contain spaces, newlines or special characters.");
      session.name = argument.byteLength === 0 ? null : keyName(argument);
      return okReply;
    case "GETNAME":
      return session.name === null ? nullBulkReply : textReply(session.name);
    case "SETINFO": {
      const attribute = word(argument);
      const value = args[3];
      if (value === undefined || args.length !== 4) return errorReply("ERR wrong number of arguments for 'client|setinfo' command");
      if (attribute === "LIB-NAME") session.libName = keyName(value);
      else if (attribute === "LIB-VER") session.libVersion = keyName(value);
      else return errorReply(`ERR Unrecognized option '${keyName(argument ?? emptyBytes)}'`);
      return okReply;
    }
    case "ID":
      return integerReply(session.id);
    case "INFO":
      return textReply(`id=${session.id} name=${session.name ?? ""} resp=${session.protocol} lib-name=${session.libName ?? ""} lib-ver=${session.libVersion ?? ""} readmode=${session.readMode}\n`);
    case "READMODE": {
      if (argument === undefined) return textReply(session.readMode);
      const mode = keyName(argument).toLowerCase();
      if (mode !== "follower" && mode !== "linearizable") return errorReply("ERR CLIENT READMODE takes follower or linearizable");
      session.readMode = mode;
      return okReply;
    }
    default:
      return errorReply(`ERR unknown subcommand '${keyName(args[1] ?? emptyBytes)}'. Try CLIENT HELP.`);
  }
}

const noKeys = { firstKeyIndex: 0, lastKeyIndex: 0, keyStep: 0, write: false } as const;

/** The server commands; `table` gives the whole command table (for COMMAND). */
export function serverCommands(table: () => readonly CommandSpec[]): CommandSpec[] {
  return [
    { name: "ping", arity: -1, flags: ["fast"], ...noKeys, group: "connection", summary: "Answers PONG, or echoes its argument", run: (_context, args) => (args.length > 2 ? errorReply("ERR wrong number of arguments for 'ping' command") : args.length === 2 ? bulkReply(args[1] ?? emptyBytes) : { type: "simple", text: "PONG" }) },
    { name: "echo", arity: 2, flags: ["fast"], ...noKeys, group: "connection", summary: "Returns its argument", run: (_context, args) => bulkReply(args[1] ?? emptyBytes) },
    {
      name: "quit", arity: -1, flags: ["fast"], ...noKeys, group: "connection", summary: "Closes the connection after the reply",
      run: (context) => {
        context.session.closeAfterReply = true;
        return okReply;
      },
    },
    { name: "select", arity: 2, flags: ["fast"], ...noKeys, group: "connection", summary: "Selects database 0, the only one", run: (_context, args) => (keyName(args[1] ?? emptyBytes) === "0" ? okReply : errorReply("ERR DB index is out of range")) },
    { name: "hello", arity: -1, flags: ["fast"], ...noKeys, group: "connection", summary: "Handshake: RESP2 or RESP3, and the server's identity", run: hello },
    { name: "auth", arity: -2, flags: ["fast"], ...noKeys, group: "connection", summary: "AUTH [default] <password>: the config's requirepass", run: auth },
    { name: "info", arity: -1, flags: [], ...noKeys, group: "server", summary: "Server, clients, persistence, stats, keyspace and cluster figures", run: info },
    { name: "command", arity: -1, flags: [], ...noKeys, group: "server", summary: "Describes the commands (COUNT, LIST, INFO, DOCS)", run: (_context, args) => command(table, args) },
    { name: "config", arity: -2, flags: [], ...noKeys, group: "server", summary: "CONFIG GET of a few read-only settings", run: (_context, args) => config(args) },
    { name: "client", arity: -2, flags: [], ...noKeys, group: "connection", summary: "SETNAME, GETNAME, SETINFO, ID, INFO, READMODE follower|linearizable", run: client },
  ];
}
