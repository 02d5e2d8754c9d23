// The simulated network: packets in flight between members, each with its own delay in ticks, and
// the faults a real network shows: loss, duplication, reordering (from random delays plus an
// occasional extra delay), partitions, including one-way (asymmetric) cuts, and healing.
// Packets are bucketed by the tick they arrive at; inside a bucket they keep their send order, so
// delivery order depends on the seed only. A cut link is checked at delivery time: a packet in
// flight when a partition starts is lost, as on a TCP connection that breaks.
import { assert } from "../util/assert.ts";
import type { Prng } from "../util/prng.ts";

/** Packets in flight at once; beyond this the network drops, like a full socket buffer. */
export const networkPacketsInFlightMax = 20_000;
/** Extra delay added to a packet picked for reordering. */
export const reorderDelayTicksMax = 10;

export interface NetworkFaults {
  /** Probability that a sent packet is lost. */
  lossProbability: number;
  /** Probability that a sent packet is delivered twice (each copy with its own delay). */
  duplicateProbability: number;
  /** Probability that a packet gets an extra delay of up to reorderDelayTicksMax. */
  reorderProbability: number;
  delayTicksMin: number;
  delayTicksMax: number;
}

export interface Addressed {
  from: number;
  to: number;
}

export type SendOutcome = "queued" | "lost" | "overflow";

export interface DeliveryBatch<P extends Addressed> {
  /** Packets whose link is open at delivery time, in deterministic order. */
  delivered: P[];
  /** Packets that reached a cut link. */
  blocked: P[];
}

export function checkNetworkFaults(faults: NetworkFaults): void {
  for (const p of [faults.lossProbability, faults.duplicateProbability, faults.reorderProbability]) {
    assert(p >= 0 && p <= 1, "a fault probability lies in [0, 1]");
  }
  assert(Number.isInteger(faults.delayTicksMin) && faults.delayTicksMin >= 1, "a packet takes at least one tick");
  assert(faults.delayTicksMax >= faults.delayTicksMin, "delayTicksMax >= delayTicksMin");
}

export class SimNetwork<P extends Addressed> {
  readonly #random: Prng;
  #faults: NetworkFaults;
  /** deliverAtTicks -> packets, in send order. */
  readonly #buckets = new Map<number, P[]>();
  /** Cut directed links, keyed from * linkKeyBase + to. */
  readonly #cutLinks = new Set<number>();
  #inFlightCount = 0;

  constructor(random: Prng, faults: NetworkFaults) {
    checkNetworkFaults(faults);
    this.#random = random;
    this.#faults = faults;
  }

  get faults(): NetworkFaults {
    return this.#faults;
  }

  setFaults(faults: NetworkFaults): void {
    checkNetworkFaults(faults);
    this.#faults = faults;
  }

  get inFlightCount(): number {
    return this.#inFlightCount;
  }

  /** Queues a packet sent at nowTicks; it may be lost or duplicated by the configured faults. */
  send(packet: P, nowTicks: number): SendOutcome {
    assert(packet.from !== packet.to, "a member never sends to itself over the network");
    if (this.#random.chance(this.#faults.lossProbability)) return "lost";
    const copies = this.#random.chance(this.#faults.duplicateProbability) ? 2 : 1;
    for (let copy = 0; copy < copies; copy++) {
      if (this.#inFlightCount >= networkPacketsInFlightMax) return "overflow";
      this.#enqueue(packet, nowTicks + this.#delayTicks());
    }
    return "queued";
  }

  /** Takes the packets due at nowTicks. Must be called once per tick, every tick. */
  deliverDue(nowTicks: number): DeliveryBatch<P> {
    const bucket = this.#buckets.get(nowTicks);
    const batch: DeliveryBatch<P> = { delivered: [], blocked: [] };
    if (bucket === undefined) return batch;
    this.#buckets.delete(nowTicks);
    this.#inFlightCount -= bucket.length;
    assert(this.#inFlightCount >= 0, "in-flight count never goes negative");
    for (const packet of bucket) {
      if (this.linkOpen(packet.from, packet.to)) batch.delivered.push(packet);
      else batch.blocked.push(packet);
    }
    return batch;
  }

  linkOpen(from: number, to: number): boolean {
    return !this.#cutLinks.has(linkKey(from, to));
  }

  /** Cuts the one-way link from -> to (an asymmetric partition when the reverse stays open). */
  cutLink(from: number, to: number): void {
    assert(from !== to, "a link joins two different members");
    this.#cutLinks.add(linkKey(from, to));
  }

  /** Splits members into groups: links between groups are cut both ways, links inside stay as they were. */
  partition(groups: readonly (readonly number[])[]): void {
    for (let a = 0; a < groups.length; a++) {
      for (let b = 0; b < groups.length; b++) {
        if (a === b) continue;
        for (const from of groups[a] ?? []) for (const to of groups[b] ?? []) this.cutLink(from, to);
      }
    }
  }

  /** Cuts every link to and from `id`. */
  isolate(id: number, others: readonly number[]): void {
    for (const other of others) {
      if (other === id) continue;
      this.cutLink(id, other);
      this.cutLink(other, id);
    }
  }

  /** Restores every link. Packets already in flight keep their delays. */
  heal(): void {
    this.#cutLinks.clear();
  }

  get cutLinkCount(): number {
    return this.#cutLinks.size;
  }

  #delayTicks(): number {
    const { delayTicksMin, delayTicksMax } = this.#faults;
    let delayTicks = delayTicksMin + this.#random.nextInt(delayTicksMax - delayTicksMin + 1);
    if (this.#random.chance(this.#faults.reorderProbability)) delayTicks += 1 + this.#random.nextInt(reorderDelayTicksMax);
    return delayTicks;
  }

  #enqueue(packet: P, deliverAtTicks: number): void {
    const bucket = this.#buckets.get(deliverAtTicks);
    if (bucket === undefined) this.#buckets.set(deliverAtTicks, [packet]);
    else bucket.push(packet);
    this.#inFlightCount += 1;
  }
}

/** Member ids are small; this base keeps (from, to) keys unique. */
const linkKeyBase = 1 << 16;

function linkKey(from: number, to: number): number {
  assert(from >= 0 && from < linkKeyBase && to >= 0 && to < linkKeyBase, "member ids fit the link key");
  return from * linkKeyBase + to;
}
