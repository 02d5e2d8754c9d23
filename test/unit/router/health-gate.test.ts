import { expect, test } from "bun:test";
import { HealthGate } from "../../../src/router/health-gate.ts";
import type { ShardHealth, ShardState } from "../../../src/router/shard-health.ts";

function verdict(state: ShardState, probedMs: number | null): ShardHealth {
  return { shardId: 1, state, detail: null, memberCount: 3, reachableCount: state === "unavailable" ? 0 : 3, leaderId: 0, term: 1, leaderSeenMs: 0, probedMs, members: [] };
}

function gate(world: { health: ShardHealth; knowsLeader: boolean | null; nowMs: number }): HealthGate {
  return new HealthGate({
    health: () => world.health,
    ...(world.knowsLeader === null ? {} : { knowsLeader: () => world.knowsLeader === true }),
    nowMs: () => world.nowMs,
  });
}

test("a shard the last probe found without quorum is refused; one found available or not yet probed is not", () => {
  const world = { health: verdict("unavailable", 100), knowsLeader: null as boolean | null, nowMs: 150 };
  const refusing = gate(world);
  expect(refusing.refuses(1)).toBe(true);
  world.health = verdict("available", 200);
  expect(refusing.refuses(1)).toBe(false);
  world.health = verdict("unknown", null);
  expect(refusing.refuses(1)).toBe(false);
});

test("the local replica knowing a leader overrides the verdict while it knows one", () => {
  const world = { health: verdict("unavailable", 100), knowsLeader: true as boolean | null, nowMs: 150 };
  expect(gate(world).refuses(1)).toBe(false);
});

test("a verdict older than the last time the local replica knew a leader is stale: not refused after the leader is lost", () => {
  // The store's first round ran before its peers listened (t=100); its replica then knew a leader
  // (t=300); the leader's store is killed (t=400), before the next round: the verdict is stale.
  const world = { health: verdict("unavailable", 100), knowsLeader: true as boolean | null, nowMs: 300 };
  const storeGate = gate(world);
  expect(storeGate.refuses(1)).toBe(false);
  world.knowsLeader = false;
  world.nowMs = 400;
  expect(storeGate.refuses(1)).toBe(false);
  // A round after the evidence that finds no quorum decides.
  world.health = verdict("unavailable", 450);
  expect(storeGate.refuses(1)).toBe(true);
});

test("without ever knowing a leader locally, an unavailable verdict refuses", () => {
  const world = { health: verdict("unavailable", 100), knowsLeader: false as boolean | null, nowMs: 300 };
  expect(gate(world).refuses(1)).toBe(true);
});
