// The RawNode contract with its caller: pipelined Readies advanced in order, work continues between ready()
// and advance(), restart from storage, and robustness against malformed peer input.
import { expect, test } from "bun:test";
import { MemoryStorage } from "../../../src/raft/memory-storage.ts";
import { RawNode, defaultRaftConfig } from "../../../src/raft/raw-node.ts";
import { MessageType, Role, emptyMessage } from "../../../src/raft/types.ts";
import { Prng } from "../../../src/util/prng.ts";
import { Network, entriesOfTerm, text } from "./network.ts";

function single(): { node: RawNode; storage: MemoryStorage } {
  const storage = new MemoryStorage({ conf: { voters: [1], learners: [] } });
  return { node: new RawNode(defaultRaftConfig({ id: 1, storage, random: new Prng(1) })), storage };
}

test("a single-voter leader commits its entries only after advance (after persisting them)", () => {
  const { node, storage } = single();
  node.campaign();
  const first = node.ready();
  expect(first.softState?.role).toBe(Role.Leader);
  expect(first.entries.length).toBe(1);
  expect(first.committedEntries.length).toBe(0);
  storage.setHardState(first.hardState ?? { term: 0, vote: 0, commit: 0 });
  storage.append(first.entries);
  node.advance(first);
  const second = node.ready();
  expect(second.committedEntries.map((e) => e.index)).toEqual([1]);
  node.advance(second);
  expect(node.status().applied).toBe(1);
});

test("between ready() and advance() the node keeps accepting proposals; they come in the next Ready", () => {
  const { node, storage } = single();
  node.campaign();
  const first = node.ready();
  expect(node.hasReady()).toBe(false); // Everything was handed out.
  node.propose(text("during-persist"));
  node.tick();
  storage.append(first.entries);
  node.advance(first);
  expect(node.hasReady()).toBe(true);
  const second = node.ready();
  expect(second.entries.map((e) => e.index)).toEqual([2]);
  expect(second.committedEntries.map((e) => e.index)).toEqual([1]);
  storage.append(second.entries);
  node.advance(second);
  const third = node.ready();
  expect(third.committedEntries.map((e) => e.index)).toEqual([2]);
  expect(() => node.advance(second)).toThrow();
});

test("pipelined Readies: each entry is handed out once, committed entries only once durable, advance in order", () => {
  const { node, storage } = single();
  node.campaign();
  const first = node.ready();
  expect(first.entries.map((e) => e.index)).toEqual([1]);
  node.propose(text("a"));
  // The second Ready is taken while the first is still being persisted.
  const second = node.ready();
  expect(second.entries.map((e) => e.index)).toEqual([2]);
  // Nothing is committed: the leader's own entries count only once persisted (advanced).
  expect(second.committedEntries).toEqual([]);
  expect(node.hasReady()).toBe(false);
  expect(() => node.advance(second)).toThrow(/oldest/);
  storage.append(first.entries);
  node.advance(first);
  const third = node.ready();
  expect(third.entries).toEqual([]);
  expect(third.committedEntries.map((e) => e.index)).toEqual([1]);
  storage.append(second.entries);
  node.advance(second);
  node.advance(third);
  const fourth = node.ready();
  expect(fourth.committedEntries.map((e) => e.index)).toEqual([2]);
  node.advance(fourth);
  expect(node.status().applied).toBe(2);
  expect(node.hasReady()).toBe(false);
});

test("entries truncated by a new leader while a Ready is being persisted are not marked stable", () => {
  const storage = new MemoryStorage({ conf: { voters: [1, 2, 3], learners: [] } });
  const node = new RawNode(defaultRaftConfig({ id: 3, storage, random: new Prng(3) }));
  const append = emptyMessage(MessageType.Append, 1, 3, 1);
  append.entries = entriesOfTerm(1, 3, 1);
  node.step(append);
  const ready = node.ready();
  expect(ready.entries.map((e) => e.index)).toEqual([1, 2, 3]);
  // A new leader of term 2 overwrites index 2.. before the first Ready is persisted.
  const overwrite = emptyMessage(MessageType.Append, 2, 3, 2);
  overwrite.index = 1;
  overwrite.logTerm = 1;
  overwrite.entries = entriesOfTerm(2, 2, 2);
  node.step(overwrite);
  storage.append(ready.entries);
  node.advance(ready);
  // The outstanding Ready's last entry no longer exists: nothing is marked stable, and the
  // next Ready carries the replacement entry only (the surviving prefix was handed out already).
  const next = node.ready();
  expect(next.entries.map((e) => [e.index, e.term])).toEqual([[2, 2]]);
  storage.append(next.entries);
  node.advance(next);
  expect(storage.lastIndex()).toBe(2);
  expect(storage.term(2)).toBe(2);
});

test("a restarted node recovers term, vote, commit and log from storage and re-applies from applied", () => {
  const net = new Network([1, 2, 3]);
  net.campaign(1);
  net.propose(1, "a");
  net.propose(1, "b");
  const before = net.get(2).node.status();
  const restarted = net.restart(2);
  const after = restarted.node.status();
  expect(after.term).toBe(before.term);
  expect(after.vote).toBe(before.vote);
  expect(after.commit).toBe(before.commit);
  expect(after.lastIndex).toBe(before.lastIndex);
  net.stabilize();
  expect(net.appliedTexts(2)).toEqual(["a", "b"]);
});

test("malformed or unknown-peer messages are ignored without throwing", () => {
  const net = new Network([1, 2, 3]);
  net.campaign(1);
  const leader = net.get(1).node;
  const status = leader.status();
  const unknownPeer = emptyMessage(MessageType.AppendResponse, 99, 1, status.term);
  unknownPeer.index = 1000;
  leader.step(unknownPeer);
  const gap = emptyMessage(MessageType.Append, 2, 3, status.term + 5);
  gap.entries = [{ index: 7, term: 1, type: 0, data: new Uint8Array(0) }];
  net.get(3).node.step(gap);
  const badTerm = emptyMessage(MessageType.Heartbeat, 2, 3, Number.NaN);
  net.get(3).node.step(badTerm);
  const noSnapshot = emptyMessage(MessageType.Snapshot, 2, 3, status.term);
  net.get(3).node.step(noSnapshot);
  net.get(1).node.reportSnapshot(42, true);
  net.get(1).node.reportUnreachable(42);
  net.stabilize();
  expect(net.get(1).node.status().commit).toBe(status.commit);
  expect(net.get(3).node.status().lastIndex).toBe(status.lastIndex);
  net.propose(1, "still-works");
  expect(net.appliedTexts(3)).toEqual(["still-works"]);
});

test("status reports progress only on the leader", () => {
  const net = new Network([1, 2, 3]);
  net.campaign(1);
  expect([...net.get(1).node.status().progress.keys()].sort()).toEqual([1, 2, 3]);
  expect(net.get(1).node.status().progress.get(2)).toEqual({ match: 1, next: 2, state: "replicate", learner: false });
  expect(net.get(2).node.status().progress.size).toBe(0);
  expect(net.get(2).node.status().conf).toEqual({ voters: [1, 2, 3], learners: [] });
});
