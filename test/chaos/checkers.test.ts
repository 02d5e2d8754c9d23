// The checkers must be able to fail: hand-made histories with a lost write, a non-linearizable
// read, a phantom follower read and a divergent replica are each reported; valid ones pass; the
// explanation of a violation names the op that caused it. Hand-made final topologies with a hole,
// an overlap, a replica that missed a split and a half-made split are reported, and so are keys
// served by two shards or by none.
import { expect, test, describe } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { CompletedOp, OpKind, Outcome } from "../../src/chaos/history.ts";
import { History, readHistory, writeHistory } from "../../src/chaos/history.ts";
import { checkConvergence, checkCrashes, checkHistory, checkKeyOwnership, checkLostWrites, checkPhantomReads, checkTopology, type FinalTopology } from "../../src/chaos/checkers.ts";
import { splitPointInside } from "../../src/chaos/topology-nemesis.ts";
import { hashMax } from "../../src/ring/key-hash.ts";
import { RangeMap, type KeyRange } from "../../src/ring/range-map.ts";
import { explainViolation, formatExplanation } from "../../src/chaos/explain.ts";
import { checkLinearizability, checkRegister, registerOpsOfKey } from "../../src/chaos/linearizability.ts";
import { Prng } from "../../src/util/prng.ts";

let nextId = 0;
function op(kind: OpKind, value: string | null, invokeMs: number, completeMs: number, outcome: Outcome = "ok", key = "k"): CompletedOp {
  return { id: nextId++, client: 0, kind, key, value, invokeMs, completeMs: outcome === "unknown" ? Infinity : completeMs, outcome, node: 0 };
}

describe("linearizability (register per key)", () => {
  test("sequential write then read of that value is linearizable", () => {
    const verdicts = checkLinearizability([op("set", "a", 0, 1), op("get", "a", 2, 3), op("delete", null, 4, 5), op("get", null, 6, 7)]);
    expect(verdicts.map((v) => v.verdict)).toEqual(["ok"]);
  });

  test("a read of an older value after a newer write completed is a violation", () => {
    const verdicts = checkLinearizability([op("set", "a", 0, 1), op("set", "b", 2, 3), op("get", "a", 4, 5)]);
    expect(verdicts[0]!.verdict).toBe("violation");
  });

  test("a read that sees a value and a later read that sees the earlier value is a violation (overlapping write)", () => {
    // The write of b overlaps both reads, but once one read saw b a later read may not see a.
    const verdicts = checkLinearizability([op("set", "a", 0, 1), op("set", "b", 2, 20), op("get", "b", 3, 4), op("get", "a", 5, 6)]);
    expect(verdicts[0]!.verdict).toBe("violation");
  });

  test("concurrent reads may see either side of an overlapping write", () => {
    const verdicts = checkLinearizability([op("set", "a", 0, 1), op("set", "b", 2, 20), op("get", "a", 3, 4), op("get", "b", 5, 6), op("get", "b", 21, 22)]);
    expect(verdicts[0]!.verdict).toBe("ok");
  });

  test("an unknown write may take effect late or never", () => {
    const late = checkLinearizability([op("set", "a", 0, 1), op("set", "x", 2, 0, "unknown"), op("get", "a", 10, 11), op("get", "x", 12, 13)]);
    expect(late[0]!.verdict).toBe("ok");
    const never = checkLinearizability([op("set", "a", 0, 1), op("set", "x", 2, 0, "unknown"), op("get", "a", 10, 11)]);
    expect(never[0]!.verdict).toBe("ok");
  });

  test("a failed write must never be read", () => {
    const verdicts = checkLinearizability([op("set", "a", 0, 1), op("set", "x", 2, 3, "fail"), op("get", "x", 4, 5)]);
    expect(verdicts[0]!.verdict).toBe("violation");
  });

  test("unread unknown writes are dropped before the search", () => {
    const ops = [op("set", "a", 0, 1), op("set", "u1", 2, 0, "unknown"), op("set", "u2", 2, 0, "unknown"), op("get", "a", 3, 4)];
    expect(registerOpsOfKey(ops).length).toBe(2);
  });

  test("the step budget ends the search with timeout, never with ok", () => {
    const ops = registerOpsOfKey([op("set", "a", 0, 100), op("set", "b", 0, 100), op("set", "c", 0, 100), op("get", "d", 0, 100)]);
    expect(checkRegister(ops, 3).verdict).toBe("timeout");
  });
});

