// One chaos run end to end: start a real local cluster behind link proxies, run the clients and
// the nemesis for the fault phase, heal everything, let the cluster settle, read every key back
// (linearizable GETs through the leader, then a follower GET on every member), and check the
// history. A run with anomalies keeps its folder (history.jsonl, seed, schedule.json,
// anomalies.json, node logs, data dirs) and returns its path; a clean run removes it unless kept.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ChaosCluster } from "./chaos-cluster.ts";
import { checkConvergence, checkCrashes, checkHistory, type Anomaly } from "./checkers.ts";
import { SmallFileSystem } from "./disk-full.ts";
import { History, writeHistory } from "./history.ts";
import { reconcileMembership } from "./membership-nemesis.ts";
import { Nemesis, type NemesisKind, type ScheduleEvent } from "./nemesis.ts";
import { MemberRouter, decodeValue, runWorkload } from "./workload.ts";
import { assert } from "../util/assert.ts";

export interface ChaosRunOptions {
  binaryPath: string;
  seed: number;
  durationMs: number;
  clientCount: number;
  shards: number;
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
  schedule: ScheduleEvent[];
  anomalies: Anomaly[];
  keyCount: number;
  notes: string[];
}

/** Time for the cluster to elect leaders and catch every member up after the faults stop. */
const settleMsMax = 60_000;
const finalReadAttemptCountMax = 20;
const finalReadBatchCount = 256;
const replicaReadAttemptCountMax = 5;
const diskFullSizeBytes = 48 * 1024 * 1024;
const walSegmentSizeBytes = 8 * 1024 * 1024;
/** Spare member slots per shard when the membership nemesis runs (each add uses one). */
const spareCountPerShard = 6;

async function isPortFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once("error", () => resolve(false));
    server.listen(port, "127.0.0.1", () => server.close(() => resolve(true)));
  });
}

async function findFreePortBase(count: number, seed: number): Promise<number> {
  for (let attemptIndex = 0; attemptIndex < 50; attemptIndex++) {
    // Below the kernel's ephemeral range (32768+ on Linux): while a member is down, an outgoing
    // connection's source port (a proxy's, a client's) must not be able to take its listen port.
    const base = 10000 + ((seed + attemptIndex * 7919 + Math.floor(Math.random() * 1000)) % 1000) * 22;
    let allFree = true;
    for (let offset = 0; offset < count && allFree; offset++) allFree = await isPortFree(base + offset);
    if (allFree) return base;
  }
  throw new Error(`No ${count} consecutive free ports found`);
}

