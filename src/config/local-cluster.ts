// The config `ukv cluster up` writes: a whole cluster on 127.0.0.1, one store a process. Rendered
// as YAML text (with comments, as a person will read and edit the file), then validated by the
// same loader as any hand-written file, so a generated config obeys every rule a file does.
//
// Ports: store i (1-based) listens on portBase + 10(i-1) + 0 (Raft), + 1 (client), + 2 (RESP),
// + 3 (HTTP: /metrics and the dashboard);
// the router follows the last store, on portBase + 10 * storeCount + 0 (client) and + 1 (RESP).
// Ten ports a store leave room for listeners yet to come without renumbering.
import { resolve } from "node:path";
import { groupMemberCountMax, shardCountMax, storeCountMax } from "../util/limits.ts";
import { invalidConfigError, parseClusterConfig } from "./cluster-config.ts";
import { groupMemberCountSafeMin } from "./cross-checks.ts";
import { walSegmentSizeBytesMin, type ConfigProblem } from "./schema.ts";

export interface LocalClusterOptions {
  /** Data directory of the whole cluster (store N uses <dir>/store-N); written resolved to an absolute path. */
  dir: string;
  /** Stores, 1..storeCountMax. */
  storeCount: number;
  /** Initial shards, 1..shardCountMax. */
  shardCount: number;
  /** Replicas a shard, 1..min(storeCount, groupMemberCountMax); below 3 sets allowSmallGroups. */
  replication: number;
  /** First port; store i takes portBase + 10(i-1) + 0..3, the router the two ports after the last store's block. */
  portBase: number;
  /** Default "local". */
  clusterName?: string;
}

/** Ports a store's block spans (4 in use). */
export const localStorePortStride = 10;
const portMax = 65535;
const sourceName = "generated local cluster";

function checkOptions(options: LocalClusterOptions): ConfigProblem[] {
  const { storeCount, shardCount, replication, portBase } = options;
  const problems: ConfigProblem[] = [];
  const isIntegerIn = (value: number, min: number, max: number): boolean => Number.isInteger(value) && value >= min && value <= max;
  if (options.dir === "") problems.push({ path: "dir", reason: "must not be empty" });
  if (!isIntegerIn(storeCount, 1, storeCountMax)) problems.push({ path: "storeCount", reason: `must be an integer in 1..${storeCountMax}, got ${storeCount}` });
  if (!isIntegerIn(shardCount, 1, shardCountMax)) problems.push({ path: "shardCount", reason: `must be an integer in 1..${shardCountMax}, got ${shardCount}` });
  const replicationMax = Math.min(groupMemberCountMax, Number.isInteger(storeCount) && storeCount >= 1 ? storeCount : groupMemberCountMax);
  if (!isIntegerIn(replication, 1, replicationMax)) {
    problems.push({ path: "replication", reason: `must be an integer in 1..${replicationMax} (at most storeCount and ${groupMemberCountMax}), got ${replication}` });
  }
  const portLast = portBase + localStorePortStride * storeCount + 1;
  if (!Number.isInteger(portBase) || portBase < 1 || !(portLast <= portMax)) {
    problems.push({ path: "portBase", reason: `must be an integer such that ports ${portBase}..${portLast} lie in 1..${portMax}` });
  }
  return problems;
}

function storeLines(storeCount: number, portBase: number): string[] {
  const lines: string[] = [];
  for (let storeId = 1; storeId <= storeCount; storeId++) {
    const port = portBase + localStorePortStride * (storeId - 1);
    lines.push(
      `  - id: ${storeId}`,
      `    raftAddress: 127.0.0.1:${port}`,
      `    clientAddress: 127.0.0.1:${port + 1}`,
      `    respAddress: 127.0.0.1:${port + 2}`,
      `    httpAddress: 127.0.0.1:${port + 3}`,
    );
  }
  return lines;
}

/**
 * The YAML text of a local cluster: stores 1..storeCount on 127.0.0.1, the meta group on the first
 * min(3, storeCount) stores, shards 1..shardCount placed by placeShards, a router after the last
 * store. Throws CONFIG_INVALID naming the option when one is out of range.
 */
export function renderLocalClusterConfig(options: LocalClusterOptions): string {
  const problems = checkOptions(options);
  if (problems.length > 0) throw invalidConfigError(sourceName, problems);
  const { storeCount, shardCount, replication, portBase } = options;
  const metaStoreCount = Math.min(groupMemberCountSafeMin, storeCount);
  const allowSmallGroups = metaStoreCount < groupMemberCountSafeMin || replication < groupMemberCountSafeMin;
  const routerPort = portBase + localStorePortStride * storeCount;
  const lines = [
    `# universeKV local cluster: ${storeCount} store(s) on 127.0.0.1, ${shardCount} shard(s) of ${replication} replica(s).`,
    `# Store i listens on ${portBase} + ${localStorePortStride}(i-1) + 0 (Raft), + 1 (client), + 2 (RESP), + 3 (HTTP: metrics, dashboard); the router follows.`,
    "# Written by `ukv cluster up`; configs/cluster-example.yaml documents every key.",
    `clusterName: ${JSON.stringify(options.clusterName ?? "local")}`,
    `dataDir: ${JSON.stringify(resolve(options.dir))}   # store N keeps everything in <dataDir>/store-N`,
    "# The smallest segment the schema allows: segments are preallocated, so this bounds the local",
    "# cluster's disk use (every WAL takes at least one segment).",
    `walSegmentSizeBytes: ${walSegmentSizeBytesMin}`,
    `allowSmallGroups: ${allowSmallGroups}${allowSmallGroups ? "   # fewer than 3 stores or replicas: a failure loses quorum" : ""}`,
    "stores:",
    ...storeLines(storeCount, portBase),
    `metaStores: [${Array.from({ length: metaStoreCount }, (_, index) => index + 1).join(", ")}]`,
    `initialShards: ${shardCount}`,
    `replication: ${replication}`,
    "router:",
    `  clientAddress: 127.0.0.1:${routerPort}`,
    `  respAddress: 127.0.0.1:${routerPort + 1}`,
  ];
  const text = `${lines.join("\n")}\n`;
  // The generated file obeys every rule a hand-written one does (e.g. the cluster name's pattern).
  parseClusterConfig(text, sourceName, "/");
  return text;
}
