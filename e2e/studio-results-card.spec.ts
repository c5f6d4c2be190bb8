import { expect, test, type Download, type Page } from "@playwright/test";
import { createHash } from "node:crypto";
import { readFile } from "node:fs/promises";
import { parse as parseYaml } from "yaml";
import type { EvalReport } from "../src/eval/report/EvalReport.ts";
import { DEMO_HUB_URL, DEMO_TRIO } from "./cliReference.ts";
import { saveMergeToPickedFolder } from "./readOpfsFolder.ts";
import { readStoredZip } from "./readStoredZip.ts";

const PROBLEMS = 2;
const MAX_NEW_TOKENS = 4;
const sha256 = (bytes: Buffer) => createHash("sha256").update(bytes).digest("hex");

/** The entries of the zip a click downloads, by their path inside its one top folder, and the download's name. */
async function downloadedZip(page: Page, click: () => Promise<void>): Promise<{ name: string; files: Map<string, Buffer> }> {
  const [download] = await Promise.all([page.waitForEvent("download"), click()]) as [Download, void];
  const entries = readStoredZip(await readFile((await download.path())!));
  const roots = new Set([...entries.keys()].map((name) => name.split("/")[0]));
  expect(roots.size).toBe(1);
  return { name: download.suggestedFilename(), files: new Map([...entries].map(([name, bytes]) => [name.slice(name.indexOf("/") + 1), bytes])) };
}

interface ModelIndexMetric {
  type: string;
  value: number;
  name: string;
  args: { correct: number; total: number };
}

test.describe.configure({ timeout: 300_000 });

