// One simulator run per seed: a safety phase with the seed's faults (bounded ticks), then a
// liveness phase where everything heals and, within a tick budget, every group must have a
// leader and a new proposal applied on every live replica. The stores run the real driver
// (src/node/group-runtime.ts), whose IO is asynchronous, so a run is too: it still replays
// exactly, since nothing but the simulator's own promises and virtual clock drives it.
// Any SimViolation ends the run with its kind; any other exception (a failed assertion in the
// core, the driver or the simulator, or a group the driver stopped) is a crash.
import { assert } from "../util/assert.ts";
import { SimViolation, type Property } from "./checker.ts";
import { SimCluster, type SimHooks } from "./cluster.ts";
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

/** Ticks between liveness probes of a group while none has been applied anywhere. */
export const probeRetryTicks = 30;

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
  /** Receives every event as it happens (verbose replay). */
  sink?: TraceSink;
  /** TEST ONLY: a deliberate bug the checkers must catch (mutations.ts). */
  mutation?: SimMutation;
  /** Changes to the seed's options (tests shorten runs). */
  adjust?: (options: SimOptions) => SimOptions;
  /** TEST ONLY: interference with the network or the replicas (tests of the runner itself). */
  hooks?: SimHooks;
}

export function exitCodeOf(outcome: SimOutcome): number {
  if (outcome === "ok") return exitCodeOk;
  if (outcome === "safety") return exitCodeSafety;
  if (outcome === "liveness") return exitCodeLiveness;
  return exitCodeCrash;
}

export async function runSeed(seed: number, run: RunOptions = {}): Promise<SimResult> {
  const picked = pickSimOptions(seed);
  const options = run.adjust === undefined ? picked : run.adjust(picked);
  const trace = new Trace(run.sink ?? null);
  let cluster: SimCluster | null = null;
  let outcome: SimOutcome = "ok";
  let property: Property | "crash" | null = null;
  let message = "";
  try {
    cluster = new SimCluster(options, trace, run.mutation ?? null, run.hooks ?? {});
    trace.record(0, "phase", 0, `safety phase: ${options.safetyTicks} ticks`);
    await cluster.start();
    for (let tick = 0; tick < options.safetyTicks; tick++) await cluster.runTick();
    cluster.healAll();
    await runLiveness(cluster);
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
  let committed = 0;
  for (const group of cluster?.groups.values() ?? []) committed += group.checker.commitIndexMax;
  return {
    seed,
    outcome,
    property,
    message,
    ticks: cluster?.nowTicks ?? 0,
    trace: trace.last(),
    stats: { ...stats, committed, members: cluster?.stores.size ?? 0 },
  };
}

/** Heals, then waits, per group, for a leader and a probe applied by every live replica of its configuration. */
async function runLiveness(cluster: SimCluster): Promise<void> {
  const budgetTicks = cluster.options.livenessTicksMax;
  cluster.trace.record(cluster.nowTicks, "phase", 0, `liveness phase: ${budgetTicks} ticks for every group to elect and commit a probe`);
  for (const group of cluster.groups.values()) group.probeProposedAtTicks = -probeRetryTicks;
  for (let tick = 0; tick < budgetTicks; tick++) {
    await cluster.runTick();
    let allDone = true;
    for (const group of cluster.groups.values()) {
      if (probeAppliedEverywhere(cluster, group.id)) continue;
      allDone = false;
      const retryDue = cluster.nowTicks - group.probeProposedAtTicks >= probeRetryTicks;
      if (group.probeIndex === 0 && retryDue && cluster.proposeProbe(group.id)) group.probeProposedAtTicks = cluster.nowTicks;
    }
    if (allDone) {
      cluster.trace.record(cluster.nowTicks, "phase", 0, "liveness ok: every group applied a probe on every live replica");
      cluster.checkKeysAfterLiveness();
      return;
    }
  }
  throw new SimViolation("liveness", "liveness", `not every group applied a probe everywhere within ${budgetTicks} ticks of healing: ${describeGroups(cluster)}`);
}

function probeAppliedEverywhere(cluster: SimCluster, groupId: number): boolean {
  const group = cluster.groups.get(groupId);
  assert(group !== undefined, "a group of the run");
  const leader = cluster.leader(groupId);
  if (group.probeIndex === 0 || leader === null) return false;
  const conf = leader.replica.runtime.membership().conf;
  for (const id of [...conf.voters, ...conf.learners]) {
    const store = cluster.stores.get(id);
    if (store === undefined || !store.hosts(groupId)) continue;
    const replica = store.replicas.get(groupId);
    if (replica === undefined || replica.state.tracker.appliedIndex < group.probeIndex) return false;
  }
  return true;
}

function describeGroups(cluster: SimCluster): string {
  const parts: string[] = [];
  for (const group of cluster.groups.values()) {
    const replicas: string[] = [];
    for (const store of cluster.stores.values()) {
      if (!store.hosts(group.id)) continue;
      const replica = store.replicas.get(group.id);
      if (replica === undefined) {
        replicas.push(`n${store.id} ${store.live ? "not open" : "down"}`);
        continue;
      }
      const summary = replica.runtime.summary();
      const conf = replica.runtime.membership().conf;
      replicas.push(`n${store.id} ${summary.role} term=${summary.term} applied=${replica.state.tracker.appliedIndex} voters=[${conf.voters.join(",")}] learners=[${conf.learners.join(",")}]`);
    }
    parts.push(`g${group.id} probeIndex=${group.probeIndex}: ${replicas.join("; ")}`);
  }
  return parts.join(" | ");
}
