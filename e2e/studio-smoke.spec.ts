import { expect, test } from "@playwright/test";

const DEMO_HUB_URL = "http://127.0.0.1:5181";
const UNREACHABLE_HUB_URL = "http://127.0.0.1:5199";
const DEMO_MODELS = ["demo/Qwen2-Small-Instruct", "demo/Qwen2-Small-GRPO", "demo/Qwen2-Small-SFT", "demo/Qwen2-Small-BigVocab"];

test("lists the models of the demo hub", async ({ page }) => {
  await page.goto(`/?hub=${encodeURIComponent(DEMO_HUB_URL)}`);

  await expect(page.getByRole("heading", { name: "Merge Studio" })).toBeVisible();
  await expect(page.getByLabel("Hub URL")).toHaveValue(DEMO_HUB_URL);
  const modelList = page.getByTestId("model-list");
  for (const model of DEMO_MODELS) {
    await expect(modelList.getByRole("rowheader", { name: model, exact: true })).toBeVisible();
  }
  await expect(page.getByTestId("error")).toHaveCount(0);

  await page.screenshot({ path: "test-results/screenshots/studio-smoke.png", fullPage: true });
});

test("shows an error when the hub cannot be reached", async ({ page }) => {
  await page.goto(`/?hub=${encodeURIComponent(DEMO_HUB_URL)}`);
  await expect(page.getByTestId("model-list")).toBeVisible();

  const hubUrl = page.getByLabel("Hub URL");
  await hubUrl.fill(UNREACHABLE_HUB_URL);
  await hubUrl.press("Enter");

  await expect(page.getByTestId("error")).toContainText(`Could not reach the Hub at ${UNREACHABLE_HUB_URL}`);
  await expect(page.getByTestId("model-list")).toHaveCount(0);

  await page.screenshot({ path: "test-results/screenshots/studio-unreachable-hub.png", fullPage: true });
});
