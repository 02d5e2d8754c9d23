// The checkers of a chaos run besides linearizability, as pure functions of the history and of
// what was read from the replicas after the faults stopped:
//   lost writes  - an acknowledged write must not be superseded by a write that finished before it
//                  started: the final value of a key must come from a write that is not entirely
//                  before some acknowledged write;
//   phantoms     - a follower read returns absent or a value some SET of that key had invoked
//                  before the read completed (follower reads may be stale, never invented);
//   convergence  - once settled, every replica of a shard (one per store) holds the same value for
//                  every key;
//   crashes      - no store exited unless the nemesis killed it, and none logged a fatal line;
//   topology     - the final ranges of the metadata group cover the 64-bit hash space exactly once,
//                  every current replica owns exactly its shard's range, and no store hosts a
//                  shard the metadata does not list (a split neither completed nor abandoned);
//   key ownership - each key is answered by exactly the shard owning it by the final ranges: no
//                  key served by two shards or by none.
// Each returns a list of anomalies (empty = pass) with enough detail to find the ops.
import type { CompletedOp } from "./history.ts";
import { checkLinearizability, type KeyVerdict } from "./linearizability.ts";
import { hashMax } from "../ring/key-hash.ts";
import { formatHash, formatRange, type KeyRange } from "../ring/range-map.ts";

export interface Anomaly {
  kind: "linearizability" | "lost-write" | "phantom-read" | "divergence" | "crash" | "check-timeout" | "liveness" | "topology" | "key-ownership";
  key?: string;
  detail: string;
}

/**
 * `finalValues`: key -> the value a linearizable read returned after the run (null = absent);
 * every key written in the history must be present in the map.
 */
export function checkLostWrites(ops: readonly CompletedOp[], finalValues: ReadonlyMap<string, string | null>, unreadKeys: ReadonlySet<string> = new Set()): Anomaly[] {
  const anomalies: Anomaly[] = [];
  const writesByKey = new Map<string, CompletedOp[]>();
  for (const op of ops) {
    if (op.kind !== "set" && op.kind !== "delete") continue;
    if (op.outcome === "fail") continue;
    let list = writesByKey.get(op.key);
    if (list === undefined) writesByKey.set(op.key, (list = []));
    list.push(op);
  }
  for (const [key, writes] of writesByKey) {
    // A key the run could not read back (its shard had no leader) is a liveness anomaly already.
    if (unreadKeys.has(key)) continue;
    if (!finalValues.has(key)) {
      anomalies.push({ kind: "lost-write", key, detail: `Key ${key} was written but not read back at the end` });
      continue;
    }
    const finalValue = finalValues.get(key) ?? null;
    // Completion time of the latest possible writer of the final value (+Infinity when unknown).
    let writerCompleteMs = -Infinity;
    let writerFound = finalValue === null; // absent: the initial state is a candidate
    for (const write of writes) {
      const writesFinal = write.kind === "delete" ? finalValue === null : write.value === finalValue;
      if (!writesFinal) continue;
      writerFound = true;
      writerCompleteMs = Math.max(writerCompleteMs, write.completeMs);
    }
    if (!writerFound) {
      anomalies.push({ kind: "lost-write", key, detail: `Key ${key} ends with ${JSON.stringify(finalValue)}, a value no write of the run produced` });
      continue;
    }
    for (const write of writes) {
      if (write.outcome !== "ok" || write.invokeMs <= writerCompleteMs) continue;
      const what = write.kind === "delete" ? "DELETE" : `SET ${JSON.stringify(write.value)}`;
      anomalies.push({
        kind: "lost-write",
        key,
        detail: `Acknowledged ${what} (op ${write.id}, invoked at ${write.invokeMs.toFixed(1)} ms) is lost: the key ends with ${JSON.stringify(finalValue)}, written no later than ${writerCompleteMs.toFixed(1)} ms`,
      });
      break;
    }
  }
  return anomalies;
}

export function checkPhantomReads(ops: readonly CompletedOp[]): Anomaly[] {
  const setsByKey = new Map<string, Map<string, number>>();
  for (const op of ops) {
    if (op.kind !== "set" || op.value === null) continue;
    let values = setsByKey.get(op.key);
    if (values === undefined) setsByKey.set(op.key, (values = new Map()));
    values.set(op.value, Math.min(values.get(op.value) ?? Infinity, op.invokeMs));
  }
  const anomalies: Anomaly[] = [];
  for (const op of ops) {
    if ((op.kind !== "followerGet" && op.kind !== "get") || op.outcome !== "ok" || op.value === null) continue;
    const invokedMs = setsByKey.get(op.key)?.get(op.value);
    if (invokedMs === undefined || invokedMs > op.completeMs) {
      anomalies.push({ kind: "phantom-read", key: op.key, detail: `Op ${op.id} (${op.kind} on store ${op.node}) read ${JSON.stringify(op.value)}, which no SET of ${op.key} had written by then` });
    }
  }
  return anomalies;
}

