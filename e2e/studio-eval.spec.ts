import { expect, test } from "@playwright/test";
import { execFileSync } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { EvalReport } from "../src/eval/report/EvalReport.ts";
import { DEMO_HUB_URL, DEMO_TRIO } from "./cliReference.ts";

const PROBLEMS = 3;
const MAX_NEW_TOKENS = 6;

/** The CLI's report of one model, by the studio's role: its answers (the output and whether it was right) and its new tokens. */
type CliModel = { answers: { output: string; correct: boolean }[]; newTokens: number };
interface CliReport {
  problemIndices: number[];
  models: Record<"target" | "merged", CliModel>;
}

/** The same evaluation by the CLI under onnxruntime-node: the browser's greedy outputs must be the same text. */
async function evaluateWithCli(): Promise<CliReport> {
  const dir = await mkdtemp(join(tmpdir(), "merge-studio-eval-"));
  try {
    const json = join(dir, "report.json");
    const { target, plus, minus } = DEMO_TRIO;
    const args = ["eval", "--hub-url", DEMO_HUB_URL, "--target", target, "--plus", plus, "--minus", minus, "--alpha", "1"];
    execFileSync(process.execPath, ["--import", "tsx", "src/cli/main.ts", ...args, "--n", String(PROBLEMS), "--max-new-tokens", String(MAX_NEW_TOKENS), "--json", json], { stdio: "pipe" });
    const report = JSON.parse(await readFile(json, "utf8")) as EvalReport;
    const model = (kind: "target" | "merged"): CliModel => {
      const found = report.models.find((candidate) => candidate.kind === kind)!;
      return { answers: found.answers.map((answer) => ({ output: answer.output, correct: answer.scores[0]!.correct })), newTokens: found.run.newTokens };
    };
    return { problemIndices: report.task.problemIndices, models: { target: model("target"), merged: model("merged") } };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

test.describe.configure({ timeout: 240_000 });

test("evaluates target and merged on GSM8K problems in the browser, as the CLI does", async ({ page }) => {
  const cli = await evaluateWithCli();
  await page.goto(`/?hub=${DEMO_HUB_URL}&target=${DEMO_TRIO.target}&plus=${DEMO_TRIO.plus}&minus=${DEMO_TRIO.minus}&alpha=1`);
  await expect(page.getByTestId("compat-report")).toHaveAttribute("data-verdict", "ok");
  const panel = page.getByTestId("eval-panel");
  await page.getByTestId("eval-n").fill(String(PROBLEMS));
  await panel.getByLabel("Max new tokens").fill(String(MAX_NEW_TOKENS));
  await page.getByTestId("eval-batch").fill("0");
  await page.getByTestId("eval-run").click();
  await expect(panel.getByRole("alert")).toHaveText('Batch: the batch size must be a whole number from 1 to 256, or auto; got "0".');
  // Two rows for three problems (the CLI chose three): the third problem joins when a row finishes, and the answers do not change.
  await page.getByTestId("eval-batch").fill("2");
  await page.getByTestId("eval-run").click();
  await expect(page.getByTestId("eval-progress")).toBeVisible();
  await page.screenshot({ path: "test-results/screenshots/studio-evaluating.png", fullPage: true });
  await expect(page.getByTestId("eval-done")).toBeVisible({ timeout: 200_000 });

  const rows = page.getByTestId("eval-table").locator("tbody tr");
  await expect(rows).toHaveCount(PROBLEMS);
  for (const [row, index] of cli.problemIndices.entries()) {
    const cells = rows.nth(row).locator("td");
    await expect(cells.nth(0)).toContainText(`#${index}`);
    for (const [column, role] of (["target", "merged"] as const).entries()) {
      const expected = cli.models[role].answers[row]!;
      const cell = cells.nth(2 + column);
      await expect(cell.locator("pre")).toHaveText(expected.output, { useInnerText: false });
      await expect(cell.locator("summary")).toContainText(expected.correct ? "✓" : "✗");
    }
  }
  for (const role of ["target", "merged"] as const) {
    const right = cli.models[role].answers.filter((answer) => answer.correct).length;
    await expect(page.getByTestId(`eval-accuracy-${role}`)).toContainText(`${right} / ${PROBLEMS} right`);
  }
  // Each model's run figures: the batch asked for, the CLI's token count (the same greedy answers), prefill and decode within the answering time.
  for (const role of ["target", "merged"] as const) {
    const stats = page.getByTestId(`eval-run-${role}`);
    await expect(stats).toHaveAttribute("data-batch", "2");
    await expect(stats).toHaveAttribute("data-new-tokens", String(cli.models[role].newTokens));
    await expect(stats).toContainText(`Batch 2 · loaded in`);
    await expect(stats).toContainText(`${cli.models[role].newTokens} tokens in`);
    const seconds = async (name: string) => Number(await stats.getAttribute(`data-${name}`));
    const [prefill, decode, answering] = [await seconds("prefill-seconds"), await seconds("decode-seconds"), await seconds("seconds")];
    expect(prefill).toBeGreaterThan(0);
    expect(decode).toBeGreaterThan(0);
    expect(prefill + decode).toBeLessThanOrEqual(answering);
  }
  await rows.first().locator("td").nth(2).locator("summary").click();
  await page.screenshot({ path: "test-results/screenshots/studio-evaluated.png", fullPage: true });
});
