// Deliberate bugs the simulator must catch, one per safety rule, so that no checker is trusted
// without having been seen to fail (issue 19). Each is off unless a run names it. Core mutations
// switch a test-only RaftConfig flag of the real core (src/raft); driver mutations switch a
// test-only option of the real driver (src/node/group-runtime.ts, ReplicaTestOnlyOptions: one
// branch each), "drop-fsync" is a fault of the simulated disk under it, the split ones break
// the simulated store's creation of a split child, and "received-snapshot-at-once" its snapshot
// files (as the real store kept them before received snapshots were held apart). Each names the
// property the checker must report for it; test/sim/broken-core.test.ts holds each to that
// within a bound. Three are caught as liveness failures, not safety ones: "skip-split-children-wait",
// "snapshot-before-replay" and "received-snapshot-at-once" lose a member of a shard for good,
// which only the liveness phase sees (each held to a chosen seed).
import type { ReplicaTestOnlyOptions } from "../node/group-runtime.ts";
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
  "split-drops-key",
  "split-overlaps",
  "skip-split-children-wait",
  "snapshot-before-replay",
  "received-snapshot-at-once",
] as const;

export type SimMutation = (typeof simMutationNames)[number];

export interface SimMutationInfo {
  /** Where the bug lives: the real Raft core (a RaftConfig flag), the real driver, the simulated disk, or the store's creation of a split child. */
  layer: "core" | "driver" | "disk" | "store";
  /** The driver's test-only options that make the bug (none for a disk fault). */
  testOnly: ReplicaTestOnlyOptions;
  description: string;
  /** The properties the checker may report for it: the rule the bug breaks. */
  properties: readonly Property[];
}

export const simMutations: Readonly<Record<SimMutation, SimMutationInfo>> = {
  "double-vote": {
    layer: "core",
    description: "a voter grants a second candidate in a term it already voted in (RaftConfig.testOnlyDoubleVote)",
    testOnly: { raft: { testOnlyDoubleVote: true } },
    properties: ["election-safety"],
  },
  "vote-without-log-check": {
    layer: "core",
    description: "a voter grants (pre-)votes without the log up-to-date check of §5.4.1 (RaftConfig.testOnlySkipVoteLogCheck)",
    testOnly: { raft: { testOnlySkipVoteLogCheck: true } },
    properties: ["leader-completeness", "committed-never-lost"],
  },
  "unsafe-commit": {
    layer: "core",
    description: "the leader commits its own entries without a quorum (RaftConfig.testOnlyUnsafeCommit)",
    testOnly: { raft: { testOnlyUnsafeCommit: true } },
    properties: ["committed-never-lost", "leader-completeness"],
  },
  "read-index-without-quorum": {
    layer: "core",
    description: "the leader answers a ReadIndex at once, without the heartbeat round that proves it still leads (RaftConfig.testOnlyReadIndexWithoutQuorum)",
    testOnly: { raft: { testOnlyReadIndexWithoutQuorum: true } },
    properties: ["linearizable-read"],
  },
  "apply-before-persist": {
    layer: "driver",
    description: "the driver applies a Ready's committed entries before its entries are durable (ReplicaTestOnlyOptions.applyBeforePersist)",
    testOnly: { applyBeforePersist: true },
    properties: ["durability"],
  },
  "follower-read": {
    layer: "driver",
    description: "a follower answers a linearizable read from its own state machine, without ReadIndex (ReplicaTestOnlyOptions.followerReadAsLinearizable)",
    testOnly: { followerReadAsLinearizable: true },
    properties: ["linearizable-read"],
  },
  "ack-before-persist": {
    layer: "driver",
    description: "the driver sends a Ready's append responses before its entries are durable (ReplicaTestOnlyOptions.ackBeforePersist)",
    testOnly: { ackBeforePersist: true },
    properties: ["durability"],
  },
  "drop-fsync": {
    layer: "disk",
    description: "the store's disk skips every second fdatasync of its shared log: those writes are reported durable but lost on a crash until a later sync",
    testOnly: {},
    properties: ["durability", "commit-beyond-log"],
  },
  "split-drops-key": {
    layer: "store",
    description: "a store creates a split child without one of the keys the split moved to it (src/sim/store.ts)",
    testOnly: {},
    properties: ["acknowledged-write"],
  },
  "split-overlaps": {
    layer: "store",
    description: "a store creates a split child whose range starts one hash below the split point, inside its parent's (src/sim/store.ts)",
    testOnly: {},
    properties: ["range-ownership"],
  },
  "skip-split-children-wait": {
    layer: "driver",
    description:
      "a parent replica installs a leader's snapshot, or its store deletes it, while a split child's base is still in memory (ReplicaTestOnlyOptions.skipSplitChildrenWait): after a crash no replay rebuilds that child, and the shard loses the member",
    testOnly: { skipSplitChildrenWait: true },
    properties: ["liveness"],
  },
  "snapshot-before-replay": {
    layer: "driver",
    description:
      "a restarted replica takes a leader's snapshot before it applied the committed entries it recovered (ReplicaTestOnlyOptions.snapshotBeforeReplay): a split among them is never replayed, and the split child its store held stays unopened",
    testOnly: { snapshotBeforeReplay: true },
    properties: ["liveness"],
  },
  "received-snapshot-at-once": {
    layer: "store",
    description:
      "a snapshot received from the leader is one of the replica's snapshot files at once, before its install waits for split children or even if it is never installed (src/sim/replica-state.ts): a restart opens from it, past a split a held child needed replayed",
    testOnly: {},
    properties: ["liveness"],
  },
};

export function isSimMutation(name: string): name is SimMutation {
  return (simMutationNames as readonly string[]).includes(name);
}
