// `ukv load --plan plan.json --input FILE --cluster ADDRS [...]`: loads a bulk input into a
// cluster, many keys per Raft entry (BATCH_SET), following the plan `ukv analyze` wrote. Checks
// before sending anything: the input is the plan's (fingerprint), a checkpoint of an earlier load
// is continued only with --resume, a non-empty cluster only with --into-existing; the cluster's
// layout is compared with the plan's (src/bulk/load-layout.ts). Arguments are parsed by hand like
// analyze's, so every mistake is one line on stderr and an exit status.
import { basename, dirname, extname, join, resolve } from "node:path";
import { Command, Option } from "clipanion";
import { parseColumnSelector } from "../bulk/reader.ts";
import { readPlan, type ShardPlan } from "../bulk/plan.ts";
import { fingerprintFile } from "../bulk/source.ts";
import { loadInput, type BatchAnswer, type LoadProgress, type LoadTarget } from "../bulk/load.ts";
import { readCheckpoint, type LoadCheckpoint } from "../bulk/load-checkpoint.ts";
import { compareLayout, createPlannedLayout, planBoundaries, type OwnedRange, type SplitAt } from "../bulk/load-layout.ts";
import { formatLoadProgressLine, formatLoadReport, type ShardCountRow } from "../bulk/load-report.ts";
import { formatCount } from "../bulk/summary.ts";
import { collectMemberReports } from "../client/cluster-status.ts";
import { MetaTopologySource } from "../client/meta-topology.ts";
import { ShardedClient } from "../client/sharded-client.ts";
import { AdminClient } from "../client/admin-client.ts";
import type { ClusterLayout, Topology } from "../client/topology.ts";
import { parseAddressList } from "../transport/meta-api.ts";
import { KvClient } from "../transport/kv-client.ts";
import { useCliPassword } from "./password.ts";
import type { KvResponse } from "../transport/kv-protocol.ts";
import { UkvError, type ErrorCode } from "../util/errors.ts";
import { batchSetPairCountMax, batchSetSizeBytesMax, loadBatchKeyCountDefault, loadBatchSizeBytesDefault, loadParallelCountMax } from "../util/limits.ts";
import { parsePositiveInt, reportCliError } from "./errors.ts";
import { createProgressReporter, type ProgressFormat, type ProgressReporter } from "./progress.ts";

const parallelDefault = 8;
const probeTimeoutMs = 2000;
/** A batch of a few MiB through a loaded store can take seconds; the loader resends after it. */
const batchRequestTimeoutMs = 15000;
const statusTimeoutMs = 3000;
/** 128 + SIGINT, as shells report an interrupted command. */
const interruptedExitStatus = 130;

const valueOptions = ["--plan", "--input", "--cluster", "--parallel", "--reject-file", "--checkpoint", "--batch-keys", "--batch-bytes", "--password"] as const;
const flagOptions = ["--resume", "--into-existing"] as const;
type ValueOption = (typeof valueOptions)[number];
type FlagOption = (typeof flagOptions)[number];

export interface LoadArguments {
  values: Map<ValueOption, string>;
  flags: Set<FlagOption>;
}

/** `--name value`, `--name=value` and the two flags; BAD_REQUEST on anything else. */
export function parseLoadArguments(args: readonly string[]): LoadArguments {
  const values = new Map<ValueOption, string>();
  const flags = new Set<FlagOption>();
  for (let index = 0; index < args.length; index += 1) {
    const arg = args[index] as string;
    if (!arg.startsWith("--")) throw new UkvError("BAD_REQUEST", `Unexpected argument ${JSON.stringify(arg)}: see ukv load --help`);
    const equals = arg.indexOf("=");
    const name = equals === -1 ? arg : arg.slice(0, equals);
    const flag = flagOptions.find((candidate) => candidate === name);
    if (flag !== undefined) {
      if (equals !== -1) throw new UkvError("BAD_REQUEST", `${flag} takes no value`);
      flags.add(flag);
      continue;
    }
    const option = valueOptions.find((candidate) => candidate === name);
    if (option === undefined) throw new UkvError("BAD_REQUEST", `Unknown option ${name}: see ukv load --help`);
    if (values.has(option)) throw new UkvError("BAD_REQUEST", `${option} given twice`);
    let value: string | undefined;
    if (equals !== -1) value = arg.slice(equals + 1);
    else {
      value = args[index + 1];
      index += 1;
    }
    if (value === undefined || value === "" || (equals === -1 && value.startsWith("--"))) throw new UkvError("BAD_REQUEST", `${option} needs a value`);
    values.set(option, value);
  }
  return { values, flags };
}

