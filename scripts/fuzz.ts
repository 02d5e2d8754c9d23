// `npm run fuzz -- [--cases N] [--seed S] [--from CASE_INDEX] [--target raft-frames,client-frames,resp,config-yaml,wal,snapshot]`
// Seeded fuzzing of every decoder (src/chaos/fuzz.ts). Default 1,000,000 cases per target (the
// file-based targets, wal and snapshot, take far longer per case). Exit 1 when any case failed;
// each failure prints the seed and case index that replay it.
import { fuzzTarget, fuzzTargetNames, type FuzzTargetName } from "../src/chaos/fuzz.ts";

function argValue(name: string): string | undefined {
  const index = process.argv.indexOf(`--${name}`);
  return index < 0 ? undefined : process.argv[index + 1];
}

async function main(): Promise<number> {
  const caseCount = Number(argValue("cases") ?? 1_000_000);
  const seed = Number(argValue("seed") ?? Math.floor(Math.random() * 1_000_000));
  if (!Number.isInteger(caseCount) || caseCount < 1) throw new Error(`--cases must be a positive integer`);
  if (!Number.isInteger(seed)) throw new Error(`--seed must be an integer`);
  const names = (argValue("target") ?? fuzzTargetNames.join(",")).split(",");
  for (const name of names) if (!(fuzzTargetNames as readonly string[]).includes(name)) throw new Error(`Unknown target ${name}: expected some of ${fuzzTargetNames.join(",")}`);
  let failed = false;
  for (const name of names as FuzzTargetName[]) {
    const result = await fuzzTarget(name, {
      seed,
      caseCount,
      firstCaseIndex: Number(argValue("from") ?? 0),
      onProgress: (doneCount, failureCount) => console.log(`${name}: ${doneCount} of ${caseCount} cases, ${failureCount} failures so far`),
    });
    const stoppedEarly = result.caseCount < caseCount ? ` (stopped early: ${caseCount} asked)` : "";
    console.log(`${name}: ${result.caseCount} cases${stoppedEarly}, seed ${seed}, ${result.failureCount} failures, ${result.elapsedMs} ms`);
    for (const failure of result.failures) console.log(`  FAIL case ${failure.caseIndex} (replay: --target ${name} --seed ${seed} --from ${failure.caseIndex} --cases 1): ${failure.message}`);
    failed ||= result.failureCount > 0;
  }
  return failed ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(error instanceof Error ? (error.stack ?? error.message) : String(error));
    process.exit(2);
  },
);
