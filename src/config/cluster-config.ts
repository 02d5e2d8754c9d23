// The cluster config: the static layout a cluster starts from (PRD FR1.1): the stores (one
// `ukv node` process a server, each hosting replicas of many Raft groups) and where they listen,
// which stores hold the metadata group, the initial shards and their replicas, timing and storage
// settings. A store's id is the Raft id of every replica it hosts, so a store holds at most one
// replica of a group. Read from YAML (camelCase keys matching the interfaces below;
// configs/cluster-example.yaml documents each one), validated in full before anything starts:
// every problem is reported at once as `<file>: <field path>: <reason>` in one CONFIG_INVALID
// error: shape problems (schema.ts) first, then cross-field ones (cross-checks.ts), which are
// checked on the well-formed parts.
import { readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { parseDocument, stringify } from "yaml";
import { assert } from "../util/assert.ts";
import { UkvError } from "../util/errors.ts";
import { crossCheck } from "./cross-checks.ts";
import { placeShards, type ShardPlacement } from "./placement.ts";
import { checkShape, type ConfigProblem, type ParsedClusterConfig } from "./schema.ts";

export { placeShards, type ShardPlacement } from "./placement.ts";

export interface StoreConfig {
  /** The store id, and the Raft id of every replica the store hosts. */
  id: number;
  /** host:port the store binds for store-to-store Raft traffic, e.g. "10.0.0.1:7100". */
  raftAddress: string;
  /** host:port the store binds for the raw client protocol (clients, the router). */
  clientAddress: string;
  /** host:port the store binds for the Redis protocol (RESP); null: no RESP listener. */
  respAddress: string | null;
  /** What other processes dial: `advertise.x ?? x` of the file (needed when binding 0.0.0.0 or ::). */
  advertised: { raftAddress: string; clientAddress: string; respAddress: string | null };
  /** host:port the store binds for HTTP (metrics, dashboard); null: none. */
  httpAddress: string | null;
  /** What browsers, Prometheus and other stores' dashboards dial: `advertise.httpAddress ?? httpAddress`. */
  advertisedHttpAddress: string | null;
}

export interface ClusterConfig {
  clusterName: string;
  /** Absolute: resolved relative to the config file's directory. Store N uses <dataDir>/store-<N>. */
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
  /** Default true; false: no metrics are counted (the benchmark's baseline). */
  metricsEnabled: boolean;
  /** In file order; ids unique. */
  stores: StoreConfig[];
  /** Store ids holding a replica of the metadata Raft group; the first is the preferred leader. */
  metaStores: number[];
  /** Groups (meta or shard) of fewer than 3 replicas are allowed only when true (tests, demos). */
  allowSmallGroups: boolean;
  /** The initial shards, always filled: from `shards` of the file, or computed by placeShards from initialShards + replication. */
  shards: ShardPlacement[];
  router: { clientAddress: string; respAddress: string | null } | null;
  /** The coordinator's settings as the file gives them (absent: every default). */
  coordinator?: { enabled?: boolean; intervalMs?: number; splitKeys?: number; splitBytes?: number; splitWritesPerSec?: number; splitReadsPerSec?: number; movesPerStoreMax?: number };
  /** RESP clients must AUTH with this password first (absent or null: no password). */
  requirepass?: string | null;
  /** Read-pool Workers per store (FR3.2); absent: cores - 1; 0: the RESP listener on the Raft thread. */
  readPoolSize?: number;
}

/** The one CONFIG_INVALID error listing every problem of `sourceName` as `<sourceName>: <path>: <reason>`. */
export function invalidConfigError(sourceName: string, problems: readonly ConfigProblem[]): UkvError {
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
    throw invalidConfigError(sourceName, [{ path: "(root)", reason: "the file is empty; expected a mapping with clusterName, dataDir, stores, metaStores, and shards or initialShards and replication" }]);
  }
  const shape = checkShape(data);
  const problems = [...("problems" in shape ? shape.problems : []), ...crossCheck(data)];
  if (problems.length > 0 || !("config" in shape)) throw invalidConfigError(sourceName, problems);
  return fromParsed(shape.config, baseDir ?? process.cwd());
}

