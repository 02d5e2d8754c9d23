// The seed runner: a seed replays exactly, the phases report the right failure kind and exit
// code (safety, liveness, crash), and the faults the seed picked really happen.
import { describe, expect, test } from "bun:test";
import { MessageType, type Message } from "../../src/raft/types.ts";
import type { SimCore, SimRaftNode } from "../../src/sim/core.ts";
import { raftCore } from "../../src/sim/raft-core.ts";
import { exitCodeCrash, exitCodeLiveness, exitCodeOf, runSeed } from "../../src/sim/run.ts";
import { formatTraceEvent, traceEventsKept } from "../../src/sim/trace.ts";
import { formatSimOptions, pickSimOptions } from "../../src/sim/options.ts";

/** The real core, with each node's messages filtered or its advance() sabotaged. */
function wrappedCore(wrap: (node: SimRaftNode) => SimRaftNode): SimCore {
  return { ...raftCore, newNode: (args) => wrap(raftCore.newNode(args)) };
}

function withStep(node: SimRaftNode, step: (message: Message) => void): SimRaftNode {
  return {
    tick: () => node.tick(),
    step,
    propose: (data) => node.propose(data),
    proposeConfChange: (change) => node.proposeConfChange(change),
    applyConfChange: (change) => node.applyConfChange(change),
    transferLeader: (to) => node.transferLeader(to),
    readIndex: (context) => node.readIndex(context),
    reportUnreachable: (id) => node.reportUnreachable(id),
    reportSnapshot: (id, ok) => node.reportSnapshot(id, ok),
    hasReady: () => node.hasReady(),
    ready: () => node.ready(),
    advance: (ready) => node.advance(ready),
    status: () => node.status(),
  };
}

const short = { adjust: (o: ReturnType<typeof pickSimOptions>) => ({ ...o, safetyTicks: 100, livenessTicksMax: 100 }) };

describe("runSeed", () => {
  test("the same seed replays the same events, stats and outcome", () => {
    const events = (): string[] => {
      const lines: string[] = [];
      runSeed(31, { core: raftCore, sink: (event) => lines.push(formatTraceEvent(event)) });
      return lines;
    };
    const first = events();
    expect(first.length).toBeGreaterThan(100);
    expect(events()).toEqual(first);
    expect(runSeed(31, { core: raftCore }).stats).toEqual(runSeed(31, { core: raftCore }).stats);
  });

  test("a core that never elects a leader is a liveness violation with exit code 127", () => {
    const noVotes = wrappedCore((node) =>
      withStep(node, (message) => {
        const vote = [MessageType.Vote, MessageType.VoteResponse, MessageType.PreVote, MessageType.PreVoteResponse];
        if (!vote.includes(message.type)) node.step(message);
      }),
    );
    const result = runSeed(3, { core: noVotes, ...short });
    expect(result.outcome).toBe("liveness");
    expect(result.property).toBe("liveness");
    expect(exitCodeOf(result.outcome)).toBe(exitCodeLiveness);
    expect(result.trace.length).toBe(traceEventsKept);
  });

  test("an exception inside the core is a crash with exit code 128, with its message", () => {
    let readies = 0;
    const failing = wrappedCore((node) => ({
      ...withStep(node, (message) => node.step(message)),
      ready: () => {
        readies += 1;
        if (readies === 50) throw new Error("Injected core failure");
        return node.ready();
      },
    }));
    const result = runSeed(3, { core: failing, ...short });
    expect(result.outcome).toBe("crash");
    expect(result.message).toContain("Injected core failure");
    expect(exitCodeOf(result.outcome)).toBe(exitCodeCrash);
  });

  test("the seed's faults happen: crashes, lost writes, partitions, snapshots installed, reads served", () => {
    let crashes = 0;
    let writesLost = 0;
    let partitions = 0;
    let snapshotsInstalled = 0;
    let readsServed = 0;
    for (let seed = 1; seed <= 30; seed++) {
      const { stats } = runSeed(seed, { core: raftCore });
      crashes += stats.crashes;
      writesLost += stats.writesLost;
      partitions += stats.partitions;
      snapshotsInstalled += stats.snapshotsInstalled;
      readsServed += stats.readsServed;
    }
    expect(crashes).toBeGreaterThan(0);
    expect(writesLost).toBeGreaterThan(0);
    expect(partitions).toBeGreaterThan(0);
    expect(snapshotsInstalled).toBeGreaterThan(0);
    expect(readsServed).toBeGreaterThan(0);
  });

  test("the seed picks every rate, and a verbose run can print them all", () => {
    const text = formatSimOptions(pickSimOptions(5)).join("\n");
    for (const name of ["members", "loss", "duplicate", "reorder", "partition", "crash", "restart", "slowDisk", "tickSkip", "propose", "snapshot", "read", "transfer", "confChange"]) {
      expect(text).toContain(`${name}=`);
    }
    expect(pickSimOptions(5)).toEqual(pickSimOptions(5));
    expect(pickSimOptions(5)).not.toEqual(pickSimOptions(6));
  });
});
