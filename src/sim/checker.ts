// The safety checkers: they watch every member's persisted log, commit index, applied entries,
// leadership and reads over the whole history of a run (crashes included) and throw a
// SimViolation naming the property at the first step that breaks it. Properties (Raft paper §5.4):
// election safety, log matching, leader completeness, state machine safety, committed entries
// never lost, linearizable reads (the index and the value read), and durability (nothing a member
// applied is beyond what its disk recovers). Liveness is judged by the runner.
import type { Entry } from "../raft/types.ts";
import { hashBytes } from "./state-machine.ts";

export type ViolationKind = "safety" | "liveness";

export type Property =
  | "election-safety"
  | "log-matching"
  | "leader-completeness"
  | "state-machine-safety"
  | "committed-never-lost"
  | "commit-beyond-log"
  | "linearizable-read"
  | "durability"
  | "entry-integrity"
  | "range-ownership"
  | "split-consistency"
  | "acknowledged-write"
  | "liveness";

export class SimViolation extends Error {
  override name = "SimViolation";
  readonly kind: ViolationKind;
  readonly property: Property;

  constructor(kind: ViolationKind, property: Property, message: string) {
    super(`${property}: ${message}`);
    this.kind = kind;
    this.property = property;
  }
}

interface LoggedEntry {
  dataHash: number;
  /** Term of the entry before it, or -1 when the logging member no longer knew it. */
  prevTerm: number;
}

interface CommittedEntry {
  term: number;
  dataHash: number;
  member: number;
  /**
   * The lowest current term of a member seen holding this entry as committed: the entry was
   * committed in this term or earlier, so every leader of a later term must hold it.
   */
  commitTermMax: number;
}

interface AppliedEntry {
  term: number;
  dataHash: number;
  digest: number;
  member: number;
}

/** What a read returned: the state machine's image (applied index and digest) when it was served. */
export interface ReadValue {
  appliedIndex: number;
  digest: number;
}

/** Read-only view of a member's log, as the checker needs it. */
export interface LogView {
  termAt(index: number): number | undefined;
  entryAt(index: number): Entry | undefined;
  readonly firstIndex: number;
  readonly lastIndex: number;
}

export class SafetyChecker {
  readonly #leaderByTerm = new Map<number, number>();
  /** index -> term -> entry, for every entry any member ever persisted. */
  readonly #logged = new Map<number, Map<number, LoggedEntry>>();
  readonly #committed = new Map<number, CommittedEntry>();
  readonly #applied = new Map<number, AppliedEntry>();
  /** read context -> the commit index the read must reflect. */
  readonly #reads = new Map<string, number>();
  #commitIndexMax = 0;

  /** The highest commit index any member has persisted so far. */
  get commitIndexMax(): number {
    return this.#commitIndexMax;
  }

  get committedCount(): number {
    return this.#committed.size;
  }

  /** Election safety: at most one leader per term, over the whole history. */
  leaderElected(member: number, term: number): void {
    const known = this.#leaderByTerm.get(term);
    if (known !== undefined && known !== member) {
      throw new SimViolation("safety", "election-safety", `n${member} and n${known} are both leader of term ${term}`);
    }
    this.#leaderByTerm.set(term, member);
  }

  /**
   * Log matching: an (index, term) pair names one entry, and the same predecessor term, so two logs
   * holding it agree on it and, by induction, on everything before it.
   */
  entriesPersisted(member: number, entries: readonly Entry[], log: LogView): void {
    for (const entry of entries) {
      const dataHash = hashBytes(entry.data) ^ entry.type;
      const prevTerm = log.termAt(entry.index - 1) ?? -1;
      let byTerm = this.#logged.get(entry.index);
      if (byTerm === undefined) {
        byTerm = new Map();
        this.#logged.set(entry.index, byTerm);
      }
      const known = byTerm.get(entry.term);
      if (known === undefined) {
        byTerm.set(entry.term, { dataHash, prevTerm });
        continue;
      }
      if (known.dataHash !== dataHash) {
        throw new SimViolation("safety", "log-matching", `n${member} holds a different entry at index ${entry.index} term ${entry.term}`);
      }
      if (known.prevTerm !== -1 && prevTerm !== -1 && known.prevTerm !== prevTerm) {
        throw new SimViolation(
          "safety",
          "log-matching",
          `n${member} has entry ${entry.index}/${entry.term} after term ${prevTerm}, another log after term ${known.prevTerm}`,
        );
      }
    }
  }

