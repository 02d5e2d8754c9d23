// The CI chaos run: a real 1-shard x 3 cluster (+ 3 meta members) of dist/ukv behind link
// proxies, 6 clients for 120 s (the issue's 2-minute CI run) under kill -9, SIGSTOP and partitions; every checker must pass
// (linearizability per key, no lost acknowledged write, no phantom follower read, replicas
// converge, no unexpected exit). A failure prints the folder with history, seed, schedule and logs.
import { expect, test } from "bun:test";
import { existsSync } from "node:fs";
import { resolve } from "node:path";
import { runChaos } from "../../src/chaos/run.ts";

const binaryPath = resolve(import.meta.dir, "../../dist/ukv");

test("under kill, pause and partition faults no acknowledged write is lost and every checker passes", async () => {
  expect(existsSync(binaryPath)).toBe(true);
  const seed = Number(process.env.UKV_CHAOS_SEED ?? 9001);
  const result = await runChaos({
    binaryPath,
    seed,
    durationMs: 120_000,
    clientCount: 6,
    shards: 1,
    replicas: 3,
    nemeses: ["kill", "pause", "partition"],
    quietMsMin: 500,
    quietMsMax: 2500,
    holdMsMin: 1000,
    holdMsMax: 4000,
  });
  const report = `seed ${seed}, ${result.opCount} ops, ${result.faultCount} faults, folder ${result.runDir}\n${result.anomalies.map((anomaly) => `${anomaly.kind}: ${anomaly.detail}`).join("\n")}`;
  expect(result.anomalies, report).toEqual([]);
  // The run must have done real work under real faults, or passing proves nothing.
  expect(result.faultCount).toBeGreaterThanOrEqual(10);
  expect(result.okCount).toBeGreaterThan(500);
  expect(new Set(result.schedule.map((event) => event.kind))).toContain("kill");
}, 300_000);
