// One chaos run end to end: start a real local cluster of stores behind link proxies, run the
// clients and the nemesis for the fault phase, heal everything (resume the moves that failed,
// follow the shards splits made, take the shard leaders' membership), let the cluster settle,
// check its final topology, read every key back (linearizable GETs routed by the stores, then a
// follower GET of every key on every replica of its shard, then which shards serve each key), and
// check the history. A run with anomalies keeps its folder
// (history.jsonl, seed, schedule.json, anomalies.json, store logs, data dirs) and returns its path;
// a clean run removes it unless kept.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ChaosCluster, clusterPortCount, type GroupStatusLike } from "./chaos-cluster.ts";
import { checkConvergence, checkCrashes, checkHistory, checkKeyOwnership, checkTopology, type Anomaly } from "./checkers.ts";
import { SmallFileSystem } from "./disk-full.ts";
import { explainViolation, formatExplanation } from "./explain.ts";
import { probeKeyOwnership, settleTopology } from "./final-topology.ts";
import { History, writeHistory, type CompletedOp } from "./history.ts";
import { reconcileMembership } from "./membership-nemesis.ts";
import { Nemesis, type NemesisKind, type ScheduleEvent } from "./nemesis.ts";
import { resumeMoves } from "./topology-nemesis.ts";
import { formatRange } from "../ring/range-map.ts";
import { StoreRouter, decodeValue, runWorkload } from "./workload.ts";
import { assert } from "../util/assert.ts";

export interface ChaosRunOptions {
  binaryPath: string;
  seed: number;
  durationMs: number;
  clientCount: number;
  /** Stores (`ukv node` processes); the metadata group lives on the first three. */
  stores: number;
  shards: number;
  /** Replicas a shard, at most `stores`. */
  replicas: number;
  nemeses: readonly NemesisKind[];
  contendedKeyCount?: number;
  /** Keep the run folder even when the run is clean. */
  keep?: boolean;
  /** Called with progress lines (the CLI prints them). */
  log?(line: string): void;
  quietMsMin?: number;
  quietMsMax?: number;
  holdMsMin?: number;
  holdMsMax?: number;
}

export interface ChaosRunResult {
  seed: number;
  runDir: string | null;
  durationMs: number;
  opCount: number;
  okCount: number;
  unknownCount: number;
  failCount: number;
  faultCount: number;
  faultCountByKind: Record<string, number>;
  schedule: ScheduleEvent[];
  anomalies: Anomaly[];
  keyCount: number;
  notes: string[];
}

/** Time for the cluster to elect leaders and catch every replica up after the faults stop. */
const settleMsMax = 60_000;
const startMsMax = 60_000;
const finalReadAttemptCountMax = 20;
const finalReadBatchCount = 256;
const replicaReadAttemptCountMax = 5;
/** The disk-full store's file system: room for its log segments and every replica's snapshots. */
const diskFullSizeBytes = 160 * 1024 * 1024;
const walSegmentSizeBytes = 8 * 1024 * 1024;
/** Per request of a client: longer than a store's routing retry window (3 s) plus one attempt (2 s). */
const clientRequestTimeoutMs = 6000;
const progressIntervalMs = 60_000;
/** Listen ports from here up to below the kernel's ephemeral range (32768+ on Linux). */
const portRangeStart = 10000;
const portRangeEnd = 32768;

async function isPortFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once("error", () => resolve(false));
    server.listen(port, "127.0.0.1", () => server.close(() => resolve(true)));
  });
}

async function findFreePortBase(count: number, seed: number): Promise<number> {
  // Below the ephemeral range: while a store is down, an outgoing connection's source port (a
  // proxy's, a client's) must not be able to take its listen port.
  const slotCount = Math.floor((portRangeEnd - portRangeStart) / count) - 1;
  assert(slotCount > 0, "the port range holds a cluster");
  for (let attemptIndex = 0; attemptIndex < 50; attemptIndex++) {
    const base = portRangeStart + ((seed + attemptIndex * 7919 + Math.floor(Math.random() * 1000)) % slotCount) * count;
    let allFree = true;
    for (let offset = 0; offset < count && allFree; offset++) allFree = await isPortFree(base + offset);
    if (allFree) return base;
  }
  throw new Error(`No ${count} consecutive free ports found`);
}