function fromParsed(parsed: ParsedClusterConfig, baseDir: string): ClusterConfig {
  const stores = parsed.stores.map((store): StoreConfig => {
    const respAddress = store.respAddress;
    return {
      id: store.id,
      raftAddress: store.raftAddress,
      clientAddress: store.clientAddress,
      respAddress,
      advertised: {
        raftAddress: store.advertise?.raftAddress ?? store.raftAddress,
        clientAddress: store.advertise?.clientAddress ?? store.clientAddress,
        respAddress: respAddress === null ? null : (store.advertise?.respAddress ?? respAddress),
      },
      httpAddress: store.httpAddress,
      advertisedHttpAddress: store.httpAddress === null ? null : (store.advertise?.httpAddress ?? store.httpAddress),
    };
  });
  let shards: ShardPlacement[];
  if (parsed.shards !== undefined) {
    shards = parsed.shards.map((shard) => ({ id: shard.id, replicas: [...shard.replicas] }));
  } else {
    // The cross-checks passed: initialShards and replication come together, replication <= stores.
    assert(parsed.initialShards !== undefined && parsed.replication !== undefined, "a config without shards has initialShards and replication");
    shards = placeShards(stores.map((store) => store.id), parsed.initialShards, parsed.replication);
  }
  return {
    clusterName: parsed.clusterName,
    dataDir: resolve(baseDir, parsed.dataDir),
    tickMs: parsed.tickMs,
    electionTicks: parsed.electionTicks,
    heartbeatTicks: parsed.heartbeatTicks,
    snapshotEntriesThreshold: parsed.snapshotEntriesThreshold,
    walSegmentSizeBytes: parsed.walSegmentSizeBytes,
    metricsEnabled: parsed.metricsEnabled,
    stores,
    metaStores: [...parsed.metaStores],
    allowSmallGroups: parsed.allowSmallGroups,
    shards,
    router: parsed.router === null ? null : { clientAddress: parsed.router.clientAddress, respAddress: parsed.router.respAddress },
    ...(parsed.coordinator === undefined ? {} : { coordinator: { ...parsed.coordinator } }),
    requirepass: parsed.requirepass,
    ...(parsed.readPoolSize === undefined ? {} : { readPoolSize: parsed.readPoolSize }),
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

/** The store with id `storeId`, or null if the config has none. */
export function findStore(config: ClusterConfig, storeId: number): StoreConfig | null {
  return config.stores.find((store) => store.id === storeId) ?? null;
}

/** Where store `storeId` keeps everything (WALs, snapshots, lock): `${dataDir}/store-${storeId}`. */
export function storeDataDir(config: ClusterConfig, storeId: number): string {
  assert(Number.isInteger(storeId) && storeId > 0, "a store id is a positive integer");
  return join(config.dataDir, `store-${storeId}`);
}

/** The file form of one store: an advertise section only for the addresses that differ from the bind address. */
function renderStore(store: StoreConfig): Record<string, unknown> {
  const advertise: Record<string, string> = {};
  if (store.advertised.raftAddress !== store.raftAddress) advertise["raftAddress"] = store.advertised.raftAddress;
  if (store.advertised.clientAddress !== store.clientAddress) advertise["clientAddress"] = store.advertised.clientAddress;
  if (store.advertised.respAddress !== null && store.advertised.respAddress !== store.respAddress) advertise["respAddress"] = store.advertised.respAddress;
  if (store.advertisedHttpAddress !== null && store.advertisedHttpAddress !== store.httpAddress) advertise["httpAddress"] = store.advertisedHttpAddress;
  const rendered: Record<string, unknown> = { id: store.id, raftAddress: store.raftAddress, clientAddress: store.clientAddress, respAddress: store.respAddress, httpAddress: store.httpAddress };
  if (Object.keys(advertise).length > 0) rendered["advertise"] = advertise;
  return rendered;
}

/**
 * YAML text that parseClusterConfig reads back to an equal config: every default written out,
 * the shards as an explicit `shards` list (a computed placement is written as its result).
 */
export function renderClusterConfig(config: ClusterConfig): string {
  const header = `# universeKV cluster config "${config.clusterName}" (see configs/cluster-example.yaml for every key)\n`;
  const file = {
    clusterName: config.clusterName,
    dataDir: config.dataDir,
    tickMs: config.tickMs,
    electionTicks: config.electionTicks,
    heartbeatTicks: config.heartbeatTicks,
    snapshotEntriesThreshold: config.snapshotEntriesThreshold,
    walSegmentSizeBytes: config.walSegmentSizeBytes,
    metricsEnabled: config.metricsEnabled,
    stores: config.stores.map(renderStore),
    metaStores: config.metaStores,
    allowSmallGroups: config.allowSmallGroups,
    shards: config.shards,
    router: config.router,
    ...(config.coordinator === undefined ? {} : { coordinator: config.coordinator }),
    ...(config.requirepass === undefined || config.requirepass === null ? {} : { requirepass: config.requirepass }),
    ...(config.readPoolSize === undefined ? {} : { readPoolSize: config.readPoolSize }),
  };
  // No anchors for shared objects: the loader allows few aliases (yamlAliasCountMax).
  return header + stringify(file, { lineWidth: 0, aliasDuplicateObjects: false });
}
