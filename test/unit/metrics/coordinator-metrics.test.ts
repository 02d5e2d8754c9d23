// The coordinator's decision counter and the store's split counter (StoreMetrics): every kind and
// result is exposed at 0 before anything happens, and each call counts under its own labels.
import { afterEach, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { decisionKinds } from "../../../src/client/balance-plan.ts";
import { StoreMetrics } from "../../../src/metrics/store-metrics.ts";

let metrics: StoreMetrics | null = null;
let dir: string | null = null;

afterEach(() => {
  metrics?.close();
  metrics = null;
  if (dir !== null) rmSync(dir, { recursive: true, force: true });
  dir = null;
});

function newMetrics(): StoreMetrics {
  dir = mkdtempSync(join(tmpdir(), "ukv-coordinator-metrics-"));
  metrics = new StoreMetrics({
    storeId: 7,
    dir,
    replicas: () => [],
    logStats: () => ({ appendCount: 0, syncCount: 0, bytesWritten: 0, segmentCount: 0 }),
    connectionCounts: () => ({ client: 0, resp: 0 }),
  });
  return metrics;
}

function sample(text: string, series: string): number | null {
  const line = text.split("\n").find((candidate) => candidate.startsWith(`${series} `));
  return line === undefined ? null : Number(line.slice(series.length + 1));
}

test("coordinator decisions count by kind and result, from 0 for every kind", async () => {
  const store = newMetrics();
  const decided = store.coordinatorDecisionCounter(decisionKinds);
  let text = await store.text();
  for (const kind of decisionKinds) {
    for (const result of ["ok", "failed"]) expect(sample(text, `ukv_coordinator_decisions_total{store="7",kind="${kind}",result="${result}"}`)).toBe(0);
  }
  decided("split", "ok");
  decided("split", "ok");
  decided("move", "failed");
  text = await store.text();
  expect(sample(text, 'ukv_coordinator_decisions_total{store="7",kind="split",result="ok"}')).toBe(2);
  expect(sample(text, 'ukv_coordinator_decisions_total{store="7",kind="move",result="failed"}')).toBe(1);
  expect(sample(text, 'ukv_coordinator_decisions_total{store="7",kind="move",result="ok"}')).toBe(0);
  expect(sample(text, 'ukv_coordinator_decisions_total{store="7",kind="transfer-leader",result="ok"}')).toBe(0);
});

test("splits applied count from 0", async () => {
  const store = newMetrics();
  expect(sample(await store.text(), 'ukv_store_splits_applied_total{store="7"}')).toBe(0);
  store.splitApplied();
  expect(sample(await store.text(), 'ukv_store_splits_applied_total{store="7"}')).toBe(1);
});