  /**
   * A member in term `memberTerm` persisted commit index `toIndex`: every entry up to it is
   * committed, forever.
   */
  commitAdvanced(member: number, memberTerm: number, fromIndex: number, toIndex: number, log: LogView): void {
    if (toIndex > log.lastIndex) {
      throw new SimViolation("safety", "commit-beyond-log", `n${member} commits ${toIndex} but its log ends at ${log.lastIndex}`);
    }
    for (let index = Math.max(fromIndex + 1, log.firstIndex); index <= toIndex; index++) {
      const entry = log.entryAt(index);
      if (entry === undefined) continue;
      const dataHash = hashBytes(entry.data) ^ entry.type;
      const known = this.#committed.get(index);
      if (known === undefined) {
        this.#committed.set(index, { term: entry.term, dataHash, member, commitTermMax: memberTerm });
      } else if (known.term !== entry.term || known.dataHash !== dataHash) {
        throw new SimViolation(
          "safety",
          "committed-never-lost",
          `index ${index} was committed with term ${known.term} (by n${known.member}) but n${member} commits term ${entry.term}`,
        );
      } else if (memberTerm < known.commitTermMax) {
        known.commitTermMax = memberTerm;
      }
    }
    if (toIndex > this.#commitIndexMax) this.#commitIndexMax = toIndex;
  }

  /**
   * Leader completeness (§5.4): the leader of `term` holds every entry committed in an earlier
   * term. Entries known committed only in `term` or later are skipped: a member's election may be
   * observed late (its Ready waited for a slow disk) while a newer leader already committed.
   */
  leaderLogComplete(member: number, term: number, log: LogView): void {
    for (let index = log.firstIndex; index <= this.#commitIndexMax; index++) {
      const committed = this.#committed.get(index);
      if (committed === undefined || committed.commitTermMax >= term) continue;
      const logTerm = log.termAt(index);
      if (logTerm !== committed.term) {
        throw new SimViolation(
          "safety",
          "leader-completeness",
          `n${member}, leader of term ${term}, has ${logTerm === undefined ? "no entry" : `term ${logTerm}`} at committed index ${index} (term ${committed.term})`,
        );
      }
    }
  }

  /** State machine safety: no two members apply different entries at one index. */
  entryApplied(member: number, entry: Entry, digest: number): void {
    const dataHash = hashBytes(entry.data) ^ entry.type;
    const committed = this.#committed.get(entry.index);
    if (committed !== undefined && (committed.term !== entry.term || committed.dataHash !== dataHash)) {
      throw new SimViolation(
        "safety",
        "committed-never-lost",
        `n${member} applies term ${entry.term} at index ${entry.index}, committed with term ${committed.term}`,
      );
    }
    const known = this.#applied.get(entry.index);
    if (known === undefined) {
      this.#applied.set(entry.index, { term: entry.term, dataHash, digest, member });
      return;
    }
    if (known.term !== entry.term || known.dataHash !== dataHash || known.digest !== digest) {
      throw new SimViolation(
        "safety",
        "state-machine-safety",
        `n${member} applies term ${entry.term} at index ${entry.index}, n${known.member} applied term ${known.term} there`,
      );
    }
  }

  /** A snapshot installs state as of index: it must equal what appliers reached at that index. */
  snapshotApplied(member: number, index: number, digest: number): void {
    const known = this.#applied.get(index);
    if (known !== undefined && known.digest !== digest) {
      throw new SimViolation("safety", "state-machine-safety", `n${member} installs a snapshot at ${index} unlike n${known.member}'s state there`);
    }
  }

  /** Entry integrity: a normal entry carries nothing a client did not propose. */
  entryProposed(member: number, entry: Entry, proposed: boolean): void {
    if (!proposed) {
      throw new SimViolation("safety", "entry-integrity", `n${member} applies an entry at ${entry.index} that no client proposed`);
    }
  }

  /** A read issued now must observe every entry committed before it started. */
  readIssued(context: string): void {
    this.#reads.set(context, this.#commitIndexMax);
  }

  /**
   * A read served by `member` at `readIndex` returned `value`. Both must reflect every entry
   * committed before the read was issued, and the value must be the state that appliers reached at
   * its index: checking the index alone would miss a member that answers before it applies.
   */
  readServed(member: number, context: string, readIndex: number, value: ReadValue): void {
    const required = this.#reads.get(context);
    if (required === undefined) {
      throw new SimViolation("safety", "linearizable-read", `n${member} answers read ${context} that nobody issued`);
    }
    if (readIndex < required) {
      throw new SimViolation(
        "safety",
        "linearizable-read",
        `n${member} serves read ${context} at index ${readIndex}, but ${required} was committed before it was issued`,
      );
    }
    if (value.appliedIndex < required) {
      throw new SimViolation(
        "safety",
        "linearizable-read",
        `n${member} answers read ${context} with its state at index ${value.appliedIndex}, but ${required} was committed before it was issued`,
      );
    }
    const applied = this.#applied.get(value.appliedIndex);
    if (applied !== undefined && applied.digest !== value.digest) {
      throw new SimViolation(
        "safety",
        "linearizable-read",
        `n${member} answers read ${context} with a state unlike n${applied.member}'s at index ${value.appliedIndex}`,
      );
    }
  }

  /**
   * Durability of an acknowledgment: a member that tells the leader it holds the log up to
   * `ackIndex` must already hold it on disk, or the leader may count a copy a crash then loses.
   */
  appendAcknowledged(member: number, ackIndex: number, diskLastIndex: number): void {
    if (ackIndex <= diskLastIndex) return;
    throw new SimViolation("safety", "durability", `n${member} acknowledges the log up to index ${ackIndex}, but its disk holds it only up to ${diskLastIndex}`);
  }

  /**
   * Durability: a member applies (and so may expose to clients) only entries its disk would
   * recover after a crash: up to the end of its log on disk or its snapshot. `when` says whether
   * this is checked as the entry is applied or at a crash, against what the disk kept.
   */
  appliedWithinDurable(member: number, appliedIndex: number, durableIndex: number, when: "apply" | "crash"): void {
    if (appliedIndex <= durableIndex) return;
    const detail = when === "apply" ? "its disk would recover only up to" : "after a crash its disk recovers only";
    throw new SimViolation("safety", "durability", `n${member} applied up to index ${appliedIndex}, but ${detail} ${durableIndex}`);
  }
}
