// The metadata group's apply rules: a store report expands into health, leader and membership
// keys; a leader change is not a change of placement (no epoch bump), a stale one is dropped;
// memberships, the layout and store registrations bump the epoch once per real change; unchanged
// values are no change and clients cannot write the epoch. readTopology merges registered stores
// and reported memberships into the layout.
import { describe, expect, test } from "bun:test";
import { readTopology, shardIdAllocKey, topologyTransform } from "../../../src/meta/topology.ts";
import { equalRanges, RangeMap, rangeToJson } from "../../../src/ring/range-map.ts";
import type { TableOp } from "../../../src/storage/table.ts";
import type { MembershipReport, StoreInfo, StoreReport, TopologyLayout } from "../../../src/transport/topology-wire.ts";

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

function storeInfo(id: number): StoreInfo {
  return { id, raftAddress: `10.0.0.${id}:7100`, clientAddress: `10.0.0.${id}:7101`, respAddress: null };
}

/** Three stores; shard 1 on stores 1-3, shard 2 on stores 1-2 (as the config placed them). */
function layout(): TopologyLayout {
  const stores = [storeInfo(1), storeInfo(2), storeInfo(3)];
  const memberOf = (id: number) => ({ id, raftAddress: stores[id - 1]!.raftAddress, clientAddress: stores[id - 1]!.clientAddress });
  const [first, second] = equalRanges([1, 2]).map(rangeToJson);
  return { stores, shards: [{ id: 1, members: [1, 2, 3].map(memberOf), range: first! }, { id: 2, members: [1, 2].map(memberOf), range: second! }] };
}

function report(storeId: number, fields: Partial<Omit<StoreReport, "storeId">> = {}): StoreReport {
  return {
    storeId,
    health: fields.health ?? { storeId, reportedAtMs: 1000, groups: [] },
    leaders: fields.leaders ?? [],
    memberships: fields.memberships ?? {},
    ...(fields.ranges === undefined ? {} : { ranges: fields.ranges }),
  };
}

function membership(confIndex: number, voters: number[], learners: number[] = []): MembershipReport {
  const addresses: MembershipReport["addresses"] = {};
  for (const id of [...voters, ...learners]) addresses[String(id)] = { raftAddress: `10.0.0.${id}:7100`, clientAddress: `10.0.0.${id}:7101` };
  return { confIndex, voters, learners, addresses };
}

describe("store reports", () => {
  test("a report expands into health, leader and membership keys; the report key itself is never stored", () => {
    const state = new Map<string, Uint8Array>();
    const health = { storeId: 2, reportedAtMs: 5000, groups: [{ shardId: 1, role: "leader", term: 4, leader: 2, commitIndex: 9, appliedIndex: 9, lastIndex: 9, keyCount: 3 }] };
    applyAll(state, [[set("report/2", report(2, { health, leaders: [{ shardId: 1, term: 4 }], memberships: { "1": membership(7, [1, 2, 3]) } }))]]);
    expect([...state.keys()].sort()).toEqual(["epoch", "health/2", "leader/1", "membership/1"]);
    const topology = topologyOf(state);
    expect(topology.health["2"]).toEqual(health);
    expect(topology.leaders["1"]).toEqual({ nodeId: 2, term: 4 });
    expect(topology.memberships["1"]).toEqual(membership(7, [1, 2, 3]));
    expect(topology.epoch).toBe(1); // the membership, not the leader or the health
  });

  test("a malformed report expands to nothing", () => {
    const state = new Map<string, Uint8Array>();
    applyAll(state, [[set("report/3", { storeId: 3, leaders: "all" })], [{ kind: "set", key: encoder.encode("report/4"), value: encoder.encode("not json") }]]);
    expect(state.size).toBe(0);
  });

  test("health reports never bump the epoch, however often they change", () => {
    const state = new Map<string, Uint8Array>();
    for (let second = 1; second <= 5; second++) applyAll(state, [[set("report/1", report(1, { health: { storeId: 1, reportedAtMs: second * 1000, groups: [] } }))]]);
    const topology = topologyOf(state);
    expect(topology.health["1"]?.reportedAtMs).toBe(5000);
    expect(topology.epoch).toBe(0);
  });
});

