// Single-server membership changes: learners, promotion, removal (incl. the leader),
// one pending change at a time, changes taking effect when applied.
import { expect, test } from "bun:test";
import { ProposalDroppedError } from "../../../src/raft/raw-node.ts";
import { ConfChangeType, Role, type NodeId } from "../../../src/raft/types.ts";
import { Network } from "./network.ts";

const empty = new Uint8Array(0);

function change(type: ConfChangeType, nodeId: NodeId) {
  return { type, nodeId, context: empty };
}

function electLeaderAmong(net: Network, ids: NodeId[], ticksMax: number): NodeId | null {
  for (let i = 0; i < ticksMax; i++) {
    const leaders = net.leaders().filter((id) => ids.includes(id));
    if (leaders.length === 1) return leaders[0] as NodeId;
    net.tickAll();
  }
  return null;
}

test("a learner receives the log but is not counted in the quorum; AddVoter promotes it", () => {
  const net = new Network([1, 2, 3]);
  net.campaign(1);
  // A joining node starts from the current membership (without itself) and learns its own
  // addition by applying the conf change from the log, like every other member.
  net.addNode(4, { voters: [1, 2, 3], learners: [] });
  net.get(1).node.proposeConfChange(change(ConfChangeType.AddLearner, 4));
  net.stabilize();
  net.tick(1, 2);
  net.propose(1, "to-learner");
  expect(net.get(1).conf).toEqual({ voters: [1, 2, 3], learners: [4] });
  expect(net.get(4).conf).toEqual({ voters: [1, 2, 3], learners: [4] });
  expect(net.appliedTexts(4)).toEqual(["to-learner"]);
  expect(net.get(1).node.status().progress.get(4)?.learner).toBe(true);

  // With voters 2 and 3 cut off, the learner's acks alone commit nothing.
  net.cut(1, 2);
  net.cut(1, 3);
  const commitBefore = net.get(1).node.status().commit;
  net.propose(1, "no-quorum");
  expect(net.get(1).node.status().commit).toBe(commitBefore);
  expect(net.get(4).node.status().lastIndex).toBe(net.get(1).node.status().lastIndex);
  net.heal();
  net.tick(1);
  expect(net.get(1).node.status().commit).toBe(net.get(1).node.status().lastIndex);

  // A learner never campaigns, even after many timeouts.
  net.isolate(4);
  net.tick(4, 50);
  expect(net.get(4).node.status().role).toBe(Role.Follower);
  net.heal();

  net.get(1).node.proposeConfChange(change(ConfChangeType.AddVoter, 4));
  net.stabilize();
  net.tick(1);
  expect(net.get(1).conf).toEqual({ voters: [1, 2, 3, 4], learners: [] });
  expect(net.get(4).conf).toEqual({ voters: [1, 2, 3, 4], learners: [] });
  expect(net.get(1).node.status().progress.get(4)?.learner).toBe(false);
});

test("only one conf change may be pending: a second is refused until the first is applied", () => {
  const net = new Network([1, 2, 3]);
  net.campaign(1);
  net.get(1).node.proposeConfChange(change(ConfChangeType.AddLearner, 4));
  expect(() => net.get(1).node.proposeConfChange(change(ConfChangeType.AddLearner, 5))).toThrow(ProposalDroppedError);
  net.stabilize();
  // Applied now: the next change is accepted.
  net.get(1).node.proposeConfChange(change(ConfChangeType.AddLearner, 5));
  net.stabilize();
  expect(net.get(1).conf.learners).toEqual([4, 5]);
});

test("a conf change takes effect when applied, not when appended", () => {
  const net = new Network([1, 2, 3]);
  net.campaign(1);
  net.isolate(1);
  net.get(1).node.proposeConfChange(change(ConfChangeType.RemoveNode, 3));
  net.stabilize();
  // Appended on the leader but not committed: the membership is unchanged.
  expect(net.get(1).node.status().conf.voters).toEqual([1, 2, 3]);
  net.heal();
  net.tick(1);
  expect(net.get(1).node.status().conf.voters).toEqual([1, 2]);
  expect(net.get(2).node.status().conf.voters).toEqual([1, 2]);
});

test("removing the leader: it steps down once the change is applied, never campaigns again, the rest elect a leader", () => {
  const net = new Network([1, 2, 3]);
  net.campaign(1);
  net.get(1).node.proposeConfChange(change(ConfChangeType.RemoveNode, 1));
  net.stabilize();
  expect(net.get(1).node.status().role).toBe(Role.Follower);
  expect(net.get(2).conf.voters).toEqual([2, 3]);
  expect(net.get(3).conf.voters).toEqual([2, 3]);
  const leader = electLeaderAmong(net, [2, 3], 100);
  expect(leader).not.toBeNull();
  net.propose(leader as NodeId, "after-removal");
  expect(net.appliedTexts(2)).toEqual(["after-removal"]);
  // The removed node stays quiet: it never becomes a candidate.
  net.isolate(1);
  net.tick(1, 60);
  expect(net.get(1).node.status().role).toBe(Role.Follower);
});

test("removing a follower shrinks the quorum: two of the remaining two commit", () => {
  const net = new Network([1, 2, 3]);
  net.campaign(1);
  net.get(1).node.proposeConfChange(change(ConfChangeType.RemoveNode, 3));
  net.stabilize();
  net.remove(3);
  net.propose(1, "x");
  expect(net.appliedTexts(2)).toEqual(["x"]);
  expect(net.get(1).node.status().progress.has(3)).toBe(false);
});

test("a node added as voter catches up from the log and can then lead", () => {
  const net = new Network([1, 2, 3]);
  net.campaign(1);
  net.propose(1, "before");
  // A joining node starts from the current membership (without itself) and learns its own
  // addition by applying the conf change from the log, like every other member.
  net.addNode(4, { voters: [1, 2, 3], learners: [] });
  net.get(1).node.proposeConfChange(change(ConfChangeType.AddVoter, 4));
  net.stabilize();
  net.tick(1, 2);
  expect(net.get(4).conf.voters).toEqual([1, 2, 3, 4]);
  expect(net.appliedTexts(4)).toEqual(["before"]);
  net.get(1).node.transferLeader(4);
  net.stabilize();
  expect(net.leaders()).toEqual([4]);
});
