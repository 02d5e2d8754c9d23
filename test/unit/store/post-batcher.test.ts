import { expect, test } from "bun:test";
import { forEachPosted, PostBatcher, type PostBatch } from "../../../src/store/post-batcher.ts";
import { atTurnEnd } from "../../../src/transport/turn-end.ts";

type Message = { type: "a" | "b"; n: number };
const turnEnd = (): Promise<unknown> => new Promise((resolve) => setImmediate(resolve));

test("a turn's first message goes at once, the rest of the turn in one batch at its end, in order", async () => {
  const posted: (Message | PostBatch<Message>)[] = [];
  const outbox = new PostBatcher<Message>((message) => posted.push(message));
  outbox.post({ type: "a", n: 1 });
  expect(posted).toEqual([{ type: "a", n: 1 }]);
  outbox.post({ type: "b", n: 2 });
  outbox.post({ type: "a", n: 3 });
  expect(posted.length).toBe(1); // not before the turn ends
  await turnEnd();
  expect(posted).toEqual([{ type: "a", n: 1 }, { type: "batch", messages: [{ type: "b", n: 2 }, { type: "a", n: 3 }] }]);

  // A new turn: its first message goes at once again; a lone second one goes as itself.
  outbox.post({ type: "b", n: 4 });
  outbox.post({ type: "b", n: 5 });
  expect(posted.length).toBe(3);
  await turnEnd();
  expect(posted.slice(2)).toEqual([{ type: "b", n: 4 }, { type: "b", n: 5 }]);
  await turnEnd();
  expect(posted.length).toBe(4); // nothing queued: nothing posted

  const received: Message[] = [];
  for (const message of posted) forEachPosted(message, (one) => received.push(one));
  expect(received.map((message) => message.n)).toEqual([1, 2, 3, 4, 5]);
});

test("messages posted by another turn-end task (replies flushed at the turn's end) go in that same turn", async () => {
  const posted: (Message | PostBatch<Message>)[] = [];
  const outbox = new PostBatcher<Message>((message) => posted.push(message));
  // As a connection's reply flush: a task that runs at the turn's end and posts three messages there.
  atTurnEnd(() => {
    outbox.post({ type: "a", n: 1 });
    outbox.post({ type: "a", n: 2 });
    outbox.post({ type: "a", n: 3 });
  });
  expect(posted).toEqual([]);
  await turnEnd(); // queued after that turn's end: it ran, and so did the batch it started
  expect(posted).toEqual([{ type: "a", n: 1 }, { type: "batch", messages: [{ type: "a", n: 2 }, { type: "a", n: 3 }] }]);
});