export async function runChaos(options: ChaosRunOptions): Promise<ChaosRunResult> {
  const log = options.log ?? (() => undefined);
  assert(options.replicas <= options.stores, "a shard's replicas are on distinct stores");
  const runDir = mkdtempSync(join(tmpdir(), `ukv-chaos-${options.seed}-`));
  const cluster = await ChaosCluster.create({
    binaryPath: options.binaryPath,
    runDir,
    storeCount: options.stores,
    shardCount: options.shards,
    replicas: options.replicas,
    portBase: await findFreePortBase(clusterPortCount(options.stores), options.seed),
    tickMs: 50,
    electionTicks: 20,
    snapshotEntriesThreshold: 2000,
    walSegmentSizeBytes,
  });
  const notes: string[] = [];
  let smallFileSystem: { storeId: number; fileSystem: SmallFileSystem } | null = null;
  if (options.nemeses.includes("disk-full")) {
    // The last store: not a metadata store when there are more than three.
    const storeId = cluster.storeIds.at(-1)!;
    const mounted = SmallFileSystem.mount(cluster.dataDirOf(storeId), diskFullSizeBytes);
    if (typeof mounted === "string") notes.push(`disk-full skipped: ${mounted}`);
    else smallFileSystem = { storeId, fileSystem: mounted };
  }
  for (const note of notes) log(note);
  const history = new History();
  const clock = (): number => performance.now();
  const router = new StoreRouter(cluster, clientRequestTimeoutMs);
  const nemesis = new Nemesis(cluster, {
    kinds: options.nemeses,
    seed: options.seed,
    quietMsMin: options.quietMsMin ?? 1000,
    quietMsMax: options.quietMsMax ?? 4000,
    holdMsMin: options.holdMsMin ?? 1000,
    holdMsMax: options.holdMsMax ?? 5000,
    smallFileSystem,
    binaryPath: options.binaryPath,
    clock,
  });
  const uniqueKeys = new Set<string>();
  const startedMs = clock();
  // A clean run removes its folder; anomalies, a harness error or --keep keep it.
  let keepRunDir = true;
  // Interrupted (Ctrl-C, kill): the stores would outlive the harness; stop them, keep the folder.
  const interrupted = (signal: NodeJS.Signals): void => {
    cluster.killAllNow();
    smallFileSystem?.fileSystem.unmount();
    log(`interrupted by ${signal}: stores killed, run folder kept: ${runDir}`);
    process.exit(signal === "SIGINT" ? 130 : 143);
  };
  process.once("SIGINT", interrupted);
  process.once("SIGTERM", interrupted);
  try {
    cluster.startAll();
    const started = await settle(cluster, startMsMax);
    if (started !== null) throw new Error(`The cluster did not start: ${started}`);
    log(
      `cluster up in ${Math.round(clock() - startedMs)} ms, ${runDir}: ${options.stores} stores (metadata on ${cluster.config.metaStores.join(",")}), ${options.shards} shard(s) x ${options.replicas}${smallFileSystem === null ? "" : `, store ${smallFileSystem.storeId} on a small file system`}; ${options.clientCount} clients for ${options.durationMs} ms, nemeses ${options.nemeses.join(",")}, seed ${options.seed}`,
    );
    const deadlineMs = clock() + options.durationMs;
    const contendedKeyCount = options.contendedKeyCount ?? 8;
    // A line a minute, so a long run shows it is alive (and how fast it goes) while it runs.
    const faultPhaseStartMs = clock();
    const progressTimer = setInterval(() => log(`fault phase, ${Math.round((clock() - faultPhaseStartMs) / 1000)} s: ${history.size} ops, ${nemesis.faultCount} faults`), progressIntervalMs);
    try {
      await Promise.all([
        runWorkload({ router, history, clock, deadlineMs, uniqueKeys, options: { clientCount: options.clientCount, contendedKeyCount, seed: options.seed, backoffMs: 50 } }),
        nemesis.run(deadlineMs),
      ]);
    } finally {
      clearInterval(progressTimer);
    }
    nemesis.healAll();
    log(`fault phase over: ${history.size} ops, ${nemesis.faultCount} faults`);
    // Kept before the slow part, so a run cut short after its faults still leaves its history.
    let phaseStartMs = clock();
    writeHistory(join(runDir, "history.jsonl"), history.ops());
    writeFileSync(join(runDir, "schedule.json"), JSON.stringify(nemesis.schedule, null, 1));
    const phaseDone = (what: string): void => {
      log(`${what} in ${Math.round(clock() - phaseStartMs)} ms`);
      phaseStartMs = clock();
    };
    phaseDone("fault-phase history written");
    const anomalies: Anomaly[] = [];
    const changesTopology = options.nemeses.includes("split") || options.nemeses.includes("move");
    if (nemesis.pendingMoves.length > 0) {
      // A move is resumable: rerun each that failed under the faults; with none left, it must complete.
      const resumed = await resumeMoves({ cluster, binaryPath: options.binaryPath, record: (action, targets) => nemesis.schedule.push({ atMs: Math.round(clock()), kind: "move", action, targets }) }, nemesis.pendingMoves);
      for (const note of resumed.notes) log(`move: ${note}`);
      notes.push(...resumed.notes.map((note) => `move: ${note}`));
      for (const problem of resumed.problems) anomalies.push({ kind: "liveness", detail: problem });
      phaseDone(`${nemesis.pendingMoves.length} failed move(s) resumed`);
    }
    if (changesTopology) await cluster.followTopology();
    if (options.nemeses.includes("membership") || changesTopology) {
      // Settling and convergence look at the replicas the shard leaders name, not a stale list.
      const reconciled = await reconcileMembership(cluster, settleMsMax / 2);
      for (const note of reconciled.notes) log(`membership: ${note}`);
      notes.push(...reconciled.notes.map((note) => `membership: ${note}`));
      for (const problem of reconciled.problems) anomalies.push({ kind: "liveness", detail: problem });
      notes.push(`final membership: ${cluster.shardGroups.map((group) => `shard ${group.groupId} = ${group.replicas.join(",")}`).join("; ")}`);
      phaseDone("membership reconciled");
    }
    const settled = await settle(cluster, settleMsMax);
    if (settled !== null) anomalies.push({ kind: "liveness", detail: settled });
    phaseDone(settled === null ? "settled" : "settle gave up");
    // The final ranges: whole and exactly once, owned by every member as the metadata lists them.
    const finalTopology = await settleTopology(cluster, changesTopology ? settleMsMax / 2 : 5000);
    anomalies.push(...checkTopology(finalTopology));
    for (const split of nemesis.unsettledSplits) {
      const outcome = split.childId === null ? "no new shard id was allocated" : finalTopology.layout?.has(split.childId) === true ? `completed: shard ${split.childId} exists` : `abandoned: shard ${split.childId} does not exist`;
      notes.push(`split of shard ${split.shardId} that failed under faults: ${outcome}`);
    }
    notes.push(`final ranges: ${cluster.ranges.ranges().map((range) => `shard ${range.shardId} ${formatRange(range)}`).join("; ")}`);
    phaseDone(`final topology of ${finalTopology.layout?.size ?? 0} shards read`);
    const keys = [...Array.from({ length: contendedKeyCount }, (_, index) => `c${index}`), ...uniqueKeys];
    const { finalValues, unreadable } = await readFinalValues(router, history, keys, log);
    for (const [shardId, detail] of unreadable) anomalies.push({ kind: "liveness", detail: `Shard ${shardId} could not be read after the faults stopped (${detail}); its other keys were not read back` });
    phaseDone(`linearizable final reads of ${keys.length} keys`);
    const readableKeys = unreadable.size === 0 ? keys : keys.filter((key) => !unreadable.has(router.shardOf(key)));
    const replicaValues = await readReplicas(cluster, router, readableKeys, anomalies, log);
    phaseDone("follower reads on every replica");
    anomalies.push(...checkKeyOwnership(await probeKeyOwnership(cluster, router, readableKeys)));
    phaseDone("key ownership probed");
    const ops = history.ops();
    const checked = checkHistory(ops, finalValues, { unreadKeys: new Set(keys.filter((key) => !finalValues.has(key))) });
    explainLinearizabilityAnomalies(checked.anomalies, ops);
    const fatal = cluster.fatalLogLines();
    if (fatal.alertLineCount > 0) notes.push(`${fatal.alertLineCount} CRITICAL shard-unavailable alert lines of the stores' routing (expected under faults, not counted as crashes)`);
    anomalies.push(...checked.anomalies, ...checkConvergence(replicaValues), ...checkCrashes(cluster.exits, fatal.lines));
    phaseDone(`checkers over ${ops.length} ops`);
    const result: ChaosRunResult = {
      seed: options.seed,
      runDir: null,
      durationMs: Math.round(clock() - startedMs),
      opCount: ops.length,
      okCount: ops.filter((op) => op.outcome === "ok").length,
      unknownCount: ops.filter((op) => op.outcome === "unknown").length,
      failCount: ops.filter((op) => op.outcome === "fail").length,
      faultCount: nemesis.faultCount,
      faultCountByKind: Object.fromEntries(nemesis.faultCountByKind),
      schedule: nemesis.schedule,
      anomalies,
      keyCount: keys.length,
      notes,
    };
    if (anomalies.length > 0 || options.keep === true) {
      writeHistory(join(runDir, "history.jsonl"), ops);
      writeFileSync(join(runDir, "seed"), `${options.seed}\n`);
      writeFileSync(join(runDir, "schedule.json"), JSON.stringify(nemesis.schedule, null, 1));
      writeFileSync(join(runDir, "anomalies.json"), JSON.stringify(anomalies, null, 1));
      writeFileSync(join(runDir, "options.json"), JSON.stringify({ ...options, log: undefined }, null, 1));
      result.runDir = runDir;
    } else keepRunDir = false;
    return result;
  } finally {
    process.off("SIGINT", interrupted);
    process.off("SIGTERM", interrupted);
    nemesis.stop();
    router.close();
    await cluster.destroy();
    smallFileSystem?.fileSystem.unmount();
    if (!keepRunDir) rmSync(runDir, { recursive: true, force: true });
    else log(`run folder kept: ${runDir}`);
  }
}

