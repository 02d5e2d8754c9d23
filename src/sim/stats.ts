// Counters of what a run exercised, so a sweep can show its coverage (reads served, snapshots
// installed, elections, lost writes...) and a test can insist the faults really happened.

export interface SimStats {
  proposals: number;
  /** Batch entries (many keys in one entry) applied by some member. */
  batchesApplied: number;
  crashes: number;
  /** Crashes that lost a slow write still in flight. */
  writesLost: number;
  /** Lost writes of which a prefix of entries landed. */
  writesTorn: number;
  restarts: number;
  partitions: number;
  /** Snapshots members took of their own state machine. */
  snapshots: number;
  /** Snapshots members received from a leader and installed. */
  snapshotsInstalled: number;
  reads: number;
  readsServed: number;
  confChanges: number;
  confChangesApplied: number;
  elections: number;
  /** Quiesce messages sent: a leader told its followers the group is idle (quiescence). */
  quiesceMessages: number;
  messagesSent: number;
  messagesDropped: number;
  /** Splits the operator proposed; applies of a split by a replica; children a store created. */
  splits: number;
  splitsApplied: number;
  childrenCreated: number;
  /** Crashes of a store with a split child's creation in flight (the replay path at restart). */
  splitCrashes: number;
  /** Children created by a restarted parent's replay of the split, after such a crash. */
  splitReplays: number;
  /** Final reads of keys from the group owning them (acknowledged-write check). */
  keysChecked: number;
}

export function emptySimStats(): SimStats {
  return {
    proposals: 0,
    batchesApplied: 0,
    crashes: 0,
    writesLost: 0,
    writesTorn: 0,
    restarts: 0,
    partitions: 0,
    snapshots: 0,
    snapshotsInstalled: 0,
    reads: 0,
    readsServed: 0,
    confChanges: 0,
    confChangesApplied: 0,
    elections: 0,
    quiesceMessages: 0,
    messagesSent: 0,
    messagesDropped: 0,
    splits: 0,
    splitsApplied: 0,
    childrenCreated: 0,
    splitCrashes: 0,
    splitReplays: 0,
    keysChecked: 0,
  };
}

export function addSimStats(total: SimStats, run: SimStats): void {
  for (const key of Object.keys(total) as (keyof SimStats)[]) total[key] += run[key];
}
