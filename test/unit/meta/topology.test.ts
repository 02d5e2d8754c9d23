// The metadata group's apply rules: stale leadership is dropped, unchanged values are no change,
// every real change bumps the epoch, health reports do not, and clients cannot write the epoch.
import { expect, test } from "bun:test";
import { readTopology, topologyTransform } from "../../../src/meta/topology.ts";
import type { TableOp } from "../../../src/storage/table.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** A Map standing in for the table: applies what the transform returns. */
function applyAll(state: Map<string, Uint8Array>, batches: TableOp[][]): void {
  for (const batch of batches) {
    const ops = topologyTransform(batch, (key) => state.get(decoder.decode(key)) ?? null);
    for (const op of ops) {
      if (op.kind === "set") state.set(decoder.decode(op.key), op.value);
      else state.delete(decoder.decode(op.key));
    }
  }
}

function set(key: string, value: unknown): TableOp {
  return { kind: "set", key: encoder.encode(key), value: encoder.encode(JSON.stringify(value)) };
}

function topologyOf(state: Map<string, Uint8Array>) {
  return readTopology([...state.entries()].map(([key, value]) => [encoder.encode(key), value] as [Uint8Array, Uint8Array]));
}

test("a newer leader report replaces the old one and bumps the epoch", () => {
  const state = new Map<string, Uint8Array>();
  applyAll(state, [[set("leader/1", { nodeId: 4, term: 2 })], [set("leader/1", { nodeId: 5, term: 3 })]]);
  const topology = topologyOf(state);
  expect(topology.leaders["1"]).toEqual({ nodeId: 5, term: 3 });
  expect(topology.epoch).toBe(2);
});

test("a stale leader report (lower or same term) is dropped without an epoch change", () => {
  const state = new Map<string, Uint8Array>();
  applyAll(state, [[set("leader/1", { nodeId: 5, term: 3 })], [set("leader/1", { nodeId: 4, term: 2 })], [set("leader/1", { nodeId: 6, term: 3 })]]);
  const topology = topologyOf(state);
  expect(topology.leaders["1"]).toEqual({ nodeId: 5, term: 3 });
  expect(topology.epoch).toBe(1);
});

test("an unchanged layout is no change; health reports never bump the epoch", () => {
  const state = new Map<string, Uint8Array>();
  const layout = { shards: [{ id: 1, members: [] }] };
  applyAll(state, [[set("layout", layout)], [set("layout", layout)], [set("health/4", { nodeId: 4, role: "leader" })]]);
  const topology = topologyOf(state);
  expect(topology.epoch).toBe(1);
  expect(topology.health["4"]).toEqual({ nodeId: 4, role: "leader" } as never);
  expect(topology.layout).toEqual(layout);
});

test("clients cannot write the epoch, and several changes in one batch count each", () => {
  const state = new Map<string, Uint8Array>();
  applyAll(state, [[{ kind: "set", key: encoder.encode("epoch"), value: encoder.encode("99") }]]);
  expect(topologyOf(state).epoch).toBe(0);
  applyAll(state, [[set("leader/1", { nodeId: 4, term: 1 }), set("leader/2", { nodeId: 7, term: 1 })]]);
  expect(topologyOf(state).epoch).toBe(2);
});

test("a malformed leader report is dropped", () => {
  const state = new Map<string, Uint8Array>();
  applyAll(state, [[{ kind: "set", key: encoder.encode("leader/1"), value: encoder.encode("not json") }]]);
  expect(state.has("leader/1")).toBe(false);
});
