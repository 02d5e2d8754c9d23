// The shape of a cluster config file (zod, strict objects: an unknown key is an error, because a
// misspelled optional key would otherwise be silently ignored and its default used). Rules that
// span fields (duplicates, references to store ids, group sizes, the choice between explicit and
// computed placement, wildcard binds, tick relations) live in cross-checks.ts.
import { z } from "zod";
import { groupMemberCountMax, readPoolSizeMax, recordSizeBytesMax, shardCountMax, storeCountMax, walSegmentSizeBytesDefault } from "../util/limits.ts";
import { parseAddress } from "./address.ts";

/** Store and shard ids are positive and fit in an int32 (0 means "none" in the Raft core). */
export const configIdMax = 0x7fffffff;
export const tickMsMax = 10_000;
export const ticksMax = 10_000;
export const snapshotEntriesThresholdMax = 1_000_000_000;
/** A segment must hold several of the largest records (the relation limits.ts asserts). */
export const walSegmentSizeBytesMin = recordSizeBytesMax * 4;
export const walSegmentSizeBytesMax = 1024 * 1024 * 1024;
export const clusterNamePattern = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

export const configDefaults = {
  tickMs: 50,
  electionTicks: 20,
  heartbeatTicks: 2,
  snapshotEntriesThreshold: 100_000,
  walSegmentSizeBytes: walSegmentSizeBytesDefault,
} as const;

const address = z.string().superRefine((text, context) => {
  const parsed = parseAddress(text);
  if ("reason" in parsed) context.addIssue({ code: "custom", message: parsed.reason });
});

function boundedInt(min: number, max: number): z.ZodNumber {
  return z
    .number()
    .int({ error: (issue) => `must be an integer, got ${String(issue.input)}` })
    .min(min, { error: (issue) => `must be at least ${min}, got ${String(issue.input)}` })
    .max(max, { error: (issue) => `must be at most ${max}, got ${String(issue.input)}` });
}

function countOf(input: unknown): string {
  return Array.isArray(input) ? String(input.length) : "more";
}

const id = boundedInt(1, configIdMax);

/** A list of store ids: the replicas of one Raft group (meta or shard). */
function storeIdList(what: string): z.ZodArray<typeof id> {
  return z
    .array(id)
    .min(1, { error: `must list at least one ${what}` })
    .max(groupMemberCountMax, { error: (issue) => `must list at most ${groupMemberCountMax} ${what}s (groupMemberCountMax), got ${countOf(issue.input)}` });
}

const store = z.strictObject({
  id,
  raftAddress: address,
  clientAddress: address,
  respAddress: address.nullable().default(null),
  // Metrics (/metrics) and the dashboard (/); null: no HTTP listener.
  httpAddress: address.nullable().default(null),
  advertise: z
    .strictObject({ raftAddress: address.optional(), clientAddress: address.optional(), respAddress: address.optional(), httpAddress: address.optional() })
    .nullable()
    .default(null),
});

const shard = z.strictObject({ id, replicas: storeIdList("replica") });

