import { expect, test } from "@playwright/test";
import { DEMO_HUB_URL, DEMO_TRIO } from "./cliReference.ts";

test.describe.configure({ timeout: 180_000 });

test("the task picker: lm-eval tasks set 256 new tokens, a custom set is checked line by line and runs in the worker", async ({ page }) => {
  await page.goto(`/?hub=${DEMO_HUB_URL}&target=${DEMO_TRIO.target}&plus=${DEMO_TRIO.plus}&minus=${DEMO_TRIO.minus}&alpha=1`);
  await expect(page.getByTestId("compat-report")).toHaveAttribute("data-verdict", "ok");
  const panel = page.getByTestId("eval-panel");
  const picker = page.getByTestId("task-picker");
  const maxNewTokens = panel.getByLabel("Max new tokens");

  await page.getByTestId("eval-task").selectOption("lm-eval:gsm8k_cot");
  await expect(maxNewTokens).toHaveValue("256");
  await expect(picker.getByLabel("Prompt text")).toHaveCount(0);
  await page.getByTestId("eval-task").selectOption("lm-eval:gsm8k");
  await expect(picker).toContainText("Its 5 examples per problem are drawn from GSM8K's train split as lm-eval draws them (seed 1234)");
  await page.getByTestId("eval-task").selectOption("preset:think-step-by-step");
  await expect(maxNewTokens).toHaveValue("512");
  await expect(picker.getByLabel("Prompt text")).toHaveValue("{question}\nThink step by step.");

  await page.getByTestId("eval-task").selectOption("custom");
  const file = (name: string, text: string) => ({ name, mimeType: "application/jsonl", buffer: Buffer.from(text) });
  await page.getByTestId("eval-custom-file").setInputFiles(file("bad.jsonl", '{"prompt": "Hi", "target": "x"}\n{"prompt": "Hi"}\n[]\n'));
  await expect(page.getByTestId("eval-task-load-error")).toHaveText('bad.jsonl: 2 bad lines, the set is refused: line 2: "target" is missing; line 3: not a JSON object');
  await page.getByTestId("eval-custom-file").setInputFiles(file("hello.jsonl", '{"prompt": "Say hi", "target": ".", "match": "regex"}\n\n{"prompt": "Say nothing", "target": "zzz-never"}\n'));
  await expect(page.getByTestId("eval-task-loaded")).toHaveText("hello.jsonl: 2 prompt/target lines");
  await page.getByTestId("eval-chat-template").uncheck();

  await panel.getByLabel("Merged (current recipe)").uncheck();
  await maxNewTokens.fill("2");
  await page.getByTestId("eval-run").click();
  await expect(page.getByTestId("eval-done")).toBeVisible({ timeout: 150_000 });
  const rows = page.getByTestId("eval-table").locator("tbody tr");
  await expect(rows).toHaveCount(2);
  await expect(rows.nth(0).locator("td").nth(0)).toContainText("#0 Say hi");
  await expect(rows.nth(0).locator("td").nth(1)).toHaveText("/./");
  await expect(rows.nth(1).locator("td").nth(0)).toContainText("#2 Say nothing");
  await expect(rows.nth(1).locator("td").nth(2).locator("summary")).toContainText("✗");
  await expect(page.getByTestId("eval-accuracy-target")).toContainText("/ 2 right");
  await page.screenshot({ path: "test-results/screenshots/studio-task-picker.png", fullPage: true });

  // lm-eval gsm8k: its examples from the shipped train split, both metrics in the card and in each answer.
  await page.getByTestId("eval-task").selectOption("lm-eval:gsm8k");
  await page.getByTestId("eval-n").fill("1");
  await maxNewTokens.fill("2");
  await page.getByTestId("eval-run").click();
  await expect(page.getByTestId("eval-done")).toHaveText("Evaluation finished: 1 model × 1 problems.", { timeout: 150_000 });
  await expect(rows).toHaveCount(1);
  await expect(page.getByTestId("eval-accuracy-target")).toContainText("· strict-match");
  await expect(page.getByTestId("eval-accuracy-target-flexible-extract")).toContainText(/^flexible-extract: [01] \/ 1 right/);
  const answer = rows.nth(0).locator("td").nth(2).locator("summary");
  await expect(answer.locator("[data-metric]")).toHaveCount(2);
  await expect(answer.locator('[data-metric="strict-match"]')).toContainText("strict-match");
  await expect(answer.locator('[data-metric="flexible-extract"]')).toContainText("flexible-extract");
});