function requireOption(values: Map<ValueOption, string>, option: ValueOption): string {
  const value = values.get(option);
  if (value === undefined) throw new UkvError("BAD_REQUEST", `Missing ${option}: see ukv load --help`);
  return value;
}

function boundedInt(values: Map<ValueOption, string>, option: ValueOption, fallback: number, max: number): number {
  const text = values.get(option);
  if (text === undefined) return fallback;
  const value = parsePositiveInt(option, text);
  if (value > max) throw new UkvError("BAD_REQUEST", `${option} must be at most ${max}: ${value}`);
  return value;
}

/** `<dir>/<plan name without .json><suffix>`: files of a load live next to its plan. */
function besidePlan(planPath: string, suffix: string): string {
  const name = basename(planPath, extname(planPath));
  return join(dirname(planPath), `${name}${suffix}`);
}

/** The metadata stores among `addresses` (those answering TOPOLOGY); UNREACHABLE naming each answer when none does. */
/** Tries of one planned split before the load gives up (the topology trails a split by a report). */
const splitAttemptCountMax = 10;

async function findMetadataStores(addresses: readonly string[]): Promise<string[]> {
  const answers = await Promise.all(
    addresses.map(async (address) => {
      const client = new KvClient(address, { timeoutMs: probeTimeoutMs, connectTimeoutMs: probeTimeoutMs });
      try {
        const response = await client.request({ op: "TOPOLOGY", key: new Uint8Array(0), value: new Uint8Array(0), linearizable: false });
        if (response.code === "OK" && response.statusJson.includes('"topology"')) return { address, problem: null };
        return { address, problem: `${response.code}${response.message === "" ? "" : `: ${response.message}`}` };
      } finally {
        client.close();
      }
    }),
  );
  const found = answers.filter((answer) => answer.problem === null).map((answer) => answer.address);
  const refused = answers.find((answer) => answer.problem?.startsWith("UNAUTHENTICATED") === true);
  if (found.length === 0 && refused !== undefined) throw new UkvError("UNAUTHENTICATED", `${refused.address}: ${(refused.problem ?? "").replace(/^UNAUTHENTICATED: /, "")}`);
  if (found.length === 0) {
    throw new UkvError("UNREACHABLE", `No metadata store answered at ${addresses.join(", ")}: ${answers.map((answer) => `${answer.address} ${answer.problem ?? ""}`).join("; ")}`);
  }
  return found;
}

/** The topology's range map as half-open ranges. */
function clusterRanges(topology: Topology): OwnedRange[] {
  return topology.ranges.ranges().map((range) => ({ start: range.start, end: range.end + 1n, shardId: range.shardId }));
}

function layoutOf(topology: Topology): ClusterLayout {
  return { shards: [...topology.shards.values()].map((shard) => ({ id: shard.id, members: shard.members.map((member) => ({ id: member.id, clientAddress: member.clientAddress })) })) };
}

/** Keys each shard holds now: its leader's count (else the largest a replica reports), null when none answered. */
async function keysPerShard(topology: Topology): Promise<Map<number, number | null>> {
  const reports = await collectMemberReports(layoutOf(topology), { timeoutMs: statusTimeoutMs });
  const counts = new Map<number, number | null>();
  for (const shardId of topology.shards.keys()) {
    const answered = reports.filter((report) => report.shardId === shardId && report.status !== null);
    const leader = answered.find((report) => report.status?.role === "leader");
    counts.set(shardId, leader?.status?.keyCount ?? (answered.length === 0 ? null : Math.max(...answered.map((report) => report.status?.keyCount ?? 0))));
  }
  return counts;
}

const fatalCodes: ReadonlySet<string> = new Set(["BAD_REQUEST", "KEY_TOO_LARGE", "VALUE_TOO_LARGE", "INTERNAL"]);

/** The cluster as the loader's target: keys routed by the cluster's layout, batches through the routing client. */
class ClusterTarget implements LoadTarget {
  readonly #client: ShardedClient;

