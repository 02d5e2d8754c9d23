// Messages between a store's Raft thread and a read-pool Worker: the first message of an
// event-loop turn is posted at once (a lone request, as at redis-benchmark -c 1, waits for
// nothing), and every later one of the same turn goes in one batch when the turn ends. A
// postMessage costs a structured clone and a wake-up of the other thread whatever it carries; with
// many connections a turn carries many messages (each connection's forwarded commands, each
// connection's replies): at SET -c 50 -P 16 one postMessage per message held the stores to about
// half the rate of one per turn (docs/benchmarks.md). Order is kept: nothing posted later in a turn
// goes before what was posted earlier.
import { atTurnEnd } from "../transport/turn-end.ts";

/** What a batch looks like on the wire: a message of its own, holding messages in posting order. */
export interface PostBatch<Message> {
  type: "batch";
  messages: Message[];
}

export class PostBatcher<Message> {
  readonly #post: (message: Message | PostBatch<Message>) => void;
  /** A message went out this turn: later ones wait for its end. */
  #turnStarted = false;
  #queued: Message[] = [];
  readonly #endTurn = (): void => {
    this.#turnStarted = false;
    this.#flush();
  };

  constructor(post: (message: Message | PostBatch<Message>) => void) {
    this.#post = post;
  }

  post(message: Message): void {
    if (!this.#turnStarted) {
      this.#turnStarted = true;
      atTurnEnd(this.#endTurn);
      this.#post(message);
      return;
    }
    this.#queued.push(message);
  }

  #flush(): void {
    const messages = this.#queued;
    if (messages.length === 0) return;
    this.#queued = [];
    this.#post(messages.length === 1 ? (messages[0] as Message) : { type: "batch", messages });
  }
}

/** Calls `handle` for each message `received` carries (itself, or a batch's, in order). */
export function forEachPosted<Message>(received: Message | PostBatch<Message>, handle: (message: Message) => void): void {
  if (isBatch(received)) for (const message of received.messages) handle(message);
  else handle(received);
}

function isBatch<Message>(received: Message | PostBatch<Message>): received is PostBatch<Message> {
  return (received as { type?: unknown }).type === "batch";
}
