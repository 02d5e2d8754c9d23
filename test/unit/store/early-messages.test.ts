// Messages for a group a store does not host yet are held (bounded) and handed over, oldest
// first, when the replica opens; old ones age out.
import { expect, test } from "bun:test";
import { EarlyMessages } from "../../../src/store/early-messages.ts";
import type { Message } from "../../../src/raft/types.ts";
import { earlyMessageAgeMsMax, earlyMessageGroupCountMax, earlyMessagesPerGroupMax } from "../../../src/util/limits.ts";

const message = (index: number): Message => ({ index }) as unknown as Message;

test("held messages are handed over once, in order, for their group only", () => {
  const early = new EarlyMessages(() => 0);
  early.hold(7, [message(1), message(2)]);
  early.hold(7, [message(3)]);
  early.hold(8, [message(9)]);
  expect(early.take(7).map((held) => held.index)).toEqual([1, 2, 3]);
  expect(early.take(7)).toEqual([]);
  expect(early.take(8).map((held) => held.index)).toEqual([9]);
  expect(early.groupCount).toBe(0);
});

test("bounded: groups, messages per group, and age", () => {
  let nowMs = 0;
  const early = new EarlyMessages(() => nowMs);
  for (let groupId = 1; groupId <= earlyMessageGroupCountMax + 5; groupId++) early.hold(groupId, [message(groupId)]);
  expect(early.groupCount).toBe(earlyMessageGroupCountMax);
  early.hold(1, Array.from({ length: earlyMessagesPerGroupMax * 2 }, (_, index) => message(index)));
  expect(early.take(1)).toHaveLength(earlyMessagesPerGroupMax);
  nowMs = earlyMessageAgeMsMax + 1;
  expect(early.take(2)).toEqual([]);
  expect(early.groupCount).toBe(0);
});
