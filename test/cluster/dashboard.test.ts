// The dashboard in headless Chromium (playwright-core driving Debian's /usr/bin/chromium) against a
// live cluster of 4 stores placed so that stopping stores 1 and 2 takes the quorum of shard 1 only
// (metadata on 2, 3, 4; shard 1 on 1, 2, 3; shard 2 on 4, 3, 2). The page is served by store 4:
// the grid shows every group with a leader; RESP writes raise the ops/s figure; after stores 1 and
// 2 are killed, shard 1's row turns red (no quorum) while shard 2 and the metadata group keep a
// leader. The screenshot is saved as docs/dashboard.png (shown in the README). Without chromium
// the test says SKIP.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import Redis from "ioredis";
import { chromium, type BrowserContext, type Page } from "playwright-core";
import { LocalStores, twoShardsOnFourStores } from "./harness.ts";

// The functions given to waitForFunction and evaluate run in the page: these name its globals
// for the type checker (the project is typed without the DOM library).
interface PageElement {
  getAttribute(name: string): string | null;
  dataset: Record<string, string | undefined>;
}
declare const document: { querySelectorAll(selector: string): Iterable<PageElement> & { length: number }; querySelector(selector: string): PageElement | null; getElementById(id: string): PageElement | null };
declare function getComputedStyle(element: unknown): { backgroundColor: string };

const chromiumPath = "/usr/bin/chromium";
const screenshotPath = resolve(import.meta.dir, "../../docs/dashboard.png");
const servingStoreId = 4;

let stores: LocalStores | null = null;
let context: BrowserContext | null = null;
let profileDir: string | null = null;

beforeAll(async () => {
  if (!existsSync(chromiumPath)) return;
  stores = await LocalStores.create(twoShardsOnFourStores);
  stores.startAll();
  await stores.waitForLeaders();
  await stores.waitForRouting();
  profileDir = mkdtempSync(join(tmpdir(), "ukv-chromium-"));
  context = await chromium.launchPersistentContext(profileDir, {
    executablePath: chromiumPath,
    headless: true,
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
    viewport: { width: 1360, height: 900 },
  });
}, 90_000);

afterAll(async () => {
  await context?.close();
  await stores?.destroy();
  if (profileDir !== null) rmSync(profileDir, { recursive: true, force: true });
}, 30_000);

async function rowState(page: Page, shard: number): Promise<{ quorum: string | null; leader: string | null; className: string }> {
  const row = page.locator(`#grid tbody tr[data-shard="${shard}"]`);
  return { quorum: await row.getAttribute("data-quorum"), leader: await row.getAttribute("data-leader"), className: (await row.getAttribute("class")) ?? "" };
}

test("grid, ops/s and a shard without quorum in red, in headless Chromium", async () => {
  if (stores === null || context === null) {
    console.log(`SKIP: ${chromiumPath} not installed (Debian package chromium): the dashboard was not driven in a browser`);
    return;
  }
  const page = await context.newPage();
  const pageErrors: string[] = [];
  page.on("pageerror", (error) => pageErrors.push(error.message));
  await page.goto(`http://${stores.httpAddress(servingStoreId)}/`);
  // Every group (metadata = shard 0, shards 1 and 2) with a leader, and a column per store.
  await page.waitForFunction(() => {
    const rows = [...document.querySelectorAll("#grid tbody tr")];
    return rows.length === 3 && rows.every((row) => row.getAttribute("data-quorum") === "yes" && row.getAttribute("data-leader") !== "0");
  }, undefined, { timeout: 30_000 });
  expect(await page.locator("#grid thead th[data-store]").count()).toBe(4);
  for (const shard of [0, 1, 2]) {
    expect((await rowState(page, shard)).quorum).toBe("yes");
    expect(await page.locator(`#grid tbody tr[data-shard="${shard}"] td[data-role="leader"]`).count()).toBe(1);
  }
  // Nothing writes yet: ops/s is 0 once two samples exist.
  await page.waitForFunction(() => document.getElementById("ops")?.dataset["value"] !== "", undefined, { timeout: 15_000 });
  expect(Number(await page.locator("#ops").getAttribute("data-value"))).toBeLessThan(5);

  // RESP writes through store 4 until the figure shows them.
  const redis = new Redis({ host: "127.0.0.1", port: stores.respPort(servingStoreId), maxRetriesPerRequest: 0 });
  redis.on("error", () => undefined);
  let writing = true;
  let written = 0;
  const writer = (async () => {
    while (writing) {
      await redis.set(`dash-${written}`, "v");
      written++;
    }
  })();
  try {
    await page.waitForFunction(() => Number(document.getElementById("ops")?.dataset["value"] ?? "0") >= 20, undefined, { timeout: 20_000 });
    expect(await page.locator("#ops").textContent()).not.toBe("-");
    // A few more seconds of writes: the charts of the screenshot show them.
    await Bun.sleep(5000);
  } finally {
    writing = false;
    await writer.catch(() => undefined);
    redis.disconnect();
  }
  expect(written).toBeGreaterThan(20);

  // Shard 1 loses its quorum (2 of its 3 stores); shard 2 and the metadata group keep theirs.
  await stores.kill(1);
  await stores.kill(2);
  await page.waitForFunction(() => document.querySelector('#grid tbody tr[data-shard="1"]')?.getAttribute("data-quorum") === "no", undefined, { timeout: 30_000 });
  const shard1 = await rowState(page, 1);
  expect(shard1.className).toContain("noquorum");
  const background = await page.locator('#grid tbody tr[data-shard="1"] td.shard').evaluate((cell) => getComputedStyle(cell).backgroundColor);
  expect(background).toBe("rgb(253, 226, 225)");
  await page.waitForFunction(() => document.querySelector('#grid tbody tr[data-shard="2"]')?.getAttribute("data-quorum") === "yes" && document.querySelector('#grid tbody tr[data-shard="0"]')?.getAttribute("data-quorum") === "yes", undefined, { timeout: 30_000 });
  expect(await page.locator("#noquorum").getAttribute("data-value")).toBe("1");
  // A sample taken while store 2 was being killed can show shard 1 without quorum and store 2 still up.
  await page.waitForFunction(() => document.querySelectorAll("#grid thead th.down").length === 2, undefined, { timeout: 15_000 });
  expect(await page.locator('#grid thead th.down').count()).toBe(2);
  await page.screenshot({ path: screenshotPath, fullPage: true });
  expect(pageErrors).toEqual([]);
}, 120_000);
