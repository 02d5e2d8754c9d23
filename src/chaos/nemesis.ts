// The nemesis: seeded faults, one at a time, each held for a random time and then healed. A fault
// hits a whole STORE (one `ukv node` process) and so every replica it hosts:
//   kill      - kill -9 of a random store (half the time the leader store of a random group,
//               metadata group included), restarted after the hold;
//   pause     - SIGSTOP / SIGCONT of a random store or leader store;
//   partition - through the store-to-store link proxies: isolate one store (or the leader store
//               of a random group), an asymmetric cut (a store's messages out are dropped, it still
//               hears the others), a bridge (the other stores split in two sides that cannot talk
//               to each other, the bridge store talks to both), or a split (a minority of two or
//               more stores cut from the rest, when there are four stores or more);
//   torn-wal  - kill -9, a torn record after the end of the store log's newest segment, restart;
//   disk-full - fill the small file system of the one store that has one, then free it;
//   membership - move a replica: add one of a random shard on a store that lacks one (ukv admin
//               add-replica) or, when the shard has more than 3 voters, remove a random one
//               (remove-replica; its store deletes it) (membership-nemesis.ts); the change is not
//               undone, the hold after it is a quiet time.
//   split     - split a random shard (ukv admin split, at its median or at a random --at inside its
//               range); the harness follows the new shard (topology-nemesis.ts);
//   move      - move a random voter of a random shard onto a store without one (ukv admin move); a
//               move that fails under the faults is resumed after the heal.
// The first faults of a run are a seeded permutation of the kinds, so even a short run injects
// each kind once; after that each kind is drawn at random.
// Every action is appended to the schedule (time, action, targets) that a failing run saves.
import type { ChaosCluster, GroupLayout } from "./chaos-cluster.ts";
import type { SmallFileSystem } from "./disk-full.ts";
import { changeMembership } from "./membership-nemesis.ts";
import { moveReplica, splitShard, type PendingMove, type UnsettledSplit } from "./topology-nemesis.ts";
import { tearWalTail } from "./torn-wal.ts";
import { Prng } from "../util/prng.ts";
import { assert } from "../util/assert.ts";

export const nemesisKinds = ["kill", "pause", "partition", "torn-wal", "disk-full", "membership", "split", "move"] as const;
export type NemesisKind = (typeof nemesisKinds)[number];

export interface ScheduleEvent {
  atMs: number;
  kind: NemesisKind | "heal";
  action: string;
  /** Store ids. */
  targets: number[];
}

export interface NemesisOptions {
  kinds: readonly NemesisKind[];
  seed: number;
  /** Quiet time between faults: uniform in [quietMsMin, quietMsMax]. */
  quietMsMin: number;
  quietMsMax: number;
  /** How long a fault lasts: uniform in [holdMsMin, holdMsMax]. */
  holdMsMin: number;
  holdMsMax: number;
  /** The store with a small file system (disk-full), if any. */
  smallFileSystem: { storeId: number; fileSystem: SmallFileSystem } | null;
  /** The ukv binary, for `ukv admin` (the membership nemesis). */
  binaryPath?: string;
  clock(): number;
}

const partitionShapes = ["isolate", "isolate-leader", "asymmetric", "bridge", "split"] as const;

export class Nemesis {
  readonly schedule: ScheduleEvent[] = [];
  faultCount = 0;
  /** Faults injected, per kind (a membership change writes two schedule events, counted once here). */
  readonly faultCountByKind = new Map<NemesisKind, number>();
  /** Moves that failed under faults: resumed after the heal (resumeMoves). */
  readonly pendingMoves: PendingMove[] = [];
  /** Splits whose admin command failed: the final topology says whether they completed. */
  readonly unsettledSplits: UnsettledSplit[] = [];
  readonly #cluster: ChaosCluster;
  readonly #options: NemesisOptions;
  readonly #prng: Prng;
  /** Kinds still owed their first turn, in the order they come. */
  readonly #firstTurns: NemesisKind[];
  #stopped = false;

  constructor(cluster: ChaosCluster, options: NemesisOptions) {
    assert(options.kinds.length > 0, "a nemesis has at least one kind of fault");
    assert(options.quietMsMin <= options.quietMsMax && options.holdMsMin <= options.holdMsMax, "ranges are ordered");
    this.#cluster = cluster;
    this.#options = options;
    this.#prng = new Prng(options.seed);
    this.#firstTurns = this.#shuffled([...new Set(options.kinds)]);
  }

