// Linearizability of one key as a register (Wing & Gong's search with Lowe's memoization, the
// algorithm of Porcupine's checkSingle): find an order of the operations that respects real time
// (an op that completed before another was invoked comes first) in which every read returns the
// latest write. Inputs per key: SETs and DELETEs that are ok or unknown, linearizable GETs that
// are ok. Unknown writes complete at +Infinity: they may be placed anywhere after their
// invocation, or nowhere (the search succeeds once only unknown ops are left).
// An unknown SET whose value no read observed is dropped first: if a linearization places it,
// removing it leaves one that is still valid (nothing read its value), so the answer is the same
// and the search is much smaller. The search is iterative (no recursion) and bounded by a step
// budget; running out is reported as "timeout", never as a pass.
import { assert } from "../util/assert.ts";
import type { CompletedOp } from "./history.ts";

export type LinearizabilityVerdict = "ok" | "violation" | "timeout";

export interface KeyVerdict {
  key: string;
  verdict: LinearizabilityVerdict;
  opCount: number;
  steps: number;
}

/** Search steps per key before giving up: bounds time (roughly 1 µs to a few µs a step). */
export const linearizabilityStepsMaxDefault = 20_000_000;

interface SearchOp {
  /** Dense index for the linearized bitset. */
  index: number;
  kind: "write" | "read";
  /** write: the value written (null = delete); read: the value read (null = absent). */
  value: string | null;
  invokeMs: number;
  completeMs: number;
}

interface Entry {
  op: SearchOp;
  isCall: boolean;
  /** The call's return entry (for calls), or null. */
  match: Entry | null;
  prev: Entry | null;
  next: Entry | null;
}

/** The ops of one key that the register check uses (see the file comment). */
export function registerOpsOfKey(ops: readonly CompletedOp[]): SearchOp[] {
  const readValues = new Set<string>();
  for (const op of ops) if (op.kind === "get" && op.outcome === "ok" && op.value !== null) readValues.add(op.value);
  const selected: SearchOp[] = [];
  for (const op of ops) {
    if (op.outcome === "fail") continue;
    if (op.kind === "followerGet") continue;
    if (op.kind === "get" && op.outcome !== "ok") continue;
    if (op.kind === "set" && op.outcome === "unknown" && !readValues.has(op.value ?? "")) continue;
    const completeMs = op.outcome === "unknown" ? Infinity : op.completeMs;
    selected.push({ index: selected.length, kind: op.kind === "get" ? "read" : "write", value: op.kind === "delete" ? null : op.value, invokeMs: op.invokeMs, completeMs });
  }
  return selected;
}

function buildEntries(ops: readonly SearchOp[]): Entry {
  const events: { ms: number; isCall: boolean; op: SearchOp }[] = [];
  for (const op of ops) {
    events.push({ ms: op.invokeMs, isCall: true, op });
    events.push({ ms: op.completeMs, isCall: false, op });
  }
  // Equal times: calls first, so ops that touch at an instant count as concurrent (permissive).
  events.sort((a, b) => (a.ms !== b.ms ? a.ms - b.ms : a.isCall === b.isCall ? 0 : a.isCall ? -1 : 1));
  const head: Entry = { op: { index: -1, kind: "read", value: null, invokeMs: 0, completeMs: 0 }, isCall: false, match: null, prev: null, next: null };
  const callOf = new Map<number, Entry>();
  let tail = head;
  for (const event of events) {
    const entry: Entry = { op: event.op, isCall: event.isCall, match: null, prev: tail, next: null };
    tail.next = entry;
    tail = entry;
    if (event.isCall) callOf.set(event.op.index, entry);
    else {
      const call = callOf.get(event.op.index);
      assert(call !== undefined, "a return follows its call");
      call.match = entry;
    }
  }
  return head;
}

function lift(call: Entry): void {
  const ret = call.match;
  assert(ret !== null, "a call has a return entry");
  call.prev!.next = call.next;
  if (call.next !== null) call.next.prev = call.prev;
  ret.prev!.next = ret.next;
  if (ret.next !== null) ret.next.prev = ret.prev;
}

function unlift(call: Entry): void {
  const ret = call.match;
  assert(ret !== null, "a call has a return entry");
  ret.prev!.next = ret;
  if (ret.next !== null) ret.next.prev = ret;
  call.prev!.next = call;
  if (call.next !== null) call.next.prev = call;
}

/** Checks one key's ops (already filtered by registerOpsOfKey); the register starts absent. */
export function checkRegister(ops: readonly SearchOp[], stepsMax = linearizabilityStepsMaxDefault): { verdict: LinearizabilityVerdict; steps: number } {
  const head = buildEntries(ops);
  const linearized = new Uint32Array(Math.ceil(ops.length / 32) + 1);
  const seen = new Set<string>();
  const calls: { entry: Entry; state: string | null }[] = [];
  let state: string | null = null;
  let entry = head.next;
  let steps = 0;
  while (entry !== null) {
    if (++steps > stepsMax) return { verdict: "timeout", steps };
    if (!entry.isCall) {
      // Only unknown ops are left once the first remaining return lies at +Infinity.
      if (entry.op.completeMs === Infinity) return { verdict: "ok", steps };
      const top = calls.pop();
      if (top === undefined) return { verdict: "violation", steps };
      state = top.state;
      linearized[top.entry.op.index >>> 5]! &= ~(1 << (top.entry.op.index & 31));
      unlift(top.entry);
      entry = top.entry.next;
      continue;
    }
    const op = entry.op;
    const legal = op.kind === "write" || op.value === state;
    if (legal) {
      const nextState = op.kind === "write" ? op.value : state;
      linearized[op.index >>> 5]! |= 1 << (op.index & 31);
      const cacheKey = `${linearized.join(",")}|${nextState === null ? "\u0000" : nextState}`;
      if (!seen.has(cacheKey)) {
        seen.add(cacheKey);
        calls.push({ entry, state });
        state = nextState;
        lift(entry);
        entry = head.next;
        continue;
      }
      linearized[op.index >>> 5]! &= ~(1 << (op.index & 31));
    }
    entry = entry.next;
  }
  return { verdict: "ok", steps };
}

/** Every key of the history, checked on its own (a register per key composes: P-compositionality). */
export function checkLinearizability(ops: readonly CompletedOp[], stepsMax = linearizabilityStepsMaxDefault): KeyVerdict[] {
  const byKey = new Map<string, CompletedOp[]>();
  for (const op of ops) {
    let list = byKey.get(op.key);
    if (list === undefined) byKey.set(op.key, (list = []));
    list.push(op);
  }
  const verdicts: KeyVerdict[] = [];
  for (const [key, keyOps] of byKey) {
    const selected = registerOpsOfKey(keyOps);
    const { verdict, steps } = checkRegister(selected, stepsMax);
    verdicts.push({ key, verdict, opCount: selected.length, steps });
  }
  return verdicts;
}