/** Adds to each linearizability anomaly the first op that made its key fail, and the ops around it. */
function explainLinearizabilityAnomalies(anomalies: Anomaly[], ops: readonly CompletedOp[]): void {
  const failedKeys = new Set(anomalies.filter((anomaly) => anomaly.kind === "linearizability" && anomaly.key !== undefined).map((anomaly) => anomaly.key!));
  if (failedKeys.size === 0) return;
  const opsByKey = new Map<string, CompletedOp[]>();
  for (const op of ops) {
    if (!failedKeys.has(op.key)) continue;
    let list = opsByKey.get(op.key);
    if (list === undefined) opsByKey.set(op.key, (list = []));
    list.push(op);
  }
  for (const anomaly of anomalies) {
    if (anomaly.kind !== "linearizability" || anomaly.key === undefined) continue;
    const explanation = explainViolation(opsByKey.get(anomaly.key) ?? []);
    if (explanation !== null) anomaly.detail += `\n${formatExplanation(explanation)}`;
  }
}

/** Every store's replica statuses by group id (one STATUS a store); a store that does not answer is absent. */
async function replicaStatuses(cluster: ChaosCluster): Promise<Map<number, Map<number, GroupStatusLike>>> {
  const byStore = await Promise.all(cluster.storeIds.map(async (storeId) => [storeId, await cluster.storeStatus(storeId)] as const));
  const byGroup = new Map<number, Map<number, GroupStatusLike>>();
  for (const [storeId, status] of byStore) {
    for (const group of status?.groups ?? []) {
      if (group.groupId === undefined) continue;
      let statuses = byGroup.get(group.groupId);
      if (statuses === undefined) byGroup.set(group.groupId, (statuses = new Map()));
      statuses.set(storeId, group);
    }
  }
  return byGroup;
}