/** `replicaValues`: shard -> store id (of a replica) -> key -> value (null = absent), read after settling. */
export function checkConvergence(replicaValues: ReadonlyMap<number, ReadonlyMap<number, ReadonlyMap<string, string | null>>>): Anomaly[] {
  const anomalies: Anomaly[] = [];
  for (const [shardId, replicas] of replicaValues) {
    const entries = [...replicas.entries()];
    const first = entries[0];
    if (first === undefined) continue;
    const [firstId, firstValues] = first;
    for (const [storeId, values] of entries.slice(1)) {
      for (const [key, value] of firstValues) {
        const other = values.has(key) ? (values.get(key) ?? null) : undefined;
        if (other !== value) {
          anomalies.push({ kind: "divergence", key, detail: `Shard ${shardId}: the replica on store ${firstId} holds ${JSON.stringify(value)} but the one on store ${storeId} holds ${JSON.stringify(other ?? null)}` });
        }
      }
    }
  }
  return anomalies;
}

export interface StoreExit {
  storeId: number;
  exitCode: number | null;
  signalCode: string | null;
  /** True when the nemesis (or the harness's shutdown) caused the exit. */
  expected: boolean;
  logTail: string;
}

export function checkCrashes(exits: readonly StoreExit[], fatalLogLines: readonly string[]): Anomaly[] {
  const anomalies: Anomaly[] = [];
  for (const exit of exits) {
    if (exit.expected) continue;
    anomalies.push({ kind: "crash", detail: `Store ${exit.storeId} exited on its own (code ${exit.exitCode}, signal ${exit.signalCode}):\n${exit.logTail}` });
  }
  for (const line of fatalLogLines) anomalies.push({ kind: "crash", detail: `Fatal log line: ${line.slice(0, 2000)}` });
  return anomalies;
}

/** The cluster's shards and ranges as read after settling. */
export interface FinalTopology {
  /** The metadata group's layout: shard -> its range; null when no metadata replica answered. */
  layout: ReadonlyMap<number, KeyRange> | null;
  /** Shard -> store -> the range its replica there owns (null: none reported), for every current member. */
  members: ReadonlyMap<number, ReadonlyMap<number, KeyRange | null>>;
  /** Shard -> the stores hosting a live (not removed) replica of it, members or not. */
  hosted: ReadonlyMap<number, readonly number[]>;
}

function sameRange(left: KeyRange, right: KeyRange): boolean {
  return left.start === right.start && left.end === right.end && left.version === right.version;
}

/** The layout's ranges must tile [0, 2^64 - 1]: every hole and every overlap is an anomaly. */
function tilingAnomalies(layout: ReadonlyMap<number, KeyRange>): Anomaly[] {
  const anomalies: Anomaly[] = [];
  const sorted = [...layout.entries()].sort(([, left], [, right]) => (left.start < right.start ? -1 : left.start > right.start ? 1 : 0));
  let nextStart = 0n;
  let previousShard: number | null = null;
  for (const [shardId, range] of sorted) {
    if (range.start > range.end) anomalies.push({ kind: "topology", detail: `Shard ${shardId} has an empty range ${formatRange(range)}` });
    if (range.start > nextStart) {
      anomalies.push({ kind: "topology", detail: `Hashes ${formatHash(nextStart)}..${formatHash(range.start - 1n)} belong to no shard (between ${previousShard === null ? "the start of the hash space" : `shard ${previousShard}`} and shard ${shardId})` });
    } else if (range.start < nextStart) {
      anomalies.push({ kind: "topology", detail: `Hashes ${formatHash(range.start)}..${formatHash(nextStart - 1n < range.end ? nextStart - 1n : range.end)} belong to two shards (${previousShard} and ${shardId})` });
    }
    if (range.end + 1n > nextStart) {
      nextStart = range.end + 1n;
      previousShard = shardId;
    }
  }
  if (nextStart <= hashMax) anomalies.push({ kind: "topology", detail: `Hashes ${formatHash(nextStart)}..${formatHash(hashMax)} belong to no shard (after ${previousShard === null ? "nothing: the layout has no shard" : `shard ${previousShard}`})` });
  return anomalies;
}

/**
 * The final topology: the metadata's ranges tile the hash space exactly once; every shard it lists
 * has current members and each member owns exactly the listed range (start, end and version);
 * every shard with members is listed; no store hosts a live replica of a shard the metadata does
 * not list (a split's new shard that was neither completed nor abandoned).
 */
