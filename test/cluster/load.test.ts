// `ukv load` end to end: the real binary analyzes and loads inputs into 3 real stores (3 shards
// of 3 replicas), and every key is read back through RESP (ioredis, MGET). Covers: a large csv
// round trip on the empty cluster (UKV_LOAD_TEST_ROWS rows, default 1,000,000), a load killed with
// SIGKILL at random points and resumed until done (no key missing, counts exact), bad rows of every
// format in the reject file with line and reason, and every kind of bad command line (one line on
// stderr, an exit status). One cluster for the file; the round trip runs first, on the empty
// cluster, the other loads use --into-existing and their own keys.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import Redis from "ioredis";
import { keySizeBytesMax, valueSizeBytesMax } from "../../src/util/limits.ts";
import { LocalStores, ukvBinary } from "./harness.ts";

const roundTripRowCount = Number(process.env["UKV_LOAD_TEST_ROWS"] ?? 1_000_000);
let stores: LocalStores;
let work: string;
let redis: RespClients;

beforeAll(async () => {
  stores = await LocalStores.create({ storeCount: 3, shardCount: 3, replication: 3 });
  stores.startAll();
  await stores.waitForLeaders();
  work = mkdtempSync(join(tmpdir(), "ukv-load-test-"));
  redis = await connectRedis(1);
}, 60_000);

interface RespClients {
  /** Follower reads (the default read mode). */
  follower: Redis;
  /** Reads through the shard leader's read index: every acknowledged write is seen. */
  linearizable: Redis;
  get(key: string): Promise<string | null>;
  disconnect(): void;
}

/** RESP clients of store `storeId`; `get` is linearizable (a follower read could lag the load's last batches). */
async function connectRedis(storeId: number): Promise<RespClients> {
  const make = (): Redis => {
    const client = new Redis({ host: "127.0.0.1", port: stores.respPort(storeId), maxRetriesPerRequest: 0 });
    client.on("error", () => undefined);
    return client;
  };
  const follower = make();
  const linearizable = make();
  await linearizable.call("CLIENT", "READMODE", "linearizable");
  return {
    follower,
    linearizable,
    get: (key) => linearizable.get(key),
    disconnect() {
      follower.disconnect();
      linearizable.disconnect();
    },
  };
}

afterAll(async () => {
  redis.disconnect();
  await stores.destroy();
  rmSync(work, { recursive: true, force: true });
}, 30_000);

interface Run {
  exitCode: number;
  stdout: string;
  stderr: string;
}

async function ukv(args: string[]): Promise<Run> {
  const child = Bun.spawn([ukvBinary, ...args], { stdout: "pipe", stderr: "pipe" });
  const [stdout, stderr, exitCode] = await Promise.all([new Response(child.stdout).text(), new Response(child.stderr).text(), child.exited]);
  return { exitCode, stdout, stderr };
}

function clusterAddresses(): string {
  return stores.storeIds.map((storeId) => stores.clientAddress(storeId)).join(",");
}

async function analyze(input: string, plan: string, extra: string[] = []): Promise<void> {
  const run = await ukv(["analyze", "--input", input, "--shards", "3", "--out", plan, ...extra]);
  expect(run.stderr.split("\n").filter((line) => line.startsWith("error")).join("\n")).toBe("");
  expect(run.exitCode).toBe(0);
}

function reportNumber(report: string, name: string): number {
  const match = new RegExp(`^${name}\\s+([0-9,]+)`, "m").exec(report);
  if (match === null) throw new Error(`No "${name}" in the report:\n${report}`);
  return Number((match[1] as string).replaceAll(",", ""));
}

/** MGET, retried on the transient answers (TRYAGAIN: an election or a store catching up under load). */
async function mgetPatiently(client: Redis, keys: string[]): Promise<(string | null)[]> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await client.mget(...keys);
    } catch (error) {
      if (attempt >= 20 || !String(error).includes("TRYAGAIN")) throw error;
      await Bun.sleep(500);
    }
  }
}

/**
 * Reads `keys` through RESP (MGET, 1,000 a command) and returns the ones whose value is not
 * `expected(key)`. Follower reads first (fast: a replica's table); a key that reads wrong there is
 * read again through its shard leader's read index, since a follower may lag the last batches.
 */