export async function runChaos(options: ChaosRunOptions): Promise<ChaosRunResult> {
  const log = options.log ?? (() => undefined);
  const runDir = mkdtempSync(join(tmpdir(), `ukv-chaos-${options.seed}-`));
  const nodeCount = 3 + options.shards * options.replicas;
  const spareCount = options.nemeses.includes("membership") ? spareCountPerShard : 0;
  const cluster = await ChaosCluster.create({
    binaryPath: options.binaryPath,
    runDir,
    shards: options.shards,
    replicas: options.replicas,
    spareCountPerShard: spareCount,
    portBase: await findFreePortBase(2 * nodeCount + 2 + 2 * spareCount * options.shards, options.seed),
    tickMs: 50,
    electionTicks: 20,
    snapshotEntriesThreshold: 2000,
    walSegmentSizeBytes,
  });
  const notes: string[] = [];
  let smallFileSystem: { nodeId: number; fileSystem: SmallFileSystem } | null = null;
  if (options.nemeses.includes("disk-full")) {
    const nodeId = cluster.dataMemberIds.at(-1)!;
    const mounted = SmallFileSystem.mount(cluster.dataDirOf(nodeId), diskFullSizeBytes);
    if (typeof mounted === "string") notes.push(`disk-full skipped: ${mounted}`);
    else smallFileSystem = { nodeId, fileSystem: mounted };
  }
  for (const note of notes) log(note);
  const history = new History();
  const clock = (): number => performance.now();
  const router = new MemberRouter(cluster, 2000);
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
  try {
    cluster.startAll();
    await waitForLeaders(cluster, router, 30_000);
    log(`cluster up in ${runDir}: ${options.shards} shard(s) x ${options.replicas} + 3 meta; ${options.clientCount} clients for ${options.durationMs} ms, nemeses ${options.nemeses.join(",")}, seed ${options.seed}`);
    const deadlineMs = clock() + options.durationMs;
    const contendedKeyCount = options.contendedKeyCount ?? 8;
    await Promise.all([
      runWorkload({ router, history, clock, deadlineMs, uniqueKeys, options: { clientCount: options.clientCount, contendedKeyCount, seed: options.seed, requestTimeoutMs: 2000, backoffMs: 50 } }),
      nemesis.run(deadlineMs),
    ]);
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
    if (options.nemeses.includes("membership")) {
      // Settling and convergence look at the members the shard leaders name, not a stale list.
      const reconciled = await reconcileMembership(cluster, settleMsMax / 2);
      for (const note of reconciled.notes) log(`membership: ${note}`);
      notes.push(...reconciled.notes.map((note) => `membership: ${note}`));
      for (const problem of reconciled.problems) anomalies.push({ kind: "liveness", detail: problem });
      notes.push(`final membership: ${cluster.groups.filter((group) => group.groupId !== 0).map((group) => `shard ${group.groupId} = ${group.members.map((member) => member.id).join(",")}`).join("; ")}`);
    }
    const settled = await settle(cluster, settleMsMax);
    if (settled !== null) anomalies.push({ kind: "liveness", detail: settled });
    phaseDone(settled === null ? "settled" : "settle gave up");
    const keys = [...Array.from({ length: contendedKeyCount }, (_, index) => `c${index}`), ...uniqueKeys];
    const { finalValues, unreadable } = await readFinalValues(router, history, keys, log);
    for (const [shardId, detail] of unreadable) anomalies.push({ kind: "liveness", detail: `Shard ${shardId} could not be read after the faults stopped (${detail}); its other keys were not read back` });
    phaseDone(`linearizable final reads of ${keys.length} keys`);
    const readableKeys = unreadable.size === 0 ? keys : keys.filter((key) => !unreadable.has(router.shardOf(key)));
    const replicaValues = await readReplicas(cluster, router, readableKeys, anomalies, log);
    phaseDone("follower reads on every member");
    const ops = history.ops();
    const checked = checkHistory(ops, finalValues, { unreadKeys: new Set(keys.filter((key) => !finalValues.has(key))) });
    anomalies.push(...checked.anomalies, ...checkConvergence(replicaValues), ...checkCrashes(cluster.exits, cluster.fatalLogLines()));
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
    nemesis.stop();
    router.close();
    await cluster.destroy();
    smallFileSystem?.fileSystem.unmount();
    if (!keepRunDir) rmSync(runDir, { recursive: true, force: true });
    else log(`run folder kept: ${runDir}`);
  }
}

async function waitForLeaders(cluster: ChaosCluster, router: MemberRouter, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (const group of cluster.groups) {
    for (;;) {
      const statuses = await Promise.all(group.members.map((member) => cluster.groupStatus(member.id)));
      const leaderIndex = statuses.findIndex((status) => status?.role === "leader");
      if (leaderIndex >= 0) {
        if (group.groupId !== 0) router.learn(group.groupId, -1, { id: 0, code: "NOT_LEADER", value: new Uint8Array(0), leaderAddress: group.members[leaderIndex]!.clientAddress, message: "", statusJson: "" });
        break;
      }
      if (Date.now() > deadline) throw new Error(`Group ${group.groupId} elected no leader within ${timeoutMs} ms`);
      await Bun.sleep(100);
    }
  }
}