export function checkTopology(topology: FinalTopology): Anomaly[] {
  if (topology.layout === null) return [{ kind: "topology", detail: "No metadata replica answered TOPOLOGY after the faults: the final ranges are unknown" }];
  const layout = topology.layout;
  const anomalies = tilingAnomalies(layout);
  for (const [shardId, range] of layout) {
    const members = topology.members.get(shardId);
    if (members === undefined || members.size === 0) {
      anomalies.push({ kind: "topology", detail: `Shard ${shardId} (${formatRange(range)}) is in the metadata's layout but has no member replica` });
      continue;
    }
    for (const [storeId, owned] of members) {
      if (owned === null) anomalies.push({ kind: "topology", detail: `The replica of shard ${shardId} on store ${storeId} reports no range (the metadata says ${formatRange(range)})` });
      else if (!sameRange(owned, range)) anomalies.push({ kind: "topology", detail: `The replica of shard ${shardId} on store ${storeId} owns ${formatRange(owned)}, the metadata says ${formatRange(range)}` });
    }
  }
  for (const shardId of topology.members.keys()) {
    if (!layout.has(shardId)) anomalies.push({ kind: "topology", detail: `Shard ${shardId} has member replicas but is not in the metadata's layout` });
  }
  for (const [shardId, storeIds] of topology.hosted) {
    if (!layout.has(shardId) && storeIds.length > 0) anomalies.push({ kind: "topology", detail: `Stores ${storeIds.join(",")} host a replica of shard ${shardId}, which the metadata does not list: a split neither completed nor abandoned` });
  }
  return anomalies;
}

/** Which shards answered a shard-tagged GET of one key (OK or NOT_FOUND), and which one owns it. */
export interface KeyOwnershipProbe {
  key: string;
  /** The shard owning the key by the final ranges. */
  owner: number;
  /** Shards asked (the owner among them). */
  askedShards: readonly number[];
  /** The asked shards whose replica served the key. */
  answeredBy: readonly number[];
  /** The owner's last answer when it did not serve the key (e.g. "STALE_EPOCH ..."). */
  ownerRefusal?: string;
}

/** Keys reported one by one; the rest are counted in one more anomaly (a bad range fails thousands). */
const ownershipAnomalyKeyCountMax = 20;

/** Each key is served by exactly its owner: a second shard serving it, or none, is an anomaly. */
export function checkKeyOwnership(probes: readonly KeyOwnershipProbe[]): Anomaly[] {
  const anomalies: Anomaly[] = [];
  let badKeyCount = 0;
  for (const probe of probes) {
    const good = probe.answeredBy.length === 1 && probe.answeredBy[0] === probe.owner;
    if (good) continue;
    badKeyCount++;
    if (badKeyCount > ownershipAnomalyKeyCountMax) continue;
    const others = probe.answeredBy.filter((shardId) => shardId !== probe.owner);
    if (others.length > 0) anomalies.push({ kind: "key-ownership", key: probe.key, detail: `Key ${probe.key} (owned by shard ${probe.owner}) is also served by shard ${others.join(", ")}` });
    if (!probe.answeredBy.includes(probe.owner)) {
      anomalies.push({ kind: "key-ownership", key: probe.key, detail: `Key ${probe.key} is not served by shard ${probe.owner}, which owns it${probe.ownerRefusal === undefined ? "" : ` (it answered ${probe.ownerRefusal})`}; asked ${probe.askedShards.join(",")}, served by ${probe.answeredBy.join(",") || "none"}` });
    }
  }
  if (badKeyCount > ownershipAnomalyKeyCountMax) anomalies.push({ kind: "key-ownership", detail: `${badKeyCount - ownershipAnomalyKeyCountMax} more keys not served by exactly their owner` });
  return anomalies;
}

export function linearizabilityAnomalies(verdicts: readonly KeyVerdict[]): Anomaly[] {
  const anomalies: Anomaly[] = [];
  for (const verdict of verdicts) {
    if (verdict.verdict === "violation") anomalies.push({ kind: "linearizability", key: verdict.key, detail: `Key ${verdict.key}: no linearization of its ${verdict.opCount} ops` });
    if (verdict.verdict === "timeout") anomalies.push({ kind: "check-timeout", key: verdict.key, detail: `Key ${verdict.key}: search gave up after ${verdict.steps} steps (${verdict.opCount} ops)` });
  }
  return anomalies;
}

/** Everything that needs only the history and the final reads. */
export function checkHistory(
  ops: readonly CompletedOp[],
  finalValues: ReadonlyMap<string, string | null>,
  options: { stepsMax?: number; unreadKeys?: ReadonlySet<string> } = {},
): { anomalies: Anomaly[]; verdicts: KeyVerdict[] } {
  const verdicts = checkLinearizability(ops, options.stepsMax);
  const anomalies = [...linearizabilityAnomalies(verdicts), ...checkLostWrites(ops, finalValues, options.unreadKeys), ...checkPhantomReads(ops)];
  return { anomalies, verdicts };
}