describe("lost writes", () => {
  test("an acknowledged SET overwritten by nothing but missing at the end is a lost write", () => {
    const ops = [op("set", "a", 0, 1), op("set", "b", 2, 3)];
    expect(checkLostWrites(ops, new Map([["k", "a"]]))[0]?.kind).toBe("lost-write");
    expect(checkLostWrites(ops, new Map([["k", null]]))[0]?.kind).toBe("lost-write");
    expect(checkLostWrites(ops, new Map([["k", "b"]]))).toEqual([]);
  });

  test("a final value from a concurrent or unknown write is not a loss", () => {
    const ops = [op("set", "a", 0, 10), op("set", "b", 2, 3), op("set", "c", 4, 0, "unknown")];
    expect(checkLostWrites(ops, new Map([["k", "a"]]))).toEqual([]);
    expect(checkLostWrites(ops, new Map([["k", "c"]]))).toEqual([]);
  });

  test("a key written but never read back is reported", () => {
    expect(checkLostWrites([op("set", "a", 0, 1)], new Map())[0]?.kind).toBe("lost-write");
  });

  test("the full history check reports both the lost write and the non-linearizable read", () => {
    const ops = [op("set", "a", 0, 1, "ok", "k1"), op("set", "b", 2, 3, "ok", "k1"), op("get", "a", 4, 5, "ok", "k1"), op("set", "z", 0, 1, "ok", "k2")];
    const { anomalies } = checkHistory(ops, new Map([["k1", "b"], ["k2", null]]));
    expect(anomalies.map((a) => `${a.kind}:${a.key}`).sort()).toEqual(["linearizability:k1", "lost-write:k2"]);
  });
});

describe("phantoms, convergence, crashes", () => {
  test("a follower read of a value never written is a phantom; stale values are not", () => {
    const ops = [op("set", "a", 0, 1), op("set", "b", 2, 3), op("followerGet", "a", 4, 5), op("followerGet", "ghost", 4, 5)];
    const anomalies = checkPhantomReads(ops);
    expect(anomalies.length).toBe(1);
    expect(anomalies[0]!.detail).toContain("ghost");
  });

  test("a follower read of a value whose SET started after the read completed is a phantom", () => {
    expect(checkPhantomReads([op("followerGet", "a", 0, 1), op("set", "a", 2, 3)]).length).toBe(1);
  });

  test("replicas of a shard on different stores holding different values diverge", () => {
    type Values = Map<string, string | null>;
    const same = new Map([[1, new Map<number, Values>([[4, new Map([["k", "a"]])], [5, new Map([["k", "a"]])]])]]);
    expect(checkConvergence(same)).toEqual([]);
    const different = new Map([[1, new Map<number, Values>([[4, new Map<string, string | null>([["k", "a"]])], [5, new Map<string, string | null>([["k", null]])]])]]);
    expect(checkConvergence(different)[0]?.kind).toBe("divergence");
  });

  test("an exit the nemesis did not cause is a crash", () => {
    expect(checkCrashes([{ storeId: 4, exitCode: 9, signalCode: null, expected: false, logTail: "" }], [])[0]?.kind).toBe("crash");
    expect(checkCrashes([{ storeId: 4, exitCode: null, signalCode: "SIGKILL", expected: true, logTail: "" }], [])).toEqual([]);
  });
});

