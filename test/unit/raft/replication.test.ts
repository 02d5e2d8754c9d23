// Log replication: conflict resolution with fast back-off, the commit rule (§5.4.2),
// snapshots for lagging followers, flow control, and proposal refusal.
import { expect, test } from "bun:test";
import { ProposalDroppedError, SnapshotTemporarilyUnavailableError } from "../../../src/raft/raw-node.ts";
import { MessageType, Role } from "../../../src/raft/types.ts";
import { Network, entriesOfTerm, text } from "./network.ts";

test("a follower's conflicting suffix is replaced by the leader's log, with fast back-off by term", () => {
  // Leader-to-be 1 and node 3: 1..50 of term 1, 51..100 of term 3.
  // Node 2: 1..50 of term 1, then 100 entries of term 2 that must be discarded.
  const net = new Network([1, 2, 3], {
    prepare: (id, storage) => {
      storage.append(entriesOfTerm(1, 50, 1));
      storage.append(id === 2 ? entriesOfTerm(51, 150, 2) : entriesOfTerm(51, 100, 3));
      storage.setHardState({ term: 3, vote: 0, commit: 50 });
    },
  });
  let rejections = 0;
  net.filter = (m) => {
    if (m.type === MessageType.AppendResponse && m.reject && m.from === 2) rejections++;
    return true;
  };
  net.campaign(1);
  expect(net.get(1).node.status().role).toBe(Role.Leader);
  net.propose(1, "after");
  const leaderLast = net.get(1).node.status().lastIndex;
  expect(net.get(2).node.status().lastIndex).toBe(leaderLast);
  expect(net.get(2).storage.term(60)).toBe(3);
  expect(net.get(2).node.status().commit).toBe(leaderLast);
  // Naive back-off would take one round trip per divergent entry (~100); by term it takes a few.
  expect(rejections).toBeGreaterThan(0);
  expect(rejections).toBeLessThanOrEqual(3);
});

test("a leader never commits an entry of a previous term by counting replicas (§5.4.2, Figure 8)", () => {
  const net = new Network([1, 2, 3], {
    configure: (c) => (c.maxSizePerMsgBytes = 0), // one entry per Append
    prepare: (id, storage) => {
      storage.append(entriesOfTerm(1, 1, 1));
      if (id === 1) storage.append(entriesOfTerm(2, 2, 2));
      storage.setHardState({ term: 2, vote: 0, commit: 1 });
    },
  });
  // Deliver everything, but strip the new leader's own-term entry (index 3) from Appends.
  net.filter = (m) => {
    if (m.type === MessageType.Append) m.entries = m.entries.filter((e) => e.term !== 3);
    return true;
  };
  net.campaign(1);
  expect(net.get(1).node.status()).toMatchObject({ role: Role.Leader, term: 3, lastIndex: 3 });
  // Index 2 (term 2) is now on a majority (nodes 1 and 2) but must not be committed.
  expect(net.get(2).storage.lastIndex()).toBe(2);
  expect(net.get(1).node.status().progress.get(2)?.match).toBe(2);
  expect(net.get(1).node.status().commit).toBe(1);
  // Once the term-3 entry reaches a majority, it and everything before it commit.
  net.filter = null;
  net.tick(1);
  expect(net.get(1).node.status().commit).toBe(3);
  expect(net.get(2).node.status().commit).toBe(3);
});

test("a lagging follower behind the compaction point is sent a snapshot and then catches up", () => {
  const net = new Network([1, 2, 3]);
  net.campaign(1);
  net.isolate(3);
  for (let i = 0; i < 10; i++) net.propose(1, `v${i}`);
  const leader = net.get(1);
  const applied = leader.node.status().applied;
  leader.storage.createSnapshot(applied, leader.conf, text("image"));
  leader.storage.compact(applied);
  net.heal();
  let snapshots = 0;
  net.filter = (m) => {
    if (m.type === MessageType.Snapshot) {
      snapshots++;
      expect(m.snapshot?.metadata.index).toBe(applied);
    }
    return true;
  };
  net.tick(1, 2);
  expect(snapshots).toBe(1);
  const follower = net.get(3);
  expect(follower.storage.snapshot().metadata.index).toBe(applied);
  expect(follower.storage.snapshot().data).toEqual(text("image"));
  leader.node.reportSnapshot(3, true);
  net.propose(1, "after-snapshot");
  expect(follower.node.status().lastIndex).toBe(leader.node.status().lastIndex);
  expect(follower.node.status().commit).toBe(leader.node.status().commit);
  expect(net.appliedTexts(3)).toEqual(["after-snapshot"]);
  expect(leader.node.status().progress.get(3)?.state).toBe("replicate");
});

