// The Raft core's own failures. These are expected outcomes a caller handles (retry elsewhere,
// retry later), not bugs: bugs are assertion failures. Log access errors live in types.ts.
import { UkvError } from "../util/errors.ts";
import type { NodeId } from "./types.ts";

/**
 * A proposal (or conf change, or read) was not accepted: this node is not the leader, the leader
 * is transferring leadership, or a conf change is already pending. `leader` is the known leader
 * (0 = none), so the caller can redirect.
 */
export class ProposalDroppedError extends Error {
  override name = "ProposalDroppedError";
  readonly leader: NodeId;

  constructor(reason: string, leader: NodeId) {
    super(`Proposal dropped: ${reason}`);
    this.leader = leader;
  }
}

/**
 * Thrown by RaftStorage.snapshot() when a snapshot is being built and is not ready yet.
 * The leader keeps the follower in probe state and retries on a later heartbeat response.
 */
export class SnapshotTemporarilyUnavailableError extends Error {
  override name = "SnapshotTemporarilyUnavailableError";
}

/** A snapshot older than the storage's current one was offered (MemoryStorage.applySnapshot). */
export class SnapshotOutOfDateError extends Error {
  override name = "SnapshotOutOfDateError";
}

export function configInvalid(message: string, data: Record<string, unknown>): UkvError {
  return new UkvError("CONFIG_INVALID", message, { data });
}
