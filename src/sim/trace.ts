// The event trace of a run: a ring of the last events, printed when a property fails so the
// failure reads as a story (tick, deliver, drop, crash, restart, partition, propose, commit...).
// In verbose mode every event is also handed to a sink as it happens.
import { assert } from "../util/assert.ts";
import { MessageType, type Message } from "../raft/types.ts";

/** Events kept for the failure report. */
export const traceEventsKept = 60;

export type TraceKind =
  | "phase"
  | "send"
  | "deliver"
  | "drop"
  | "crash"
  | "restart"
  | "partition"
  | "heal"
  | "propose"
  | "conf-change"
  | "transfer"
  | "read"
  | "read-state"
  | "role"
  | "persist"
  | "commit"
  | "apply"
  | "snapshot"
  | "decommission"
  | "split"
  /** A warning or error the driver logged (its event name). */
  | "warn"
  | "violation";

export interface TraceEvent {
  tick: number;
  kind: TraceKind;
  /** The member (store) the event is about; 0 when the event is cluster-wide. */
  member: number;
  /** The Raft group the event is about; 0 when it is about a whole store or the cluster. */
  group: number;
  detail: string;
  /** A message event keeps the message and formats it only when printed, to keep sweeps fast. */
  message: Message | null;
}

export type TraceSink = (event: TraceEvent) => void;

export class Trace {
  readonly #ring: (TraceEvent | undefined)[] = new Array<TraceEvent | undefined>(traceEventsKept);
  #count = 0;
  readonly #sink: TraceSink | null;

  constructor(sink: TraceSink | null = null) {
    this.#sink = sink;
  }

  record(tick: number, kind: TraceKind, member: number, detail: string, group: number = 0): void {
    this.#push({ tick, kind, member, group, detail, message: null });
  }

  /** Records a message event; detail is the outcome (delivered, lost, partition...). */
  recordMessage(tick: number, kind: TraceKind, member: number, message: Message, outcome: string, group: number = 0): void {
    this.#push({ tick, kind, member, group, detail: outcome, message });
  }

  #push(event: TraceEvent): void {
    this.#ring[this.#count % traceEventsKept] = event;
    this.#count += 1;
    if (this.#sink !== null) this.#sink(event);
  }

  get count(): number {
    return this.#count;
  }

  /** The kept events, oldest first. */
  last(): TraceEvent[] {
    const kept = Math.min(this.#count, traceEventsKept);
    const events: TraceEvent[] = [];
    for (let i = this.#count - kept; i < this.#count; i++) {
      const event = this.#ring[i % traceEventsKept];
      assert(event !== undefined, "every kept slot holds an event");
      events.push(event);
    }
    return events;
  }
}

export function formatTraceEvent(event: TraceEvent): string {
  const tick = String(event.tick).padStart(6, " ");
  const member = event.member === 0 ? "  -" : `n${event.member}`.padStart(3, " ");
  const group = event.group === 0 ? "  -" : `g${event.group}`.padStart(3, " ");
  const detail = event.message === null ? event.detail : describeMessage(event.message, event.detail);
  return `${tick} ${member} ${group} ${event.kind.padEnd(12, " ")} ${detail}`;
}

export function describeMessage(message: Message, outcome: string): string {
  const entries = message.entries.length > 0 ? ` entries=${message.entries.length}` : "";
  const reject = message.reject ? " reject" : "";
  const snapshot = message.snapshot !== null ? ` snapshot@${message.snapshot.metadata.index}` : "";
  return `${MessageType[message.type]} n${message.from}->n${message.to} term=${message.term} index=${message.index} logTerm=${message.logTerm} commit=${message.commit}${entries}${reject}${snapshot} (${outcome})`;
}
