import { expect, test, type Download } from "@playwright/test";
import { createHash } from "node:crypto";
import { readFile } from "node:fs/promises";
import type { EvalReport } from "../src/eval/report/EvalReport.ts";
import { DEMO_HUB_URL } from "./cliReference.ts";

const PROBLEMS = 20;
const TOY_REASONING_SET = new URL("../public/data/toy/toy-reasoning.jsonl", import.meta.url);

test.describe.configure({ timeout: 300_000 });

test("the toy preset fills the toy trio, toy-reasoning and alphas -1, 0, 1; the merge at alpha 1 answers more held-out sums than the target", async ({ page }) => {
  await page.goto(`/?hub=${DEMO_HUB_URL}`);
  await expect(page.getByText("Adds what GRPO taught a tiny model about addition")).toBeVisible();
  await page.getByTestId("toy-preset").click();

  await expect(page.getByTestId("model-card-target").getByTestId("model-name")).toHaveText("demo/Toy-Instruct");
  await expect(page.getByTestId("model-card-plus").getByTestId("model-name")).toHaveText("demo/Toy-GRPO");
  await expect(page.getByTestId("model-card-minus").getByTestId("model-name")).toHaveText("demo/Toy-SFT");
  await expect(page.getByTestId("compat-report")).toHaveAttribute("data-verdict", "ok");
  await expect(page.getByTestId("eval-task")).toHaveValue("toy:toy-reasoning");
  await expect(page.getByRole("heading", { name: "Evaluate on a toy task" })).toBeVisible();
  await expect(page.getByTestId("eval-chat-template")).toBeChecked();
  const panel = page.getByTestId("eval-panel");
  await expect(panel.getByLabel("Max new tokens")).toHaveValue("16");
  await expect(page.getByTestId("sweep-alphas")).toHaveValue("-1, 0, 1");
  await page.screenshot({ path: "test-results/screenshots/studio-toy-demo-preset.png", fullPage: true });

  await page.getByTestId("merge-button").click();
  await expect(page.getByTestId("merge-done")).toBeVisible({ timeout: 90_000 });

  // The target and the merge at alpha 1 on 20 held-out sums.
  await page.getByTestId("sweep-alphas").fill("1");
  await page.getByTestId("eval-n").fill(String(PROBLEMS));
  await page.getByTestId("eval-run").click();
  await expect(page.getByTestId("eval-done")).toBeVisible({ timeout: 240_000 });
  await page.getByTestId("eval-panel").screenshot({ path: "test-results/screenshots/studio-toy-demo-eval.png" });

  const [download] = (await Promise.all([page.waitForEvent("download"), page.getByTestId("eval-download-json").click()])) as [Download, void];
  const report = JSON.parse(await readFile((await download.path())!, "utf8")) as EvalReport;
  const sha256 = createHash("sha256").update(await readFile(TOY_REASONING_SET)).digest("hex");
  expect(report.task).toMatchObject({ name: "toy-reasoning", dataset: { kind: "file", name: "data/toy/toy-reasoning.jsonl", sha256 }, metrics: ["target-match"] });
  expect(report.task.problemIndices).toHaveLength(PROBLEMS);
  expect(report.evaluator).toMatchObject({ maxNewTokens: 16, chatTemplate: true, format: "f32" });
  expect(report.models.map((model) => model.label)).toEqual(["target", "alpha 1"]);
  const [target, merged] = report.models.map((model) => model.scores[0]!);
  expect(target!.total).toBe(PROBLEMS);
  expect(merged!.total).toBe(PROBLEMS);
  // The reasoning vector's point: with the trained toy models (models/toy/), the merge answers more sums than the target.
  expect(merged!.correct, `target ${target!.correct}/${PROBLEMS}, merged ${merged!.correct}/${PROBLEMS}`).toBeGreaterThan(target!.correct);
});
