// Linearizable read waiters: contexts never collide across replicas, and a read the leader has
// not answered is handed out again for a resend, once per interval, until it is confirmed.
import { expect, test } from "bun:test";
import type { ReplicaClock } from "../../../src/node/replica-io.ts";
import { ReadWaiters } from "../../../src/node/waiters.ts";

function manualClock(): ReplicaClock & { advance(ms: number): void } {
  let now = 0;
  return {
    nowMs: () => now,
    epochMs: () => 1_700_000_000_000, // every replica starts in the same millisecond
    defer: (callback) => callback(),
    setTimer: () => ({ cancel: () => undefined }),
    sleep: async () => undefined,
    advance(ms: number) {
      now += ms;
    },
  };
}

test("two replicas started in the same millisecond hand out different read contexts, and one's answer never confirms the other's read", async () => {
  const clock = manualClock();
  const one = new ReadWaiters(clock, 1);
  const two = new ReadWaiters(clock, 2);
  const readOne = one.add(5000);
  const readTwo = two.add(5000);
  expect(readOne.context).not.toEqual(readTwo.context);
  two.confirm(readOne.context, 7, 7);
  expect(two.size).toBe(1);
  two.confirm(readTwo.context, 7, 7);
  await readTwo.done;
  expect(two.size).toBe(0);
  one.rejectAll(new Error("closed"));
  await readOne.done.catch(() => undefined);
});

test("an unanswered read is due for a resend once per interval; a confirmed one is not", async () => {
  const clock = manualClock();
  const reads = new ReadWaiters(clock, 3);
  const first = reads.add(5000);
  const second = reads.add(5000);
  expect(reads.dueForResend(clock.nowMs(), 1000)).toEqual([]);
  clock.advance(1000);
  expect(reads.dueForResend(clock.nowMs(), 1000)).toEqual([first.context, second.context]);
  expect(reads.dueForResend(clock.nowMs(), 1000)).toEqual([]);
  reads.confirm(first.context, 9, 5); // answered, waiting to apply index 9: not resent
  clock.advance(1000);
  expect(reads.dueForResend(clock.nowMs(), 1000)).toEqual([second.context]);
  reads.applied(9);
  await first.done;
  reads.rejectAll(new Error("closed"));
  await second.done.catch(() => undefined);
});
