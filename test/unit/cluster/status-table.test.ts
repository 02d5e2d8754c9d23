// The `ukv status` table: one row per replica (a shard on a store), lag = the shard leader's
// commit index - the replica's applied index, "-" without a reachable leader, unreachable replicas
// say why; leaderships are counted per store.
import { describe, expect, test } from "bun:test";
import type { MemberReport } from "../../../src/client/cluster-status.ts";
import { formatStatusTable, leadersPerStore, statusRows } from "../../../src/cluster/status-table.ts";
import { isCompiledBinary } from "../../../src/cluster/self-command.ts";

/** The report of store `memberId`'s replica of `shardId`. */
function report(shardId: number, memberId: number, fields: { role: string; term: number; commitIndex: number; appliedIndex: number } | null): MemberReport {
  return {
    shardId,
    memberId,
    address: `127.0.0.1:${7000 + memberId}`,
    status: fields === null ? null : { nodeId: memberId, leader: 0, lastIndex: fields.commitIndex, snapshotIndex: 0, keyCount: memberId * 10, ...fields },
    error: fields === null ? "UNREACHABLE: connection refused" : null,
  };
}

describe("status table", () => {
  test("lag is the leader's commit minus each member's applied index, per shard", () => {
    const rows = statusRows([
      report(1, 4, { role: "follower", term: 3, commitIndex: 90, appliedIndex: 88 }),
      report(1, 5, { role: "leader", term: 3, commitIndex: 100, appliedIndex: 100 }),
      report(1, 6, null),
      report(2, 7, { role: "follower", term: 2, commitIndex: 5, appliedIndex: 5 }),
    ]);
    expect(rows.map((row) => row[6])).toEqual(["12", "0", "-", "-"]);
    expect(rows[2]).toEqual(["1", "6", "127.0.0.1:7006", "-", "-", "-", "-", "-", "no (UNREACHABLE: connection refused)"]);
  });

  test("a stale leader of a lower term does not set the lag", () => {
    const rows = statusRows([
      report(1, 4, { role: "leader", term: 2, commitIndex: 50, appliedIndex: 50 }),
      report(1, 5, { role: "leader", term: 3, commitIndex: 70, appliedIndex: 70 }),
      report(1, 6, { role: "follower", term: 3, commitIndex: 70, appliedIndex: 60 }),
    ]);
    expect(rows.map((row) => row[6])).toEqual(["20", "0", "10"]);
  });

  test("the metadata group's replicas are labelled meta, rows name their store, and columns line up under the header", () => {
    const text = formatStatusTable([report(0, 1, { role: "leader", term: 1, commitIndex: 3, appliedIndex: 3 }), report(1, 12, { role: "follower", term: 1, commitIndex: 3, appliedIndex: 3 })]);
    const lines = text.trimEnd().split("\n");
    expect(lines[0]).toMatch(/^SHARD\s+STORE\s+ADDRESS\s+ROLE\s+TERM\s+APPLIED\s+LAG\s+KEYS\s+REACHABLE$/);
    expect(lines[2]!.slice(lines[0]!.indexOf("STORE")).startsWith("12 ")).toBe(true);
    expect(lines[1]!.startsWith("meta ")).toBe(true);
    expect(lines[1]!.indexOf("127.0.0.1")).toBe(lines[0]!.indexOf("ADDRESS"));
    expect(lines[2]!.indexOf("follower")).toBe(lines[0]!.indexOf("ROLE"));
  });
});

describe("leaders per store", () => {
  test("counts data-shard leaderships by store; the metadata group and unreachable replicas do not count", () => {
    const leader = { role: "leader", term: 2, commitIndex: 5, appliedIndex: 5 };
    const follower = { role: "follower", term: 2, commitIndex: 5, appliedIndex: 5 };
    const counts = leadersPerStore([
      report(0, 1, leader),
      report(1, 3, leader),
      report(1, 1, follower),
      report(2, 1, leader),
      report(3, 3, leader),
      report(4, 2, null),
    ]);
    expect([...counts]).toEqual([
      [1, 1],
      [3, 2],
    ]);
  });
});

describe("self command", () => {
  test("a compiled binary's entry is in Bun's embedded file system; a source entry is not", () => {
    expect(isCompiledBinary("/$bunfs/root/ukv")).toBe(true);
    expect(isCompiledBinary("/work/main/src/main.ts")).toBe(false);
  });
});
