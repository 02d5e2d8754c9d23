// The checkers of a chaos run besides linearizability, as pure functions of the history and of
// what was read from the replicas after the faults stopped:
//   lost writes  - an acknowledged write must not be superseded by a write that finished before it
//                  started: the final value of a key must come from a write that is not entirely
//                  before some acknowledged write;
//   phantoms     - a follower read returns absent or a value some SET of that key had invoked
//                  before the read completed (follower reads may be stale, never invented);
//   convergence  - once settled, every replica of a shard (one per store) holds the same value for
//                  every key;
//   crashes      - no store exited unless the nemesis killed it, and none logged a fatal line.
// Each returns a list of anomalies (empty = pass) with enough detail to find the ops.
import type { CompletedOp } from "./history.ts";
import { checkLinearizability, type KeyVerdict } from "./linearizability.ts";

export interface Anomaly {
  kind: "linearizability" | "lost-write" | "phantom-read" | "divergence" | "crash" | "check-timeout" | "liveness";
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
