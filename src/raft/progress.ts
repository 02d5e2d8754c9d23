// The leader's view of one follower (etcd tracker.Progress): what is known to match, what to send
// next, and the sending mode. Probe: one Append at a time until the follower's position is found.
// Replicate: pipelined Appends, next = last sent + 1, bounded by the inflight window.
// Snapshot: a snapshot is in flight, nothing else is sent until it is reported.
// Invariant: match < next.
import { assert } from "../util/assert.ts";
import { Inflights } from "./inflights.ts";

export type ProgressState = "probe" | "replicate" | "snapshot";

export class Progress {
  match = 0;
  next: number;
  state: ProgressState = "probe";
  /** Index of the snapshot in flight (snapshot state), else 0. */
  pendingSnapshot = 0;
  /** Heard from since the last CheckQuorum round. */
  recentActive = false;
  /** Probe: an Append is outstanding. Replicate: the window is full. */
  msgAppFlowPaused = false;
  learner: boolean;
  /** Highest commit index sent to this follower (Append or heartbeat), to know when to bump it. */
  sentCommit = 0;
  readonly inflights: Inflights;

  constructor(args: { next: number; learner: boolean; maxInflightMsgs: number; maxInflightBytes: number }) {
    assert(args.next >= 1, "next index starts at 1 or later");
    this.next = args.next;
    this.learner = args.learner;
    this.inflights = new Inflights(args.maxInflightMsgs, args.maxInflightBytes);
  }

  #resetState(state: ProgressState): void {
    this.msgAppFlowPaused = false;
    this.pendingSnapshot = 0;
    this.state = state;
    this.inflights.reset();
  }

  becomeProbe(): void {
    // After a snapshot, the follower has at least the snapshot: resume right after it.
    if (this.state === "snapshot") {
      const pendingSnapshot = this.pendingSnapshot;
      this.#resetState("probe");
      this.next = Math.max(this.match + 1, pendingSnapshot + 1);
    } else {
      this.#resetState("probe");
      this.next = this.match + 1;
    }
  }

  becomeReplicate(): void {
    this.#resetState("replicate");
    this.next = this.match + 1;
  }

  becomeSnapshot(snapshotIndex: number): void {
    this.#resetState("snapshot");
    this.pendingSnapshot = snapshotIndex;
  }

  /** An Append with `entryCount` entries and `sizeBytes` bytes was sent from `next`. */
  sentEntries(entryCount: number, sizeBytes: number): void {
    if (this.state === "replicate") {
      if (entryCount > 0) {
        this.next += entryCount;
        this.inflights.add(this.next - 1, sizeBytes);
      }
      this.msgAppFlowPaused = this.inflights.full();
    } else if (this.state === "probe" && entryCount > 0) {
      this.msgAppFlowPaused = true;
    }
  }

  /** The follower acknowledged entries up to `index`. Returns false for a stale ack. */
  maybeUpdate(index: number): boolean {
    if (index <= this.match) return false;
    this.match = index;
    this.next = Math.max(this.next, index + 1);
    this.msgAppFlowPaused = false;
    assert(this.match < this.next, "match < next");
    return true;
  }

  /**
   * The follower rejected an Append at `rejected`, hinting it may match at `matchHint`.
   * Returns false when the rejection is stale (out of order).
   */
  maybeDecrTo(rejected: number, matchHint: number): boolean {
    if (this.state === "replicate") {
      if (rejected <= this.match) return false;
      this.next = this.match + 1;
      return true;
    }
    if (this.next - 1 !== rejected) return false;
    this.next = Math.max(Math.min(rejected, matchHint + 1), this.match + 1);
    this.msgAppFlowPaused = false;
    return true;
  }

  isPaused(): boolean {
    if (this.state === "snapshot") return true;
    // An ack below the window's oldest message (a duplicate, or one from before replicate mode)
    // clears the flag without freeing a slot: the window itself decides.
    if (this.state === "replicate") return this.msgAppFlowPaused || this.inflights.full();
    return this.msgAppFlowPaused;
  }
}
