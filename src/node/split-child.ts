// Where a split child starts, the same on every replica and in every host of the driver (the real
// store and the simulator's): its first state is a snapshot of the keys it took from its parent at
// splitBaseIndex/splitBaseTerm (TiKV starts split regions at 5 too), so the first leader's
// entries follow it, and its log starts empty after that snapshot with the commit at its index.
import type { GroupHardState, GroupRecovery } from "../storage/store-log.ts";
import { encodeMembership, type GroupMembership } from "./log-codec.ts";

export const splitBaseIndex = 5;
export const splitBaseTerm = 5;
/**
 * Ticks the parent's leader waits before campaigning for a new split child (so the other replicas
 * have created it too): without it the child waits out an election timeout, and its writes with it.
 */
export const splitCampaignDelayTicks = 2;

export interface SplitChildBase {
  /** What the child's first snapshot is saved with (ReplicaSnapshots.save). */
  snapshot: { index: number; term: number; metadata: Uint8Array };
  /** The hard state its log starts with, after a reset to splitBaseIndex. */
  hardState: GroupHardState;
  /** What the child opens with once its base is written. */
  recovery: GroupRecovery;
}

export function splitChildBase(membership: GroupMembership): SplitChildBase {
  const hardState = { term: splitBaseTerm, vote: 0, commit: splitBaseIndex };
  return {
    snapshot: { index: splitBaseIndex, term: splitBaseTerm, metadata: encodeMembership(membership) },
    hardState,
    recovery: { entries: [], hardState: { ...hardState }, firstIndex: 0 },
  };
}
