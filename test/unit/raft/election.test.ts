// Elections: vote granting (§5.2, §5.4.1), term handling, PreVote and CheckQuorum.
import { expect, test } from "bun:test";
import { MemoryStorage } from "../../../src/raft/memory-storage.ts";
import { RawNode, defaultRaftConfig } from "../../../src/raft/raw-node.ts";
import { EntryType, MessageType, Role, emptyMessage, type Message } from "../../../src/raft/types.ts";
import { Prng } from "../../../src/util/prng.ts";
import { Network } from "./network.ts";

function lone(id: number, voters: number[], term = 0): RawNode {
  const storage = new MemoryStorage({ conf: { voters, learners: [] } });
  if (term > 0) storage.setHardState({ term, vote: 0, commit: 0 });
  const config = defaultRaftConfig({ id, storage, random: new Prng(id) });
  config.preVote = false;
  config.checkQuorum = false;
  return new RawNode(config);
}

function drainMessages(node: RawNode): Message[] {
  if (!node.hasReady()) return [];
  const ready = node.ready();
  node.advance(ready);
  return ready.messages;
}

function voteRequest(from: number, to: number, term: number, lastIndex: number, lastTerm: number): Message {
  const m = emptyMessage(MessageType.Vote, from, to, term);
  m.index = lastIndex;
  m.logTerm = lastTerm;
  return m;
}

test("a node campaigning wins with a majority and appends an empty entry of its term", () => {
  const net = new Network([1, 2, 3]);
  net.campaign(1);
  const status = net.get(1).node.status();
  expect(status.role).toBe(Role.Leader);
  expect(status.term).toBe(1);
  expect(net.get(2).node.status().lead).toBe(1);
  // The empty entry is committed and applied everywhere; applying it is a no-op.
  for (const id of [1, 2, 3]) {
    const applied = net.get(id).applied;
    expect(applied.length).toBe(1);
    expect(applied[0]?.data.byteLength).toBe(0);
    expect(applied[0]?.type).toBe(EntryType.Normal);
  }
});

test("election timeout is randomized in [electionTicks, 2*electionTicks) and a follower campaigns after it", () => {
  const net = new Network([1, 2, 3]);
  let ticks = 0;
  while (net.leaders().length === 0 && ticks < 100) {
    net.tickAll();
    ticks++;
  }
  expect(net.leaders().length).toBe(1);
  expect(ticks).toBeGreaterThanOrEqual(10);
  expect(ticks).toBeLessThan(20);
});

test("a voter grants at most one vote per term", () => {
  const node = lone(1, [1, 2, 3]);
  node.step(voteRequest(2, 1, 1, 0, 0));
  const first = drainMessages(node).find((m) => m.type === MessageType.VoteResponse);
  expect(first?.reject).toBe(false);
  node.step(voteRequest(3, 1, 1, 0, 0));
  const second = drainMessages(node).find((m) => m.type === MessageType.VoteResponse);
  expect(second?.reject).toBe(true);
  // The same candidate asking again is granted again (idempotent, e.g. a retransmission).
  node.step(voteRequest(2, 1, 1, 0, 0));
  expect(drainMessages(node).find((m) => m.type === MessageType.VoteResponse)?.reject).toBe(false);
  expect(node.status().vote).toBe(2);
});

test("a vote is refused to a candidate whose log is less up to date (§5.4.1)", () => {
  // No lease: otherwise node 3 ignores any vote while it hears from its leader.
  const net = new Network([1, 2, 3], { configure: (c) => ((c.preVote = false), (c.checkQuorum = false)) });
  net.campaign(1);
  net.propose(1, "a");
  // Node 3's log: (1,1),(2,1). A candidate with a shorter log of the same term is refused.
  const node = net.get(3).node;
  node.step(voteRequest(2, 3, 5, 1, 1));
  const messages = drainMessages(node);
  expect(messages.find((m) => m.type === MessageType.VoteResponse)?.reject).toBe(true);
  // A higher last term wins even with a shorter log.
  node.step(voteRequest(2, 3, 6, 1, 2));
  expect(drainMessages(node).find((m) => m.type === MessageType.VoteResponse)?.reject).toBe(false);
});

