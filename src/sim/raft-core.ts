// Wires the real Raft core (RawNode, MemoryStorage) into the simulator's SimCore shape.
import { MemoryStorage } from "../raft/memory-storage.ts";
import { ProposalDroppedError, RawNode, decodeConfChange, defaultRaftConfig } from "../raft/raw-node.ts";
import type { ConfState } from "../raft/types.ts";
import type { SimCore, SimNodeArgs, SimRaftNode, SimStorage } from "./core.ts";

export const raftCore: SimCore = {
  newStorage(conf: ConfState): SimStorage {
    return new MemoryStorage({ conf });
  },
  newNode(args: SimNodeArgs): SimRaftNode {
    const config = defaultRaftConfig({ id: args.id, storage: args.storage, random: args.random, applied: args.applied });
    // The core's test-only flags: each mutation of the real core is one branch in raft.ts.
    if (args.mutation === "unsafe-commit") config.testOnlyUnsafeCommit = true;
    if (args.mutation === "double-vote") config.testOnlyDoubleVote = true;
    if (args.mutation === "vote-without-log-check") config.testOnlySkipVoteLogCheck = true;
    if (args.mutation === "read-index-without-quorum") config.testOnlyReadIndexWithoutQuorum = true;
    return new RawNode(config);
  },
  isProposalDropped(error: unknown): boolean {
    return error instanceof ProposalDroppedError;
  },
  decodeConfChange,
};