  constructor(client: ShardedClient) {
    this.#client = client;
  }

  shardOf(key: Uint8Array): number {
    return this.#client.shardOf(key);
  }

  async sendBatch(shardId: number, keys: Uint8Array[], values: Uint8Array[]): Promise<BatchAnswer> {
    return answerOf(await this.#client.batchSet(shardId, keys, values));
  }

  refresh(): Promise<void> {
    return this.#client.refreshTopology();
  }
}

function answerOf(response: KvResponse): BatchAnswer {
  const reason = response.message === "" ? response.code : `${response.code}: ${response.message}`;
  if (response.code === "OK") return { kind: "ok" };
  if (response.code === "WRONG_SHARD") return { kind: "wrong-shard", reason };
  if (fatalCodes.has(response.code)) return { kind: "fatal", code: response.code as ErrorCode, reason };
  return { kind: "retry", reason };
}

const loadProgressFormat: ProgressFormat<LoadProgress> = {
  barFormat: "load [{bar}] {percentage}% | {rows} rows | {rowRate} keys/s | {rejected} rejected | ETA {eta_formatted}",
  payload: (progress, seconds) => ({ rows: formatCount(progress.rowsLoaded), rowRate: formatCount(Math.round(progress.rowsLoaded / seconds)), rejected: formatCount(progress.rowsRejected) }),
  plainLine: formatLoadProgressLine,
};

/** The checkpoint to continue from (null for a fresh load), after the checks of --resume. */
function checkpointToResume(checkpointPath: string, resume: boolean, input: LoadCheckpoint["input"]): LoadCheckpoint | null {
  const checkpoint = readCheckpoint(checkpointPath);
  if (!resume) {
    if (checkpoint !== null) {
      throw new UkvError("BAD_REQUEST", `A checkpoint of an earlier load exists: ${checkpointPath} (${formatCount(checkpoint.recordsDone)} records done${checkpoint.complete ? ", complete" : ""}): pass --resume to continue it, or delete it to start over`);
    }
    return null;
  }
  if (checkpoint === null) throw new UkvError("NOT_FOUND", `No checkpoint to resume from: ${checkpointPath}`);
  if (checkpoint.input.sizeBytes !== input.sizeBytes || checkpoint.input.headTailSha256 !== input.headTailSha256) {
    throw new UkvError("BAD_REQUEST", `The checkpoint ${checkpointPath} is of another input (${checkpoint.input.path}, ${checkpoint.input.sizeBytes} bytes): delete it to start over`);
  }
  return checkpoint;
}

export class LoadCommand extends Command {
  static override paths = [["load"]];
  static override usage = Command.Usage({
    description: "Load a bulk input into a cluster, following the plan of `ukv analyze`",
    details: `
      Streams the input (never held in memory) and sends its rows to the shards that own them, many keys per Raft entry, in parallel; checkpoints its progress so that a killed load continues with --resume. Bad rows go to the reject file with their line number and reason. See docs/bulk-load.md.

      - \`--plan FILE\` (required): the plan written by \`ukv analyze\` (its format and columns are used)
      - \`--input FILE\` (required): the file the plan was made from (checked by its fingerprint)
      - \`--cluster ADDRS\` (required): client addresses HOST:PORT[,...] of the cluster's stores (at least one metadata store)
      - \`--password P\`: the cluster's requirepass (default: $UKV_PASSWORD)
      - \`--parallel K\`: batches in flight at once, 1..${loadParallelCountMax} (default ${parallelDefault})
      - \`--resume\`: continue the load of the checkpoint
      - \`--into-existing\`: load into a cluster that already holds keys
      - \`--reject-file F\`: where bad rows go (default: next to the plan, <plan>.rejects.tsv)
      - \`--checkpoint F\`: the checkpoint (default: next to the plan, <plan>.checkpoint.json)
      - \`--batch-keys N\`: rows per batch, at most ${batchSetPairCountMax} (default ${loadBatchKeyCountDefault})
      - \`--batch-bytes N\`: encoded bytes per batch, at most ${batchSetSizeBytesMax} (default ${loadBatchSizeBytesDefault})
    `,
    examples: [
      ["Load into the cluster of `ukv cluster up`", "ukv load --plan plan.json --input users.csv --cluster 127.0.0.1:7101"],
      ["Continue after the loader was killed", "ukv load --plan plan.json --input users.csv --cluster 127.0.0.1:7101 --resume"],
    ],
  });

