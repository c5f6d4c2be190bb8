import { expect, test } from "@playwright/test";

import { DEMO_HUB_URL } from "./ports.ts";
const UNREACHABLE_HUB_URL = "http://127.0.0.1:5199";
const DEMO_MODELS = ["demo/Qwen2-Small-Instruct", "demo/Qwen2-Small-GRPO", "demo/Qwen2-Small-SFT", "demo/Qwen2-Small-BigVocab"];

test("lists the models of the demo hub in a card's search", async ({ page }) => {
  await page.goto(`/?hub=${encodeURIComponent(DEMO_HUB_URL)}`);

  await expect(page.getByRole("heading", { name: "Merge Studio" })).toBeVisible();
  await expect(page.getByLabel("Hub URL")).toHaveValue(DEMO_HUB_URL);
  const card = page.getByTestId("model-card-target");
  await card.getByRole("combobox").focus();
  for (const model of DEMO_MODELS) {
    await expect(card.getByRole("option", { name: new RegExp(model) })).toBeVisible();
  }
  await expect(page.getByTestId("error")).toHaveCount(0);

  await page.screenshot({ path: "test-results/screenshots/studio-smoke.png", fullPage: true });
});

test("shows an error when the hub cannot be reached", async ({ page }) => {
  await page.goto(`/?hub=${encodeURIComponent(DEMO_HUB_URL)}`);

  const hubUrl = page.getByLabel("Hub URL");
  await hubUrl.fill(UNREACHABLE_HUB_URL);
  await hubUrl.press("Enter");
  await expect(page).toHaveURL(/hub=http:\/\/127\.0\.0\.1:5199/);
  await page.getByTestId("model-card-target").getByRole("combobox").fill("qwen");

  await expect(page.getByTestId("error")).toContainText(`Could not reach the Hub at ${UNREACHABLE_HUB_URL}`);

  await page.screenshot({ path: "test-results/screenshots/studio-unreachable-hub.png", fullPage: true });
});