test("a higher term makes any node a follower of that term; a lower-term message is ignored", () => {
  const net = new Network([1, 2, 3], { configure: (c) => ((c.preVote = false), (c.checkQuorum = false)) });
  net.campaign(1);
  const leader = net.get(1).node;
  const heartbeat = emptyMessage(MessageType.Heartbeat, 2, 1, 7);
  leader.step(heartbeat);
  expect(leader.status().role).toBe(Role.Follower);
  expect(leader.status().term).toBe(7);
  expect(leader.status().lead).toBe(2);
  leader.step(emptyMessage(MessageType.Heartbeat, 3, 1, 3));
  expect(leader.status().term).toBe(7);
  expect(leader.status().lead).toBe(2);
});

test("a vote request of a lower term is answered with a rejection carrying our term", () => {
  const node = lone(1, [1, 2, 3], 5);
  node.step(voteRequest(2, 1, 3, 0, 0));
  const response = drainMessages(node).find((m) => m.type === MessageType.VoteResponse);
  // Plain Vote of a lower term: ignored (no PreVote/CheckQuorum configured).
  expect(response).toBeUndefined();
  const preVote = emptyMessage(MessageType.PreVote, 2, 1, 3);
  node.step(preVote);
  const preResponse = drainMessages(node).find((m) => m.type === MessageType.PreVoteResponse);
  expect(preResponse?.reject).toBe(true);
  expect(preResponse?.term).toBe(5);
});

test("PreVote: a partitioned node rejoining neither raises the cluster's term nor disrupts the leader", () => {
  const net = new Network([1, 2, 3]);
  net.campaign(1);
  const termBefore = net.get(1).node.status().term;
  net.isolate(3);
  net.tick(3, 100); // Many elections' worth of ticks alone: pre-votes fail, the term stays.
  expect(net.get(3).node.status().term).toBe(termBefore);
  expect(net.get(3).node.status().role).not.toBe(Role.Leader);
  net.heal();
  net.tickAll(3);
  expect(net.leaders()).toEqual([1]);
  expect(net.get(1).node.status().term).toBe(termBefore);
  expect(net.get(3).node.status().lead).toBe(1);
});

test("without PreVote a rejoining node's higher term is ignored under CheckQuorum leases", () => {
  const net = new Network([1, 2, 3], { configure: (c) => (c.preVote = false) });
  net.campaign(1);
  net.isolate(3);
  net.tick(3, 30);
  expect(net.get(3).node.status().term).toBeGreaterThan(1);
  net.heal();
  net.tick(3, 20);
  // Nodes 1 and 2 hear from a live leader, so they ignore 3's vote requests.
  expect(net.get(2).node.status().lead).toBe(1);
  expect(net.get(2).node.status().term).toBe(1);
});

test("CheckQuorum: a leader that hears from no quorum for an election timeout steps down", () => {
  const net = new Network([1, 2, 3]);
  net.campaign(1);
  net.isolate(1);
  net.tick(1, 25);
  expect(net.get(1).node.status().role).toBe(Role.Follower);
  expect(net.get(1).node.status().lead).toBe(0);
});

test("a pre-candidate that wins the pre-vote becomes candidate of term + 1, then leader", () => {
  const net = new Network([1, 2, 3]);
  const types: MessageType[] = [];
  net.filter = (m) => {
    types.push(m.type);
    return true;
  };
  net.campaign(2);
  expect(types.slice(0, 2)).toEqual([MessageType.PreVote, MessageType.PreVote]);
  expect(types).toContain(MessageType.Vote);
  expect(net.get(2).node.status()).toMatchObject({ role: Role.Leader, term: 1 });
});

test("a node that lost the election (split vote) returns to follower and a later election succeeds", () => {
  const net = new Network([1, 2, 3, 4], { configure: (c) => (c.preVote = false) });
  net.cut(1, 3);
  net.cut(1, 4);
  net.cut(2, 3);
  net.cut(2, 4);
  net.get(1).node.campaign();
  net.get(3).node.campaign();
  net.stabilize();
  expect(net.leaders()).toEqual([]);
  net.heal();
  let ticks = 0;
  while (net.leaders().length === 0 && ticks < 200) {
    net.tickAll();
    ticks++;
  }
  expect(net.leaders().length).toBe(1);
});
