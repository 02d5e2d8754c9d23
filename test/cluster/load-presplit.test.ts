// `ukv load` into an empty cluster of ONE shard: before the first key it splits the cluster at
// every boundary of the plan (`ukv analyze --shards 4`), so the cluster then owns exactly the
// plan's 4 hash ranges, the report compares per-shard counts with the plan, and every key is
// readable through RESP. A plan the cluster already matches needs no split.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Redis from "ioredis";
import { LocalStores, ukvBinary } from "./harness.ts";

const rowCount = 20_000;
let stores: LocalStores;
let work: string;

beforeAll(async () => {
  stores = await LocalStores.create({ storeCount: 3, shardCount: 1, replication: 3 });
  stores.startAll();
  await stores.waitForLeaders();
  work = mkdtempSync(join(tmpdir(), "ukv-load-presplit-"));
}, 60_000);

afterAll(async () => {
  await stores.destroy();
  rmSync(work, { recursive: true, force: true });
}, 30_000);

async function ukv(args: string[]): Promise<{ exitCode: number; stdout: string; stderr: string }> {
  const child = Bun.spawn([ukvBinary, ...args], { stdout: "pipe", stderr: "pipe" });
  const [stdout, stderr, exitCode] = await Promise.all([new Response(child.stdout).text(), new Response(child.stderr).text(), child.exited]);
  return { exitCode, stdout, stderr };
}

test("an empty one-shard cluster is split at the plan's boundaries before the load; counts match the plan", async () => {
  const input = join(work, "rows.csv");
  const plan = join(work, "plan.json");
  const lines = ["key,value", ...Array.from({ length: rowCount }, (_, index) => `presplit-${index},value-${index}`)];
  writeFileSync(input, `${lines.join("\n")}\n`);
  const analyzed = await ukv(["analyze", "--input", input, "--shards", "4", "--out", plan]);
  expect(analyzed.exitCode).toBe(0);

  const cluster = stores.storeIds.map((storeId) => stores.clientAddress(storeId)).join(",");
  const loaded = await ukv(["load", "--plan", plan, "--input", input, "--cluster", cluster]);
  expect(loaded.exitCode).toBe(0);
  expect(loaded.stdout).toContain("split the cluster at 3 planned boundaries");
  expect(loaded.stdout).toContain("per-shard counts are compared with the plan");
  expect(loaded.stdout).toMatch(/rows loaded\s+20,000/);

  // The metadata group lists the 4 shards' ranges, and the report's per-shard counts are the
  // plan's (each "=": the plan balanced the keys, and the cluster now has its boundaries).
  const status = await ukv(["status", "--config", stores.configPath, "--json"]);
  expect(status.exitCode).toBe(0);
  expect((JSON.parse(status.stdout) as { ranges: unknown[] }).ranges.length).toBe(4);
  const comparedRows = [...loaded.stdout.matchAll(/^\d+\s+[0-9,]+\s+[0-9,]+\s+[0-9,]+\s+=$/gm)];
  expect(comparedRows.length).toBe(4);

  const redis = new Redis({ host: "127.0.0.1", port: stores.respPort(1), maxRetriesPerRequest: 0 });
  redis.on("error", () => undefined);
  try {
    await redis.call("CLIENT", "READMODE", "linearizable");
    for (let start = 0; start < rowCount; start += 1000) {
      const keys = Array.from({ length: 1000 }, (_, offset) => `presplit-${start + offset}`);
      const values = await Promise.all(keys.map((key) => redis.get(key)));
      values.forEach((value, offset) => expect(value).toBe(`value-${start + offset}`));
    }
  } finally {
    redis.disconnect();
  }
}, 120_000);
