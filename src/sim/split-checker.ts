// The checkers of splits (issue 14), over every group of a run: the ranges the groups own, and the
// client writes to the keys they hold. Properties: range ownership (at every applied state, the
// newest range of each group tiles the hash space: no key owned by two groups or by none, and
// every key a replica holds falls in its range), split consistency (a range version, and a
// child's first state, are the same on every replica), and acknowledged writes (a key read from
// the group owning it shows the last acknowledged write or a later one, never an older value or
// nothing: no acknowledged write is lost across splits). SimViolation names the broken one.
import { formatRange, RangeMap, type KeyRange, type ShardRange } from "../ring/range-map.ts";
import { isUkvError } from "../util/errors.ts";
import { SimViolation } from "./checker.ts";

/** One client write of a key: when it was proposed and, once known, acknowledged (event counts). */
interface KeyWrite {
  value: string;
  proposedAt: number;
  ackedAt: number | null;
}

function sameRange(left: KeyRange, right: KeyRange): boolean {
  return left.start === right.start && left.end === right.end && left.version === right.version;
}

export class SplitChecker {
  /** group -> version -> range, as the first replica that reached it had it. */
  readonly #versions = new Map<number, Map<number, KeyRange>>();
  /** The newest range of each group. */
  readonly #newest = new Map<number, KeyRange>();
  #map: RangeMap;
  /** child -> digest of its first state (its keys at the split's base). */
  readonly #childBases = new Map<number, { digest: number; member: number }>();
  readonly #writes = new Map<string, KeyWrite[]>();
  /** Orders proposals, acknowledgments and reads. */
  #clock = 0;

  constructor(initial: readonly ShardRange[]) {
    for (const range of initial) this.#record(0, range.shardId, range);
    this.#map = this.#tile();
  }

  /** The routing table a client would hold now: every group's newest range. */
  get map(): RangeMap {
    return this.#map;
  }

  /** Range ownership and split consistency: `member` applied the split of `parentId` into `parent` and `child`. */
  splitApplied(member: number, parentId: number, parent: KeyRange, childId: number, child: KeyRange): void {
    if (child.version !== parent.version) {
      throw new SimViolation("safety", "split-consistency", `n${member} split g${parentId} into versions ${parent.version} and ${child.version} (g${childId}): a split gives both one version`);
    }
    const parentNew = this.#record(member, parentId, parent);
    const childNew = this.#record(member, childId, child);
    if (parentNew || childNew) this.#map = this.#tile();
  }

  /** Split consistency: every replica of a child starts from the same keys. */
  childCreated(member: number, childId: number, range: KeyRange, digest: number): void {
    if (this.#record(member, childId, range)) this.#map = this.#tile();
    const known = this.#childBases.get(childId);
    if (known === undefined) {
      this.#childBases.set(childId, { digest, member });
      return;
    }
    if (known.digest !== digest) throw new SimViolation("safety", "split-consistency", `n${member} creates g${childId} from other keys than n${known.member} did`);
  }

  /** Range ownership: every key a replica of `groupId` holds hashes into its range. */
  keysInRange(member: number, groupId: number, range: KeyRange, hashes: Iterable<bigint>): void {
    for (const hash of hashes) {
      if (hash >= range.start && hash <= range.end) continue;
      throw new SimViolation("safety", "range-ownership", `n${member}'s replica of g${groupId} (range ${formatRange(range)}) holds a key of hash ${hash.toString(16)} outside it`);
    }
  }

  writeProposed(key: string, value: string): KeyWrite {
    const write = { value, proposedAt: this.#clock++, ackedAt: null };
    const writes = this.#writes.get(key) ?? [];
    writes.push(write);
    this.#writes.set(key, writes);
    return write;
  }

  writeAcknowledged(write: KeyWrite): void {
    write.ackedAt = this.#clock++;
  }

  /** A read starts now: its answer must reflect every write acknowledged before. */
  readIssued(): number {
    return this.#clock++;
  }

  keys(): string[] {
    return [...this.#writes.keys()];
  }

  /**
   * Acknowledged writes: `value` read from the owner of `key` by a read issued at `issuedAt` (a
   * final read: Infinity) is a write of the key that no write acknowledged before the read
   * superseded, and nothing at all only if no write was acknowledged before the read.
   */
  valueRead(member: number, groupId: number, key: string, value: string | null, issuedAt: number): void {
    const writes = this.#writes.get(key) ?? [];
    const before = writes.filter((write) => write.ackedAt !== null && write.ackedAt < issuedAt);
    const where = `n${member} (g${groupId}) reads ${key}`;
    if (value === null) {
      const lost = before[before.length - 1];
      if (lost !== undefined) throw new SimViolation("safety", "acknowledged-write", `${where} as absent, but ${lost.value} was acknowledged`);
      return;
    }
    const read = writes.find((write) => write.value === value);
    if (read === undefined) throw new SimViolation("safety", "acknowledged-write", `${where} = ${value}, which no client wrote to it`);
    if (read.ackedAt === null) return;
    const newer = before.find((write) => write.proposedAt > (read.ackedAt as number));
    if (newer !== undefined) throw new SimViolation("safety", "acknowledged-write", `${where} = ${value}, but ${newer.value}, proposed after it was acknowledged, was acknowledged too`);
  }

  /** Records a range version of a group; returns whether it was new. */
  #record(member: number, groupId: number, range: KeyRange): boolean {
    let versions = this.#versions.get(groupId);
    if (versions === undefined) {
      versions = new Map();
      this.#versions.set(groupId, versions);
    }
    const known = versions.get(range.version);
    if (known !== undefined) {
      if (!sameRange(known, range)) {
        throw new SimViolation("safety", "split-consistency", `n${member} has g${groupId} at ${formatRange(range)}, another replica had ${formatRange(known)} at that version`);
      }
      return false;
    }
    versions.set(range.version, { ...range });
    const newest = this.#newest.get(groupId);
    if (newest === undefined || range.version > newest.version) this.#newest.set(groupId, { ...range });
    return true;
  }

  /** The newest ranges must tile the hash space (RangeMap's own validation, as routers use it). */
  #tile(): RangeMap {
    try {
      return RangeMap.fromRanges([...this.#newest].map(([shardId, range]) => ({ shardId, ...range })));
    } catch (error) {
      if (!isUkvError(error, "BAD_REQUEST")) throw error;
      throw new SimViolation("safety", "range-ownership", `after a split the groups' newest ranges ${[...this.#newest].map(([id, range]) => `g${id} ${formatRange(range)}`).join(", ")} do not tile the hash space: ${error.message}`);
    }
  }
}

export type { KeyWrite };