  args = Option.Proxy();

  override async execute(): Promise<number> {
    if (this.args.includes("--help") || this.args.includes("-h")) {
      this.context.stdout.write(this.cli.usage(LoadCommand, { detailed: true }));
      return 0;
    }
    let progress: ProgressReporter<LoadProgress> | null = null;
    const closers: (() => Promise<void> | void)[] = [];
    const interrupt = new AbortController();
    let checkpointPathForMessage = "";
    try {
      const { values, flags } = parseLoadArguments(this.args);
      const planPath = requireOption(values, "--plan");
      const inputPath = requireOption(values, "--input");
      const addresses = parseAddressList(requireOption(values, "--cluster"));
      useCliPassword(values.get("--password"));
      const parallel = boundedInt(values, "--parallel", parallelDefault, loadParallelCountMax);
      const batchKeyCountMax = boundedInt(values, "--batch-keys", loadBatchKeyCountDefault, batchSetPairCountMax);
      const batchSizeBytesMax = boundedInt(values, "--batch-bytes", loadBatchSizeBytesDefault, batchSetSizeBytesMax);
      const checkpointPath = values.get("--checkpoint") ?? besidePlan(planPath, ".checkpoint.json");
      const rejectPath = values.get("--reject-file") ?? besidePlan(planPath, ".rejects.tsv");
      checkpointPathForMessage = checkpointPath;
      for (const [name, path] of [["--checkpoint", checkpointPath], ["--reject-file", rejectPath]] as const) {
        if (resolve(path) === resolve(inputPath) || resolve(path) === resolve(planPath)) throw new UkvError("BAD_REQUEST", `${name} ${path} is the input or the plan`);
      }
      const plan = await readPlan(planPath);
      const fingerprint = await fingerprintFile(inputPath);
      checkInputIsPlans(plan, fingerprint, inputPath);
      const input = { path: resolve(inputPath), sizeBytes: fingerprint.sizeBytes, headTailSha256: fingerprint.headTailSha256 };
      const resume = checkpointToResume(checkpointPath, flags.has("--resume"), input);
      if (resume?.complete === true) {
        this.context.stdout.write(`The load of ${checkpointPath} is complete: ${formatCount(resume.rowsLoaded)} rows loaded, ${formatCount(resume.rowsRejected)} rejected; nothing to do\n`);
        return 0;
      }

      const metaAddresses = await findMetadataStores(addresses);
      const source = await MetaTopologySource.connect({ metaAddresses });
      closers.push(() => source.close());
      const client = new ShardedClient({ topologySource: source, requestTimeoutMs: batchRequestTimeoutMs, retryWindowMs: batchRequestTimeoutMs });
      closers.push(() => client.close());
      const notes: string[] = [];
      let emptyCluster = false;
      if (resume === null) {
        const before = await keysPerShard(client.topology());
        const keyCount = [...before.values()].reduce<number>((sum, count) => sum + (count ?? 0), 0);
        if (keyCount > 0 && !flags.has("--into-existing")) {
          throw new UkvError("BAD_REQUEST", `The cluster is not empty (${formatCount(keyCount)} keys): pass --into-existing to load into it anyway`);
        }
        emptyCluster = keyCount === 0;
      }
      // The planned layout is created on an empty cluster with fewer shards than the plan, before
      // the first key: a split at each planned boundary it lacks (`ukv admin split --at HASH`).
      const admin = new AdminClient(metaAddresses);
      closers.push(() => admin.close());
      const splitAt: SplitAt = async (hash) => {
        for (let attemptIndex = 0; ; attemptIndex++) {
          // The topology may trail the previous split for a moment: ask its owner again on a refusal.
          const owner = client.topology().ranges.lookup(hash);
          if (owner.start === hash) return;
          try {
            await admin.split({ shardId: owner.shardId, at: hash });
            await client.refreshTopology();
            return;
          } catch (error) {
            if (attemptIndex >= splitAttemptCountMax) throw error;
            await Bun.sleep(200);
            await client.refreshTopology();
          }
        }
      };
      const clusterShardCount = client.topology().ranges.ranges().length;
      if (emptyCluster && clusterShardCount >= plan.shardCount) {
        // Shards are never merged: splitting a cluster that already has as many shards as the
        // plan would leave more shards than planned. Its equal ranges are kept.
        notes.push(`the empty cluster has ${clusterShardCount} shard(s), the plan ${plan.shardCount}: its layout is kept (start it with one shard to get the plan's exact ranges)`);
      } else if (emptyCluster) {
        const step = await createPlannedLayout(planBoundaries(plan), clusterRanges(client.topology()), splitAt);
        if (step.created) await client.refreshTopology();
        notes.push(step.description);
      }
      const comparison = compareLayout(plan, clusterRanges(client.topology()));
      notes.push(comparison.matches ? `${comparison.description}: per-shard counts are compared with the plan` : `the layouts differ (${comparison.description}): per-shard counts cannot be compared with the plan's`);
      const ordered = !(plan.totals.duplicateKeys === 0 && plan.totals.distinctKeys.method === "exact");
      notes.push(ordered ? "the input may repeat keys: one batch in flight per shard, so the last row of a key wins" : "no key repeats in the input (exact count): batches of a shard in flight at once");

      progress = createProgressReporter(process.stderr, loadProgressFormat);
      const reporter = progress;
      // Ctrl-C or SIGTERM: stop sending, write the checkpoint, say how to continue.
      const onSignal = (): void => interrupt.abort();
      process.once("SIGINT", onSignal);
      process.once("SIGTERM", onSignal);
      closers.push(() => {
        process.off("SIGINT", onSignal);
        process.off("SIGTERM", onSignal);
      });
      const result = await loadInput({
        signal: interrupt.signal,
        path: inputPath,
        format: plan.source.format,
        ...(plan.source.keyColumn === null ? {} : { keyColumn: parseColumnSelector(plan.source.keyColumn) }),
        ...(plan.source.valueColumn === null ? {} : { valueColumn: parseColumnSelector(plan.source.valueColumn) }),
        input,
        target: new ClusterTarget(client),
        parallel,
        ordered,
        batchKeyCountMax,
        batchSizeBytesMax,
        checkpointPath,
        rejectPath,
        resume,
        onProgress: (update) => reporter.update(update),
      });
      progress.stop();
      progress = null;

      const after = await keysPerShard(client.topology());
      const shards: ShardCountRow[] = [...client.topology().shards.keys()].sort((a, b) => a - b).map((shardId) => {
        const planIndex = comparison.matches ? comparison.shardIds.indexOf(shardId) : -1;
        return { shardId, loaded: result.loadedByShard.get(shardId) ?? 0, keysInShard: after.get(shardId) ?? null, planned: planIndex === -1 ? null : (plan.shards[planIndex]?.keys ?? null) };
      });
      if (result.rowsRejected > 0) notes.push(`${formatCount(result.rowsRejected)} rejected row(s) listed in ${rejectPath}`);
      this.context.stdout.write(formatLoadReport(result, shards, notes));
      return 0;
    } catch (error) {
      progress?.stop();
      if (interrupt.signal.aborted && error instanceof UkvError && error.code === "CLOSED") {
        this.context.stderr.write(`interrupted: the progress is in the checkpoint ${checkpointPathForMessage}: continue with --resume\n`);
        return interruptedExitStatus;
      }
      return reportCliError(this.context, error);
    } finally {
      for (const close of closers.reverse()) await close();
    }
  }
}

function checkInputIsPlans(plan: ShardPlan, fingerprint: { sizeBytes: number; headTailSha256: string }, inputPath: string): void {
  const planned = plan.source.fingerprint;
  if (planned.sizeBytes !== fingerprint.sizeBytes || planned.headTailSha256 !== fingerprint.headTailSha256) {
    throw new UkvError(
      "BAD_REQUEST",
      `${inputPath} is not the input the plan was made from (${plan.source.path}: ${planned.sizeBytes} bytes, sha256 ${planned.headTailSha256.slice(0, 12)}...; this file: ${fingerprint.sizeBytes} bytes, ${fingerprint.headTailSha256.slice(0, 12)}...): run ukv analyze on it again`,
    );
  }
}
