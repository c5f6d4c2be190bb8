import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect, test } from "@playwright/test";
import { startHubServer, type RunningHubServer } from "../src/hub-server/startHubServer.ts";
import { writeDemoHub } from "../src/testmodels/writeDemoHub.ts";
import { TOY_MODELS_FOLDER } from "./toyModelsFolder.ts";

let root: string;
test.beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), "hub-faults-e2e-"));
  await writeDemoHub(root, TOY_MODELS_FOLDER);
});
test.afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

const recipe = (hub: string) =>
  `/?hub=${hub}&target=demo/Qwen2-Small-Instruct&plus=demo/Qwen2-Small-GRPO&minus=demo/Qwen2-Small-SFT&alpha=1`;

test.describe.configure({ timeout: 120_000 });

test("a Hub that fails every third file request: the merge retries and completes", async ({ page }) => {
  const hub = await startHubServer({ root, port: 0, faults: { failEvery: 3 } });
  try {
    await page.goto(recipe(hub.url));
    await expect(page.getByTestId("compat-report")).toHaveAttribute("data-verdict", "ok");
    await page.getByTestId("merge-button").click();
    await expect(page.getByTestId("merge-done")).toBeVisible({ timeout: 90_000 });
    await expect(page.getByTestId("error")).toHaveCount(0);
    expect(hub.requestCount()).toBeGreaterThan(10);
  } finally {
    await hub.close();
  }
});

test("a Hub that goes away mid-way: a clear error, and no merge shown as done", async ({ page }) => {
  let hub: RunningHubServer | undefined = await startHubServer({ root, port: 0 });
  try {
    await page.goto(recipe(hub.url));
    await expect(page.getByTestId("compat-report")).toHaveAttribute("data-verdict", "ok");
    await hub.close();
    hub = undefined;
    await page.getByTestId("merge-button").click();
    await expect(page.getByTestId("error")).toContainText(/cannot reach the Hub at http:\/\/127\.0\.0\.1:\d+/, { timeout: 60_000 });
    await expect(page.getByTestId("merge-done")).toHaveCount(0);
    await page.screenshot({ path: "test-results/screenshots/studio-hub-gone.png", fullPage: true });
  } finally {
    await hub?.close();
  }
});
