// Majority arithmetic over the voters: the commit index a quorum has reached, and vote tallies.
// Learners never appear here: they are not counted in any quorum.
import type { NodeId } from "./types.ts";

export type VoteResult = "won" | "lost" | "pending";

export function quorumSize(voterCount: number): number {
  return Math.floor(voterCount / 2) + 1;
}

/** The largest index that a majority of voters have matched (0 with no voters). */
export function committedIndex(voters: readonly NodeId[], matchOf: (id: NodeId) => number): number {
  const count = voters.length;
  if (count === 0) return 0;
  if (count === 1) return matchOf(voters[0] as NodeId);
  const matches = new Array<number>(count);
  for (let i = 0; i < count; i++) matches[i] = matchOf(voters[i] as NodeId);
  matches.sort((a, b) => b - a);
  // Sorted descending: the quorum-th largest is matched by at least a quorum.
  return matches[quorumSize(count) - 1] as number;
}

/** Won when a majority granted, lost when a majority can no longer grant, else pending. */
export function voteResult(voters: readonly NodeId[], votes: ReadonlyMap<NodeId, boolean>): VoteResult {
  if (voters.length === 0) return "lost";
  let granted = 0;
  let rejected = 0;
  for (const id of voters) {
    const vote = votes.get(id);
    if (vote === true) granted++;
    else if (vote === false) rejected++;
  }
  const quorum = quorumSize(voters.length);
  if (granted >= quorum) return "won";
  if (voters.length - rejected < quorum) return "lost";
  return "pending";
}

/** True when a quorum of voters (counting `isActive`) is active. */
export function quorumActive(voters: readonly NodeId[], isActive: (id: NodeId) => boolean): boolean {
  let active = 0;
  for (const id of voters) if (isActive(id)) active++;
  return voters.length > 0 && active >= quorumSize(voters.length);
}
