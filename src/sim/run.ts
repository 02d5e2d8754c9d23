// One simulator run per seed: a safety phase with the seed's faults (bounded ticks), then a
// liveness phase where everything heals and, within a tick budget, a leader must exist and a new
// proposal must commit on every live member. Any thrown SimViolation ends the run with its kind;
// any other exception (a failed assertion in the core or the simulator) is a crash.
import { assert } from "../util/assert.ts";
import { SimViolation, type Property } from "./checker.ts";
import { SimCluster } from "./cluster.ts";
import type { SimCore } from "./core.ts";
import type { SimMutation } from "./mutations.ts";
import { pickSimOptions, type SimOptions } from "./options.ts";
import { emptySimStats, type SimStats } from "./stats.ts";
import { Trace, type TraceEvent, type TraceSink } from "./trace.ts";

/** Exit codes of `npm run sim`, one per failure kind (as tigerbeetle's VOPR). */
export const exitCodeOk = 0;
export const exitCodeUsage = 2;
export const exitCodeLiveness = 127;
export const exitCodeCrash = 128;
export const exitCodeSafety = 129;

/** Ticks between liveness probes while none has been applied anywhere. */
export const probeRetryTicks = 30;
/** Ticks between the periodic snapshots of the liveness phase. */
export const livenessSnapshotIntervalTicks = 50;

export type SimOutcome = "ok" | "safety" | "liveness" | "crash";

export interface SimResult {
  seed: number;
  outcome: SimOutcome;
  property: Property | "crash" | null;
  message: string;
  /** The tick at which the run ended. */
  ticks: number;
  /** The last events before the end, oldest first. */
  trace: TraceEvent[];
  stats: SimStats & { committed: number; members: number };
}

export interface RunOptions {
  core: SimCore;
  /** Receives every event as it happens (verbose replay). */
  sink?: TraceSink;
  /** TEST ONLY: a deliberate bug the checkers must catch (mutations.ts). */
  mutation?: SimMutation;
  /** Changes to the seed's options (tests shorten runs). */
  adjust?: (options: SimOptions) => SimOptions;
}

export function exitCodeOf(outcome: SimOutcome): number {
  if (outcome === "ok") return exitCodeOk;
  if (outcome === "safety") return exitCodeSafety;
  if (outcome === "liveness") return exitCodeLiveness;
  return exitCodeCrash;
}

export function runSeed(seed: number, run: RunOptions): SimResult {
  const picked = pickSimOptions(seed);
  const options = run.adjust === undefined ? picked : run.adjust(picked);
  const trace = new Trace(run.sink ?? null);
  let cluster: SimCluster | null = null;
  let outcome: SimOutcome = "ok";
  let property: Property | "crash" | null = null;
  let message = "";
  try {
    cluster = new SimCluster(options, run.core, trace, run.mutation ?? null);
    trace.record(0, "phase", 0, `safety phase: ${options.safetyTicks} ticks`);
    for (let tick = 0; tick < options.safetyTicks; tick++) cluster.runTick();
    cluster.healAll();
    runLiveness(cluster);
  } catch (error) {
    if (error instanceof SimViolation) {
      outcome = error.kind;
      property = error.property;
      message = error.message;
    } else {
      outcome = "crash";
      property = "crash";
      message = error instanceof Error ? `${error.name}: ${error.message}\n${error.stack ?? ""}` : String(error);
    }
    trace.record(cluster?.nowTicks ?? 0, "violation", 0, message.split("\n")[0] ?? message);
  }
  const stats = cluster?.stats ?? emptySimStats();
  return {
    seed,
    outcome,
    property,
    message,
    ticks: cluster?.nowTicks ?? 0,
    trace: trace.last(),
    stats: { ...stats, committed: cluster?.checker.commitIndexMax ?? 0, members: cluster?.members.size ?? 0 },
  };
}

/** Heals, then waits for a leader and a probe applied by every live member of its configuration. */
function runLiveness(cluster: SimCluster): void {
  const budgetTicks = cluster.options.livenessTicksMax;
  cluster.trace.record(cluster.nowTicks, "phase", 0, `liveness phase: ${budgetTicks} ticks to elect and commit a probe`);
  let probeProposedAtTicks = -probeRetryTicks;
  for (let tick = 0; tick < budgetTicks; tick++) {
    cluster.runTick();
    if (tick % livenessSnapshotIntervalTicks === livenessSnapshotIntervalTicks - 1) cluster.snapshotAll();
    const leader = cluster.leader();
    if (leader === null) continue;
    if (cluster.probeIndex > 0 && probeAppliedEverywhere(cluster, leader.conf.voters.concat(leader.conf.learners))) {
      cluster.trace.record(cluster.nowTicks, "phase", 0, `liveness ok: probe at ${cluster.probeIndex} applied by every live member`);
      return;
    }
    const retryDue = cluster.nowTicks - probeProposedAtTicks >= probeRetryTicks;
    if (cluster.probeIndex === 0 && retryDue && !leader.busy && cluster.proposeProbe(leader)) {
      probeProposedAtTicks = cluster.nowTicks;
    }
  }
  throw new SimViolation("liveness", "liveness", `no probe applied everywhere within ${budgetTicks} ticks of healing: ${describeMembers(cluster)}`);
}

function probeAppliedEverywhere(cluster: SimCluster, ids: readonly number[]): boolean {
  assert(cluster.probeIndex > 0, "a probe was applied somewhere");
  for (const id of ids) {
    const member = cluster.members.get(id);
    if (member === undefined || member.decommissioned) continue;
    if (!member.live || member.appliedIndex < cluster.probeIndex) return false;
  }
  return true;
}

function describeMembers(cluster: SimCluster): string {
  const parts: string[] = [];
  for (const member of cluster.members.values()) {
    if (member.decommissioned) {
      parts.push(`n${member.id} removed`);
      continue;
    }
    const state = member.live ? `${member.role} term=${member.term()} applied=${member.appliedIndex}` : "down";
    parts.push(`n${member.id} ${state} voters=[${member.conf.voters.join(",")}] learners=[${member.conf.learners.join(",")}]`);
  }
  return `probeIndex=${cluster.probeIndex}; ${parts.join("; ")}`;
}
