// Every seed that found a bug gets a named case here. Seeds are tied to the generator in
// src/sim/options.ts: when it changes, re-pick a seed that still walks the same path (each case
// asserts the path was walked, so a stale seed fails loudly instead of passing vacuously).
//
// Bugs found so far, all in the simulator's model of the operator, none in the Raft core:
// 1. A member added at run time started with an empty configuration, replayed AddLearner/AddVoter
//    of itself from the log and believed it was the only voter; after a leadership transfer it
//    elected itself alone and committed by itself (first seen as election-safety, seed 17 of the
//    first generator). Fix: a newcomer starts from the genesis configuration (the state at index
//    0 that every member shares). Lesson for src/node: a joining member must do the same.
// 2. A newcomer refuses a snapshot taken before it joined (its id is not in the snapshot's
//    configuration), so when the leader's only snapshot predates the newcomer it never caught up
//    (liveness, seed 43 of the first generator; etcd behaves the same). Fix: members snapshot
//    periodically, as a node does every N applied entries.
// 3. A follower forwarding a ReadIndex keeps the requester in message.from, so a request that
//    bounces back (the old leader forwards it to the new one, which made the request) is
//    addressed from n to n (crash "a member never sends to itself", seed 459 of the first
//    generator). The core answers it correctly; the network now carries the sending member
//    beside the message instead of trusting message.from.
// 4. The leader-completeness checker compared a new leader's log with everything committed so
//    far. But an election is observed when its Ready lands, and a slow disk can delay that while
//    a newer leader already commits in a higher term (safety "leader-completeness" false
//    positive, seed 8777 of the 20,000-seed sweep). Fix: check only entries known committed in a
//    term below the leader's (Raft §5.4's statement of the property).
import { expect, test } from "bun:test";
import { MessageType } from "../../src/raft/types.ts";
import { pickSimOptions } from "../../src/sim/options.ts";
import { raftCore } from "../../src/sim/raft-core.ts";
import { runSeed, type SimResult } from "../../src/sim/run.ts";
import type { TraceEvent } from "../../src/sim/trace.ts";
import { formatFailure } from "../../src/sim/report.ts";

function runWatching(seed: number, watch: (event: TraceEvent) => boolean): { result: SimResult; seen: boolean } {
  let seen = false;
  const result = runSeed(seed, {
    core: raftCore,
    sink: (event) => {
      if (!seen && watch(event)) seen = true;
    },
  });
  if (result.outcome !== "ok") console.error(formatFailure(result));
  return { result, seen };
}

test("seed 15: a member added at run time replays the log on the genesis configuration and later leads safely", () => {
  const initialCount = pickSimOptions(15).memberCount;
  const { result, seen } = runWatching(15, (e) => e.kind === "role" && e.member > initialCount && e.detail.startsWith("leader"));
  expect(seen).toBe(true);
  expect(result.outcome).toBe("ok");
});

test("seed 9: a member added at run time installs a snapshot taken after it joined", () => {
  const initialCount = pickSimOptions(9).memberCount;
  const { result, seen } = runWatching(9, (e) => e.kind === "apply" && e.member > initialCount && e.detail.startsWith("snapshot"));
  expect(seen).toBe(true);
  expect(result.outcome).toBe("ok");
});

test("seed 10: a ReadIndex forwarded on behalf of another member is carried and answered", () => {
  const { result, seen } = runWatching(10, (e) => e.kind === "send" && e.message?.type === MessageType.ReadIndex && e.message.from !== e.member);
  expect(seen).toBe(true);
  expect(result.outcome).toBe("ok");
  expect(result.stats.readsServed).toBeGreaterThan(0);
});

test("seed 8777: a leader whose election lands late from a slow disk is judged against earlier terms only", () => {
  const slowWriteLandsAt = new Map<number, number>();
  const { result, seen } = runWatching(8777, (e) => {
    const landing = /lands in (\d+) ticks/.exec(e.detail);
    if (e.kind === "persist" && landing !== null) slowWriteLandsAt.set(e.member, e.tick + Number(landing[1]));
    return e.kind === "role" && e.detail.startsWith("leader") && slowWriteLandsAt.get(e.member) === e.tick;
  });
  expect(seen).toBe(true);
  expect(result.outcome).toBe("ok");
});