/**
 * Waits until every group (metadata group included) has a leader among its current replicas and
 * all of them applied the leader's commit index; null = settled, else what was still wrong.
 */
async function settle(cluster: ChaosCluster, timeoutMs: number): Promise<string | null> {
  const deadline = Date.now() + timeoutMs;
  let lastProblem = "";
  while (Date.now() < deadline) {
    lastProblem = "";
    const statuses = await replicaStatuses(cluster);
    for (const group of cluster.groups) {
      const ofGroup = statuses.get(group.groupId) ?? new Map<number, GroupStatusLike>();
      const replicaStatuses = group.replicas.map((storeId) => ofGroup.get(storeId) ?? null);
      const leader = replicaStatuses.find((status) => status?.role === "leader") ?? null;
      if (leader === null) {
        lastProblem = `group ${group.groupId} has no leader among stores ${group.replicas.join(",")}`;
        break;
      }
      const target = leader.commitIndex ?? 0;
      if (!replicaStatuses.every((status) => status !== null && (status.appliedIndex ?? 0) >= target)) {
        lastProblem = `group ${group.groupId}: applied ${replicaStatuses.map((status, index) => `${group.replicas[index]}:${status?.appliedIndex ?? "down"}`).join("/")} < commit ${target}`;
        break;
      }
    }
    if (lastProblem === "") return null;
    await Bun.sleep(200);
  }
  return `The cluster did not settle within ${timeoutMs} ms: ${lastProblem}`;
}

/** Logs progress of a long final-read loop (100,000 keys and more) about every tenth of the way. */
function progressLogger(what: string, total: number, log: (line: string) => void): (done: number) => void {
  const step = Math.max(finalReadBatchCount, Math.ceil(total / 10));
  let nextMark = step;
  return (done) => {
    if (total < 100_000 || done < nextMark || done >= total) return;
    log(`${what}: ${done}/${total}`);
    nextMark = done + step;
  };
}

