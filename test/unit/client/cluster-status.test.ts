// One STATUS round over the stores (what `ukv status` prints): one request per store however many
// shards it hosts, a report per replica read from the store's answer, and the reason a replica has
// no status (its store unreachable, or holding no replica of that shard). parseStoreStatus reads a
// store's answer as each hosted group's status.
import { afterEach, describe, expect, test } from "bun:test";
import { collectMemberReports, shardsWithoutLeader } from "../../../src/client/cluster-status.ts";
import { parseStoreStatus } from "../../../src/client/leader-cache.ts";
import { FakeCluster } from "./fake-cluster.ts";

let cluster: FakeCluster | null = null;

afterEach(async () => {
  await cluster?.stop();
  cluster = null;
});

function groupStatus(groupId: number, nodeId: number, role: string): Record<string, unknown> {
  return { nodeId, groupId, role, term: 3, leader: 1, commitIndex: 9, appliedIndex: 8, lastIndex: 9, snapshotIndex: 0, keyCount: 4 };
}

describe("parseStoreStatus", () => {
  test("reads each hosted group's status by group id, the metadata group (0) included", () => {
    const statuses = parseStoreStatus(JSON.stringify({ role: "store", storeId: 1, groups: [groupStatus(0, 1, "leader"), groupStatus(7, 1, "follower")] }));
    expect([...statuses.keys()]).toEqual([0, 7]);
    expect(statuses.get(7)).toEqual({ nodeId: 1, role: "follower", term: 3, leader: 1, commitIndex: 9, appliedIndex: 8, lastIndex: 9, snapshotIndex: 0, keyCount: 4 });
  });

  test("skips malformed groups, and reads anything but a store's answer as no groups", () => {
    const { role: _role, ...withoutRole } = groupStatus(2, 1, "leader");
    const statuses = parseStoreStatus(JSON.stringify({ groups: [withoutRole, { ...groupStatus(3, 1, "leader"), groupId: "3" }, groupStatus(4, 1, "leader")] }));
    expect([...statuses.keys()]).toEqual([4]);
    expect(parseStoreStatus(JSON.stringify(groupStatus(1, 1, "leader"))).size).toBe(0);
    expect(parseStoreStatus("not json").size).toBe(0);
    expect(parseStoreStatus("null").size).toBe(0);
  });
});

describe("collectMemberReports", () => {
  test("one STATUS per store; a report per replica, in layout order", async () => {
    cluster = await FakeCluster.start([[1, 2, 3], [2, 3, 1], [3, 1, 2]]);
    const reports = await collectMemberReports(cluster.layout(), { timeoutMs: 1000 });
    expect(reports.map((report) => [report.shardId, report.memberId])).toEqual([
      [1, 1], [1, 2], [1, 3],
      [2, 2], [2, 3], [2, 1],
      [3, 3], [3, 1], [3, 2],
    ]);
    expect(reports.every((report) => report.status !== null && report.error === null)).toBe(true);
    expect(reports.filter((report) => report.status?.role === "leader").map((report) => [report.shardId, report.memberId])).toEqual([[1, 1], [2, 2], [3, 3]]);
    for (const store of cluster.stores) expect(store.received.map((request) => [request.op, request.shard])).toEqual([["STATUS", 0]]);
    expect(shardsWithoutLeader(cluster.layout(), reports)).toEqual([]);
  });

  test("an unreachable store fails each of its replicas with the reason; a store without the replica says so", async () => {
    cluster = await FakeCluster.start([[1, 2, 3], [1, 2, 3]]);
    const layout = cluster.layout();
    await cluster.store(1).stop();
    cluster.store(3).replicas.delete(2);
    const reports = await collectMemberReports(layout, { timeoutMs: 500 });
    const byReplica = new Map(reports.map((report) => [`${report.shardId}/${report.memberId}`, report]));
    for (const shardId of [1, 2]) {
      expect(byReplica.get(`${shardId}/1`)?.status).toBeNull();
      expect(byReplica.get(`${shardId}/1`)?.error).toStartWith("UNREACHABLE: ");
    }
    expect(byReplica.get("2/3")).toMatchObject({ status: null, error: "the store holds no replica of shard 2" });
    expect(byReplica.get("1/3")?.status?.role).toBe("follower");
    // Store 1 led both shards; with it down no reachable replica claims leadership.
    expect(shardsWithoutLeader(layout, reports)).toEqual([1, 2]);
  });
});
