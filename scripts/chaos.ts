// `npm run chaos -- [--seed N] [--duration-s S] [--clients C] [--stores N] [--shards S]
//                   [--replicas R] [--nemesis kill,pause,partition,torn-wal,disk-full,membership,split,move]
//                   [--binary PATH] [--keep]`
// Runs one chaos run against the compiled dist/ukv (or --binary: a copy, so a rebuild of dist/ukv
// during a long run does not change the binary restarted stores run) and prints the figures.
// Defaults: random seed, 60 s, 8 clients, 5 stores, 16 shards x 3, kill,pause,partition.
// Exit 0: no anomaly; 1: anomalies (their folder is printed); 2: the harness itself failed.
import { resolve } from "node:path";
import { nemesisKinds, type NemesisKind } from "../src/chaos/nemesis.ts";
import { runChaos } from "../src/chaos/run.ts";

const usage = `Usage: npm run chaos -- [--seed N] [--duration-s S] [--clients C] [--stores N] [--shards S]
                     [--replicas R] [--nemesis ${nemesisKinds.join(",")}]
                     [--binary PATH] [--keep]
Defaults: random seed, 60 s, 8 clients, 5 stores, 16 shards x 3 replicas, kill,pause,partition, dist/ukv.
Exit 0: no anomaly; 1: anomalies (the run folder is kept and printed); 2: the harness failed.`;
const knownFlags = new Set(["seed", "duration-s", "clients", "stores", "shards", "replicas", "nemesis", "binary", "keep", "help"]);

function parseArgs(argv: readonly string[]): Map<string, string> {
  const args = new Map<string, string>();
  for (let index = 0; index < argv.length; index++) {
    const name = argv[index]!;
    if (!name.startsWith("--")) throw new Error(`Unexpected argument: ${name}\n${usage}`);
    // A misspelt flag would otherwise be ignored and the run made with its default.
    if (!knownFlags.has(name.slice(2))) throw new Error(`Unknown flag: ${name}\n${usage}`);
    const next = argv[index + 1];
    if (next === undefined || next.startsWith("--")) args.set(name.slice(2), "true");
    else {
      args.set(name.slice(2), next);
      index++;
    }
  }
  return args;
}

function intArg(args: Map<string, string>, name: string, fallback: number): number {
  const text = args.get(name);
  if (text === undefined) return fallback;
  const value = Number(text);
  if (!Number.isInteger(value) || value < 0) throw new Error(`--${name} must be a non-negative integer: ${text}`);
  return value;
}

async function main(): Promise<number> {
  const args = parseArgs(process.argv.slice(2));
  if (args.has("help")) {
    console.log(usage);
    return 0;
  }
  const nemeses = (args.get("nemesis") ?? "kill,pause,partition").split(",").filter((name) => name !== "");
  for (const name of nemeses) {
    if (!(nemesisKinds as readonly string[]).includes(name)) throw new Error(`Unknown nemesis ${name}: expected some of ${nemesisKinds.join(",")}`);
  }
  const seed = intArg(args, "seed", Math.floor(Math.random() * 1_000_000));
  const result = await runChaos({
    binaryPath: resolve(args.get("binary") ?? resolve(import.meta.dir, "../dist/ukv")),
    seed,
    durationMs: intArg(args, "duration-s", 60) * 1000,
    clientCount: intArg(args, "clients", 8),
    stores: intArg(args, "stores", 5),
    shards: intArg(args, "shards", 16),
    replicas: intArg(args, "replicas", 3),
    nemeses: nemeses as NemesisKind[],
    keep: args.get("keep") === "true",
    log: (line) => console.log(line),
  });
  const partitionShapes = new Map<string, number>();
  for (const event of result.schedule) {
    if (event.kind !== "partition") continue;
    const shape = event.action.split(" ")[0]!;
    partitionShapes.set(shape, (partitionShapes.get(shape) ?? 0) + 1);
  }
  console.log(
    JSON.stringify({
      seed: result.seed,
      durationMs: result.durationMs,
      ops: result.opCount,
      ok: result.okCount,
      unknown: result.unknownCount,
      fail: result.failCount,
      keys: result.keyCount,
      faults: result.faultCount,
      faultsByKind: result.faultCountByKind,
      partitionShapes: Object.fromEntries(partitionShapes),
      anomalies: result.anomalies.length,
      notes: result.notes,
    }),
  );
  for (const anomaly of result.anomalies.slice(0, 20)) console.log(`ANOMALY ${anomaly.kind}${anomaly.key === undefined ? "" : ` ${anomaly.key}`}: ${anomaly.detail}`);
  if (result.runDir !== null) console.log(`run folder (history, seed, schedule, logs): ${result.runDir}`);
  return result.anomalies.length === 0 ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(error instanceof Error ? (error.stack ?? error.message) : String(error));
    process.exit(2);
  },
);