/**
 * Linearizable GETs of every key, routed by the stores (each attempt through the next store),
 * recorded in the history. A key that fails every attempt marks its shard unreadable: the shard's
 * remaining keys are skipped (one liveness anomaly instead of hours of timeouts), and the caller
 * leaves them out of the lost-write check.
 */
async function readFinalValues(router: StoreRouter, history: History, keys: readonly string[], log: (line: string) => void): Promise<{ finalValues: Map<string, string | null>; unreadable: Map<number, string> }> {
  const finalValues = new Map<string, string | null>();
  const unreadable = new Map<number, string>();
  const stores = router.storeIds;
  const progress = progressLogger("linearizable final reads", keys.length, log);
  for (let start = 0; start < keys.length; start += finalReadBatchCount) {
    progress(start);
    const batch = keys.slice(start, start + finalReadBatchCount);
    await Promise.all(
      batch.map(async (key, batchIndex) => {
        const shardId = router.shardOf(key);
        let lastAnswer = "";
        for (let attemptIndex = 0; attemptIndex < finalReadAttemptCountMax && !unreadable.has(shardId); attemptIndex++) {
          const store = stores[(start + batchIndex + attemptIndex) % stores.length]!;
          const id = history.invoke({ client: -1, kind: "get", key, node: store });
          const response = await router.routed(store, "GET", key, { linearizable: true });
          if (response.code === "OK" || response.code === "NOT_FOUND") {
            history.complete(id, "ok", decodeValue(response));
            finalValues.set(key, decodeValue(response));
            return;
          }
          history.complete(id, "fail");
          lastAnswer = `store ${store}: ${response.code} ${response.message}`;
          await Bun.sleep(100);
        }
        if (!unreadable.has(shardId)) unreadable.set(shardId, `key ${key}: ${finalReadAttemptCountMax} linearizable GETs failed, the last with ${lastAnswer}`);
      }),
    );
  }
  return { finalValues, unreadable };
}

/**
 * A follower GET of every key on every CURRENT replica of its shard (shard-tagged, so the store's
 * own replica answers; after settle all applied alike). A replica that still cannot answer some
 * keys after a few retries is reported once as a `liveness` anomaly and left out of the
 * convergence check (rather than one timeout per key).
 */
async function readReplicas(cluster: ChaosCluster, router: StoreRouter, keys: readonly string[], anomalies: Anomaly[], log: (line: string) => void): Promise<Map<number, Map<number, Map<string, string | null>>>> {
  const result = new Map<number, Map<number, Map<string, string | null>>>();
  const keysByShard = new Map<number, string[]>();
  for (const key of keys) {
    const shardId = router.shardOf(key);
    let list = keysByShard.get(shardId);
    if (list === undefined) keysByShard.set(shardId, (list = []));
    list.push(key);
  }
  for (const shard of cluster.shardGroups) {
    const replicas = new Map<number, Map<string, string | null>>();
    result.set(shard.groupId, replicas);
    const shardKeys = keysByShard.get(shard.groupId) ?? [];
    for (const storeId of shard.replicas) {
      const values = new Map<string, string | null>();
      const progress = progressLogger(`follower reads, shard ${shard.groupId} on store ${storeId}`, shardKeys.length, log);
      let unanswered: string | null = null;
      for (let start = 0; start < shardKeys.length && unanswered === null; start += finalReadBatchCount) {
        progress(start);
        let pending = shardKeys.slice(start, start + finalReadBatchCount);
        for (let attemptIndex = 0; attemptIndex < replicaReadAttemptCountMax && pending.length > 0; attemptIndex++) {
          if (attemptIndex > 0) await Bun.sleep(200);
          const responses = await Promise.all(pending.map((key) => router.replicaGet(storeId, shard.groupId, key)));
          const failed: string[] = [];
          pending.forEach((key, index) => {
            const response = responses[index];
            assert(response !== undefined, "one response per key");
            if (response.code === "OK" || response.code === "NOT_FOUND") values.set(key, decodeValue(response));
            else failed.push(`${key}: ${response.code} ${response.message}`);
          });
          pending = pending.filter((key) => !values.has(key));
          if (pending.length > 0 && attemptIndex === replicaReadAttemptCountMax - 1) unanswered = failed[0] ?? "";
        }
      }
      if (unanswered !== null) {
        anomalies.push({ kind: "liveness", detail: `The replica of shard ${shard.groupId} on store ${storeId} did not answer follower reads after settling (${replicaReadAttemptCountMax} attempts), e.g. ${unanswered}` });
        continue;
      }
      replicas.set(storeId, values);
    }
  }
  return result;
}