describe("leaders", () => {
  test("a newer leader replaces the old one without bumping the epoch", () => {
    const state = new Map<string, Uint8Array>();
    applyAll(state, [[set("report/1", report(1, { leaders: [{ shardId: 1, term: 2 }] }))], [set("report/2", report(2, { leaders: [{ shardId: 1, term: 3 }] }))]]);
    const topology = topologyOf(state);
    expect(topology.leaders["1"]).toEqual({ nodeId: 2, term: 3 });
    expect(topology.epoch).toBe(0);
  });

  test("a stale leader report (lower or same term) is dropped", () => {
    const state = new Map<string, Uint8Array>();
    applyAll(state, [
      [set("report/2", report(2, { leaders: [{ shardId: 1, term: 3 }] }))],
      [set("report/1", report(1, { leaders: [{ shardId: 1, term: 2 }] }))],
      [set("report/3", report(3, { leaders: [{ shardId: 1, term: 3 }] }))],
    ]);
    expect(topologyOf(state).leaders["1"]).toEqual({ nodeId: 2, term: 3 });
  });

  test("leaderships of many shards in one report are each recorded, with no epoch change", () => {
    const state = new Map<string, Uint8Array>();
    const leaders = Array.from({ length: 50 }, (_, index) => ({ shardId: index + 1, term: 1 }));
    applyAll(state, [[set("report/1", report(1, { leaders }))]]);
    const topology = topologyOf(state);
    expect(Object.keys(topology.leaders).length).toBe(50);
    expect(topology.epoch).toBe(0);
  });

  test("a malformed plain leader write is dropped", () => {
    const state = new Map<string, Uint8Array>();
    applyAll(state, [[{ kind: "set", key: encoder.encode("leader/1"), value: encoder.encode("not json") }]]);
    expect(state.has("leader/1")).toBe(false);
  });
});

describe("placement: layout, memberships, stores", () => {
  test("an unchanged layout is no change", () => {
    const state = new Map<string, Uint8Array>();
    applyAll(state, [[set("layout", layout())], [set("layout", layout())]]);
    const topology = topologyOf(state);
    expect(topology.epoch).toBe(1);
    expect(topology.layout).toEqual(layout());
  });

  test("a newer membership bumps the epoch and overrides the layout's placement; an older or equal one is dropped", () => {
    const state = new Map<string, Uint8Array>();
    applyAll(state, [[set("layout", layout())], [set("report/1", report(1, { memberships: { "2": membership(10, [1, 2, 3]) } }))]]);
    expect(topologyOf(state).epoch).toBe(2);
    applyAll(state, [[set("report/2", report(2, { memberships: { "2": membership(9, [1, 2]) } }))], [set("report/1", report(1, { memberships: { "2": membership(10, [1, 2, 3]) } }))]]);
    const topology = topologyOf(state);
    expect(topology.epoch).toBe(2);
    expect(topology.layout?.shards.find((shard) => shard.id === 2)?.members.map((member) => member.id)).toEqual([1, 2, 3]);
  });

  test("a reported learner is listed with its store's addresses", () => {
    const state = new Map<string, Uint8Array>();
    applyAll(state, [[set("layout", layout())], [set("report/1", report(1, { memberships: { "2": membership(11, [1, 2], [3]) } }))]]);
    const shard = topologyOf(state).layout?.shards.find((candidate) => candidate.id === 2);
    expect(shard?.members.map((member) => member.id)).toEqual([1, 2]);
    expect(shard?.learners).toEqual([{ id: 3, raftAddress: "10.0.0.3:7100", clientAddress: "10.0.0.3:7101" }]);
  });

  test("a registered store joins the layout's stores in id order and bumps the epoch; re-registering is no change", () => {
    const state = new Map<string, Uint8Array>();
    applyAll(state, [[set("layout", layout())], [set("store/5", storeInfo(5))], [set("store/4", storeInfo(4))], [set("store/5", storeInfo(5))]]);
    const topology = topologyOf(state);
    expect(topology.layout?.stores.map((store) => store.id)).toEqual([1, 2, 3, 4, 5]);
    expect(topology.layout?.stores.at(-1)).toEqual(storeInfo(5));
    expect(topology.epoch).toBe(3);
  });

  test("a store the layout already lists is not listed twice; a malformed registration is dropped", () => {
    const state = new Map<string, Uint8Array>();
    applyAll(state, [[set("layout", layout())], [set("store/2", storeInfo(2))], [set("store/6", { id: 6 })]]);
    const topology = topologyOf(state);
    expect(topology.layout?.stores.map((store) => store.id)).toEqual([1, 2, 3]);
    expect(state.has("store/6")).toBe(false);
  });

  test("a membership naming a registered store takes that store's addresses", () => {
    const state = new Map<string, Uint8Array>();
    const moved = membership(12, [1, 2, 4]);
    moved.addresses["4"] = { raftAddress: "stale:1", clientAddress: "stale:2" };
    applyAll(state, [[set("layout", layout())], [set("store/4", storeInfo(4))], [set("report/1", report(1, { memberships: { "1": moved } }))]]);
    const shard = topologyOf(state).layout?.shards.find((candidate) => candidate.id === 1);
    expect(shard?.members.at(-1)).toEqual({ id: 4, raftAddress: storeInfo(4).raftAddress, clientAddress: storeInfo(4).clientAddress });
  });

  test("clients cannot write the epoch, and several changes in one batch count each", () => {
    const state = new Map<string, Uint8Array>();
    applyAll(state, [[{ kind: "set", key: encoder.encode("epoch"), value: encoder.encode("99") }]]);
    expect(topologyOf(state).epoch).toBe(0);
    applyAll(state, [[set("layout", layout()), set("store/4", storeInfo(4)), set("store/5", storeInfo(5))]]);
    expect(topologyOf(state).epoch).toBe(3);
  });

  test("deleting a placement key is a change; deleting an absent key is not", () => {
    const state = new Map<string, Uint8Array>();
    applyAll(state, [[set("layout", layout()), set("store/4", storeInfo(4))]]);
    applyAll(state, [[{ kind: "delete", key: encoder.encode("store/4") }], [{ kind: "delete", key: encoder.encode("store/9") }]]);
    const topology = topologyOf(state);
    expect(topology.epoch).toBe(3);
    expect(topology.layout?.stores.map((store) => store.id)).toEqual([1, 2, 3]);
  });
});

