// The membership (voters, learners) and, on the leader, a Progress per member.
// Invariant: a node is a voter or a learner, never both; every member has a Progress.
import { assert } from "../util/assert.ts";
import { Progress } from "./progress.ts";
import { ConfChangeType, type ConfChange, type ConfState, type NodeId } from "./types.ts";

export class ProgressTracker {
  voters: NodeId[] = [];
  learners: NodeId[] = [];
  readonly progress = new Map<NodeId, Progress>();
  readonly votes = new Map<NodeId, boolean>();
  readonly #maxInflightMsgs: number;
  readonly #maxInflightBytes: number;

  constructor(maxInflightMsgs: number, maxInflightBytes: number) {
    this.#maxInflightMsgs = maxInflightMsgs;
    this.#maxInflightBytes = maxInflightBytes;
  }

  confState(): ConfState {
    return { voters: [...this.voters], learners: [...this.learners] };
  }

  isVoter(id: NodeId): boolean {
    return this.voters.includes(id);
  }

  /** Replaces the membership (start-up, snapshot restore); progress starts over at `nextIndex`. */
  restore(conf: ConfState, nextIndex: number): void {
    this.voters = [];
    this.learners = [];
    this.progress.clear();
    for (const id of conf.voters) this.#add(id, false, nextIndex);
    for (const id of conf.learners) this.#add(id, true, nextIndex);
  }

  /** Applies one single-server change. Returns false when it is a no-op (already so). */
  apply(change: ConfChange, nextIndex: number): boolean {
    const id = change.nodeId;
    const existing = this.progress.get(id);
    switch (change.type) {
      case ConfChangeType.AddVoter:
        if (existing === undefined) {
          this.#add(id, false, nextIndex);
          return true;
        }
        if (!existing.learner) return false;
        // Promotion keeps the learner's progress: it already holds most of the log.
        this.learners = this.learners.filter((other) => other !== id);
        this.voters.push(id);
        existing.learner = false;
        return true;
      case ConfChangeType.AddLearner:
        if (existing === undefined) {
          this.#add(id, true, nextIndex);
          return true;
        }
        if (existing.learner) return false;
        this.voters = this.voters.filter((other) => other !== id);
        this.learners.push(id);
        existing.learner = true;
        return true;
      case ConfChangeType.RemoveNode:
        if (existing === undefined) return false;
        this.voters = this.voters.filter((other) => other !== id);
        this.learners = this.learners.filter((other) => other !== id);
        this.progress.delete(id);
        this.votes.delete(id);
        return true;
    }
  }

  #add(id: NodeId, learner: boolean, nextIndex: number): void {
    assert(!this.progress.has(id), "a member is added once");
    if (learner) this.learners.push(id);
    else this.voters.push(id);
    const progress = new Progress({
      next: Math.max(1, nextIndex),
      learner,
      maxInflightMsgs: this.#maxInflightMsgs,
      maxInflightBytes: this.#maxInflightBytes,
    });
    // A new member counts as active so CheckQuorum does not depose the leader before it is heard.
    progress.recentActive = true;
    this.progress.set(id, progress);
  }
}
