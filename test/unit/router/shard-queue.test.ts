// The per-shard admission bounds: in-flight never exceeds its limit, waiting requests run in FIFO
// order as slots free, and past both bounds the request is refused at once.
import { describe, expect, test } from "bun:test";
import { ShardQueue } from "../../../src/router/shard-queue.ts";

function deferred(): { promise: Promise<void>; resolve(): void } {
  let resolve = (): void => {};
  const promise = new Promise<void>((resolvePromise) => {
    resolve = resolvePromise;
  });
  return { promise, resolve };
}

describe("ShardQueue", () => {
  test("in-flight requests never exceed the bound and waiting ones run in arrival order", async () => {
    const queue = new ShardQueue({ inflightCountMax: 2, waitingCountMax: 10 });
    const gates = Array.from({ length: 6 }, () => deferred());
    const started: number[] = [];
    let runningCount = 0;
    let runningCountMax = 0;
    const results = gates.map((gate, index) =>
      queue.run(async () => {
        started.push(index);
        runningCount++;
        runningCountMax = Math.max(runningCountMax, runningCount);
        await gate.promise;
        runningCount--;
        return index;
      }, () => -1),
    );
    await Bun.sleep(5);
    expect(started).toEqual([0, 1]);
    expect(queue.inflightCount).toBe(2);
    expect(queue.waitingCount).toBe(4);
    for (const gate of gates) {
      gate.resolve();
      await Bun.sleep(2);
    }
    expect(await Promise.all(results)).toEqual([0, 1, 2, 3, 4, 5]);
    expect(started).toEqual([0, 1, 2, 3, 4, 5]);
    expect(runningCountMax).toBe(2);
    expect(queue.inflightCount).toBe(0);
    expect(queue.waitingCount).toBe(0);
  });

  test("a request past both bounds is refused at once and counted", async () => {
    const queue = new ShardQueue({ inflightCountMax: 1, waitingCountMax: 2 });
    const gate = deferred();
    const held = [0, 1, 2].map(() => queue.run(() => gate.promise.then(() => "ran"), () => "refused"));
    const refused = await queue.run(() => Promise.resolve("ran"), () => "refused");
    expect(refused).toBe("refused");
    expect(queue.refusedCount).toBe(1);
    gate.resolve();
    expect(await Promise.all(held)).toEqual(["ran", "ran", "ran"]);
  });

  test("a task that throws still frees its slot", async () => {
    const queue = new ShardQueue({ inflightCountMax: 1, waitingCountMax: 1 });
    const failing = queue.run(() => Promise.reject(new Error("boom")), () => "refused");
    const next = queue.run(() => Promise.resolve("ran"), () => "refused");
    await expect(failing).rejects.toThrow("boom");
    expect(await next).toBe("ran");
    expect(queue.inflightCount).toBe(0);
  });
});
