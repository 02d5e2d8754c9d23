// Deliberate bugs the simulator must catch, one per safety rule, so that no checker is trusted
// without having been seen to fail (issue 19). Each is off unless a run names it. Core mutations
// switch a test-only RaftConfig flag of the real core (src/raft); driver mutations change how the
// simulated member runs the Ready contract or how its disk syncs. Each names the property the
// checker must report for it; test/sim/broken-core.test.ts holds each to that within a bound.
import type { Property } from "./checker.ts";

export const simMutationNames = [
  "double-vote",
  "vote-without-log-check",
  "unsafe-commit",
  "read-index-without-quorum",
  "apply-before-persist",
  "follower-read",
  "ack-before-persist",
  "drop-fsync",
] as const;

export type SimMutation = (typeof simMutationNames)[number];

export interface SimMutationInfo {
  /** Where the bug lives: the real Raft core (a RaftConfig flag) or the simulated member/disk. */
  layer: "core" | "driver";
  description: string;
  /** The properties the checker may report for it: the rule the bug breaks. */
  properties: readonly Property[];
}

export const simMutations: Readonly<Record<SimMutation, SimMutationInfo>> = {
  "double-vote": {
    layer: "core",
    description: "a voter grants a second candidate in a term it already voted in (RaftConfig.testOnlyDoubleVote)",
    properties: ["election-safety"],
  },
  "vote-without-log-check": {
    layer: "core",
    description: "a voter grants (pre-)votes without the log up-to-date check of §5.4.1 (RaftConfig.testOnlySkipVoteLogCheck)",
    properties: ["leader-completeness"],
  },
  "unsafe-commit": {
    layer: "core",
    description: "the leader commits its own entries without a quorum (RaftConfig.testOnlyUnsafeCommit)",
    properties: ["committed-never-lost"],
  },
  "read-index-without-quorum": {
    layer: "core",
    description: "the leader answers a ReadIndex at once, without the heartbeat round that proves it still leads (RaftConfig.testOnlyReadIndexWithoutQuorum)",
    properties: ["linearizable-read"],
  },
  "apply-before-persist": {
    layer: "driver",
    description: "a member waiting for a slow write applies the Ready's committed entries before the write lands",
    properties: ["durability"],
  },
  "follower-read": {
    layer: "driver",
    description: "a follower answers a linearizable read from its own state machine, without ReadIndex",
    properties: ["linearizable-read"],
  },
  "ack-before-persist": {
    layer: "driver",
    description: "a member waiting for a slow write sends its append responses before the write lands",
    properties: ["durability"],
  },
  "drop-fsync": {
    layer: "driver",
    description: "the disk skips the sync of writes that carry only a hard state: reported durable, lost on a crash until a later synced write",
    properties: ["durability"],
  },
};

export function isSimMutation(name: string): name is SimMutation {
  return (simMutationNames as readonly string[]).includes(name);
}
