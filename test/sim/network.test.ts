// The simulated network: delays inside their bounds, loss and duplication at their rates, cut
// links (both ways and one way) blocking delivery, healing, and a seed replaying exactly.
import { describe, expect, test } from "bun:test";
import { Prng } from "../../src/util/prng.ts";
import { SimNetwork, reorderDelayTicksMax, type NetworkFaults } from "../../src/sim/network.ts";

interface TestPacket {
  from: number;
  to: number;
  sequence: number;
}

const quiet: NetworkFaults = { lossProbability: 0, duplicateProbability: 0, reorderProbability: 0, delayTicksMin: 1, delayTicksMax: 1 };

/** Sends `count` packets 1 -> 2 at tick 0 and collects (tick, sequence) of every delivery. */
function runTraffic(seed: number, faults: NetworkFaults, count: number): { tick: number; sequence: number }[] {
  const network = new SimNetwork<TestPacket>(new Prng(seed), faults);
  for (let sequence = 0; sequence < count; sequence++) network.send({ from: 1, to: 2, sequence }, 0);
  const deliveries: { tick: number; sequence: number }[] = [];
  const lastTick = faults.delayTicksMax + reorderDelayTicksMax + 1;
  for (let tick = 1; tick <= lastTick; tick++) {
    for (const packet of network.deliverDue(tick).delivered) deliveries.push({ tick, sequence: packet.sequence });
  }
  expect(network.inFlightCount).toBe(0);
  return deliveries;
}

describe("SimNetwork", () => {
  test("every packet arrives within [delayTicksMin, delayTicksMax] when no reorder is configured", () => {
    const deliveries = runTraffic(7, { ...quiet, delayTicksMin: 2, delayTicksMax: 5 }, 500);
    expect(deliveries.length).toBe(500);
    const ticks = new Set(deliveries.map((d) => d.tick));
    expect(Math.min(...ticks)).toBe(2);
    expect(Math.max(...ticks)).toBe(5);
  });

  test("the same seed replays the same deliveries; another seed differs", () => {
    const faults: NetworkFaults = { lossProbability: 0.1, duplicateProbability: 0.1, reorderProbability: 0.2, delayTicksMin: 1, delayTicksMax: 4 };
    const first = runTraffic(42, faults, 300);
    expect(runTraffic(42, faults, 300)).toEqual(first);
    expect(runTraffic(43, faults, 300)).not.toEqual(first);
  });

  test("packets due at one tick keep their send order, so only delays reorder", () => {
    const deliveries = runTraffic(3, quiet, 50);
    expect(deliveries.map((d) => d.sequence)).toEqual(Array.from({ length: 50 }, (_, i) => i));
  });

  test("random delays and the reorder fault deliver out of send order", () => {
    const deliveries = runTraffic(5, { ...quiet, reorderProbability: 0.5, delayTicksMax: 3 }, 200);
    const sequences = deliveries.map((d) => d.sequence);
    expect(sequences).not.toEqual([...sequences].sort((a, b) => a - b));
    expect(Math.max(...deliveries.map((d) => d.tick))).toBeGreaterThan(3);
  });

  test("loss drops about its rate of packets, duplication repeats about its rate", () => {
    const lost = 2000 - runTraffic(11, { ...quiet, lossProbability: 0.25 }, 2000).length;
    expect(lost).toBeGreaterThan(400);
    expect(lost).toBeLessThan(600);
    const duplicated = runTraffic(12, { ...quiet, duplicateProbability: 0.1 }, 2000).length - 2000;
    expect(duplicated).toBeGreaterThan(130);
    expect(duplicated).toBeLessThan(270);
  });

  test("a one-way cut blocks only its direction, and heal restores it", () => {
    const network = new SimNetwork<TestPacket>(new Prng(1), quiet);
    network.cutLink(1, 2);
    network.send({ from: 1, to: 2, sequence: 0 }, 0);
    network.send({ from: 2, to: 1, sequence: 1 }, 0);
    const batch = network.deliverDue(1);
    expect(batch.blocked.map((p) => p.sequence)).toEqual([0]);
    expect(batch.delivered.map((p) => p.sequence)).toEqual([1]);
    network.heal();
    network.send({ from: 1, to: 2, sequence: 2 }, 1);
    expect(network.deliverDue(2).delivered.map((p) => p.sequence)).toEqual([2]);
  });

  test("a partition cuts links between groups both ways and keeps links inside a group", () => {
    const network = new SimNetwork<TestPacket>(new Prng(1), quiet);
    network.partition([[1, 2], [3]]);
    expect(network.linkOpen(1, 2)).toBe(true);
    expect(network.linkOpen(2, 1)).toBe(true);
    for (const [from, to] of [[1, 3], [3, 1], [2, 3], [3, 2]] as const) expect(network.linkOpen(from, to)).toBe(false);
  });

  test("a packet in flight when its link is cut is lost at delivery", () => {
    const network = new SimNetwork<TestPacket>(new Prng(1), { ...quiet, delayTicksMax: 3, delayTicksMin: 3 });
    network.send({ from: 1, to: 2, sequence: 0 }, 0);
    network.isolate(2, [1, 2, 3]);
    expect(network.deliverDue(3).blocked.length).toBe(1);
  });

  test("bad fault settings are refused", () => {
    expect(() => new SimNetwork<TestPacket>(new Prng(1), { ...quiet, lossProbability: 1.5 })).toThrow();
    expect(() => new SimNetwork<TestPacket>(new Prng(1), { ...quiet, delayTicksMin: 0 })).toThrow();
    expect(() => new SimNetwork<TestPacket>(new Prng(1), { ...quiet, delayTicksMin: 3, delayTicksMax: 2 })).toThrow();
  });
});
