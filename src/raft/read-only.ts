// ReadIndex bookkeeping on the leader (etcd's readOnly, safe mode): each request records the
// commit index at arrival and waits until a quorum has acknowledged a heartbeat carrying its
// context, which proves this node was still leader when the read arrived.
// Requests are confirmed in arrival order: an ack for a later context confirms earlier ones too.
import type { Message, NodeId } from "./types.ts";

export interface ReadIndexStatus {
  request: Message;
  index: number;
  acks: Set<NodeId>;
}

/** Contexts are compared by content: a Latin-1 string of the bytes is a cheap exact key. */
export function contextKey(context: Uint8Array): string {
  let key = "";
  for (const byte of context) key += String.fromCharCode(byte);
  return key;
}

export class ReadOnly {
  readonly #pending = new Map<string, ReadIndexStatus>();
  #queue: string[] = [];

  get pendingCount(): number {
    return this.#queue.length;
  }

  /** Records a request at `index`; a duplicate context is ignored (already in flight). */
  addRequest(index: number, request: Message): void {
    const key = contextKey(request.context);
    if (this.#pending.has(key)) return;
    this.#pending.set(key, { request, index, acks: new Set() });
    this.#queue.push(key);
  }

  /** Records `from`'s ack of the heartbeat with `context`; returns the ackers, or null if unknown. */
  recvAck(from: NodeId, context: Uint8Array): Set<NodeId> | null {
    const status = this.#pending.get(contextKey(context));
    if (status === undefined) return null;
    status.acks.add(from);
    return status.acks;
  }

  /** Removes and returns every request up to and including the one with `context`. */
  advance(context: Uint8Array): ReadIndexStatus[] {
    const key = contextKey(context);
    const position = this.#queue.indexOf(key);
    if (position < 0) return [];
    const released: ReadIndexStatus[] = [];
    for (const queued of this.#queue.slice(0, position + 1)) {
      const status = this.#pending.get(queued);
      if (status !== undefined) released.push(status);
      this.#pending.delete(queued);
    }
    this.#queue = this.#queue.slice(position + 1);
    return released;
  }

  /** Context of the newest pending request, carried by every heartbeat so it can be acked. */
  lastPendingContext(): Uint8Array | null {
    const key = this.#queue[this.#queue.length - 1];
    if (key === undefined) return null;
    return this.#pending.get(key)?.request.context ?? null;
  }

  reset(): void {
    this.#pending.clear();
    this.#queue = [];
  }
}