export const clusterConfigSchema = z.strictObject({
  clusterName: z.string().regex(clusterNamePattern, {
    error: (issue) => `must be 1..64 letters, digits, '_', '.' or '-', starting with a letter or digit, got ${JSON.stringify(issue.input)}`,
  }),
  dataDir: z.string().min(1, { error: "must not be empty" }),
  tickMs: boundedInt(1, tickMsMax).default(configDefaults.tickMs),
  electionTicks: boundedInt(2, ticksMax).default(configDefaults.electionTicks),
  heartbeatTicks: boundedInt(1, ticksMax).default(configDefaults.heartbeatTicks),
  snapshotEntriesThreshold: boundedInt(1, snapshotEntriesThresholdMax).default(configDefaults.snapshotEntriesThreshold),
  walSegmentSizeBytes: boundedInt(walSegmentSizeBytesMin, walSegmentSizeBytesMax).default(configDefaults.walSegmentSizeBytes),
  stores: z
    .array(store)
    .min(1, { error: "must list at least one store" })
    .max(storeCountMax, { error: (issue) => `must list at most ${storeCountMax} stores (storeCountMax), got ${countOf(issue.input)}` }),
  metaStores: storeIdList("store"),
  allowSmallGroups: z.boolean().default(false),
  // false: no metric is counted or observed (the benchmark's baseline); /metrics answers 404.
  metricsEnabled: z.boolean().default(true),
  // Exactly one of `shards` or `initialShards` + `replication` (cross-checks.ts).
  shards: z
    .array(shard)
    .min(1, { error: "must list at least one shard" })
    .max(shardCountMax, { error: (issue) => `must list at most ${shardCountMax} shards (shardCountMax), got ${countOf(issue.input)}` })
    .optional(),
  initialShards: boundedInt(1, shardCountMax).optional(),
  replication: boundedInt(1, groupMemberCountMax).optional(),
  router: z
    .strictObject({ clientAddress: address, respAddress: address.nullable().default(null) })
    .nullable()
    .default(null),
  // The coordinator in the metadata leader (issue 14); absent keys take the defaults of
  // coordinatorDefaults in src/client/balance-plan.ts.
  coordinator: z
    .strictObject({
      enabled: z.boolean().optional(),
      intervalMs: boundedInt(100, 3_600_000).optional(),
      splitKeys: boundedInt(1, 1_000_000_000_000).optional(),
      splitBytes: boundedInt(1, 1_000_000_000_000_000).optional(),
      splitWritesPerSec: boundedInt(0, 1_000_000_000).optional(),
      splitReadsPerSec: boundedInt(0, 1_000_000_000).optional(),
      movesPerStoreMax: boundedInt(1, 64).optional(),
    })
    .optional(),
  // Issue 20 (FR3.2): Workers answering RESP reads from the shared tables; absent: cores - 1; 0: none (one thread).
  readPoolSize: boundedInt(0, readPoolSizeMax).optional(),
  // Issue 15: the password every RESP client must give (AUTH, HELLO AUTH) before any other command.
  requirepass: z.string().min(1, { error: "must not be empty (leave it out for no password)" }).max(512, { error: "must be at most 512 characters" }).nullable().default(null),
});

export type ParsedClusterConfig = z.output<typeof clusterConfigSchema>;

/** One problem in a config file: where (a field path like `stores[1].advertise.raftAddress`) and why. */
export interface ConfigProblem {
  path: string;
  reason: string;
}

/** `["shards", 1, "replicas", 0]` -> `shards[1].replicas[0]`; the empty path is `(root)`. */
export function formatFieldPath(path: readonly PropertyKey[]): string {
  let text = "";
  for (const part of path) {
    if (typeof part === "number") text += `[${part}]`;
    else text += text === "" ? String(part) : `.${String(part)}`;
  }
  return text === "" ? "(root)" : text;
}

function describeReceived(input: unknown): string {
  if (input === null) return "null";
  if (Array.isArray(input)) return "a list";
  if (typeof input === "object") return "a mapping";
  return `${typeof input} ${JSON.stringify(input)}`;
}

/** Validates the shape; returns the parsed value, or every problem found. */
export function checkShape(data: unknown): { config: ParsedClusterConfig } | { problems: ConfigProblem[] } {
  const result = clusterConfigSchema.safeParse(data, {
    error: (issue) => {
      if (issue.code !== "invalid_type") return undefined;
      if (issue.input === undefined) return "missing field";
      return `expected ${issue.expected === "object" ? "a mapping" : issue.expected === "array" ? "a list" : `a ${issue.expected}`}, got ${describeReceived(issue.input)}`;
    },
  });
  if (result.success) return { config: result.data };
  const problems: ConfigProblem[] = [];
  for (const issue of result.error.issues) {
    if (issue.code === "unrecognized_keys") {
      for (const key of issue.keys) problems.push({ path: formatFieldPath([...issue.path, key]), reason: "unknown field" });
    } else {
      problems.push({ path: formatFieldPath(issue.path), reason: issue.message });
    }
  }
  return { problems };
}
