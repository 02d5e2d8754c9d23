// Where a split child starts, the same on every replica and in every host of the driver (the real
// store and the simulator's): its first state is the keys it took from its parent, held in memory
// as the group's state at splitBaseIndex/splitBaseTerm (TiKV starts split regions at 5 too) until
// its first snapshot saves it, so the first leader's entries follow it, and its log starts empty
// after that index with the commit at it.
import type { GroupHardState, GroupRecovery } from "../storage/store-log.ts";

export const splitBaseIndex = 5;
export const splitBaseTerm = 5;
/**
 * Ticks the parent's leader waits before campaigning for a new split child (so the other replicas
 * have created it too): without it the child waits out an election timeout, and its writes with it.
 * The real store campaigns at once and holds early messages instead; the simulator's has no such hold.
 */
export const splitCampaignDelayTicks = 2;

export interface SplitChildBase {
  /** What the child opens with (GroupRuntimeOptions.inMemoryBase): its state, not on disk yet. */
  inMemoryBase: { index: number; term: number };
  /** The hard state its log starts with, after a reset to splitBaseIndex. */
  hardState: GroupHardState;
  /** What a new child opens with once those records are written. */
  recovery: GroupRecovery;
}

export function splitChildBase(): SplitChildBase {
  const hardState = { term: splitBaseTerm, vote: 0, commit: splitBaseIndex };
  return {
    inMemoryBase: { index: splitBaseIndex, term: splitBaseTerm },
    hardState,
    recovery: { entries: [], hardState: { ...hardState }, firstIndex: 0 },
  };
}
