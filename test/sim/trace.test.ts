// The trace ring: it keeps the last traceEventsKept events in order and hands every event to a
// verbose sink as it happens.
import { expect, test } from "bun:test";
import { Trace, formatTraceEvent, traceEventsKept, type TraceEvent } from "../../src/sim/trace.ts";

test("the ring keeps the last traceEventsKept events, oldest first", () => {
  const trace = new Trace();
  const total = traceEventsKept * 2 + 7;
  for (let tick = 1; tick <= total; tick++) trace.record(tick, "propose", 1, `value-${tick}`);
  const kept = trace.last();
  expect(kept.length).toBe(traceEventsKept);
  expect(kept[0]?.tick).toBe(total - traceEventsKept + 1);
  expect(kept[kept.length - 1]?.tick).toBe(total);
  expect(trace.count).toBe(total);
});

test("a short run keeps all its events, and the sink sees each one as it happens", () => {
  const seen: TraceEvent[] = [];
  const trace = new Trace((event) => seen.push(event));
  trace.record(3, "crash", 2, "no write in flight");
  trace.record(4, "restart", 2, "term 1");
  expect(trace.last().map((e) => e.kind)).toEqual(["crash", "restart"]);
  expect(seen.map((e) => e.kind)).toEqual(["crash", "restart"]);
  expect(formatTraceEvent(seen[0] as TraceEvent)).toBe("     3  n2   - crash        no write in flight");
});
