// The pipelined Ready loop against a real store log on disk: several Readies in flight, then a
// failed write (ENOSPC) under them. The store log undoes everything after its durable end; the
// driver must issue nothing new meanwhile, make the failed append and every later one again in
// order, and end with every proposed entry durable, committed and applied, and a log that
// recovers without a gap.
import { afterEach, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pino from "pino";
import { GroupRuntime } from "../../../src/node/group-runtime.ts";
import { CommandOp } from "../../../src/node/command.ts";
import { openFileReplicaState, realClock } from "../../../src/node/replica-io.ts";
import { StoreLog } from "../../../src/storage/store-log.ts";
import { isUkvError } from "../../../src/util/errors.ts";

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

const encoder = new TextEncoder();
const groupId = 5;
const writeCount = 40;

async function openReplica(dir: string): Promise<{ runtime: GroupRuntime; log: StoreLog }> {
  const { log, recovery } = await StoreLog.open(join(dir, "log"));
  const runtime = await GroupRuntime.open({
    nodeId: 1,
    groupId,
    initialMembership: { conf: { voters: [1], learners: [] }, addresses: new Map([[1, { raftAddress: "127.0.0.1:1", clientAddress: "127.0.0.1:2" }]]) },
    log: log.group(groupId),
    recovery: recovery.get(groupId) ?? null,
    state: openFileReplicaState(join(dir, "snap")),
    transport: { send: () => undefined, sendSnapshot: () => Promise.reject(new Error("no peers")) },
    clock: realClock,
    logger: pino({ level: "silent" }),
    tickMs: 10,
    electionTicks: 10,
    heartbeatTicks: 1,
    snapshotEntriesThreshold: 100_000,
  });
  return { runtime, log };
}

async function until(condition: () => boolean, what: string): Promise<void> {
  for (let waitIndex = 0; waitIndex < 500; waitIndex++) {
    if (condition()) return;
    await Bun.sleep(10);
  }
  throw new Error(`timed out waiting for ${what}`);
}

test("a failed append under pipelined Readies is made again with every later one, in order; nothing is lost or out of order", async () => {
  const dir = mkdtempSync(join(tmpdir(), "ukv-pipelined-"));
  dirs.push(dir);
  const { runtime, log } = await openReplica(dir);
  runtime.campaignIfLeaderless();
  await until(() => runtime.isLeader(), "leadership");
  await runtime.write(CommandOp.Set, encoder.encode("before"), encoder.encode("x"));

  // The next disk write fails; writes proposed in separate turns become separate Readies, so
  // several appends are in flight when it does, and more keep coming while it is retried (200 ms).
  log.testOnlyFailNextWrite("ENOSPC");
  const outcomes: Promise<string>[] = [];
  for (let writeIndex = 0; writeIndex < writeCount; writeIndex++) {
    outcomes.push(
      runtime.write(CommandOp.Set, encoder.encode(`k${writeIndex}`), encoder.encode(`v${writeIndex}`)).then(
        () => "ok",
        (error: unknown) => (isUkvError(error, "DISK_FULL") ? "DISK_FULL" : `other: ${String(error)}`),
      ),
    );
    if (writeIndex < 12) await new Promise((resolve) => setImmediate(resolve));
    else await Bun.sleep(10);
  }
  const settled = await Promise.all(outcomes);
  expect(settled.filter((outcome) => outcome.startsWith("other"))).toEqual([]);
  expect(settled).toContain("DISK_FULL"); // the failure did hit writes in flight
  // The group was not stopped: the next write goes through, after the retried ones.
  await runtime.write(CommandOp.Set, encoder.encode("after"), encoder.encode("y"));
  // Every proposed entry, refused clients included, was made durable again and applied in order.
  await until(() => runtime.summary().appliedIndex === runtime.summary().lastIndex, "apply");
  for (let writeIndex = 0; writeIndex < writeCount; writeIndex++) {
    expect(new TextDecoder().decode(runtime.read(encoder.encode(`k${writeIndex}`)) ?? new Uint8Array(0))).toBe(`v${writeIndex}`);
  }
  const lastIndex = runtime.summary().lastIndex;
  await runtime.close();
  await log.close();

  // Recovery: the log holds every entry up to lastIndex, without a gap, and replays to the same table.
  const reopened = await openReplica(dir);
  try {
    expect(reopened.runtime.summary().lastIndex).toBe(lastIndex);
    reopened.runtime.campaignIfLeaderless();
    await until(() => reopened.runtime.summary().appliedIndex >= lastIndex, "replay");
    expect(new TextDecoder().decode(reopened.runtime.read(encoder.encode(`k${writeCount - 1}`)) ?? new Uint8Array(0))).toBe(`v${writeCount - 1}`);
    expect(new TextDecoder().decode(reopened.runtime.read(encoder.encode("after")) ?? new Uint8Array(0))).toBe("y");
  } finally {
    await reopened.runtime.close();
    await reopened.log.close();
  }
}, 30_000);