test("a snapshot temporarily unavailable is retried later", () => {
  const net = new Network([1, 2, 3]);
  net.campaign(1);
  net.isolate(3);
  for (let i = 0; i < 3; i++) net.propose(1, `v${i}`);
  const leader = net.get(1);
  const applied = leader.node.status().applied;
  leader.storage.createSnapshot(applied, leader.conf, text("image"));
  leader.storage.compact(applied);
  const original = leader.storage.snapshot.bind(leader.storage);
  let unavailable = true;
  leader.storage.snapshot = () => {
    if (unavailable) throw new SnapshotTemporarilyUnavailableError("busy");
    return original();
  };
  net.heal();
  net.tick(1, 3);
  expect(net.get(3).storage.snapshot().metadata.index).toBe(0);
  unavailable = false;
  net.tick(1, 2);
  expect(net.get(3).storage.snapshot().metadata.index).toBe(applied);
});

test("flow control: an unresponsive follower in replicate mode gets at most maxInflightMsgs Appends", () => {
  const net = new Network([1, 2, 3], { configure: (c) => ((c.maxInflightMsgs = 3), (c.checkQuorum = false)) });
  net.campaign(1);
  net.propose(1, "warm");
  expect(net.get(1).node.status().progress.get(2)?.state).toBe("replicate");
  let appendsTo2 = 0;
  net.filter = (m) => {
    if (m.to !== 2) return true;
    if (m.type === MessageType.Append && m.entries.length > 0) appendsTo2++;
    return false;
  };
  for (let i = 0; i < 20; i++) net.propose(1, `p${i}`);
  expect(appendsTo2).toBe(3);
  // Proposals still commit through node 3.
  expect(net.appliedTexts(1).length).toBe(21);
  // Heartbeat responses resume a paused follower, which then catches up completely.
  net.filter = null;
  net.tick(1, 5);
  expect(net.get(2).node.status().lastIndex).toBe(net.get(1).node.status().lastIndex);
  expect(net.appliedTexts(2).length).toBe(21);
});

test("flow control: the inflight window is also bounded in bytes", () => {
  const payload = "x".repeat(300);
  const net = new Network([1, 2, 3], {
    configure: (c) => ((c.maxInflightMsgs = 100), (c.maxInflightBytes = 1000), (c.maxSizePerMsgBytes = 500)),
  });
  net.campaign(1);
  net.propose(1, "warm");
  let bytesTo2 = 0;
  let appendsTo2 = 0;
  net.filter = (m) => {
    if (m.to !== 2) return true;
    if (m.type === MessageType.Append && m.entries.length > 0) {
      appendsTo2++;
      for (const e of m.entries) bytesTo2 += e.data.byteLength;
    }
    return false;
  };
  for (let i = 0; i < 20; i++) net.propose(1, payload);
  // 324 bytes per entry with overhead: the window fills at the 4th message (>= 1000 bytes).
  expect(appendsTo2).toBe(4);
  expect(bytesTo2).toBe(1200);
});

test("probe mode sends one Append at a time until the follower answers", () => {
  const net = new Network([1, 2, 3]);
  net.campaign(1);
  net.get(1).node.reportUnreachable(2);
  expect(net.get(1).node.status().progress.get(2)?.state).toBe("probe");
  let appendsTo2 = 0;
  net.filter = (m) => {
    if (m.to !== 2) return true;
    if (m.type === MessageType.Append && m.entries.length > 0) appendsTo2++;
    return false;
  };
  for (let i = 0; i < 5; i++) net.propose(1, `p${i}`);
  expect(appendsTo2).toBe(1);
});

test("proposals are refused with ProposalDroppedError on a follower, naming the leader", () => {
  const net = new Network([1, 2, 3]);
  expect(() => net.get(1).node.propose(text("x"))).toThrow(ProposalDroppedError);
  net.campaign(1);
  try {
    net.get(2).node.propose(text("x"));
    throw new Error("expected a drop");
  } catch (error) {
    expect(error).toBeInstanceOf(ProposalDroppedError);
    expect((error as ProposalDroppedError).leader).toBe(1);
  }
});

test("the unsafe test mode commits the leader's entries without a quorum", () => {
  const net = new Network([1, 2, 3], { configure: (c) => (c.testOnlyUnsafeCommit = true) });
  net.campaign(1);
  net.isolate(1);
  net.propose(1, "unsafe");
  expect(net.appliedTexts(1)).toEqual(["unsafe"]);
  expect(net.appliedTexts(2)).toEqual([]);
});

test("entries are applied in the same order on every node", () => {
  const net = new Network([1, 2, 3, 4, 5]);
  net.campaign(1);
  for (let i = 0; i < 30; i++) net.propose(1, `v${i}`);
  const expected = Array.from({ length: 30 }, (_, i) => `v${i}`);
  for (const id of [1, 2, 3, 4, 5]) expect(net.appliedTexts(id)).toEqual(expected);
});
