// AUTH with the config's requirepass, end to end on one store: before AUTH every command but AUTH,
// HELLO and QUIT answers NOAUTH; a wrong password answers WRONGPASS; ioredis (AUTH <password>) and
// node-redis (HELLO 3 AUTH default <password>) connect with the password and work.
import { afterAll, beforeAll, expect, test } from "bun:test";
import Redis from "ioredis";
import { createClient } from "redis";
import { LocalStores } from "./harness.ts";

let stores: LocalStores;
const password = "s3cret-pass";

beforeAll(async () => {
  stores = await LocalStores.create({ storeCount: 1, requirepass: password });
  stores.startAll();
  await stores.waitForLeaders();
  await stores.waitForRouting();
}, 60_000);

afterAll(async () => {
  await stores.destroy();
}, 30_000);

test("NOAUTH before AUTH, WRONGPASS for a wrong password, then every command works", async () => {
  const anonymous = new Redis({ host: "127.0.0.1", port: stores.respPort(1), maxRetriesPerRequest: 0, lazyConnect: true, enableReadyCheck: false });
  anonymous.on("error", () => undefined);
  await anonymous.connect();
  try {
    await expect(anonymous.get("k")).rejects.toThrow("NOAUTH Authentication required.");
    await expect(anonymous.set("k", "v")).rejects.toThrow("NOAUTH Authentication required.");
    await expect(anonymous.auth("wrong")).rejects.toThrow("WRONGPASS invalid username-password pair or user is disabled.");
    await expect(anonymous.auth("other", password)).rejects.toThrow("WRONGPASS");
    expect(await anonymous.auth(password)).toBe("OK");
    expect(await anonymous.set("k", "v")).toBe("OK");
    expect(await anonymous.incr("n")).toBe(1);
  } finally {
    anonymous.disconnect();
  }
  const withPassword = new Redis({ host: "127.0.0.1", port: stores.respPort(1), password, maxRetriesPerRequest: 0 });
  try {
    expect(await withPassword.get("k")).toBe("v");
  } finally {
    withPassword.disconnect();
  }
  const node = createClient({ url: `redis://127.0.0.1:${stores.respPort(1)}`, password, RESP: 3 });
  await node.connect();
  try {
    expect(await node.incr("n")).toBe(2);
  } finally {
    await node.quit();
  }
  const refused = createClient({ url: `redis://127.0.0.1:${stores.respPort(1)}`, password: "nope", socket: { reconnectStrategy: false } });
  refused.on("error", () => undefined);
  await expect(refused.connect()).rejects.toThrow("WRONGPASS");
  await refused.disconnect().catch(() => undefined);
});
