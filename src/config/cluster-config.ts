// The cluster config: the static layout a cluster starts from (PRD FR1.1): who the meta members
// and the shard members are, where they listen, timing and storage settings. Read from YAML
// (camelCase keys matching the interfaces below; configs/cluster-example.yaml documents each
// one), validated in full before anything starts: every problem is reported at once as
// `<file>: <field path>: <reason>` in one CONFIG_INVALID error: shape problems (schema.ts) first,
// then cross-field ones (cross-checks.ts), which are checked on the well-formed parts.
import { readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { parseDocument, stringify } from "yaml";
import { assert } from "../util/assert.ts";
import { UkvError } from "../util/errors.ts";
import { groupMemberCountMax, shardCountMax } from "../util/limits.ts";
import { crossCheck } from "./cross-checks.ts";
import { checkShape, configDefaults, type ConfigProblem } from "./schema.ts";

export interface MemberConfig {
  id: number;
  /** host:port where the member listens for Raft peers, e.g. "127.0.0.1:7101". */
  raftAddress: string;
  /** host:port where the member serves clients and the router. */
  clientAddress: string;
}

export interface ShardConfig {
  id: number;
  members: MemberConfig[];
  /** Fewer than 3 members cannot survive a failure; only allowed when this is true (tests, demos). */
  allowFewerThanThreeMembers: boolean;
}

export interface ClusterConfig {
  clusterName: string;
  /** Absolute: resolved relative to the config file's directory. */
  dataDir: string;
  /** Default 50. */
  tickMs: number;
  /** Default 20 (=> 1 s election timeout at 50 ms ticks). */
  electionTicks: number;
  /** Default 2. */
  heartbeatTicks: number;
  /** Default 100000: snapshot when applied - snapshotIndex exceeds it. */
  snapshotEntriesThreshold: number;
  /** Default walSegmentSizeBytesDefault. */
  walSegmentSizeBytes: number;
  meta: { members: MemberConfig[]; allowFewerThanThreeMembers: boolean };
  shards: ShardConfig[];
  router: { clientAddress: string; respAddress: string | null } | null;
}

function invalid(sourceName: string, problems: readonly ConfigProblem[]): UkvError {
  const lines = problems.map((problem) => `  ${sourceName}: ${problem.path}: ${problem.reason}`);
  const count = problems.length === 1 ? "1 problem" : `${problems.length} problems`;
  return new UkvError("CONFIG_INVALID", `Invalid cluster config ${sourceName}: ${count}\n${lines.join("\n")}`, {
    data: { file: sourceName, problems },
  });
}

/** Alias expansions one config may make: a real config needs none, a hostile one could need billions. */
const yamlAliasCountMax = 100;

/** YAML text -> plain data, or CONFIG_INVALID naming the file, line and column of each syntax error. */
function parseYaml(text: string, sourceName: string): unknown {
  const document = parseDocument(text, { prettyErrors: true, uniqueKeys: true });
  const errors = [...document.errors, ...document.warnings];
  if (errors.length > 0) {
    const lines = errors.map((error) => {
      const position = error.linePos?.[0];
      const where = position === undefined ? "" : `line ${position.line}, column ${position.col}: `;
      const reason = error.message.split(" at line ")[0] ?? error.message;
      return `  ${sourceName}: ${where}${reason}`;
    });
    const firstLine = errors[0]?.linePos?.[0]?.line ?? null;
    throw new UkvError("CONFIG_INVALID", `Invalid cluster config ${sourceName}: YAML syntax error\n${lines.join("\n")}`, {
      data: { file: sourceName, line: firstLine },
    });
  }
  try {
    // toJS resolves aliases: an alias with no anchor, or one that expands too much (a "billion
    // laughs" file), throws a ReferenceError here, after a clean parse.
    return document.toJS({ maxAliasCount: yamlAliasCountMax });
  } catch (error) {
    const reason = error instanceof Error ? error.message.split("\n")[0] : String(error);
    throw new UkvError("CONFIG_INVALID", `Invalid cluster config ${sourceName}: ${reason}`, { data: { file: sourceName } });
  }
}

/**
 * Parses and validates config text. `sourceName` names the text in errors (usually its path);
 * a relative dataDir is resolved against `baseDir` (default: the working directory).
 */
export function parseClusterConfig(text: string, sourceName: string, baseDir?: string): ClusterConfig {
  const data = parseYaml(text, sourceName);
  if (data === null || data === undefined) {
    throw invalid(sourceName, [{ path: "(root)", reason: "the file is empty; expected a mapping with clusterName, dataDir, meta and shards" }]);
  }
  const shape = checkShape(data);
  const problems = [...("problems" in shape ? shape.problems : []), ...crossCheck(data)];
  if (problems.length > 0 || !("config" in shape)) throw invalid(sourceName, problems);
  const parsed = shape.config;
  const copyMember = (member: MemberConfig): MemberConfig => ({ id: member.id, raftAddress: member.raftAddress, clientAddress: member.clientAddress });
  return {
    clusterName: parsed.clusterName,
    dataDir: resolve(baseDir ?? process.cwd(), parsed.dataDir),
    tickMs: parsed.tickMs,
    electionTicks: parsed.electionTicks,
    heartbeatTicks: parsed.heartbeatTicks,
    snapshotEntriesThreshold: parsed.snapshotEntriesThreshold,
    walSegmentSizeBytes: parsed.walSegmentSizeBytes,
    meta: { members: parsed.meta.members.map(copyMember), allowFewerThanThreeMembers: parsed.meta.allowFewerThanThreeMembers },
    shards: parsed.shards.map((shard) => ({
      id: shard.id,
      members: shard.members.map(copyMember),
      allowFewerThanThreeMembers: shard.allowFewerThanThreeMembers,
    })),
    router: parsed.router === null ? null : { clientAddress: parsed.router.clientAddress, respAddress: parsed.router.respAddress },
  };
}

/** Reads, parses and validates a config file; dataDir is resolved against the file's directory. */
export function loadClusterConfig(path: string): ClusterConfig {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    const reason = code === "ENOENT" ? "file not found" : code === "EISDIR" ? "is a directory, not a file" : String(error);
    throw new UkvError("CONFIG_INVALID", `Cannot read cluster config ${path}: ${reason} (resolved to ${resolve(path)})`, {
      data: { file: path },
      cause: error,
    });
  }
  return parseClusterConfig(text, path, dirname(resolve(path)));
}