test("a history survives the round trip through its JSON-lines file", () => {
  let nowMs = 0;
  const history = new History(() => nowMs++);
  const write = history.invoke({ client: 1, kind: "set", key: "k", value: "v1" });
  const read = history.invoke({ client: 2, kind: "get", key: "k" });
  history.complete(write, "ok");
  history.complete(read, "ok", "v1");
  const lost = history.invoke({ client: 3, kind: "delete", key: "k" });
  history.complete(lost, "unknown");
  history.invoke({ client: 4, kind: "followerGet", key: "k", node: 5 });
  const dir = mkdtempSync(join(tmpdir(), "ukv-history-"));
  try {
    const path = join(dir, "history.jsonl");
    writeHistory(path, history.ops());
    expect(readHistory(path)).toEqual(history.ops());
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

/** A register history of 8 concurrent clients, generated from real linearization points. */
function simulatedHistory(seed: number, opCount: number): CompletedOp[] {
  const prng = new Prng(seed);
  const ops: { op: CompletedOp; pointMs: number }[] = [];
  const clientFreeMs = new Array<number>(8).fill(0);
  for (let index = 0; index < opCount; index++) {
    const client = index % 8;
    const invokeMs = clientFreeMs[client]! + prng.nextFloat() * 2;
    const durationMs = 1 + prng.nextFloat() * 10;
    const roll = prng.nextFloat();
    const kind: OpKind = roll < 0.4 ? "set" : roll < 0.47 ? "delete" : "get";
    const unknown = kind !== "get" && prng.chance(0.05);
    clientFreeMs[client] = invokeMs + durationMs;
    const op = { id: index, client, kind, key: "k", value: kind === "set" ? `v${index}` : null, invokeMs, completeMs: unknown ? Infinity : invokeMs + durationMs, outcome: (unknown ? "unknown" : "ok") as Outcome, node: 0 };
    ops.push({ op, pointMs: invokeMs + prng.nextFloat() * durationMs });
  }
  let state: string | null = null;
  for (const { op } of [...ops].sort((a, b) => a.pointMs - b.pointMs)) {
    if (op.outcome === "unknown" && prng.chance(0.5)) continue; // an unknown write that never happened
    if (op.kind === "set") state = op.value;
    else if (op.kind === "delete") state = null;
    else op.value = state;
  }
  return ops.map(({ op }) => op);
}

test("a simulated concurrent history is linearizable, and one stale read in it is found", () => {
  const ops = simulatedHistory(3, 300);
  expect(checkLinearizability(ops)[0]!.verdict).toBe("ok");
  // Make a late read return the value of the first write: long overwritten by then.
  const firstSet = ops.find((op) => op.kind === "set")!;
  const lateRead = ops.slice(250).find((op) => op.kind === "get" && op.value !== firstSet.value)!;
  lateRead.value = firstSet.value;
  expect(checkLinearizability(ops)[0]!.verdict).toBe("violation");
});

test("the explanation of a violation points at the first op no linearization explains", () => {
  const ops = simulatedHistory(5, 2000);
  expect(explainViolation(ops)).toBeNull();
  // A read in the middle returns the value of the first write, long overwritten by then: it is the culprit.
  const firstSet = ops.find((op) => op.kind === "set")!;
  const staleRead = ops.slice(1200).find((op) => op.kind === "get" && op.value !== firstSet.value)!;
  staleRead.value = firstSet.value;
  const explanation = explainViolation(ops);
  expect(explanation?.culprit.id).toBe(staleRead.id);
  expect(explanation?.window.map((op) => op.id)).toContain(staleRead.id);
  expect(formatExplanation(explanation!)).toContain(`=> op ${staleRead.id} `);
});

test("a double-applied write (read v, read u, read v again) is explained at the second read of v", () => {
  // W sent at 0, seen at 10; X acknowledged at 22 and read at 30; W applied again and read at 40; W acknowledged at 45.
  const write = op("set", "w", 0, 45);
  const ops = [write, op("get", "w", 5, 10), op("set", "x", 20, 22), op("get", "x", 25, 30), op("get", "w", 35, 40)];
  expect(checkLinearizability(ops)[0]!.verdict).toBe("violation");
  expect(explainViolation(ops)?.culprit.id).toBe(ops[4]!.id);
});

describe("final topology and key ownership (split and move nemeses)", () => {
  /** Three shards on stores 1-3, shard 1 split at `at` into shard 4: a healthy final topology. */
  function healthyTopology(at = 1n << 62n): FinalTopology {
    const map = RangeMap.equal([1, 2, 3]).split(1, at, 4);
    const layout = new Map(map.ranges().map((range) => [range.shardId, { start: range.start, end: range.end, version: range.version }]));
    const members = new Map([...layout].map(([shardId, range]) => [shardId, new Map<number, KeyRange | null>([1, 2, 3].map((storeId) => [storeId, { ...range }]))]));
    const hosted = new Map([...layout.keys()].map((shardId) => [shardId, [1, 2, 3]]));
    return { layout, members, hosted };
  }

  test("a split topology whose replicas own their ranges passes", () => {
    expect(checkTopology(healthyTopology())).toEqual([]);
  });

  test("a hole in the ranges is reported (a split's new shard missing from the layout)", () => {
    const topology = healthyTopology();
    (topology.layout as Map<number, KeyRange>).delete(4);
    (topology.members as Map<number, unknown>).delete(4);
    (topology.hosted as Map<number, unknown>).delete(4);
    const anomalies = checkTopology(topology);
    expect(anomalies.map((anomaly) => anomaly.kind)).toEqual(["topology"]);
    expect(anomalies[0]!.detail).toContain("belong to no shard (between shard 1 and shard 2)");
  });

  test("a parent that kept its whole range overlaps its child", () => {
    const topology = healthyTopology();
    const layout = topology.layout as Map<number, KeyRange>;
    layout.set(1, { ...layout.get(1)!, end: layout.get(4)!.end });
    const anomalies = checkTopology(topology);
    expect(anomalies.some((anomaly) => anomaly.kind === "topology" && anomaly.detail.includes("belong to two shards (1 and 4)"))).toBe(true);
  });

  test("ranges that stop short of 2^64 - 1, or start above 0, leave hashes without an owner", () => {
    const short = healthyTopology();
    const layout = short.layout as Map<number, KeyRange>;
    layout.set(3, { ...layout.get(3)!, end: hashMax - 1n });
    expect(checkTopology(short).map((anomaly) => anomaly.detail)).toContainEqual(expect.stringContaining("0xffffffffffffffff belong to no shard (after shard 3)"));
    const late = healthyTopology();
    (late.layout as Map<number, KeyRange>).set(1, { ...late.layout!.get(1)!, start: 1n });
    expect(checkTopology(late).map((anomaly) => anomaly.detail)).toContainEqual(expect.stringContaining("0x0000000000000000..0x0000000000000000 belong to no shard (between the start of the hash space and shard 1)"));
  });

  test("a replica that missed the split (still the old range and version) is reported", () => {
    const topology = healthyTopology();
    const before = RangeMap.equal([1, 2, 3]).rangeOf(1)!;
    (topology.members.get(1) as Map<number, KeyRange | null>).set(2, { start: before.start, end: before.end, version: before.version });
    const anomalies = checkTopology(topology);
    expect(anomalies).toHaveLength(1);
    expect(anomalies[0]!.detail).toContain("The replica of shard 1 on store 2 owns [0x0000000000000000, 0x5555555555555554] v1, the metadata says [0x0000000000000000, 0x3fffffffffffffff] v2");
  });

  test("a half-made split (a store hosts a shard the metadata does not list) and a listed shard without members are reported", () => {
    const orphan = healthyTopology();
    (orphan.hosted as Map<number, number[]>).set(9, [2]);
    expect(checkTopology(orphan).map((anomaly) => anomaly.detail)).toEqual(["Stores 2 host a replica of shard 9, which the metadata does not list: a split neither completed nor abandoned"]);
    const memberless = healthyTopology();
    (memberless.members as Map<number, unknown>).delete(4);
    expect(checkTopology(memberless).map((anomaly) => anomaly.detail)).toContainEqual(expect.stringContaining("Shard 4 ("));
    expect(checkTopology({ layout: null, members: new Map(), hosted: new Map() })[0]!.kind).toBe("topology");
  });

  test("a key served by two shards, or by none, is reported; by its owner alone it passes", () => {
    expect(checkKeyOwnership([{ key: "a", owner: 4, askedShards: [1, 4, 2], answeredBy: [4] }])).toEqual([]);
    const twice = checkKeyOwnership([{ key: "a", owner: 4, askedShards: [1, 4, 2], answeredBy: [1, 4] }]);
    expect(twice.map((anomaly) => [anomaly.kind, anomaly.key, anomaly.detail])).toEqual([["key-ownership", "a", "Key a (owned by shard 4) is also served by shard 1"]]);
    const none = checkKeyOwnership([{ key: "b", owner: 4, askedShards: [1, 4, 2], answeredBy: [], ownerRefusal: "STALE_EPOCH from store 3: moved" }]);
    expect(none).toHaveLength(1);
    expect(none[0]!.detail).toContain("not served by shard 4, which owns it (it answered STALE_EPOCH from store 3: moved)");
    const elsewhere = checkKeyOwnership([{ key: "c", owner: 4, askedShards: [1, 4, 2], answeredBy: [1] }]);
    expect(elsewhere).toHaveLength(2);
    const many = checkKeyOwnership(Array.from({ length: 50 }, (_, index) => ({ key: `k${index}`, owner: 1, askedShards: [1, 2], answeredBy: [2] })));
    expect(many).toHaveLength(2 * 20 + 1);
    expect(many.at(-1)!.detail).toBe("30 more keys not served by exactly their owner");
  });

  test("the split nemesis's --at lies inside the shard's range", () => {
    const prng = new Prng(5);
    const range = { start: 100n, end: 103n, version: 1 };
    const seen = new Set<bigint>();
    for (let index = 0; index < 200; index++) seen.add(splitPointInside(range, prng)!);
    expect([...seen].sort()).toEqual([101n, 102n, 103n]);
    expect(splitPointInside({ start: 7n, end: 7n, version: 1 }, prng)).toBeNull();
    const whole = { start: 0n, end: hashMax, version: 1 };
    for (let index = 0; index < 100; index++) {
      const at = splitPointInside(whole, prng)!;
      expect(at > 0n && at <= hashMax).toBe(true);
    }
  });
});
