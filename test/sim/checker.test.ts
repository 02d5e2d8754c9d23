// The safety checkers, fed hand-made histories: each violation is reported with its property,
// and the matching legal history passes (so no check passes vacuously).
import { describe, expect, test } from "bun:test";
import { EntryType, type Entry } from "../../src/raft/types.ts";
import { SafetyChecker, SimViolation, type LogView, type Property } from "../../src/sim/checker.ts";

const encoder = new TextEncoder();

function entry(index: number, term: number, value: string = `v${index}`): Entry {
  return { index, term, type: EntryType.Normal, data: encoder.encode(value) };
}

/** A log of whole entries from index 1 (no snapshot). */
function logOf(entries: Entry[]): LogView {
  return {
    termAt: (index) => (index === 0 ? 0 : entries[index - 1]?.term),
    entryAt: (index) => entries[index - 1],
    firstIndex: 1,
    lastIndex: entries.length,
  };
}

function violationOf(action: () => void): Property | null {
  try {
    action();
    return null;
  } catch (error) {
    if (error instanceof SimViolation) return error.property;
    throw error;
  }
}

describe("SafetyChecker", () => {
  test("election safety: two leaders in one term are reported, one leader re-elected is not", () => {
    const checker = new SafetyChecker();
    checker.leaderElected(1, 3);
    expect(violationOf(() => checker.leaderElected(1, 3))).toBeNull();
    expect(violationOf(() => checker.leaderElected(2, 4))).toBeNull();
    expect(violationOf(() => checker.leaderElected(2, 3))).toBe("election-safety");
  });

  test("log matching: one (index, term) with two different entries is reported", () => {
    const checker = new SafetyChecker();
    const a = [entry(1, 1), entry(2, 1, "x")];
    const b = [entry(1, 1), entry(2, 1, "y")];
    checker.entriesPersisted(1, a, logOf(a));
    expect(violationOf(() => checker.entriesPersisted(2, [entry(1, 1)], logOf([entry(1, 1)])))).toBeNull();
    expect(violationOf(() => checker.entriesPersisted(2, b, logOf(b)))).toBe("log-matching");
  });

  test("log matching: the same (index, term) after different predecessors is reported", () => {
    const checker = new SafetyChecker();
    const a = [entry(1, 1), entry(2, 3, "z")];
    const b = [entry(1, 2), entry(2, 3, "z")];
    checker.entriesPersisted(1, a, logOf(a));
    expect(violationOf(() => checker.entriesPersisted(2, [b[1] as Entry], logOf(b)))).toBe("log-matching");
  });

  test("committed entries never lost: a different entry committed at a committed index is reported", () => {
    const checker = new SafetyChecker();
    checker.commitAdvanced(1, 1, 0, 2, logOf([entry(1, 1), entry(2, 1)]));
    expect(checker.commitIndexMax).toBe(2);
    expect(violationOf(() => checker.commitAdvanced(2, 1, 0, 2, logOf([entry(1, 1), entry(2, 1)])))).toBeNull();
    expect(violationOf(() => checker.commitAdvanced(3, 2, 0, 2, logOf([entry(1, 1), entry(2, 2)])))).toBe("committed-never-lost");
  });

  test("a commit index beyond the member's own log is reported", () => {
    const checker = new SafetyChecker();
    expect(violationOf(() => checker.commitAdvanced(1, 1, 0, 3, logOf([entry(1, 1)])))).toBe("commit-beyond-log");
  });

  test("leader completeness: a leader missing a committed entry is reported", () => {
    const checker = new SafetyChecker();
    checker.commitAdvanced(1, 1, 0, 3, logOf([entry(1, 1), entry(2, 1), entry(3, 1)]));
    expect(violationOf(() => checker.leaderLogComplete(2, 2, logOf([entry(1, 1), entry(2, 1), entry(3, 1), entry(4, 2)])))).toBeNull();
    expect(violationOf(() => checker.leaderLogComplete(3, 2, logOf([entry(1, 1), entry(2, 1)])))).toBe("leader-completeness");
    expect(violationOf(() => checker.leaderLogComplete(3, 3, logOf([entry(1, 1), entry(2, 1), entry(3, 2)])))).toBe("leader-completeness");
  });

  test("leader completeness binds leaders of later terms only, so a late-observed election is no violation", () => {
    const checker = new SafetyChecker();
    // Entry 2 is known committed first by a member in term 8: a leader of term 7 may lack it.
    checker.commitAdvanced(3, 8, 0, 2, logOf([entry(1, 6), entry(2, 6)]));
    expect(violationOf(() => checker.leaderLogComplete(1, 7, logOf([entry(1, 6), entry(2, 7)])))).toBeNull();
    expect(violationOf(() => checker.leaderLogComplete(1, 9, logOf([entry(1, 6), entry(2, 7)])))).toBe("leader-completeness");
    // Seen committed by a member of term 6 as well: now a leader of term 7 must hold it.
    checker.commitAdvanced(2, 6, 0, 2, logOf([entry(1, 6), entry(2, 6)]));
    expect(violationOf(() => checker.leaderLogComplete(1, 7, logOf([entry(1, 6), entry(2, 7)])))).toBe("leader-completeness");
  });

  test("state machine safety: two members applying different entries at one index is reported", () => {
    const checker = new SafetyChecker();
    checker.entryApplied(1, entry(1, 1, "a"), 111);
    expect(violationOf(() => checker.entryApplied(2, entry(1, 1, "a"), 111))).toBeNull();
    expect(violationOf(() => checker.entryApplied(3, entry(1, 1, "b"), 222))).toBe("state-machine-safety");
  });

  test("applying an entry other than the committed one is reported", () => {
    const checker = new SafetyChecker();
    checker.commitAdvanced(1, 1, 0, 1, logOf([entry(1, 1, "a")]));
    expect(violationOf(() => checker.entryApplied(2, entry(1, 2, "b"), 5))).toBe("committed-never-lost");
  });

  test("a snapshot whose state differs from what appliers reached at its index is reported", () => {
    const checker = new SafetyChecker();
    checker.entryApplied(1, entry(1, 1), 111);
    expect(violationOf(() => checker.snapshotApplied(2, 1, 111))).toBeNull();
    expect(violationOf(() => checker.snapshotApplied(2, 1, 999))).toBe("state-machine-safety");
  });

  test("linearizable read: a read index below what was committed when the read began is reported", () => {
    const checker = new SafetyChecker();
    checker.commitAdvanced(1, 1, 0, 2, logOf([entry(1, 1), entry(2, 1)]));
    checker.readIssued("r1");
    const value = { appliedIndex: 2, digest: 7 };
    expect(violationOf(() => checker.readServed(1, "r1", 2, value))).toBeNull();
    expect(violationOf(() => checker.readServed(1, "r1", 1, value))).toBe("linearizable-read");
    expect(violationOf(() => checker.readServed(1, "never-issued", 5, value))).toBe("linearizable-read");
  });

  test("linearizable read: a right read index with a stale value is reported (the value is checked, not only the index)", () => {
    const checker = new SafetyChecker();
    checker.entryApplied(1, entry(1, 1), 11);
    checker.entryApplied(1, entry(2, 1), 22);
    checker.commitAdvanced(1, 1, 0, 2, logOf([entry(1, 1), entry(2, 1)]));
    checker.readIssued("r1");
    expect(violationOf(() => checker.readServed(2, "r1", 2, { appliedIndex: 2, digest: 22 }))).toBeNull();
    // Answered before the member applied up to the read index: the index is right, the state is old.
    expect(violationOf(() => checker.readServed(2, "r1", 2, { appliedIndex: 1, digest: 11 }))).toBe("linearizable-read");
    // The state claimed at index 2 is not the state appliers reached there.
    expect(violationOf(() => checker.readServed(2, "r1", 2, { appliedIndex: 2, digest: 99 }))).toBe("linearizable-read");
  });

  test("durability: applying beyond what the disk recovers, at apply or at a crash, is reported", () => {
    const checker = new SafetyChecker();
    expect(violationOf(() => checker.appliedWithinDurable(1, 5, 5, "apply"))).toBeNull();
    expect(violationOf(() => checker.appliedWithinDurable(1, 6, 5, "apply"))).toBe("durability");
    expect(violationOf(() => checker.appliedWithinDurable(1, 6, 4, "crash"))).toBe("durability");
  });

  test("durability: acknowledging entries the disk does not hold yet is reported", () => {
    const checker = new SafetyChecker();
    expect(violationOf(() => checker.appendAcknowledged(1, 7, 7))).toBeNull();
    expect(violationOf(() => checker.appendAcknowledged(1, 8, 7))).toBe("durability");
  });

  test("entry integrity: an entry no client proposed is reported", () => {
    const checker = new SafetyChecker();
    expect(violationOf(() => checker.entryProposed(1, entry(1, 1), true))).toBeNull();
    expect(violationOf(() => checker.entryProposed(1, entry(1, 1), false))).toBe("entry-integrity");
  });

  test("violations are safety violations", () => {
    const checker = new SafetyChecker();
    checker.leaderElected(1, 1);
    try {
      checker.leaderElected(2, 1);
      throw new Error("Expected a violation");
    } catch (error) {
      expect(error).toBeInstanceOf(SimViolation);
      expect((error as SimViolation).kind).toBe("safety");
    }
  });
});