/** The member with node id `id`, and its shard (null for a meta member), or null if absent. */
export function findMember(config: ClusterConfig, id: number): { member: MemberConfig; shard: ShardConfig | null } | null {
  const metaMember = config.meta.members.find((member) => member.id === id);
  if (metaMember !== undefined) return { member: metaMember, shard: null };
  for (const shard of config.shards) {
    const member = shard.members.find((candidate) => candidate.id === id);
    if (member !== undefined) return { member, shard };
  }
  return null;
}

/** Where node `id` keeps its WAL, snapshots and lock: `${dataDir}/node-${id}`. */
export function nodeDataDir(config: ClusterConfig, id: number): string {
  assert(Number.isInteger(id) && id > 0, "a node id is a positive integer");
  return join(config.dataDir, `node-${id}`);
}

/** YAML text that parseClusterConfig reads back to an equal config (every default written out). */
export function renderClusterConfig(config: ClusterConfig): string {
  const header = `# universeKV cluster config "${config.clusterName}" (see configs/cluster-example.yaml for every key)\n`;
  return header + stringify(config, { lineWidth: 0 });
}

export interface LocalClusterArgs {
  /** Data directory of the whole cluster (each node uses <dir>/node-<id>). */
  dir: string;
  /** Data shards, 1..shardCountMax. */
  shards: number;
  /** Members per shard, 1..groupMemberCountMax; fewer than 3 sets allowFewerThanThreeMembers. */
  replicas: number;
  /** First port; every node takes two (raft, client), then the router takes two (client, RESP). */
  portBase: number;
}

/** Meta members of a generated local cluster: a meta group must survive one failure. */
export const localMetaMemberCount = 3;

/**
 * A cluster on 127.0.0.1 for `ukv cluster up`: node ids 1..3 are the meta members, then shard s
 * (1-based) has ids 3 + (s-1)*replicas + 1 ..; node id k listens on raft portBase + 2(k-1) and
 * client portBase + 2(k-1) + 1; the router follows the last node. Validated like a file.
 */
export function generateLocalClusterConfig(args: LocalClusterArgs): ClusterConfig {
  const { dir, shards, replicas, portBase } = args;
  const nodeCount = localMetaMemberCount + shards * replicas;
  const portLast = portBase + 2 * nodeCount + 1;
  const problems: ConfigProblem[] = [];
  if (!Number.isInteger(shards) || shards < 1 || shards > shardCountMax) problems.push({ path: "shards", reason: `must be an integer in 1..${shardCountMax}, got ${shards}` });
  if (!Number.isInteger(replicas) || replicas < 1 || replicas > groupMemberCountMax) {
    problems.push({ path: "replicas", reason: `must be an integer in 1..${groupMemberCountMax}, got ${replicas}` });
  }
  if (!Number.isInteger(portBase) || portBase < 1 || portLast > 65535) {
    problems.push({ path: "portBase", reason: `must be an integer such that ports ${portBase}..${portLast} lie in 1..65535` });
  }
  if (problems.length > 0) throw invalid("generated local cluster", problems);
  const memberOf = (id: number): MemberConfig => ({
    id,
    raftAddress: `127.0.0.1:${portBase + 2 * (id - 1)}`,
    clientAddress: `127.0.0.1:${portBase + 2 * (id - 1) + 1}`,
  });
  const config: ClusterConfig = {
    clusterName: "local",
    dataDir: resolve(dir),
    ...configDefaults,
    meta: { members: Array.from({ length: localMetaMemberCount }, (_, index) => memberOf(index + 1)), allowFewerThanThreeMembers: false },
    shards: Array.from({ length: shards }, (_, shardIndex) => ({
      id: shardIndex + 1,
      members: Array.from({ length: replicas }, (_, replica) => memberOf(localMetaMemberCount + shardIndex * replicas + replica + 1)),
      allowFewerThanThreeMembers: replicas < 3,
    })),
    router: { clientAddress: `127.0.0.1:${portBase + 2 * nodeCount}`, respAddress: `127.0.0.1:${portLast}` },
  };
  // The generated config obeys every rule a hand-written file does; checking by round trip proves it.
  return parseClusterConfig(renderClusterConfig(config), "generated local cluster", "/");
}