test("a saved merge carries the evaluation of its recipe; the sweep exports as a GPU job", async ({ page }) => {
  // "Save to folder" writes into OPFS picked/, as a user picking a folder would.
  await page.addInitScript(() => {
    Object.assign(window, {
      showDirectoryPicker: async () => (await navigator.storage.getDirectory()).getDirectoryHandle("picked", { create: true }),
    });
  });
  await page.goto(`/?hub=${DEMO_HUB_URL}&target=${DEMO_TRIO.target}&plus=${DEMO_TRIO.plus}&minus=${DEMO_TRIO.minus}&alpha=1`);
  await page.evaluate(async () => {
    const root = await navigator.storage.getDirectory();
    for (const name of ["merges", "picked"]) await root.removeEntry(name, { recursive: true }).catch(() => undefined);
  });
  await expect(page.getByTestId("compat-report")).toHaveAttribute("data-verdict", "ok");
  await page.getByTestId("merge-button").click();
  await expect(page.getByTestId("merge-done")).toBeVisible({ timeout: 90_000 });
  const note = page.getByTestId("merge-evaluation");
  await expect(note).toHaveText("Evaluate this merge to add its results to the model card.");
  await expect(note).toHaveAttribute("data-included", "false");

  // A prompt preset is no lm-eval task: the export says so and waits.
  const panel = page.getByTestId("eval-panel");
  await expect(page.getByTestId("gpu-job-export")).toBeDisabled();
  await expect(page.getByTestId("gpu-job")).toContainText("A prompt preset has no lm-evaluation-harness task");

  await page.getByTestId("eval-task").selectOption("lm-eval:gsm8k_cot");
  await page.getByTestId("eval-n").fill(String(PROBLEMS));
  await panel.getByLabel("Max new tokens").fill(String(MAX_NEW_TOKENS));
  await page.getByTestId("eval-batch").fill("2");
  await page.getByTestId("eval-run").click();
  await expect(page.getByTestId("eval-done")).toBeVisible({ timeout: 200_000 });
  await expect(note).toContainText(`Includes GSM8K results: gsm8k_cot, n = ${PROBLEMS}`);
  await expect(note).toHaveAttribute("data-included", "true");
  const mergedRight = Number(new RegExp(`^(\\d+) / ${PROBLEMS} right`).exec((await page.getByTestId("eval-accuracy-alpha 1").locator("p").filter({ hasText: "right" }).first().innerText()).trim())?.[1] ?? Number.NaN);

  // The zip: the card and the record carry the run, the report beside them, every file as the record lists it.
  const zip = await downloadedZip(page, () => page.getByTestId("save-zip-button").click());
  expect(zip.name).toMatch(/-merged\.zip$/);
  const readme = zip.files.get("README.md")!;
  const report = JSON.parse(zip.files.get("eval-report.json")!.toString("utf8")) as EvalReport;
  const record = JSON.parse(zip.files.get("merge_recipe.json")!.toString("utf8")) as {
    files: Record<string, { size: number; sha256: string }>;
    evaluation: Record<string, { report_sha256: string; task: { problem_indices: number[] }; merge: { label: string; scores: { metric: string; correct: number; total: number }[] } }>;
  };
  expect(Object.keys(record.files).sort()).toEqual([...zip.files.keys()].filter((path) => path !== "merge_recipe.json" && path !== "eval-report.json").sort());
  for (const [path, file] of Object.entries(record.files)) expect({ path, size: zip.files.get(path)!.byteLength, sha256: sha256(zip.files.get(path)!) }).toEqual({ path, ...file });
  const evaluation = record.evaluation.gsm8k_cot!;
  expect(evaluation.report_sha256).toBe(sha256(zip.files.get("eval-report.json")!));
  expect(evaluation.merge.label).toBe("alpha 1");
  expect(evaluation.task.problem_indices).toEqual(report.task.problemIndices);
  expect(report.models.map((model) => model.label)).toEqual(["target", "alpha 1"]);

  const front = parseYaml(/^---\n([\s\S]*?)---\n/.exec(readme.toString("utf8"))![1]!) as { base_model: unknown; "model-index": { name: string; results: { dataset: { args: { task: string } }; metrics: ModelIndexMetric[] }[] }[] };
  expect(front.base_model).toBeDefined();
  const [result] = front["model-index"][0]!.results;
  expect(result!.dataset.args.task).toBe("gsm8k_cot");
  const strict = result!.metrics.find((metric) => metric.name.includes("strict-match"))!;
  expect(strict.args).toMatchObject({ correct: mergedRight, total: PROBLEMS });
  expect(strict.value).toBe(Math.round((mergedRight / PROBLEMS) * 1e4) / 1e4);
  expect(evaluation.merge.scores[0]).toMatchObject({ metric: "strict-match", correct: mergedRight, total: PROBLEMS });
  expect(readme.toString("utf8")).toContain("Evaluation: target vs this merge");
  // Save to folder writes the same files as the zip.
  const saved = await saveMergeToPickedFolder(page);
  expect([...saved.files.keys()].sort()).toEqual([...zip.files.keys()].sort());
  for (const [path, bytes] of zip.files) expect(saved.files.get(path)!.equals(bytes), path).toBe(true);

  // The GPU job: the recipe at alpha 1 (no sweep typed), the run's problems, the chosen task and tokens.
  const job = await downloadedZip(page, () => page.getByTestId("gpu-job-export").click());
  expect(job.name).toBe("gpu-job.zip");
  expect([...job.files.keys()].sort()).toEqual(["README.md", "configs/alpha_1.yaml", "run.sh", "samples.json"]);
  // The reasoning-vector form of mergekit's linear method, every model pinned to the commit the page inspected and evaluated.
  const config = parseYaml(job.files.get("configs/alpha_1.yaml")!.toString("utf8")) as { merge_method: string; models: { model: string; parameters: { weight: number } }[] };
  expect(config.merge_method).toBe("linear");
  const pinned = (repo: string) => expect.stringMatching(new RegExp(`^${repo}@[0-9a-f]{40}$`));
  expect(config.models).toEqual([
    { model: pinned(DEMO_TRIO.target), parameters: { weight: 1 } },
    { model: pinned(DEMO_TRIO.plus), parameters: { weight: 1 } },
    { model: pinned(DEMO_TRIO.minus), parameters: { weight: -1 } },
  ]);
  const runScript = job.files.get("run.sh")!.toString("utf8");
  expect(runScript.startsWith("#!/usr/bin/env bash\n")).toBe(true);
  expect(runScript).toContain(`--tasks gsm8k_cot --num_fewshot 8`);
  expect(runScript).toContain(`--gen_kwargs max_gen_toks=${MAX_NEW_TOKENS}`);
  expect(runScript).toContain("merge_and_evaluate 'alpha_1'");
  expect(JSON.parse(job.files.get("samples.json")!.toString("utf8"))).toEqual({ gsm8k_cot: report.task.problemIndices });
  await expect(page.getByTestId("gpu-job-status")).toContainText(`the ${PROBLEMS} problems of the last run`);
  await page.getByTestId("eval-panel").screenshot({ path: "test-results/screenshots/studio-results-card-eval-panel.png" });
  await page.getByTestId("merge-done").screenshot({ path: "test-results/screenshots/studio-results-card-merge.png" });

  // A run of another alpha only: the merge itself was not evaluated, and the zip has no results.
  await page.getByTestId("sweep-alphas").fill("0.5");
  await page.getByTestId("eval-run").click();
  await expect(page.getByTestId("eval-done")).toBeVisible({ timeout: 200_000 });
  await expect(note).toHaveText("This merge itself was not evaluated (the last run evaluated alpha 0.5): evaluate it to add its results to the model card.");
  const plain = await downloadedZip(page, () => page.getByTestId("save-zip-button").click());
  expect(plain.files.has("eval-report.json")).toBe(false);
  expect(plain.files.get("README.md")!.toString("utf8")).not.toContain("model-index");
  expect(JSON.parse(plain.files.get("merge_recipe.json")!.toString("utf8"))).not.toHaveProperty("evaluation");

  // A recipe mergekit cannot express: the export says why, in one line, and downloads nothing.
  await page.getByTestId("control-toggle").check();
  await page.getByTestId("gpu-job-export").click();
  await expect(page.getByTestId("gpu-job-error")).toHaveText("alpha 0.5: mergekit cannot express this recipe: mergekit has no random_sign control");
  await expect(page.getByTestId("gpu-job-status")).toHaveCount(0);
});