  /** Injects faults until `deadlineMs` (on the options clock) or stop(); heals the last one. */
  async run(deadlineMs: number): Promise<void> {
    while (!this.#stopped && this.#options.clock() < deadlineMs) {
      await Bun.sleep(this.#between(this.#options.quietMsMin, this.#options.quietMsMax));
      if (this.#stopped || this.#options.clock() >= deadlineMs) break;
      const kind = this.#firstTurns.shift() ?? this.#pick(this.#options.kinds);
      const heal = await this.#inject(kind);
      this.faultCount++;
      this.faultCountByKind.set(kind, (this.faultCountByKind.get(kind) ?? 0) + 1);
      await Bun.sleep(this.#between(this.#options.holdMsMin, this.#options.holdMsMax));
      await heal();
    }
  }

  stop(): void {
    this.#stopped = true;
  }

  #between(low: number, high: number): number {
    return low + this.#prng.nextInt(high - low + 1);
  }

  /** Fisher-Yates with the nemesis's PRNG. */
  #shuffled<T>(items: T[]): T[] {
    for (let index = items.length - 1; index > 0; index--) {
      const other = this.#prng.nextInt(index + 1);
      [items[index], items[other]] = [items[other]!, items[index]!];
    }
    return items;
  }

  #record(kind: ScheduleEvent["kind"], action: string, targets: number[]): void {
    this.schedule.push({ atMs: Math.round(this.#options.clock()), kind, action, targets });
  }

  #pick<T>(items: readonly T[]): T {
    assert(items.length > 0, "pick from a non-empty list");
    return items[this.#prng.nextInt(items.length)]!;
  }

  /** Half the time the leader store of a random group (when one is known), else any running store. */
  async #pickVictim(): Promise<{ storeId: number; why: string }> {
    if (this.#prng.chance(0.5)) {
      const group = this.#pick(this.#cluster.groups);
      const leader = await this.#leaderOf(group);
      if (leader !== null) return { storeId: leader, why: `leader of ${groupName(group.groupId)}` };
    }
    const running = this.#cluster.storeIds.filter((id) => this.#cluster.isRunning(id));
    return { storeId: this.#pick(running.length > 0 ? running : this.#cluster.storeIds), why: "random store" };
  }

  /** The store leading `group`, as its running replicas say; null when none knows. */
  async #leaderOf(group: GroupLayout): Promise<number | null> {
    const ids = group.replicas.filter((id) => this.#cluster.isServing(id));
    for (const id of ids) {
      const status = await this.#cluster.groupStatus(id, group.groupId);
      if (status === null) continue;
      if (status.role === "leader") return id;
      if (typeof status.leader === "number" && status.leader !== 0 && group.replicas.includes(status.leader)) return status.leader;
    }
    return null;
  }

  async #inject(kind: NemesisKind): Promise<() => Promise<void>> {
    switch (kind) {
      case "kill":
        return this.#kill();
      case "pause":
        return this.#pause();
      case "partition":
        return this.#partition();
      case "torn-wal":
        return this.#tornWal();
      case "disk-full":
        return this.#diskFull();
      case "membership":
        return this.#membership();
      case "split":
        return this.#split();
      case "move":
        return this.#move();
    }
  }

  #restartAfter(storeId: number): () => Promise<void> {
    return async () => {
      this.#record("heal", "restart", [storeId]);
      if (!this.#cluster.isRunning(storeId)) this.#cluster.start(storeId);
    };
  }

  async #kill(): Promise<() => Promise<void>> {
    const victim = await this.#pickVictim();
    this.#record("kill", `kill -9 store ${victim.storeId} (${victim.why})`, [victim.storeId]);
    await this.#cluster.kill(victim.storeId);
    return this.#restartAfter(victim.storeId);
  }

  async #pause(): Promise<() => Promise<void>> {
    const victim = await this.#pickVictim();
    this.#record("pause", `SIGSTOP store ${victim.storeId} (${victim.why})`, [victim.storeId]);
    this.#cluster.pause(victim.storeId);
    return async () => {
      this.#record("heal", "SIGCONT", [victim.storeId]);
      this.#cluster.resume(victim.storeId);
    };
  }

