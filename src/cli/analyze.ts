// `ukv analyze --input FILE --shards N --out plan.json [...]`: one streaming pass over a bulk input
// (csv, tsv, jsonl, resp; gzip accepted), writes the shard plan that `ukv load` follows and prints
// a summary. Arguments are parsed here rather than by clipanion so every mistake (unknown option,
// missing value, bad number) is one line on stderr with a non-zero exit status, like the errors
// of the analysis itself.
import { resolve } from "node:path";
import { Command, Option } from "clipanion";
import { analyzeInput } from "../bulk/analysis.ts";
import type { AnalysisProgress } from "../bulk/analysis.ts";
import { balanceModes } from "../bulk/hash-histogram.ts";
import { buildPlan, writePlan } from "../bulk/plan.ts";
import { parseColumnSelector } from "../bulk/reader.ts";
import { isGzipPath, resolveFormat } from "../bulk/source.ts";
import { formatCount, formatProgressLine, formatSummary } from "../bulk/summary.ts";
import { shardCountMax } from "../util/limits.ts";
import { UkvError } from "../util/errors.ts";
import { parsePositiveInt, reportCliError } from "./errors.ts";
import { createProgressReporter, type ProgressFormat, type ProgressReporter } from "./progress.ts";

const valueOptions = ["--input", "--format", "--key-column", "--value-column", "--shards", "--out", "--balance"] as const;
type ValueOption = (typeof valueOptions)[number];

/** `--name value` and `--name=value` pairs; BAD_REQUEST on anything else. */
export function parseAnalyzeArguments(args: readonly string[]): Map<ValueOption, string> {
  const values = new Map<ValueOption, string>();
  for (let index = 0; index < args.length; index += 1) {
    const arg = args[index] as string;
    if (!arg.startsWith("--")) throw new UkvError("BAD_REQUEST", `Unexpected argument ${JSON.stringify(arg)}: see ukv analyze --help`);
    const equals = arg.indexOf("=");
    const name = equals === -1 ? arg : arg.slice(0, equals);
    const option = valueOptions.find((candidate) => candidate === name);
    if (option === undefined) throw new UkvError("BAD_REQUEST", `Unknown option ${name}: see ukv analyze --help`);
    if (values.has(option)) throw new UkvError("BAD_REQUEST", `${option} given twice`);
    let value: string | undefined;
    if (equals !== -1) value = arg.slice(equals + 1);
    else {
      value = args[index + 1];
      index += 1;
    }
    if (value === undefined || value === "") throw new UkvError("BAD_REQUEST", `${option} needs a value`);
    values.set(option, value);
  }
  return values;
}

function requireOption(values: Map<ValueOption, string>, option: ValueOption): string {
  const value = values.get(option);
  if (value === undefined) throw new UkvError("BAD_REQUEST", `Missing ${option}: see ukv analyze --help`);
  return value;
}

const analyzeProgressFormat: ProgressFormat<AnalysisProgress> = {
  barFormat: "analyze [{bar}] {percentage}% | {rows} rows | {rowRate} rows/s | {megabyteRate} MB/s | ETA {eta_formatted}",
  payload: (progress, seconds) => ({ rows: formatCount(progress.rowCount), rowRate: formatCount(Math.round(progress.rowCount / seconds)), megabyteRate: (progress.fileBytesRead / 1e6 / seconds).toFixed(1) }),
  plainLine: formatProgressLine,
};

export class AnalyzeCommand extends Command {
  static override paths = [["analyze"]];
  static override usage = Command.Usage({
    description: "Read a bulk input once and write the shard plan for `ukv load`",
    details: `
      Streams the file once (never held in memory) and counts rows, bad rows, key and value sizes, distinct keys and the key-hash distribution; writes the plan (see docs/bulk-load.md) and prints a summary with the planned shards. Progress goes to stderr.

      - \`--input FILE\` (required): csv or tsv with a header row, jsonl, or resp (\`redis-cli --pipe\` input); a name ending in .gz is gunzipped
      - \`--format csv|tsv|jsonl|resp\`: default from the extension (under .gz)
      - \`--key-column NAME|N\`: csv/tsv: a header name or a 0-based index (default the column "key", else 0); jsonl: a field name (default "key")
      - \`--value-column NAME|N\`: likewise (default "value", else column 1)
      - \`--shards N\` (required): shards to plan, 1..${shardCountMax}
      - \`--balance keys|bytes|both\`: what the shard boundaries balance (default both)
      - \`--out FILE\` (required): where the plan is written (JSON)
    `,
    examples: [
      ["Plan 3 shards for a csv", "ukv analyze --input users.csv --key-column id --value-column doc --shards 3 --out plan.json"],
      ["A Redis dump in protocol form", "ukv analyze --input dump.resp.gz --shards 8 --out plan.json"],
    ],
  });

  args = Option.Proxy();

  override async execute(): Promise<number> {
    if (this.args.includes("--help") || this.args.includes("-h")) {
      this.context.stdout.write(this.cli.usage(AnalyzeCommand, { detailed: true }));
      return 0;
    }
    let progress: ProgressReporter<AnalysisProgress> | null = null;
    try {
      const values = parseAnalyzeArguments(this.args);
      const inputPath = requireOption(values, "--input");
      const outPath = requireOption(values, "--out");
      const shardCount = parsePositiveInt("--shards", requireOption(values, "--shards"));
      if (shardCount > shardCountMax) throw new UkvError("BAD_REQUEST", `--shards must be at most ${shardCountMax}: ${shardCount}`);
      const balanceText = values.get("--balance") ?? "both";
      const balance = balanceModes.find((mode) => mode === balanceText);
      if (balance === undefined) throw new UkvError("BAD_REQUEST", `Unknown --balance ${JSON.stringify(balanceText)}: expected one of ${balanceModes.join(", ")}`);
      if (resolve(outPath) === resolve(inputPath)) throw new UkvError("BAD_REQUEST", `--out is the input file: ${outPath}`);
      const format = resolveFormat(inputPath, values.get("--format"));
      const keyColumn = values.get("--key-column") ?? null;
      const valueColumn = values.get("--value-column") ?? null;
      progress = createProgressReporter(process.stderr, analyzeProgressFormat);
      const reporter = progress;
      const analysis = await analyzeInput({
        path: inputPath,
        format,
        keyColumn: keyColumn === null ? undefined : parseColumnSelector(keyColumn),
        valueColumn: valueColumn === null ? undefined : parseColumnSelector(valueColumn),
        onProgress: (update) => reporter.update(update),
      });
      progress.stop();
      progress = null;
      const plan = buildPlan(analysis, { path: resolve(inputPath), format, gzip: isGzipPath(inputPath), keyColumn, valueColumn, shardCount, balance });
      await writePlan(outPath, plan);
      this.context.stdout.write(formatSummary(analysis, plan));
      this.context.stdout.write(`\nplan written to ${outPath}\n`);
      return 0;
    } catch (error) {
      progress?.stop();
      return reportCliError(this.context, error);
    }
  }
}