async function mismatches(keys: string[], expected: (key: string) => string, clients: RespClients = redis): Promise<string[]> {
  const suspects: string[] = [];
  for (let start = 0; start < keys.length; start += 1000) {
    const slice = keys.slice(start, start + 1000);
    const values = await mgetPatiently(clients.follower, slice);
    values.forEach((value, index) => {
      const key = slice[index] as string;
      if (value !== expected(key)) suspects.push(key);
    });
  }
  const wrong: string[] = [];
  for (let start = 0; start < suspects.length; start += 1000) {
    const slice = suspects.slice(start, start + 1000);
    const values = await mgetPatiently(clients.linearizable, slice);
    values.forEach((value, index) => {
      const key = slice[index] as string;
      if (value !== expected(key)) wrong.push(`${key}=${String(value)}`);
    });
  }
  return wrong;
}

describe("ukv load", () => {
  test(`a ${roundTripRowCount.toLocaleString("en-US")}-row csv: every key readable through RESP with its value, counts in the report`, async () => {
    const input = join(work, "round-trip.csv");
    const lines: string[] = ["id,doc"];
    for (let index = 0; index < roundTripRowCount; index++) lines.push(`rt-${index},value of ${index}`);
    writeFileSync(input, `${lines.join("\n")}\n`);
    const plan = join(work, "round-trip.json");
    await analyze(input, plan, ["--key-column", "id", "--value-column", "doc"]);
    const startedMs = performance.now();
    const run = await ukv(["load", "--plan", plan, "--input", input, "--cluster", clusterAddresses(), "--parallel", "8"]);
    const seconds = (performance.now() - startedMs) / 1000;
    console.log(`load of ${roundTripRowCount} rows: ${seconds.toFixed(1)} s\n${run.stdout}`);
    expect(run.stderr).not.toContain("error");
    expect(run.exitCode).toBe(0);
    expect(reportNumber(run.stdout, "rows loaded")).toBe(roundTripRowCount);
    expect(reportNumber(run.stdout, "rows rejected")).toBe(0);
    // Per shard: what the loader had acknowledged is what each shard holds (the cluster was empty).
    const shardRows = [...run.stdout.matchAll(/^(\d+)\s+([0-9,]+)\s+([0-9,]+)$/gm)].map((match) => [Number(match[2]!.replaceAll(",", "")), Number(match[3]!.replaceAll(",", ""))]);
    expect(shardRows.length).toBe(3);
    for (const [loaded, inShard] of shardRows) expect(inShard).toBe(loaded);
    const keys = Array.from({ length: roundTripRowCount }, (_, index) => `rt-${index}`);
    expect(await mismatches(keys, (key) => `value of ${key.slice(3)}`)).toEqual([]);
  }, 180_000);

  test("Ctrl-C, then kill -9 of the loader at random points, then --resume until done: no key missing, counts exact, rejects once", async () => {
    const rowCount = 500_000;
    const input = join(work, "resume.csv");
    const lines: string[] = ["key,value"];
    const badLines: number[] = [];
    for (let index = 0; index < rowCount; index++) {
      if (index % 10_007 === 5) {
        lines.push(`rs-bad-${index},a"b`);
        badLines.push(lines.length);
      } else lines.push(`rs-${index},v${index}`);
    }
    writeFileSync(input, `${lines.join("\n")}\n`);
    const plan = join(work, "resume.json");
    await analyze(input, plan);
    // Slow on purpose (one small batch in flight), so the kills land in the middle of the load.
    const args = ["load", "--plan", plan, "--input", input, "--cluster", clusterAddresses(), "--into-existing", "--parallel", "1", "--batch-keys", "100"];
    const checkpoint = join(work, "resume.checkpoint.json");
    // Kills land on progress, not on a clock (the load's speed depends on the machine): each one a
    // random 0-400 ms after the loader's next checkpoint (written every second) showed progress.
    const killDelaysMs = Array.from({ length: 4 }, () => Math.floor(Math.random() * 400));
    console.log(`kill delays after a checkpoint (ms): ${killDelaysMs.join(", ")}`);
    let killsMidLoad = 0;
    type CheckpointState = { recordsDone: number; complete: boolean; rowsLoaded: number; rowsRejected: number };
    const readState = (): CheckpointState | null => (existsSync(checkpoint) ? (JSON.parse(readFileSync(checkpoint, "utf8")) as CheckpointState) : null);
    const afterProgress = async (child: ReturnType<typeof Bun.spawn>, delayMs: number): Promise<void> => {
      const from = readState()?.recordsDone ?? -1;
      let exited = false;
      void child.exited.then(() => (exited = true));
      while (!exited && (readState()?.recordsDone ?? -1) <= from) await Bun.sleep(10);
      await Bun.sleep(delayMs);
    };
    // Ctrl-C first: the loader stops, writes its checkpoint and says how to continue (exit 130).
    const interrupted = Bun.spawn([ukvBinary, ...args], { stdout: "ignore", stderr: "pipe" });
    await afterProgress(interrupted, 0);
    interrupted.kill("SIGINT");
    const interruptedStatus = await interrupted.exited;
    const interruptedText = await new Response(interrupted.stderr).text();
    expect(interruptedStatus).toBe(130);
    expect(interruptedText).toContain("interrupted: the progress is in the checkpoint");
    expect(interruptedText).toContain("continue with --resume");
    expect(existsSync(checkpoint)).toBe(true);
    for (const delayMs of killDelaysMs) {
      if (readState()?.complete === true) break;
      const resuming = existsSync(checkpoint);
      const child = Bun.spawn([ukvBinary, ...args, ...(resuming ? ["--resume"] : [])], { stdout: "ignore", stderr: "pipe" });
      await afterProgress(child, delayMs);
      child.kill("SIGKILL");
      await child.exited;
      const childErrors = (await new Response(child.stderr).text()).split("\n").filter((line) => line.startsWith("error"));
      expect(childErrors).toEqual([]);
      const state = readState();
      console.log(`killed after ${delayMs} ms${resuming ? " (a resumed run)" : ""}: ${state === null ? "no checkpoint yet" : `${state.recordsDone} records done`}`);
      if (state !== null && !state.complete) killsMidLoad++;
    }
    expect(killsMidLoad).toBeGreaterThanOrEqual(2);
    if (readState()?.complete !== true) {
      const run = await ukv([...args, "--resume"]);
      expect(run.stderr).not.toContain("error");
      expect(run.exitCode).toBe(0);
      expect(reportNumber(run.stdout, "rows loaded")).toBe(rowCount - badLines.length);
      expect(reportNumber(run.stdout, "rows rejected")).toBe(badLines.length);
    }
    // The counts of the finished load, over every run: exact despite the kills.
    expect(readState()).toMatchObject({ complete: true, recordsDone: rowCount, rowsLoaded: rowCount - badLines.length, rowsRejected: badLines.length });
    const rejects = readFileSync(join(work, "resume.rejects.tsv"), "utf8").trim().split("\n");
    expect(rejects.map((line) => Number(line.split("\t")[0]))).toEqual(badLines);
    const keys = Array.from({ length: rowCount }, (_, index) => index).filter((index) => index % 10_007 !== 5).map((index) => `rs-${index}`);
    expect(await mismatches(keys, (key) => `v${key.slice(3)}`)).toEqual([]);
    // Done is done: another --resume has nothing to do.
    const again = await ukv([...args, "--resume"]);
    expect(again.exitCode).toBe(0);
    expect(again.stdout).toContain("is complete");
  }, 180_000);

  test("kill -9 of a store (leader of some shards) during a load: leaders move, the load completes, every key readable", async () => {
    const rowCount = 400_000;
    const input = join(work, "failover.csv");
    const lines: string[] = ["key,value"];
    for (let index = 0; index < rowCount; index++) lines.push(`fo-${index},f${index}`);
    writeFileSync(input, `${lines.join("\n")}\n`);
    const plan = join(work, "failover.json");
    await analyze(input, plan);
    const victim = 1;
    const leadersBefore = await Promise.all([1, 2, 3].map((shardId) => stores.waitForLeader(shardId)));
    console.log(`shard leaders before the kill: ${leadersBefore.join(", ")} (store ${victim} is killed)`);
    const loading = ukv(["load", "--plan", plan, "--input", input, "--cluster", clusterAddresses(), "--into-existing", "--parallel", "2", "--batch-keys", "200"]);
    let finished = false;
    void loading.then(() => (finished = true));
    // The store dies once the load is under way (its first checkpoint shows progress), not after
    // a fixed time: on an idle machine the whole load takes a few seconds.
    const checkpoint = join(work, "failover.checkpoint.json");
    const progressed = (): boolean => existsSync(checkpoint) && (JSON.parse(readFileSync(checkpoint, "utf8")) as { recordsDone: number }).recordsDone > 0;
    while (!finished && !progressed()) await Bun.sleep(10);
    expect(finished).toBe(false);
    await stores.kill(victim, "SIGKILL");
    const run = await loading;
    console.log(run.stdout);
    expect(run.stderr).not.toContain("error");
    expect(run.exitCode).toBe(0);
    expect(reportNumber(run.stdout, "rows loaded")).toBe(rowCount);
    stores.start(victim);
    await stores.waitForLeaders();
    // The file's clients were connected to the killed store: store 2's for this and the next tests.
    redis.disconnect();
    redis = await connectRedis(2);
    const keys = Array.from({ length: rowCount }, (_, index) => `fo-${index}`);
    expect(await mismatches(keys, (key) => `f${key.slice(3)}`)).toEqual([]);
  }, 180_000);

  test("bad rows of every format go to the reject file with their line number and reason; the good rows load", async () => {
    const bigKey = "k".repeat(keySizeBytesMax + 1);
    const bigValue = "v".repeat(valueSizeBytesMax + 1);
    const cases: { name: string; text: string; good: Record<string, string>; bad: [number, string][] }[] = [
      {
        name: "bad.csv",
        text: `key,value\nc-1,one\nc-2,a"b\nc-3,three,extra\n${bigKey},x\nc-4,${bigValue}\nc-5,"a""b"\nc-6,"open\n`,
        good: { "c-1": "one", "c-5": 'a"b' },
        bad: [[3, "a quote inside an unquoted field"], [4, "expected 2 fields"], [5, "key of 4097 bytes over the limit"], [6, "value of 1048577 bytes over the limit"], [8, "unterminated quoted field"]],
      },
      {
        name: "bad.tsv",
        text: `key\tvalue\nt-1\tone\nt-2\n\tempty key\nt-3\tthree\textra\nt-4\t${bigValue}\n`,
        good: { "t-1": "one" },
        bad: [[3, "expected 2 fields"], [4, "empty key"], [5, "expected 2 fields"], [6, "value of"]],
      },
      {
        name: "bad.jsonl",
        text: `{"key":"j-1","value":"one"}\nnot json\n[1,2]\n{"value":"no key"}\n{"key":"${bigKey}","value":"x"}\n{"key":"j-2","value":{"n":2}}\n`,
        good: { "j-1": "one", "j-2": '{"n":2}' },
        bad: [[2, "not JSON"], [3, "expected a JSON object"], [4, 'no field "key"'], [5, "key of"]],
      },
      {
        name: "bad.resp",
        text: `*3\r\n$3\r\nSET\r\n$3\r\nr-1\r\n$3\r\none\r\nGARBAGE\r\n*3\r\n$3\r\nSET\r\n$3\r\nr-2\r\n$3\r\ntwo\r\n*2\r\n$3\r\nSET\r\n$1\r\nx\r\n*2\r\n$3\r\nDEL\r\n$3\r\nr-1\r\n`,
        good: { "r-1": "one", "r-2": "two" },
        bad: [[8, "expected a RESP array"], [16, "SET needs a key and a value"]],
      },
    ];
    for (const entry of cases) {
      const isCsv = entry.name.endsWith(".csv");
      // The csv case also goes through gzip: the reader works on the decompressed stream.
      const input = join(work, isCsv ? `${entry.name}.gz` : entry.name);
      writeFileSync(input, isCsv ? gzipSync(entry.text) : entry.text);
      const plan = join(work, `${entry.name}.plan.json`);
      await analyze(input, plan);
      const run = await ukv(["load", "--plan", plan, "--input", input, "--cluster", clusterAddresses(), "--into-existing"]);
      expect(run.stderr).not.toContain("error");
      expect(run.exitCode).toBe(0);
      const rejectText = readFileSync(join(work, `${entry.name}.plan.rejects.tsv`), "utf8");
      const rejects = rejectText.trim().split("\n").map((line) => line.split("\t"));
      console.log(`${entry.name} rejects:\n${rejectText.split("\n").map((line) => line.slice(0, 120)).join("\n")}`);
      expect(rejects.length).toBe(entry.bad.length);
      for (const [lineNumber, reason] of entry.bad) {
        expect(rejects.some(([line, text]) => Number(line) === lineNumber && (text ?? "").includes(reason))).toBe(true);
      }
      expect(reportNumber(run.stdout, "rows rejected")).toBe(rejects.length);
      for (const [key, value] of Object.entries(entry.good)) expect(await redis.get(key)).toBe(value);
    }
  }, 120_000);

  test("bad command lines and unusable inputs: one line on stderr and an exit status, nothing loaded", async () => {
    const input = join(work, "cli.csv");
    writeFileSync(input, "key,value\ncli-1,one\n");
    const plan = join(work, "cli.json");
    await analyze(input, plan);
    const other = join(work, "other.csv");
    writeFileSync(other, "key,value\ncli-2,two\n");
    const invalidPlan = join(work, "invalid.json");
    writeFileSync(invalidPlan, JSON.stringify({ formatVersion: 1 }));
    const cluster = clusterAddresses();
    const cases: [string[], number, string][] = [
      [["load"], 4, "Missing --plan"],
      [["load", "--plan", plan, "--input", input], 4, "Missing --cluster"],
      [["load", "--plan", plan, "--input", input, "--cluster", cluster, "--bogus"], 4, "Unknown option --bogus"],
      [["load", "--plan", plan, "--input", input, "--cluster", cluster, "--parallel", "0"], 4, "--parallel must be a positive integer"],
      [["load", "--plan", plan, "--input", input, "--cluster", cluster, "--parallel", "100000"], 4, "--parallel must be at most"],
      [["load", "--plan", plan, "--input", input, "--cluster", cluster, "--batch-keys", "999999"], 4, "--batch-keys must be at most"],
      [["load", "--plan", plan, "--input", input, "--cluster"], 4, "--cluster needs a value"],
      [["load", "--plan", join(work, "missing.json"), "--input", input, "--cluster", cluster], 1, "Plan file not found"],
      [["load", "--plan", invalidPlan, "--input", input, "--cluster", cluster], 3, "invalid.json"],
      [["load", "--plan", plan, "--input", join(work, "missing.csv"), "--cluster", cluster], 1, "Input file not found"],
      [["load", "--plan", plan, "--input", other, "--cluster", cluster], 4, "is not the input the plan was made from"],
      [["load", "--plan", plan, "--input", input, "--cluster", cluster, "--resume"], 1, "No checkpoint to resume from"],
      [["load", "--plan", plan, "--input", input, "--cluster", "127.0.0.1:1"], 9, "No metadata store answered"],
      [["load", "--plan", plan, "--input", input, "--cluster", cluster], 4, "The cluster is not empty"],
    ];
    for (const [args, exitCode, message] of cases) {
      const run = await ukv(args);
      const stderrLines = run.stderr.trim().split("\n");
      expect({ args, stderr: stderrLines }).toEqual({ args, stderr: [expect.stringContaining(message)] });
      expect(stderrLines[0]).toMatch(/^error \([A-Z_]+\): /);
      expect({ args, exitCode: run.exitCode }).toEqual({ args, exitCode });
    }
    expect(await redis.get("cli-1")).toBeNull();
    // A checkpoint left by an earlier load is continued only with --resume.
    const loaded = await ukv(["load", "--plan", plan, "--input", input, "--cluster", cluster, "--into-existing"]);
    expect(loaded.exitCode).toBe(0);
    expect(await redis.get("cli-1")).toBe("one");
    const refused = await ukv(["load", "--plan", plan, "--input", input, "--cluster", cluster, "--into-existing"]);
    expect(refused.exitCode).toBe(4);
    expect(refused.stderr).toContain("pass --resume to continue it, or delete it to start over");
  }, 120_000);
});
