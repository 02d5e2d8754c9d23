// A request waiting for a shard's leader wakes when the store's replica learns of one, not only
// when its backoff runs out.
import { expect, test } from "bun:test";
import { LeaderSignal } from "../../../src/store/leader-signal.ts";

test("a waiter wakes at notify of its group, well before its timeout", async () => {
  const signal = new LeaderSignal();
  const startedMs = performance.now();
  const waiting = signal.wait(7, 5_000);
  setTimeout(() => signal.notify(7), 5);
  await waiting;
  expect(performance.now() - startedMs).toBeLessThan(1_000);
});

test("notify of another group does not wake it; the timeout does", async () => {
  const signal = new LeaderSignal();
  let woke = false;
  const waiting = signal.wait(1, 60).then(() => {
    woke = true;
  });
  signal.notify(2);
  await Bun.sleep(20);
  expect(woke).toBe(false);
  await waiting;
  expect(woke).toBe(true);
  // A timed-out waiter is gone: a later notify finds nothing to wake and throws nothing.
  signal.notify(1);
});