/** Waits until every group has a leader and all its members applied the leader's commit index; null = settled. */
async function settle(cluster: ChaosCluster, timeoutMs: number): Promise<string | null> {
  const deadline = Date.now() + timeoutMs;
  let lastProblem = "";
  while (Date.now() < deadline) {
    lastProblem = "";
    for (const group of cluster.groups) {
      const statuses = await Promise.all(group.members.map((member) => cluster.groupStatus(member.id)));
      const leader = statuses.find((status) => status?.role === "leader") ?? null;
      if (leader === null) {
        lastProblem = `group ${group.groupId} has no leader`;
        break;
      }
      const target = leader.commitIndex ?? 0;
      if (!statuses.every((status) => status !== null && (status.appliedIndex ?? 0) >= target)) {
        lastProblem = `group ${group.groupId}: applied ${statuses.map((status) => status?.appliedIndex ?? "down").join("/")} < commit ${target}`;
        break;
      }
    }
    if (lastProblem === "") return null;
    await Bun.sleep(200);
  }
  return `The cluster did not settle within ${timeoutMs} ms after the faults stopped: ${lastProblem}`;
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
 * Linearizable GETs of every key through its shard's leader, recorded in the history. A key that
 * fails every attempt marks its shard unreadable: the shard's remaining keys are skipped (one
 * liveness anomaly instead of hours of timeouts), and the caller leaves them out of the
 * lost-write check.
 */
async function readFinalValues(router: MemberRouter, history: History, keys: readonly string[], log: (line: string) => void): Promise<{ finalValues: Map<string, string | null>; unreadable: Map<number, string> }> {
  const finalValues = new Map<string, string | null>();
  const unreadable = new Map<number, string>();
  const encoder = new TextEncoder();
  const progress = progressLogger("linearizable final reads", keys.length, log);
  for (let start = 0; start < keys.length; start += finalReadBatchCount) {
    progress(start);
    const batch = keys.slice(start, start + finalReadBatchCount);
    await Promise.all(
      batch.map(async (key) => {
        const shardId = router.shardOf(key);
        let lastAnswer = "";
        for (let attemptIndex = 0; attemptIndex < finalReadAttemptCountMax && !unreadable.has(shardId); attemptIndex++) {
          const member = router.leaderGuess(shardId);
          const id = history.invoke({ client: -1, kind: "get", key });
          const response = await router.client(member).get(encoder.encode(key), { linearizable: true });
          router.learn(shardId, member, response);
          if (response.code === "OK" || response.code === "NOT_FOUND") {
            history.complete(id, "ok", decodeValue(response));
            finalValues.set(key, decodeValue(response));
            return;
          }
          history.complete(id, "fail");
          lastAnswer = `${response.code} ${response.message}`;
          await Bun.sleep(100);
        }
        if (!unreadable.has(shardId)) unreadable.set(shardId, `key ${key}: ${finalReadAttemptCountMax} linearizable GETs failed, the last with ${lastAnswer}`);
      }),
    );
  }
  return { finalValues, unreadable };
}

/**
 * A follower GET of every key on every CURRENT member of its shard (after settle: all applied
 * alike). A member that still cannot answer some keys after a few retries is reported once as a
 * `liveness` anomaly and left out of the convergence check (rather than one timeout per key).
 */
async function readReplicas(cluster: ChaosCluster, router: MemberRouter, keys: readonly string[], anomalies: Anomaly[], log: (line: string) => void): Promise<Map<number, Map<number, Map<string, string | null>>>> {
  const encoder = new TextEncoder();
  const result = new Map<number, Map<number, Map<string, string | null>>>();
  for (const shard of cluster.groups.filter((group) => group.groupId !== 0)) {
    const members = new Map<number, Map<string, string | null>>();
    result.set(shard.groupId, members);
    const shardKeys = keys.filter((key) => router.shardOf(key) === shard.groupId);
    for (const member of shard.members) {
      const values = new Map<string, string | null>();
      const progress = progressLogger(`follower reads, shard ${shard.groupId} member ${member.id}`, shardKeys.length, log);
      let unanswered: string | null = null;
      for (let start = 0; start < shardKeys.length && unanswered === null; start += finalReadBatchCount) {
        progress(start);
        let pending = shardKeys.slice(start, start + finalReadBatchCount);
        for (let attemptIndex = 0; attemptIndex < replicaReadAttemptCountMax && pending.length > 0; attemptIndex++) {
          if (attemptIndex > 0) await Bun.sleep(200);
          const responses = await Promise.all(pending.map((key) => router.client(member.id).get(encoder.encode(key))));
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
        anomalies.push({ kind: "liveness", detail: `Member ${member.id} of shard ${shard.groupId} did not answer follower reads after settling (${replicaReadAttemptCountMax} attempts), e.g. ${unanswered}` });
        continue;
      }
      members.set(member.id, values);
    }
  }
  return result;
}
