// The seed runner: a seed replays exactly, the phases report the right failure kind and exit
// code (safety, liveness, crash), and the faults the seed picked really happen, on stores that
// host several groups and run the real driver.
import { describe, expect, test } from "bun:test";
import { MessageType } from "../../src/raft/types.ts";
import { exitCodeCrash, exitCodeLiveness, exitCodeOf, runSeed } from "../../src/sim/run.ts";
import type { Packet } from "../../src/sim/store.ts";
import { formatTraceEvent, traceEventsKept } from "../../src/sim/trace.ts";
import { formatSimOptions, pickSimOptions } from "../../src/sim/options.ts";

const short = { adjust: (o: ReturnType<typeof pickSimOptions>) => ({ ...o, safetyTicks: 100, livenessTicksMax: 100 }) };

describe("runSeed", () => {
  test("the same seed replays the same events, stats and outcome", async () => {
    const events = async (): Promise<string[]> => {
      const lines: string[] = [];
      await runSeed(31, { sink: (event) => lines.push(formatTraceEvent(event)) });
      return lines;
    };
    const first = await events();
    expect(first.length).toBeGreaterThan(100);
    expect(await events()).toEqual(first);
    expect((await runSeed(31)).stats).toEqual((await runSeed(31)).stats);
  });

  test("a cluster that never elects a leader is a liveness violation with exit code 127", async () => {
    const vote = [MessageType.Vote, MessageType.VoteResponse, MessageType.PreVote, MessageType.PreVoteResponse];
    const result = await runSeed(3, { hooks: { deliverable: (packet) => !vote.includes(packet.message.type) }, ...short });
    expect(result.outcome).toBe("liveness");
    expect(result.property).toBe("liveness");
    expect(exitCodeOf(result.outcome)).toBe(exitCodeLiveness);
    expect(result.trace.length).toBe(traceEventsKept);
  });

  test("an exception inside the driver is a crash with exit code 128, with its message", async () => {
    let applies = 0;
    const entryApplied = (): void => {
      applies += 1;
      if (applies === 20) throw new Error("Injected apply failure");
    };
    const result = await runSeed(3, { hooks: { entryApplied }, ...short });
    expect(result.outcome).toBe("crash");
    expect(result.message).toContain("Injected apply failure");
    expect(exitCodeOf(result.outcome)).toBe(exitCodeCrash);
  });

  test("the seed's faults happen: store crashes, lost and torn writes, partitions, snapshots installed, reads served, several groups, quiescence", async () => {
    let crashes = 0;
    let writesLost = 0;
    let partitions = 0;
    let snapshotsInstalled = 0;
    let readsServed = 0;
    let writesTorn = 0;
    let quiesceMessages = 0;
    let multiGroupRuns = 0;
    // Seeds 1..40, then on until one tears a write (at most seed 300): torn writes are rare (a
    // store crash while its write is in flight) and which seed tears one moves whenever the
    // simulated schedule changes, so a fixed extra seed goes stale (108 did, 69 tears today).
    const tornSearchLimit = 300;
    for (let seed = 1; seed <= tornSearchLimit; seed += 1) {
      if (seed > 40 && writesTorn > 0) break;
      const { stats } = await runSeed(seed);
      if (pickSimOptions(seed).groupCount > 1) multiGroupRuns += 1;
      writesTorn += stats.writesTorn;
      quiesceMessages += stats.quiesceMessages;
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
    expect(writesTorn).toBeGreaterThan(0);
    expect(quiesceMessages).toBeGreaterThan(0);
    expect(multiGroupRuns).toBeGreaterThan(0);
  }, 120_000);

  test("a linearizable read whose ReadIndex or answer was lost is sent again, not left to time out", async () => {
    // Drops the first copy of every ReadIndex and ReadIndexResponse (keyed by its read context),
    // or every copy. With the resend, reads that lost their first message are still served, so the
    // first run serves more reads than the second; without it the two runs are the same schedule.
    // Seed 6, not 5: with split children created in the store's order, seed 5's two runs took
    // schedules different enough that the lossier one served more (101 against 96).
    const readMessages = [MessageType.ReadIndex, MessageType.ReadIndexResponse];
    const served = async (seed: number, dropEvery: boolean): Promise<{ reads: number; served: number; outcome: string }> => {
      const seen = new Set<string>();
      const deliverable = (packet: Packet): boolean => {
        if (!readMessages.includes(packet.message.type)) return true;
        const key = `${packet.groupId}:${packet.from}:${packet.message.type}:${Array.from(packet.message.context).join(",")}`;
        if (dropEvery || !seen.has(key)) {
          seen.add(key);
          return false;
        }
        return true;
      };
      const result = await runSeed(seed, { hooks: { deliverable }, adjust: (o) => ({ ...o, safetyTicks: 1500, livenessTicksMax: 400 }) });
      return { reads: result.stats.reads, served: result.stats.readsServed, outcome: result.outcome };
    };
    const lost = await served(6, false);
    const never = await served(6, true);
    expect(lost.outcome).toBe("ok");
    console.log(`seed 6: ${lost.reads} reads, ${lost.served} served with first messages lost, ${never.served} with every one lost`);
    expect(lost.reads).toBeGreaterThan(20);
    expect(lost.served).toBeGreaterThan(never.served);
  });

  test("the seed picks every rate, and a verbose run can print them all", () => {
    const text = formatSimOptions(pickSimOptions(5)).join("\n");
    for (const name of ["members", "groups", "loss", "duplicate", "reorder", "partition", "crash", "restart", "slowDisk", "tickSkip", "propose", "snapshotEntries", "read", "transfer", "confChange", "quiesceAfterTicks"]) {
      expect(text).toContain(`${name}=`);
    }
    expect(pickSimOptions(5)).toEqual(pickSimOptions(5));
    expect(pickSimOptions(5)).not.toEqual(pickSimOptions(6));
  });
});
