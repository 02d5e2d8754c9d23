// The raw client protocol takes the cluster's requirepass: a connection that sent no password, or a
// wrong one, gets UNAUTHENTICATED for every request (NOAUTH / WRONGPASS in the message) and
// nothing is done; the stores' own clients (forwarding a key to the other store's shard) and every
// CLI (kv, status, admin, load, top, router) work against the password-protected cluster, and a
// CLI with a wrong password prints one line and exits 17.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { KvClient } from "../../src/transport/kv-client.ts";
import { bytes, LocalStores, text, ukvBinary, waitFor } from "./harness.ts";

const password = "raw-s3cret";
let stores: LocalStores;
let work: string;

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), "ukv-raw-auth-"));
  // Two stores, one replica per shard: a key of the other store's shard is forwarded store to store.
  stores = await LocalStores.create({ storeCount: 2, shardCount: 2, replication: 1, requirepass: password });
  stores.startAll();
  await stores.waitForLeaders();
  await stores.waitForRouting();
}, 90_000);

afterAll(async () => {
  await stores.destroy();
  rmSync(work, { recursive: true, force: true });
}, 30_000);

interface Run {
  exitCode: number;
  stdout: string;
  stderr: string;
}

async function ukv(args: string[], env: Record<string, string> = {}): Promise<Run> {
  const { UKV_PASSWORD: _ignored, ...inherited } = process.env;
  const child = Bun.spawn([ukvBinary, ...args], { stdout: "pipe", stderr: "pipe", env: { ...inherited, ...env } });
  const [stdout, stderr, exitCode] = await Promise.all([new Response(child.stdout).text(), new Response(child.stderr).text(), child.exited]);
  return { exitCode, stdout, stderr };
}

test("requests without the password, or with a wrong one, are refused and do nothing", async () => {
  const address = stores.clientAddress(1);
  const [key] = stores.keysOfShard("raw-auth-", 1, 1) as [string];
  const anonymous = new KvClient(address, { password: null });
  const wrong = new KvClient(address, { password: "not-it" });
  const right = new KvClient(address, { password });
  try {
    const refused = await anonymous.set(bytes(key), bytes("x"));
    expect(refused.code).toBe("UNAUTHENTICATED");
    expect(refused.message).toStartWith("NOAUTH Authentication required");
    expect((await anonymous.status()).code).toBe("UNAUTHENTICATED");
    const wrongAnswer = await wrong.set(bytes(key), bytes("x"));
    expect(wrongAnswer.code).toBe("UNAUTHENTICATED");
    expect(wrongAnswer.message).toStartWith("WRONGPASS");
    expect((await right.get(bytes(key), { linearizable: true })).code).toBe("NOT_FOUND");
    // Keys of both shards through store 1: shard 2 lives on store 2 only (forwarded with the secret).
    for (const shardId of [1, 2]) {
      const [shardKey] = stores.keysOfShard(`raw-auth-fwd-${shardId}-`, shardId, 1) as [string];
      expect((await right.set(bytes(shardKey), bytes(`v${shardId}`))).code).toBe("OK");
      const read = await right.get(bytes(shardKey), { linearizable: true });
      expect(read.code).toBe("OK");
      expect(text(read.value)).toBe(`v${shardId}`);
    }
  } finally {
    anonymous.close();
    wrong.close();
    right.close();
  }
});

test("ukv kv: no password and a wrong one are one line and exit 17; --password, UKV_PASSWORD and the config's work", async () => {
  const node = stores.clientAddress(2);
  const none = await ukv(["kv", "set", "cli-key", "v1", "--node", node]);
  expect(none.exitCode).toBe(17);
  expect(none.stderr.trim().split("\n")).toHaveLength(1);
  expect(none.stderr).toStartWith("error (UNAUTHENTICATED): NOAUTH Authentication required");
  const wrong = await ukv(["kv", "set", "cli-key", "v1", "--node", node, "--password", "nope"]);
  expect(wrong.exitCode).toBe(17);
  expect(wrong.stderr.trim()).toBe("error (UNAUTHENTICATED): WRONGPASS invalid password for this cluster");
  const viaFlag = await ukv(["kv", "set", "cli-key", "v1", "--node", node, "--password", password]);
  expect(viaFlag.stderr).toBe("");
  expect(viaFlag.exitCode).toBe(0);
  const viaEnv = await ukv(["kv", "get", "cli-key", "--node", node, "--linearizable"], { UKV_PASSWORD: password });
  expect(viaEnv.exitCode).toBe(0);
  expect(viaEnv.stdout.trim()).toBe("v1");
  const viaConfig = await ukv(["kv", "get", "cli-key", "--config", stores.configPath, "--linearizable"]);
  expect(viaConfig.stderr).toBe("");
  expect(viaConfig.stdout.trim()).toBe("v1");
});

