// Linearizability of one key as a register (Wing & Gong's search with Lowe's memoization, the
// algorithm of Porcupine's checkSingle): find an order of the operations that respects real time
// (an op that completed before another was invoked comes first) in which every read returns the
// latest write. Inputs per key: SETs and DELETEs that are ok or unknown, linearizable GETs that
// are ok. Unknown writes complete at +Infinity: they may be placed anywhere after their
// invocation, or nowhere (the search succeeds once only unknown ops are left).
// An unknown SET whose value no read observed is dropped first: if a linearization places it,
// removing it leaves one that is still valid (nothing read its value), so the answer is the same
// and the search is much smaller; an unknown SET that was read must have taken effect before the
// first read of its value completed, so its window is closed there.
// The memo key of a search state is a 64-bit Zobrist hash of the linearized set (two xor-ed 32-bit
// words per op, updated in O(1)) plus the register value; a collision could only prune a branch,
// with odds around 2^-64 per pair of states. The search is iterative (no recursion) and bounded
// by a step budget; running out is reported as "timeout", never as a pass.
import { assert } from "../util/assert.ts";
import { Prng } from "../util/prng.ts";
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
  // value -> the earliest completion of a linearizable read that returned it.
  const firstReadCompleteMs = new Map<string, number>();
  for (const op of ops) {
    if (op.kind !== "get" || op.outcome !== "ok" || op.value === null) continue;
    firstReadCompleteMs.set(op.value, Math.min(firstReadCompleteMs.get(op.value) ?? Infinity, op.completeMs));
  }
  const selected: SearchOp[] = [];
  for (const op of ops) {
    if (op.outcome === "fail") continue;
    if (op.kind === "followerGet") continue;
    if (op.kind === "get" && op.outcome !== "ok") continue;
    const readByMs = op.kind === "set" ? firstReadCompleteMs.get(op.value ?? "") : undefined;
    if (op.kind === "set" && op.outcome === "unknown" && readByMs === undefined) continue;
    // An unknown SET that was read took effect before that read completed: its window ends there
    // (values are unique, so no other write explains the read). Same answers, far fewer branches.
    const completeMs = op.outcome !== "unknown" ? op.completeMs : (readByMs ?? Infinity);
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
  const zobrist = new Uint32Array(2 * ops.length);
  const prng = new Prng(0x5eed);
  for (let index = 0; index < zobrist.length; index++) zobrist[index] = prng.nextUint32();
  let hashLow = 0;
  let hashHigh = 0;
  const toggle = (index: number): void => {
    hashLow = (hashLow ^ zobrist[2 * index]!) >>> 0;
    hashHigh = (hashHigh ^ zobrist[2 * index + 1]!) >>> 0;
  };
  const seen = new Set<string>();
  const calls: { entry: Entry; state: string | null; forced: boolean }[] = [];
  let state: string | null = null;
  let steps = 0;
  const memoKey = (value: string | null): string => `${hashLow},${hashHigh}|${value === null ? "\u0000" : value}`;
  /** Undoes choices up to the last free one; the next entry to try after it, or null (no linearization). */
  const backtrack = (): Entry | null => {
    for (;;) {
      const top = calls.pop();
      if (top === undefined) return null;
      state = top.state;
      toggle(top.entry.op.index);
      unlift(top.entry);
      if (!top.forced) return top.entry.next;
    }
  };
  let entry = head.next;
  let fresh = true;
  while (entry !== null) {
    if (++steps > stepsMax) return { verdict: "timeout", steps };
    if (fresh) {
      fresh = false;
      // A read in the frontier (no pending op returned before it was invoked) that returns the
      // current value can go first without loss: it changes nothing, and every op that must
      // precede it is already placed. Forced, it is never a branch point.
      const read = frontierReadOf(head, state);
      if (read !== null) {
        toggle(read.op.index);
        if (seen.has(memoKey(state))) {
          toggle(read.op.index);
          entry = backtrack();
          if (entry === null) return { verdict: "violation", steps };
          continue;
        }
        seen.add(memoKey(state));
        calls.push({ entry: read, state, forced: true });
        lift(read);
        fresh = true;
        entry = head.next;
        continue;
      }
      entry = head.next;
      if (entry === null) break;
    }
    if (!entry.isCall) {
      // Only unknown ops are left once the first remaining return lies at +Infinity.
      if (entry.op.completeMs === Infinity) return { verdict: "ok", steps };
      entry = backtrack();
      if (entry === null) return { verdict: "violation", steps };
      continue;
    }
    const op = entry.op;
    const legal = op.kind === "write" || op.value === state;
    if (legal) {
      const nextState: string | null = op.kind === "write" ? op.value : state;
      toggle(op.index);
      if (!seen.has(memoKey(nextState))) {
        seen.add(memoKey(nextState));
        calls.push({ entry, state, forced: false });
        state = nextState;
        lift(entry);
        entry = head.next;
        fresh = true;
        continue;
      }
      toggle(op.index);
    }
    entry = entry.next;
  }
  // Left only by `break`: every op is placed.
  return { verdict: "ok", steps };
}

/** The first read among the frontier's calls whose value is `state`, or null. */
function frontierReadOf(head: Entry, state: string | null): Entry | null {
  for (let entry = head.next; entry !== null && entry.isCall; entry = entry.next) {
    if (entry.op.kind === "read" && entry.op.value === state) return entry;
  }
  return null;
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
