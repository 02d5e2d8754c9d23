// Why a key failed the linearizability check. The check names the key, not the ops, and a hot key
// of a long run has hundreds of thousands of them; this finds the first op the history cannot
// explain: the smallest prefix (ops in invoke order) that is already not linearizable, found by
// bisection, and prints the ops that overlap the seconds before it. A prefix keeps, besides its
// ops, every write invoked before one of them completed (a read may return a write invoked after
// the read was). Such a prefix is "closed": a linearization of the whole history, restricted to
// it, is one of the prefix (each read's last preceding write was invoked before the read ended,
// so it is in the prefix). So a failing prefix proves the whole history fails, and a longer
// prefix fails whenever a shorter one does: the bisection is sound.
import type { CompletedOp } from "./history.ts";
import { checkRegister, registerOpsOfKey } from "./linearizability.ts";

export interface ViolationExplanation {
  /** The last op (in invoke order) of the smallest failing prefix: the first one nothing explains. */
  culprit: CompletedOp;
  prefixOpCount: number;
  /** The key's ops (follower reads left out) that overlap [culprit.invokeMs - windowMs, culprit.completeMs]. */
  window: CompletedOp[];
}

/** Seconds of history before the culprit that a reader needs (a write's 6 s timeout fits). */
const windowMsDefault = 6000;
const windowOpCountMax = 60;

function isViolation(ops: readonly CompletedOp[], stepsMax: number): boolean {
  return checkRegister(registerOpsOfKey(ops), stepsMax).verdict === "violation";
}

/** The first `count` ops of one key in invoke order, closed as the file comment says. */
function prefixOf(sorted: readonly CompletedOp[], count: number): CompletedOp[] {
  let untilMs = -Infinity;
  for (let index = 0; index < count; index++) {
    const completeMs = sorted[index]!.completeMs;
    if (Number.isFinite(completeMs)) untilMs = Math.max(untilMs, completeMs);
  }
  const prefix = sorted.slice(0, count);
  for (let index = count; index < sorted.length && sorted[index]!.invokeMs < untilMs; index++) {
    const op = sorted[index]!;
    if (op.kind === "set" || op.kind === "delete") prefix.push(op);
  }
  return prefix;
}

/** Null when the key's ops are linearizable (or the search runs out of steps). */
export function explainViolation(keyOps: readonly CompletedOp[], options: { windowMs?: number; stepsMax?: number } = {}): ViolationExplanation | null {
  const stepsMax = options.stepsMax ?? 20_000_000;
  const sorted = [...keyOps].sort((a, b) => a.invokeMs - b.invokeMs);
  if (sorted.length === 0) return null;
  // Galloping first (the culprit is often early in a long history and a check costs about its
  // prefix's length), then bisection between the last passing and the first failing size.
  let passingCount = 0;
  let high = Math.min(1024, sorted.length);
  while (!isViolation(prefixOf(sorted, high), stepsMax)) {
    if (high === sorted.length) return null;
    passingCount = high;
    high = Math.min(2 * high, sorted.length);
  }
  let low = passingCount + 1;
  while (low < high) {
    const middle = Math.floor((low + high) / 2);
    if (isViolation(prefixOf(sorted, middle), stepsMax)) high = middle;
    else low = middle + 1;
  }
  const culprit = sorted[low - 1]!;
  const fromMs = culprit.invokeMs - (options.windowMs ?? windowMsDefault);
  const untilMs = Number.isFinite(culprit.completeMs) ? culprit.completeMs : culprit.invokeMs;
  const window = sorted.filter((op) => op.kind !== "followerGet" && op.completeMs >= fromMs && op.invokeMs <= untilMs);
  return { culprit, prefixOpCount: low, window: window.slice(-windowOpCountMax) };
}

/** One op as a line: invoke..complete ms, client, store, kind, outcome, value. */
export function formatOp(op: CompletedOp): string {
  const completed = Number.isFinite(op.completeMs) ? op.completeMs.toFixed(1) : "?";
  return `op ${op.id} ${op.invokeMs.toFixed(1)}..${completed} ms client ${op.client} store ${op.node} ${op.kind} ${op.outcome} ${JSON.stringify(op.value)}`;
}

export function formatExplanation(explanation: ViolationExplanation): string {
  const lines = [`first op no linearization explains (after ${explanation.prefixOpCount} ops in invoke order): ${formatOp(explanation.culprit)}`, "ops of the key around it:"];
  for (const op of explanation.window) lines.push(`  ${op === explanation.culprit ? "=>" : "  "} ${formatOp(op)}`);
  return lines.join("\n");
}
