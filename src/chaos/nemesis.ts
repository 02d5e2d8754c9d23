// The nemesis: seeded faults, one at a time, each held for a random time and then healed:
//   kill      - kill -9 of a random member (half the time the leader of a random group, meta
//               included), restarted after the hold;
//   pause     - SIGSTOP / SIGCONT of a random member or leader;
//   partition - through the link proxies: isolate one member (often the leader), an asymmetric
//               cut (a member's messages out are dropped, it still hears the others), or a
//               bridge (two members cannot talk to each other, a third talks to both);
//   torn-wal  - kill -9, a torn record after the end of the newest WAL segment, restart;
//   disk-full - fill the small file system of the one member that has one, then free it;
//   membership - add a replica to a random shard (a joiner from a spare slot, add-replica) or,
//               when it has more than 3 voters, remove a random member and stop it
//               (membership-nemesis.ts); the change is not undone, the hold is a quiet time.
// Every action is appended to the schedule (time, action, targets) that a failing run saves.
import { join } from "node:path";
import type { ChaosCluster } from "./chaos-cluster.ts";
import type { SmallFileSystem } from "./disk-full.ts";
import { changeMembership } from "./membership-nemesis.ts";
import { tearWalTail } from "./torn-wal.ts";
import { Prng } from "../util/prng.ts";
import { assert } from "../util/assert.ts";

export const nemesisKinds = ["kill", "pause", "partition", "torn-wal", "disk-full", "membership"] as const;
export type NemesisKind = (typeof nemesisKinds)[number];

export interface ScheduleEvent {
  atMs: number;
  kind: NemesisKind | "heal";
  action: string;
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
  /** The member with a small file system (disk-full), if any. */
  smallFileSystem: { nodeId: number; fileSystem: SmallFileSystem } | null;
  /** The ukv binary, for `ukv admin` (the membership nemesis). */
  binaryPath?: string;
  clock(): number;
}

export class Nemesis {
  readonly schedule: ScheduleEvent[] = [];
  faultCount = 0;
  readonly #cluster: ChaosCluster;
  readonly #options: NemesisOptions;
  readonly #prng: Prng;
  #stopped = false;

  constructor(cluster: ChaosCluster, options: NemesisOptions) {
    assert(options.kinds.length > 0, "a nemesis has at least one kind of fault");
    assert(options.quietMsMin <= options.quietMsMax && options.holdMsMin <= options.holdMsMax, "ranges are ordered");
    this.#cluster = cluster;
    this.#options = options;
    this.#prng = new Prng(options.seed);
  }

