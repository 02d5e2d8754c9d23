// The simulator's command line.
//   npm run sim -- --seed S            replay one seed verbosely (options, every event, result)
//   npm run sim -- --seeds N [--from S] sweep seeds S..S+N-1 (default S=1) with a progress line
//   add --mutation NAME to run with a deliberate bug (src/sim/mutations.ts) the checkers must catch
//   add --safety-ticks-max T to cut each seed's safety phase (as the in-test sweep does, T=150)
// Exit status: 0 all passed, 129 safety violation, 128 crash (an assertion or exception),
// 127 liveness violation, 2 bad usage. A failure prints its seed, property and last events.
import { isSimMutation, simMutationNames, type SimMutation } from "../src/sim/mutations.ts";
import { formatSimOptions, pickSimOptions, type SimOptions } from "../src/sim/options.ts";
import { formatFailure } from "../src/sim/report.ts";
import { exitCodeOf, exitCodeOk, exitCodeUsage, runSeed, type RunOptions, type SimResult } from "../src/sim/run.ts";
import { addSimStats, emptySimStats, type SimStats } from "../src/sim/stats.ts";
import { formatTraceEvent } from "../src/sim/trace.ts";

/** Failures printed in full during a sweep; the rest are listed by seed. */
const failuresDetailedMax = 3;
const progressIntervalMs = 1000;

interface Args {
  seed: number | null;
  seeds: number;
  from: number;
  mutation: SimMutation | undefined;
  safetyTicksMax: number | null;
}

function usage(message: string): never {
  console.error(`${message}\nUsage: npm run sim -- --seed S | --seeds N [--from S] [--mutation ${simMutationNames.join("|")}] [--safety-ticks-max T]`);
  process.exit(exitCodeUsage);
}

function parseCount(flag: string, text: string | undefined, min: number): number {
  const value = Number(text);
  if (text === undefined || !Number.isSafeInteger(value) || value < min) usage(`Bad value for ${flag}: ${text ?? "(none)"}, must be an integer >= ${min}`);
  return value;
}

function parseMutation(text: string | undefined): SimMutation {
  if (text === undefined || !isSimMutation(text)) usage(`Bad value for --mutation: ${text ?? "(none)"}, must be one of ${simMutationNames.join(", ")}`);
  return text;
}

function parseArgs(argv: readonly string[]): Args {
  const args: Args = { seed: null, seeds: 0, from: 1, mutation: undefined, safetyTicksMax: null };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    if (flag === "--seed") args.seed = parseCount(flag, argv[++i], 0);
    else if (flag === "--seeds") args.seeds = parseCount(flag, argv[++i], 1);
    else if (flag === "--from") args.from = parseCount(flag, argv[++i], 0);
    else if (flag === "--mutation") args.mutation = parseMutation(argv[++i]);
    else if (flag === "--safety-ticks-max") args.safetyTicksMax = parseCount(flag, argv[++i], 1);
    else usage(`Unknown argument: ${flag}`);
  }
  if ((args.seed === null) === (args.seeds === 0)) usage("Give exactly one of --seed or --seeds");
  return args;
}

function printFailure(result: SimResult): void {
  console.error(`\n${formatFailure(result)}`);
}

function formatStats(stats: SimStats): string {
  return Object.entries(stats)
    .map(([name, value]) => `${name}=${value}`)
    .join(" ");
}

function runOptions(args: Args): RunOptions {
  const cut = args.safetyTicksMax;
  return {
    ...(args.mutation === undefined ? {} : { mutation: args.mutation }),
    ...(cut === null ? {} : { adjust: (options: SimOptions) => ({ ...options, safetyTicks: Math.min(options.safetyTicks, cut) }) }),
  };
}

async function replay(seed: number, args: Args): Promise<number> {
  runningSeed = seed;
  const options = runOptions(args);
  const picked = pickSimOptions(seed);
  for (const line of formatSimOptions(options.adjust === undefined ? picked : options.adjust(picked))) console.log(line);
  const result = await runSeed(seed, { ...options, sink: (event) => console.log(formatTraceEvent(event)) });
  console.log(`seed ${seed}: ${result.outcome} after ${result.ticks} ticks; ${formatStats(result.stats)}`);
  if (result.outcome !== "ok") printFailure(result);
  return unhandledSeeds.has(seed) ? exitCodeOf("crash") : exitCodeOf(result.outcome);
}

/**
 * Seeds during which a promise rejected with nobody listening: a crash of that seed (a store
 * process would log it as an error and exit non-zero). The seed running is the one to blame:
 * runs are sequential and share nothing.
 */
const unhandledSeeds = new Set<number>();
let runningSeed = 0;
process.on("unhandledRejection", (error: unknown) => {
  if (!unhandledSeeds.has(runningSeed)) console.error(`seed ${runningSeed}: crash: unhandled rejection: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
  unhandledSeeds.add(runningSeed);
});

async function sweep(from: number, count: number, args: Args): Promise<number> {
  const startMs = performance.now();
  let lastProgressMs = startMs;
  const failures: SimResult[] = [];
  const total = emptySimStats();
  const progress = (done: number): string => {
    const seconds = (performance.now() - startMs) / 1000;
    return `seeds ${done}/${count} (${from}..${from + done - 1}), ${(done / Math.max(seconds, 1e-3)).toFixed(1)} seeds/s, ${seconds.toFixed(1)} s, failures ${failures.length}`;
  };
  for (let done = 0; done < count; done++) {
    runningSeed = from + done;
    const ran = await runSeed(from + done, runOptions(args));
    const result: SimResult = unhandledSeeds.has(from + done) && ran.outcome === "ok" ? { ...ran, outcome: "crash", property: "crash", message: "unhandled rejection" } : ran;
    addSimStats(total, result.stats);
    if (result.outcome !== "ok") {
      failures.push(result);
      if (failures.length <= failuresDetailedMax) printFailure(result);
    }
    const nowMs = performance.now();
    if (nowMs - lastProgressMs >= progressIntervalMs) {
      lastProgressMs = nowMs;
      console.error(progress(done + 1));
    }
  }
  console.log(progress(count));
  console.log(`exercised: ${formatStats(total)}`);
  if (failures.length === 0) return exitCodeOk;
  console.log(`failing seeds: ${failures.map((f) => `${f.seed} (${f.outcome}: ${f.property})`).join(", ")}`);
  // The most serious kind decides the status: safety, then crash, then liveness.
  const codes = failures.map((f) => exitCodeOf(f.outcome));
  return Math.max(...codes);
}

const args = parseArgs(process.argv.slice(2));
process.exit(args.seed !== null ? await replay(args.seed, args) : await sweep(args.from, args.seeds, args));