describe("ranges and split children", () => {
  const split = RangeMap.equal([1, 2]).split(2, (3n << 62n) + 7n, 3);
  const childMembership: MembershipReport = { confIndex: 5, voters: [1, 2], learners: [], addresses: {} };

  test("a report's ranges override the layout's when newer; a child joins with its first range and membership", () => {
    const state = new Map<string, Uint8Array>();
    applyAll(state, [[set("layout", layout())]]);
    const epochBefore = topologyOf(state).epoch;
    const ranges = { "2": rangeToJson(split.rangeOf(2)!), "3": rangeToJson(split.rangeOf(3)!) };
    applyAll(state, [[set("report/1", report(1, { ranges, memberships: { "3": childMembership } }))]]);
    const topology = topologyOf(state);
    expect(topology.epoch).toBeGreaterThan(epochBefore);
    expect(topology.layout!.shards.map((shard) => shard.id)).toEqual([1, 2, 3]);
    expect(topology.layout!.shards.map((shard) => shard.range)).toEqual([1, 2, 3].map((id) => rangeToJson(split.rangeOf(id)!)));
    expect(topology.layout!.shards[2]!.members.map((member) => member.id)).toEqual([1, 2]);
    // An older version (a lagging store's report) is dropped; the same one again is no change.
    const epochAfter = topology.epoch;
    applyAll(state, [[set("report/2", report(2, { ranges: { "2": rangeToJson(equalRanges([1, 2])[1]!) } }))]]);
    applyAll(state, [[set("report/3", report(3, { ranges }))]]);
    expect(topologyOf(state).epoch).toBe(epochAfter);
    expect(topologyOf(state).layout!.shards[1]!.range).toEqual(rangeToJson(split.rangeOf(2)!));
  });

  test("a range without a membership (nobody reported the child's members yet) does not enter the layout", () => {
    const state = new Map<string, Uint8Array>();
    applyAll(state, [[set("layout", layout())], [set("report/1", report(1, { ranges: { "3": rangeToJson(split.rangeOf(3)!) } }))]]);
    expect(topologyOf(state).layout!.shards.map((shard) => shard.id)).toEqual([1, 2]);
  });

  test("shard ids are allocated once per token, above every layout shard, and never reused", () => {
    const state = new Map<string, Uint8Array>();
    applyAll(state, [[set("layout", layout())]]);
    const alloc = (token: string): TableOp => ({ kind: "set", key: encoder.encode(shardIdAllocKey(token)), value: encoder.encode("") });
    applyAll(state, [[alloc("a"), alloc("b")], [alloc("a")], [alloc("c")]]);
    const idOf = (token: string): string => decoder.decode(state.get(shardIdAllocKey(token))!);
    expect([idOf("a"), idOf("b"), idOf("c")]).toEqual(["3", "4", "5"]);
    // Clients cannot move the counter back.
    applyAll(state, [[{ kind: "set", key: encoder.encode("next-shard-id"), value: encoder.encode("1") }], [alloc("d")]]);
    expect(idOf("d")).toBe("6");
  });
});
