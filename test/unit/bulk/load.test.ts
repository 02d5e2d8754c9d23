// The loader's pipeline against a fake cluster: every row lands once with the last value of its
// key, bad rows go to the reject file once each, acknowledgements out of order never let the
// checkpoint pass a row that is not acknowledged, and a load resumed from any checkpoint taken
// while it ran (as after kill -9) ends with every key and exact counts.
import { afterAll, describe, expect, test } from "bun:test";
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadInput, type BatchAnswer, type LoadTarget } from "../../../src/bulk/load.ts";
import { readCheckpoint } from "../../../src/bulk/load-checkpoint.ts";
import { countBelow } from "../../../src/bulk/load-batches.ts";
import { fingerprintFile } from "../../../src/bulk/source.ts";
import { Prng } from "../../../src/util/prng.ts";

const dir = mkdtempSync(join(tmpdir(), "ukv-load-unit-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const decoder = new TextDecoder();

/** A cluster of 4 shards in memory: answers after a random delay, sometimes "retry" (applied or not: unknown). */
class FakeCluster implements LoadTarget {
  readonly data = new Map<string, string>();
  readonly appliedByShard = new Map<number, number>();
  batches = 0;
  inflightMax = 0;
  #inflight = 0;
  readonly #prng: Prng;
  readonly #retryChance: number;
  /** After this many batches no answer comes (as when the loader is killed) until `kill()`. */
  stopAfterBatches = Number.POSITIVE_INFINITY;
  readonly #held: ((answer: BatchAnswer) => void)[] = [];
  #killed = false;
  wrongShardSeen = false;

  /** Ends the abandoned loader: held and later batches are refused for good. */
  kill(): void {
    this.#killed = true;
    for (const resolve of this.#held.splice(0)) resolve({ kind: "fatal", code: "INTERNAL", reason: "killed" });
  }

  constructor(seed: number, retryChance = 0.1) {
    this.#prng = new Prng(seed);
    this.#retryChance = retryChance;
  }

  shardOf(key: Uint8Array): number {
    return 1 + (Number(Bun.hash.xxHash64(key, 0n) % 4n));
  }

  async sendBatch(shardId: number, keys: Uint8Array[], values: Uint8Array[]): Promise<BatchAnswer> {
    this.#inflight++;
    this.inflightMax = Math.max(this.inflightMax, this.#inflight);
    try {
      await Bun.sleep(this.#prng.nextInt(4));
      if (this.#killed) return { kind: "fatal", code: "INTERNAL", reason: "killed" };
      if (this.batches >= this.stopAfterBatches) return await new Promise<BatchAnswer>((resolve) => this.#held.push(resolve));
      this.batches++;
      const roll = this.#prng.nextFloat();
      const apply = roll >= this.#retryChance || this.#prng.chance(0.5);
      if (apply) {
        for (let index = 0; index < keys.length; index++) {
          if (this.shardOf(keys[index] as Uint8Array) !== shardId) this.wrongShardSeen = true;
          this.data.set(decoder.decode(keys[index]), decoder.decode(values[index]));
        }
        this.appliedByShard.set(shardId, (this.appliedByShard.get(shardId) ?? 0) + keys.length);
      }
      return roll < this.#retryChance ? { kind: "retry", reason: "TIMEOUT: fake" } : { kind: "ok" };
    } finally {
      this.#inflight--;
    }
  }

  refresh(): Promise<void> {
    return Promise.resolve();
  }
}

interface Input {
  path: string;
  /** Last value of each good key. */
  expected: Map<string, string>;
  goodRows: number;
  badLines: number[];
}

/** A csv of `rows` rows, every 97th malformed, keys repeating when `distinctKeys` < rows. */
function writeCsv(name: string, rows: number, distinctKeys: number): Input {
  const lines = ["key,value"];
  const expected = new Map<string, string>();
  const badLines: number[] = [];
  let goodRows = 0;
  for (let index = 0; index < rows; index++) {
    if (index % 97 === 13) {
      lines.push(`bad-${index},"unterminated,x,y`.replace(",x,y", "\"x"));
      badLines.push(lines.length);
      continue;
    }
    const key = `key-${index % distinctKeys}`;
    const value = `value-${index}`;
    lines.push(`${key},${value}`);
    expected.set(key, value);
    goodRows++;
  }
  const path = join(dir, name);
  writeFileSync(path, `${lines.join("\n")}\n`);
  return { path, expected, goodRows, badLines };
}

async function run(input: Input, target: LoadTarget, options: { ordered: boolean; name: string; resume?: boolean; parallel?: number; onCheckpointCopy?: () => void }) {
  const fingerprint = await fingerprintFile(input.path);
  const checkpointPath = join(dir, `${options.name}.checkpoint.json`);
  return await loadInput({
    path: input.path,
    format: "csv",
    input: { path: input.path, sizeBytes: fingerprint.sizeBytes, headTailSha256: fingerprint.headTailSha256 },
    target,
    parallel: options.parallel ?? 6,
    ordered: options.ordered,
    batchKeyCountMax: 50,
    batchSizeBytesMax: 64 * 1024,
    checkpointPath,
    rejectPath: join(dir, `${options.name}.rejects.tsv`),
    resume: options.resume === true ? readCheckpoint(checkpointPath) : null,
    checkpointIntervalMs: 5,
    batchAgeMsMax: 20,
    retryWindowMs: 5000,
    onProgress: options.onCheckpointCopy === undefined ? undefined : () => options.onCheckpointCopy?.(),
    progressIntervalMs: 7,
  });
}

function rejectLines(name: string): number[] {
  return readFileSync(join(dir, `${name}.rejects.tsv`), "utf8").split("\n").filter((line) => line !== "").map((line) => Number(line.split("\t")[0]));
}

describe("load pipeline", () => {
  test("countBelow is a binary search over ascending ordinals", () => {
    expect(countBelow([], 5)).toBe(0);
    expect(countBelow([1, 3, 5, 7], 5)).toBe(2);
    expect(countBelow([1, 3, 5, 7], 8)).toBe(4);
    expect(countBelow([1, 3, 5, 7], 0)).toBe(0);
  });

  test("unordered (no repeated key): every row once, rejects with line and reason, exact per-shard counts, bounded in flight", async () => {
    const input = writeCsv("plain.csv", 6000, 6000);
    const cluster = new FakeCluster(1);
    const result = await run(input, cluster, { ordered: false, name: "plain", parallel: 6 });
    expect(cluster.data).toEqual(input.expected);
    expect(cluster.wrongShardSeen).toBe(false);
    expect(result.rowsLoaded).toBe(input.goodRows);
    expect(result.rowsRejected).toBe(input.badLines.length);
    expect([...result.loadedByShard.values()].reduce((sum, count) => sum + count, 0)).toBe(input.goodRows);
    for (const [shardId, count] of result.loadedByShard) expect(count).toBeLessThanOrEqual(cluster.appliedByShard.get(shardId) ?? 0);
    expect(rejectLines("plain")).toEqual(input.badLines);
    expect(readFileSync(join(dir, "plain.rejects.tsv"), "utf8")).toContain("\tunexpected character after a closing quote");
    expect(cluster.inflightMax).toBeLessThanOrEqual(6);
    expect(readCheckpoint(join(dir, "plain.checkpoint.json"))?.complete).toBe(true);
  }, 30_000);

  test("ordered (keys repeat): the last row of every key wins despite retries", async () => {
    const input = writeCsv("dups.csv", 6000, 300);
    const cluster = new FakeCluster(2, 0.1);
    const result = await run(input, cluster, { ordered: true, name: "dups" });
    expect(cluster.data).toEqual(input.expected);
    expect(result.rowsLoaded).toBe(input.goodRows);
  }, 30_000);

  for (const seed of [3, 4, 5, 6]) {
    test(`resume from the checkpoint a killed load left (seed ${seed}): no key missing, counts exact, each reject once`, async () => {
      const input = writeCsv(`resume-${seed}.csv`, 8000, 8000);
      const name = `resume-${seed}`;
      const first = new FakeCluster(seed);
      first.stopAfterBatches = 10 + new Prng(seed).nextInt(120);
      const killed = run(input, first, { ordered: false, name: `${name}-a` }).then(
        () => "finished",
        () => "failed",
      );
      while (first.batches < first.stopAfterBatches) await Bun.sleep(2);
      await Bun.sleep(30);
      // What a restart after kill -9 finds: the last durable checkpoint, and the reject file
      // (copied after it: it only grows, and holds at least what the checkpoint names).
      copyFileSync(join(dir, `${name}-a.checkpoint.json`), join(dir, `${name}-b.checkpoint.json`));
      copyFileSync(join(dir, `${name}-a.rejects.tsv`), join(dir, `${name}-b.rejects.tsv`));
      first.kill();
      expect(await killed).toBe("failed");
      const atKill = readCheckpoint(join(dir, `${name}-b.checkpoint.json`));
      expect(atKill?.complete).toBe(false);
      expect(atKill?.recordsDone ?? 0).toBeGreaterThan(0);
      const second = new FakeCluster(seed + 100);
      for (const [key, value] of first.data) second.data.set(key, value);
      const result = await run(input, second, { ordered: false, name: `${name}-b`, resume: true });
      expect(second.data).toEqual(input.expected);
      expect(first.wrongShardSeen || second.wrongShardSeen).toBe(false);
      expect(result.rowsLoaded).toBe(input.goodRows);
      expect(result.rowsRejected).toBe(input.badLines.length);
      expect(result.resumedRecordCount).toBe(atKill?.recordsDone ?? -1);
      expect([...result.loadedByShard.values()].reduce((sum, count) => sum + count, 0)).toBe(input.goodRows);
      expect(rejectLines(`${name}-b`)).toEqual(input.badLines);
    }, 30_000);
  }
});
