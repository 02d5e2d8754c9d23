// Raft messages that reach a store for a group it does not host yet, held briefly instead of
// dropped. A split applies on the parent's replicas at different moments, so the new child's
// first vote request (its replica on the parent leader's store campaigns at once) usually reaches
// stores whose own apply has not created the child yet: dropped, it would cost the child an
// election timeout, and the writes to its keys with it. Delivered when the replica opens; a late
// message is only a delayed one, which Raft tolerates. Bounded in groups, messages and age.
import type { Message } from "../raft/types.ts";
import { earlyMessageAgeMsMax, earlyMessageGroupCountMax, earlyMessagesPerGroupMax } from "../util/limits.ts";

interface Held {
  firstAtMs: number;
  messages: Message[];
}

export class EarlyMessages {
  readonly #held = new Map<number, Held>();
  readonly #nowMs: () => number;

  constructor(nowMs: () => number = () => performance.now()) {
    this.#nowMs = nowMs;
  }

  /** Holds `messages` for `groupId`; beyond the bounds the newest are dropped (Raft resends). */
  hold(groupId: number, messages: readonly Message[]): void {
    const nowMs = this.#nowMs();
    this.#expire(nowMs);
    let held = this.#held.get(groupId);
    if (held === undefined) {
      if (this.#held.size >= earlyMessageGroupCountMax) return;
      held = { firstAtMs: nowMs, messages: [] };
      this.#held.set(groupId, held);
    }
    for (const message of messages) {
      if (held.messages.length >= earlyMessagesPerGroupMax) break;
      held.messages.push(message);
    }
  }

  /** The messages held for `groupId` (oldest first), forgotten here; none when they aged out. */
  take(groupId: number): Message[] {
    this.#expire(this.#nowMs());
    const held = this.#held.get(groupId);
    if (held === undefined) return [];
    this.#held.delete(groupId);
    return held.messages;
  }

  get groupCount(): number {
    return this.#held.size;
  }

  #expire(nowMs: number): void {
    for (const [groupId, held] of this.#held) {
      if (nowMs - held.firstAtMs > earlyMessageAgeMsMax) this.#held.delete(groupId);
    }
  }
}
