// The chaos harness's checkers fail against a deliberately broken real node (issue 19): the test
// builds a mutant `ukv` (src/store/build-mutation.ts, `bun build --compile --define
// UKV_BUILD_MUTATION=...`) into a temporary folder, runs a short chaos run of 3 stores and 1 shard
// under pause against it, and asserts the run reports an anomaly of the kind the mutation
// must cause, by name, trying the seeds of the case in turn until one does. About 35 to 100 s a run: a 30 s fault phase, then the harness's 60 s settle, which a
// shard whose replicas hold different committed logs never passes. It skips, with a SKIP line, only if the mutant cannot be built.
import { expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import type { Anomaly } from "../../src/chaos/checkers.ts";
import { runChaos } from "../../src/chaos/run.ts";
import type { BuildMutation } from "../../src/store/build-mutation.ts";

const repoDir = resolve(import.meta.dir, "../..");

interface MutantCase {
  mutation: BuildMutation;
  /** The anomaly kinds that name the rule it breaks: the run must report at least one. */
  anomalyKinds: readonly Anomaly["kind"][];
  /**
   * Tried in turn until one run reports the anomaly, which is a matter of timing: the damage is
   * done by entries the mutant leader committed and applied alone that its followers never got.
   * With one Ready at a time, proposals that arrived during the leader's fdatasync waited unsent
   * until it returned, so a SIGSTOP nearly always froze some; the pipelined loop broadcasts them
   * in the next turn, the window is one turn, and one schedule catches it about one run in three
   * on a busy machine (the old loop: 3 runs of 3).
   */
  seeds: readonly number[];
  durationMs: number;
}

// Commit on a minority: a leader applies and acknowledges entries no majority holds; after a pause
// past an election a new leader overwrites them on the rest, so the replicas end holding different values
// for a key (divergence; their committed logs differ, so the shard also never settles: liveness),
// or an acknowledged write is gone from the final reads (lost-write).
const mutantCases: readonly MutantCase[] = [{ mutation: "unsafe-commit", anomalyKinds: ["divergence", "lost-write"], seeds: [1, 2, 3, 4], durationMs: 30_000 }];

/**
 * The entry points `npm run build:bin` compiles (main, and the read pool's Worker): read from
 * package.json so the mutant is the real binary but for its mutation (a mutant without the Worker
 * entry starts no store).
 */
function binaryEntryPoints(): string[] {
  const packageJson = JSON.parse(readFileSync(join(repoDir, "package.json"), "utf8")) as { scripts: Record<string, string> };
  const words = (packageJson.scripts["build:bin"] ?? "").split(/\s+/);
  const entries = words.filter((word) => word.endsWith(".ts"));
  if (entries.length === 0) throw new Error(`package.json's build:bin names no .ts entry point: ${packageJson.scripts["build:bin"]}`);
  return entries;
}

function buildMutant(mutation: BuildMutation, outDir: string): string | { skip: string } {
  const binaryPath = join(outDir, `ukv-${mutation}`);
  const built = Bun.spawnSync({
    cmd: [process.execPath, "build", "--compile", ...binaryEntryPoints(), "--outfile", binaryPath, "--define", `UKV_BUILD_MUTATION=${JSON.stringify(mutation)}`],
    cwd: repoDir,
    stdout: "pipe",
    stderr: "pipe",
  });
  if (built.exitCode !== 0) return { skip: `bun build --compile of the ${mutation} mutant failed: ${built.stderr.toString().slice(0, 500)}` };
  return binaryPath;
}

for (const mutantCase of mutantCases) {
  test(`a ${mutantCase.mutation} node is caught by the chaos checkers as ${mutantCase.anomalyKinds.join(" or ")}`, async () => {
    const outDir = mkdtempSync(join(tmpdir(), "ukv-broken-node-"));
    try {
      const binaryPath = buildMutant(mutantCase.mutation, outDir);
      if (typeof binaryPath !== "string") {
        console.log(`SKIP ${binaryPath.skip}`);
        return;
      }
      const seen: string[] = [];
      let caught = false;
      for (const seed of mutantCase.seeds) {
        const startedMs = performance.now();
        const result = await runChaos({
          binaryPath,
          seed,
          durationMs: mutantCase.durationMs,
          clientCount: 8,
          stores: 3,
          shards: 1,
          replicas: 3,
          // The bug shows when a leader is paused (SIGSTOP) for longer than an election (20 ticks of
          // 50 ms, randomized up to twice that) and, on SIGCONT, still believes it leads: it commits
          // the client writes queued while it slept on its own and acknowledges them, and the new
          // leader's log replaces them. Hence pauses only, holds past an election, short gaps.
          nemeses: ["pause"],
          quietMsMin: 300,
          quietMsMax: 1000,
          holdMsMin: 2500,
          holdMsMax: 5000,
        });
        const kinds = [...new Set(result.anomalies.map((anomaly) => anomaly.kind))];
        console.log(`broken node ${mutantCase.mutation}: seed ${seed}, ${Math.round(performance.now() - startedMs)} ms, ${result.opCount} ops, ${result.faultCount} faults, anomalies ${kinds.join(",") || "none"}, folder ${result.runDir}`);
        // The faults must have happened, or a clean run would prove nothing either way.
        expect(result.faultCount).toBeGreaterThan(0);
        seen.push(`seed ${seed}: ${kinds.join(",") || "none"}`);
        if (result.runDir !== null) rmSync(result.runDir, { recursive: true, force: true });
        if (kinds.some((kind) => mutantCase.anomalyKinds.includes(kind))) {
          caught = true;
          break;
        }
      }
      expect(caught, `the ${mutantCase.mutation} mutant must be reported as ${mutantCase.anomalyKinds.join(" or ")}, got ${seen.join("; ")}`).toBe(true);
    } finally {
      rmSync(outDir, { recursive: true, force: true });
    }
  }, 600_000);
}
