// The history of a chaos run: every client operation with its invoke and completion time (ms on
// one monotonic clock shared by all clients of the run) and its outcome:
//   ok      - the cluster answered and the effect (or the read value) is certain;
//   fail    - the operation certainly had no effect (a read that failed, a refused request);
//   unknown - a write whose effect is uncertain (timeout, broken connection, NOT_LEADER after the
//             proposal may have entered the log): it may take effect at any time after its
//             invocation, or never.
// Written to disk as JSON lines, one event per line (invoke, then ok / fail / unknown), which
// readHistory() pairs back into operations.
import { closeSync, openSync, readFileSync, writeSync } from "node:fs";
import { assert } from "../util/assert.ts";

export type OpKind = "set" | "delete" | "get" | "followerGet";
export type Outcome = "ok" | "fail" | "unknown";

export interface HistoryOp {
  id: number;
  client: number;
  kind: OpKind;
  key: string;
  /** set: the value written (unique per run); get / followerGet + ok: the value read, null = absent. */
  value: string | null;
  invokeMs: number;
  /** Infinity while pending and for unknown outcomes. */
  completeMs: number;
  outcome: Outcome | "pending";
  /** The store asked: for a follower read the store whose replica answered, for a routed op the store that routed it (0: none). */
  node: number;
}

export type CompletedOp = HistoryOp & { outcome: Outcome };

interface InvokeEvent {
  t: "invoke";
  id: number;
  client: number;
  op: OpKind;
  key: string;
  value: string | null;
  ms: number;
  node: number;
}

interface CompleteEvent {
  t: Outcome;
  id: number;
  ms: number | null;
  value: string | null;
}

/** Records operations of concurrent clients; ids are dense from 0. */
export class History {
  readonly #ops: HistoryOp[] = [];
  readonly #clock: () => number;

  constructor(clock: () => number = () => performance.now()) {
    this.#clock = clock;
  }

  invoke(args: { client: number; kind: OpKind; key: string; value?: string | null; node?: number }): number {
    const id = this.#ops.length;
    this.#ops.push({
      id,
      client: args.client,
      kind: args.kind,
      key: args.key,
      value: args.value ?? null,
      invokeMs: this.#clock(),
      completeMs: Infinity,
      outcome: "pending",
      node: args.node ?? 0,
    });
    return id;
  }

  /** Completes op `id`; for reads `value` is what was read (null = absent). */
  complete(id: number, outcome: Outcome, value?: string | null): void {
    const op = this.#ops[id];
    assert(op !== undefined, "complete() names an invoked op");
    assert(op.outcome === "pending", "an op completes once");
    op.outcome = outcome;
    if (outcome !== "unknown") op.completeMs = this.#clock();
    if ((op.kind === "get" || op.kind === "followerGet") && outcome === "ok") op.value = value ?? null;
  }

  get size(): number {
    return this.#ops.length;
  }

  /** Completed ops; still-pending ones become unknown (a run that stops mid-request). */
  ops(): CompletedOp[] {
    return this.#ops.map((op) => (op.outcome === "pending" ? { ...op, outcome: "unknown" as const, completeMs: Infinity } : { ...op, outcome: op.outcome }));
  }
}

/** Lines per write: a long run's history (millions of ops) is far larger than one string may be. */
const historyLinesPerWrite = 10_000;

export function writeHistory(path: string, ops: readonly CompletedOp[]): void {
  const events: { ms: number; line: string }[] = [];
  for (const op of ops) {
    const invoke: InvokeEvent = { t: "invoke", id: op.id, client: op.client, op: op.kind, key: op.key, value: op.kind === "set" ? op.value : null, ms: op.invokeMs, node: op.node };
    events.push({ ms: op.invokeMs, line: JSON.stringify(invoke) });
    const complete: CompleteEvent = { t: op.outcome, id: op.id, ms: Number.isFinite(op.completeMs) ? op.completeMs : null, value: op.value };
    events.push({ ms: Number.isFinite(op.completeMs) ? op.completeMs : Number.MAX_VALUE, line: JSON.stringify(complete) });
  }
  events.sort((a, b) => a.ms - b.ms);
  const fd = openSync(path, "w");
  try {
    for (let start = 0; start < events.length; start += historyLinesPerWrite) {
      const chunk = events.slice(start, start + historyLinesPerWrite).map((event) => event.line);
      writeSync(fd, chunk.join("\n") + "\n");
    }
  } finally {
    closeSync(fd);
  }
}

/** Reads a history written by writeHistory (or by hand) back into operations. */
export function readHistory(path: string): CompletedOp[] {
  const invoked = new Map<number, CompletedOp>();
  for (const line of readFileSync(path, "utf8").split("\n")) {
    if (line.trim() === "") continue;
    const event = JSON.parse(line) as InvokeEvent | CompleteEvent;
    if (event.t === "invoke") {
      invoked.set(event.id, { id: event.id, client: event.client, kind: event.op, key: event.key, value: event.value, invokeMs: event.ms, completeMs: Infinity, outcome: "unknown", node: event.node });
      continue;
    }
    const op = invoked.get(event.id);
    if (op === undefined) throw new Error(`History ${path}: completion of op ${event.id} before its invocation`);
    op.outcome = event.t;
    op.completeMs = event.ms ?? Infinity;
    if (op.kind !== "set") op.value = event.value;
  }
  return [...invoked.values()].sort((a, b) => a.id - b.id);
}