test("ukv status, admin, top and load work with the config's or the given password", async () => {
  const status = await ukv(["status", "--config", stores.configPath, "--json"]);
  expect(status.stderr).toBe("");
  expect(status.exitCode).toBe(0);
  const statusWrong = await ukv(["status", "--config", stores.configPath, "--password", "nope"]);
  expect(statusWrong.exitCode).toBe(17);
  expect(statusWrong.stderr.trim().split("\n")).toHaveLength(1);
  expect(statusWrong.stderr).toContain("error (UNAUTHENTICATED)");
  expect(statusWrong.stderr).toContain("WRONGPASS");

  const rebalance = await ukv(["admin", "rebalance", "--config", stores.configPath, "--dry-run"]);
  expect(rebalance.stderr).toBe("");
  expect(rebalance.exitCode).toBe(0);
  const meta = stores.clientAddress(1);
  const adminNone = await ukv(["admin", "snapshot", "--meta", meta, "--shard", "1"]);
  expect(adminNone.exitCode).toBe(17);
  expect(adminNone.stderr.trim().split("\n")).toHaveLength(1);
  expect(adminNone.stderr).toContain("error (UNAUTHENTICATED)");
  const adminFlag = await ukv(["admin", "snapshot", "--meta", meta, "--shard", "1", "--password", password]);
  expect(adminFlag.stderr).toBe("");
  expect(adminFlag.exitCode).toBe(0);

  const top = await ukv(["top", "--config", stores.configPath, "--count", "1", "--interval", "0.2"]);
  expect(top.exitCode).toBe(0);

  const input = join(work, "rows.csv");
  writeFileSync(input, `key,value\n${Array.from({ length: 200 }, (_, index) => `load-${index},value-${index}`).join("\n")}\n`);
  const plan = join(work, "plan.json");
  const analyzed = await ukv(["analyze", "--input", input, "--shards", "2", "--out", plan]);
  expect(analyzed.exitCode).toBe(0);
  const cluster = stores.storeIds.map((storeId) => stores.clientAddress(storeId)).join(",");
  const loadNone = await ukv(["load", "--plan", plan, "--input", input, "--cluster", cluster, "--into-existing"]);
  expect(loadNone.exitCode).toBe(17);
  expect(loadNone.stderr).toContain("error (UNAUTHENTICATED)");
  const loaded = await ukv(["load", "--plan", plan, "--input", input, "--cluster", cluster, "--into-existing", "--password", password]);
  expect(loaded.exitCode).toBe(0);
  const check = await ukv(["kv", "get", "load-199", "--config", stores.configPath, "--linearizable"]);
  expect(check.stdout.trim()).toBe("value-199");
}, 120_000);

test("ukv router authenticates to the stores and requires the password of its own clients", async () => {
  const routerAddress = stores.config.router?.clientAddress ?? "";
  stores.spawn("router", ["router", "--config", stores.configPath]);
  const anonymous = new KvClient(routerAddress, { timeoutMs: 3000, password: null });
  const client = new KvClient(routerAddress, { timeoutMs: 3000, password });
  try {
    await waitFor("the router to serve", () => client.set(bytes("via-router"), bytes("r")), (response) => response.code === "OK", 30_000);
    expect(text((await client.get(bytes("via-router"), { linearizable: true })).value)).toBe("r");
    expect((await anonymous.get(bytes("via-router"))).code).toBe("UNAUTHENTICATED");
  } finally {
    anonymous.close();
    client.close();
    await stores.killProcess("router", "SIGTERM");
  }
}, 60_000);