  /** The directed links a partition shape cuts, and the stores it is about. */
  async #partitionLinks(shape: (typeof partitionShapes)[number]): Promise<{ blocked: [number, number][]; targets: number[]; what: string }> {
    const stores = this.#cluster.storeIds;
    let victim = this.#pick(stores);
    let what = `store ${victim}`;
    if (shape === "isolate-leader") {
      const group = this.#pick(this.#cluster.groups);
      const leader = await this.#leaderOf(group);
      if (leader !== null) {
        victim = leader;
        what = `store ${victim}, leader of ${groupName(group.groupId)}`;
      }
    }
    const others = stores.filter((id) => id !== victim);
    const blocked: [number, number][] = [];
    const cutBetween = (sideA: readonly number[], sideB: readonly number[]): void => {
      for (const a of sideA) for (const b of sideB) blocked.push([a, b], [b, a]);
    };
    if (shape === "isolate" || shape === "isolate-leader") {
      cutBetween([victim], others);
      return { blocked, targets: [victim], what };
    }
    if (shape === "asymmetric") {
      for (const other of others) blocked.push([victim, other]);
      return { blocked, targets: [victim], what };
    }
    const shuffled = this.#shuffled([...others]);
    if (shape === "bridge") {
      // The victim is the bridge; the others are split in two sides that cannot talk.
      const sideSize = Math.max(1, Math.floor(shuffled.length / 2));
      cutBetween(shuffled.slice(0, sideSize), shuffled.slice(sideSize));
      return { blocked, targets: [victim], what: `bridge store ${victim} between ${shuffled.slice(0, sideSize).join(",")} and ${shuffled.slice(sideSize).join(",")}` };
    }
    // split: a minority of two or more (one when there are fewer than four stores) cut from the rest.
    const minoritySize = stores.length >= 4 ? 2 + this.#prng.nextInt(Math.floor(stores.length / 2) - 1) : 1;
    const minority = [victim, ...shuffled.slice(0, minoritySize - 1)];
    const majority = stores.filter((id) => !minority.includes(id));
    cutBetween(minority, majority);
    return { blocked, targets: minority, what: `stores ${minority.join(",")} | ${majority.join(",")}` };
  }

  async #partition(): Promise<() => Promise<void>> {
    const shape = this.#pick(partitionShapes);
    const { blocked, targets, what } = await this.#partitionLinks(shape);
    this.#record("partition", `${shape} (${what}): cut ${blocked.map(([a, b]) => `${a}->${b}`).join(" ")}`, targets);
    for (const [from, to] of blocked) this.#cluster.proxy(from, to).block();
    return async () => {
      this.#record("heal", "heal links", targets);
      for (const [from, to] of blocked) this.#cluster.proxy(from, to).heal();
    };
  }

  async #tornWal(): Promise<() => Promise<void>> {
    const victim = await this.#pickVictim();
    await this.#cluster.kill(victim.storeId);
    const torn = tearWalTail(this.#cluster.logDirOf(victim.storeId), this.#prng.nextUint32());
    const what = torn === null ? "no segment with room to tear" : `${torn.shape}: ${torn.tornBytes} bytes at offset ${torn.logEndOffset} of ${torn.segmentPath}`;
    this.#record("torn-wal", `kill -9 store ${victim.storeId} (${victim.why}), torn store-log tail: ${what}`, [victim.storeId]);
    return this.#restartAfter(victim.storeId);
  }

  async #diskFull(): Promise<() => Promise<void>> {
    const target = this.#options.smallFileSystem;
    if (target === null) {
      this.#record("disk-full", "skipped: no small file system", []);
      return async () => undefined;
    }
    const filledBytes = target.fileSystem.fill();
    this.#record("disk-full", `filled ${filledBytes} bytes of ballast on store ${target.storeId}`, [target.storeId]);
    return async () => {
      this.#record("heal", "freed the ballast", [target.storeId]);
      target.fileSystem.release();
    };
  }

  async #membership(): Promise<() => Promise<void>> {
    const binaryPath = this.#options.binaryPath;
    assert(binaryPath !== undefined, "the membership nemesis needs the binary for ukv admin");
    await changeMembership({ cluster: this.#cluster, binaryPath, prng: this.#prng, record: (action, targets) => this.#record("membership", action, targets) });
    return async () => undefined;
  }

  #topologyArgs(kind: "split" | "move"): Parameters<typeof splitShard>[0] {
    const binaryPath = this.#options.binaryPath;
    assert(binaryPath !== undefined, "the split and move nemeses need the binary for ukv admin");
    return { cluster: this.#cluster, binaryPath, prng: this.#prng, record: (action, targets) => this.#record(kind, action, targets) };
  }

  async #split(): Promise<() => Promise<void>> {
    const unsettled = await splitShard(this.#topologyArgs("split"));
    if (unsettled !== null) this.unsettledSplits.push(unsettled);
    return async () => undefined;
  }

  async #move(): Promise<() => Promise<void>> {
    const pending = await moveReplica(this.#topologyArgs("move"));
    if (pending !== null) this.pendingMoves.push(pending);
    return async () => undefined;
  }

  /** Ends every fault: SIGCONT, heal links, free the ballast, restart dead stores. */
  healAll(): void {
    this.#cluster.healAllLinks();
    this.#options.smallFileSystem?.fileSystem.release();
    for (const id of this.#cluster.storeIds) {
      this.#cluster.resume(id);
      if (!this.#cluster.isRunning(id)) this.#cluster.start(id);
    }
    this.#record("heal", "heal all", []);
  }
}

function groupName(groupId: number): string {
  return groupId === 0 ? "the metadata group" : `shard ${groupId}`;
}