  /** Injects faults until `deadlineMs` (on the options clock) or stop(); heals the last one. */
  async run(deadlineMs: number): Promise<void> {
    while (!this.#stopped && this.#options.clock() < deadlineMs) {
      await Bun.sleep(this.#between(this.#options.quietMsMin, this.#options.quietMsMax));
      if (this.#stopped || this.#options.clock() >= deadlineMs) break;
      const kind = this.#options.kinds[this.#prng.nextInt(this.#options.kinds.length)]!;
      const heal = await this.#inject(kind);
      this.faultCount++;
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

  #record(kind: ScheduleEvent["kind"], action: string, targets: number[]): void {
    this.schedule.push({ atMs: Math.round(this.#options.clock()), kind, action, targets });
  }

  #pick<T>(items: readonly T[]): T {
    assert(items.length > 0, "pick from a non-empty list");
    return items[this.#prng.nextInt(items.length)]!;
  }

  /** Half the time the leader of a random group (when one is known), else any member of it. */
  async #pickVictim(options: { dataOnly?: boolean } = {}): Promise<number> {
    const groups = this.#cluster.groups.filter((group) => !(options.dataOnly ?? false) || group.groupId !== 0);
    const group = this.#pick(groups);
    const running = group.members.map((member) => member.id).filter((id) => this.#cluster.isRunning(id));
    if (this.#prng.chance(0.5)) {
      const leader = await this.#leaderOf(running);
      if (leader !== null) return leader;
    }
    return this.#pick(running.length > 0 ? running : group.members.map((member) => member.id));
  }

  async #leaderOf(ids: readonly number[]): Promise<number | null> {
    for (const id of ids) {
      const status = await this.#cluster.groupStatus(id);
      if (status === null) continue;
      if (status.role === "leader") return id;
      if (typeof status.leader === "number" && status.leader !== 0 && ids.includes(status.leader)) return status.leader;
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
    }
  }

  async #kill(): Promise<() => Promise<void>> {
    const victim = await this.#pickVictim();
    this.#record("kill", "kill -9", [victim]);
    await this.#cluster.kill(victim);
    return async () => {
      this.#record("heal", "restart", [victim]);
      if (!this.#cluster.isRunning(victim)) this.#cluster.start(victim);
    };
  }

  async #pause(): Promise<() => Promise<void>> {
    const victim = await this.#pickVictim();
    this.#record("pause", "SIGSTOP", [victim]);
    this.#cluster.pause(victim);
    return async () => {
      this.#record("heal", "SIGCONT", [victim]);
      this.#cluster.resume(victim);
    };
  }

  async #partition(): Promise<() => Promise<void>> {
    const group = this.#pick(this.#cluster.groups);
    const ids = group.members.map((member) => member.id);
    const shape = this.#pick(["isolate", "isolate-leader", "asymmetric", "bridge"] as const);
    let victim = this.#pick(ids);
    if (shape === "isolate-leader") victim = (await this.#leaderOf(ids.filter((id) => this.#cluster.isRunning(id)))) ?? victim;
    const others = ids.filter((id) => id !== victim);
    const blocked: [number, number][] = [];
    if (shape === "isolate" || shape === "isolate-leader") {
      for (const other of others) blocked.push([victim, other], [other, victim]);
    } else if (shape === "asymmetric") {
      for (const other of others) blocked.push([victim, other]);
    } else {
      // bridge: the victim is the bridge; every pair of the others is cut from each other.
      for (const a of others) for (const b of others) if (a !== b) blocked.push([a, b]);
    }
    this.#record("partition", `${shape} (group ${group.groupId}): cut ${blocked.map(([a, b]) => `${a}->${b}`).join(" ")}`, [victim]);
    for (const [from, to] of blocked) this.#cluster.proxy(from, to).block();
    return async () => {
      this.#record("heal", "heal links", [victim]);
      for (const [from, to] of blocked) this.#cluster.proxy(from, to).heal();
    };
  }

  async #tornWal(): Promise<() => Promise<void>> {
    const victim = await this.#pickVictim();
    await this.#cluster.kill(victim);
    const torn = tearWalTail(join(this.#cluster.dataDirOf(victim), "wal"), this.#prng.nextUint32());
    const what = torn === null ? "no segment with room to tear" : `${torn.shape}: ${torn.tornBytes} bytes at offset ${torn.logEndOffset} of ${torn.segmentPath}`;
    this.#record("torn-wal", `kill -9, torn tail: ${what}`, [victim]);
    return async () => {
      this.#record("heal", "restart", [victim]);
      if (!this.#cluster.isRunning(victim)) this.#cluster.start(victim);
    };
  }

  async #diskFull(): Promise<() => Promise<void>> {
    const target = this.#options.smallFileSystem;
    if (target === null) {
      this.#record("disk-full", "skipped: no small file system", []);
      return async () => undefined;
    }
    const filledBytes = target.fileSystem.fill();
    this.#record("disk-full", `filled ${filledBytes} bytes of ballast`, [target.nodeId]);
    return async () => {
      this.#record("heal", "freed the ballast", [target.nodeId]);
      target.fileSystem.release();
    };
  }

  async #membership(): Promise<() => Promise<void>> {
    const binaryPath = this.#options.binaryPath;
    assert(binaryPath !== undefined, "the membership nemesis needs the binary for ukv admin");
    await changeMembership({ cluster: this.#cluster, binaryPath, prng: this.#prng, record: (action, targets) => this.#record("membership", action, targets) });
    return async () => undefined;
  }

  /** Ends every fault: SIGCONT, heal links, free the ballast, restart dead members. */
  healAll(): void {
    this.#cluster.healAllLinks();
    this.#options.smallFileSystem?.fileSystem.release();
    for (const id of this.#cluster.allMemberIds) {
      this.#cluster.resume(id);
      if (!this.#cluster.isRunning(id)) this.#cluster.start(id);
    }
    this.#record("heal", "heal all", []);
  }
}
