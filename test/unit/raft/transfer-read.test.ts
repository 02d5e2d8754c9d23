// Leadership transfer (TimeoutNow) and ReadIndex (linearizable reads confirmed by a heartbeat round).
import { expect, test } from "bun:test";
import { ProposalDroppedError } from "../../../src/raft/raw-node.ts";
import { MessageType, Role } from "../../../src/raft/types.ts";
import { Network, text } from "./network.ts";

test("transfer: the target receives TimeoutNow, campaigns without PreVote and wins the next term", () => {
  const net = new Network([1, 2, 3]);
  net.campaign(1);
  const types: MessageType[] = [];
  net.filter = (m) => {
    types.push(m.type);
    return true;
  };
  net.get(1).node.transferLeader(2);
  net.stabilize();
  expect(types).toContain(MessageType.TimeoutNow);
  expect(types).not.toContain(MessageType.PreVote);
  expect(net.leaders()).toEqual([2]);
  expect(net.get(2).node.status().term).toBe(2);
  expect(net.get(1).node.status().lead).toBe(2);
});

test("transfer to a lagging follower first brings it up to date", () => {
  const net = new Network([1, 2, 3]);
  net.campaign(1);
  net.cut(1, 3);
  net.propose(1, "a");
  net.propose(1, "b");
  net.heal();
  net.get(1).node.transferLeader(3);
  net.stabilize();
  expect(net.leaders()).toEqual([3]);
  expect(net.appliedTexts(3)).toEqual(["a", "b"]);
});

test("transfer: proposals are refused while in progress, and it aborts after an election timeout", () => {
  const net = new Network([1, 2, 3]);
  net.campaign(1);
  net.cut(1, 3);
  net.propose(1, "a");
  net.get(1).node.transferLeader(3);
  net.stabilize();
  expect(() => net.get(1).node.propose(text("during"))).toThrow(ProposalDroppedError);
  net.tick(1, 10);
  net.heal();
  expect(net.leaders()).toEqual([1]);
  net.propose(1, "after-abort");
  expect(net.appliedTexts(2)).toEqual(["a", "after-abort"]);
});

test("a follower forwards a transfer request to its leader", () => {
  const net = new Network([1, 2, 3]);
  net.campaign(1);
  net.get(3).node.transferLeader(3);
  net.stabilize();
  expect(net.leaders()).toEqual([3]);
});

test("ReadIndex on the leader: a read state at the commit index once a quorum acks the heartbeat", () => {
  const net = new Network([1, 2, 3]);
  net.campaign(1);
  net.propose(1, "x");
  let heartbeatsWithContext = 0;
  net.filter = (m) => {
    if (m.type === MessageType.Heartbeat && m.context.byteLength > 0) heartbeatsWithContext++;
    return true;
  };
  net.get(1).node.readIndex(text("r1"));
  net.stabilize();
  expect(heartbeatsWithContext).toBe(2);
  expect(net.get(1).readStates).toEqual([{ index: net.get(1).node.status().commit, context: text("r1") }]);
});

test("ReadIndex: a leader cut off from the quorum never confirms a read", () => {
  const net = new Network([1, 2, 3], { configure: (c) => (c.checkQuorum = false) });
  net.campaign(1);
  net.isolate(1);
  net.get(1).node.readIndex(text("r1"));
  net.tick(1, 5);
  expect(net.get(1).readStates).toEqual([]);
  net.heal();
  net.tick(1);
  expect(net.get(1).readStates.map((r) => r.context)).toEqual([text("r1")]);
});

test("ReadIndex on a follower is forwarded to the leader and answered to the follower", () => {
  const net = new Network([1, 2, 3]);
  net.campaign(1);
  net.propose(1, "x");
  net.get(2).node.readIndex(text("f1"));
  net.stabilize();
  expect(net.get(2).readStates).toEqual([{ index: net.get(1).node.status().commit, context: text("f1") }]);
  expect(net.get(1).readStates).toEqual([]);
});

test("ReadIndex on a new leader waits until an entry of its term is committed", () => {
  const net = new Network([1, 2, 3]);
  // Hold back Appends so the new leader's empty entry stays uncommitted.
  net.filter = (m) => m.type !== MessageType.Append;
  net.campaign(1);
  expect(net.get(1).node.status().role).toBe(Role.Leader);
  net.get(1).node.readIndex(text("early"));
  net.stabilize();
  expect(net.get(1).readStates).toEqual([]);
  net.filter = null;
  net.tick(1);
  const states = net.get(1).readStates;
  expect(states.length).toBe(1);
  expect(states[0]?.index).toBe(1); // The empty entry of term 1.
});

test("ReadIndex without a known leader is refused", () => {
  const net = new Network([1, 2, 3]);
  expect(() => net.get(2).node.readIndex(text("r"))).toThrow(ProposalDroppedError);
});
