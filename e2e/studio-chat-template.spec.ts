import { expect, test, type Page } from "@playwright/test";
import { execFileSync } from "node:child_process";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startHubServer, type RunningHubServer } from "../src/hub-server/startHubServer.ts";
import { generateQwen2Model } from "../src/testmodels/generateQwen2Model.ts";
import { QWEN2_PRESETS } from "../src/testmodels/qwen2Shape.ts";
import type { EvalReport } from "../src/eval/report/EvalReport.ts";

test.describe.configure({ timeout: 240_000 });

const PROBLEM = 5;
const MAX_NEW_TOKENS = 4;

let root: string;
let hub: RunningHubServer;

/**
 * A Hub of its own with one model (the real Qwen tokenizer) in four repos that differ only in where
 * the chat template is: tokenizer_config.json (as generated), chat_template.jinja, nowhere, and a
 * chat_template.jinja that raises when rendered.
 */
test.beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), "merge-studio-templates-"));
  const inline = join(root, "test", "Inline");
  await generateQwen2Model({ dir: inline, shape: QWEN2_PRESETS.small, dtype: "BF16", initSeed: 9, tokenizer: true });
  const { chat_template: template, ...withoutTemplate } = JSON.parse(await readFile(join(inline, "tokenizer_config.json"), "utf8")) as Record<string, unknown>;
  const variants: Record<string, string | undefined> = { Jinja: template as string, NoTemplate: undefined, Raising: "{{ raise_exception('rendered chat_template.jinja') }}" };
  for (const [name, jinja] of Object.entries(variants)) {
    const dir = join(root, "test", name);
    await generateQwen2Model({ dir, shape: QWEN2_PRESETS.small, dtype: "BF16", initSeed: 9, tokenizer: true });
    await writeFile(join(dir, "tokenizer_config.json"), JSON.stringify(withoutTemplate));
    if (jinja !== undefined) await writeFile(join(dir, "chat_template.jinja"), jinja);
  }
  hub = await startHubServer({ root, port: 0, host: "127.0.0.1" });
});
test.afterAll(async () => {
  await hub?.close();
  await rm(root, { recursive: true, force: true });
});

/** Opens the studio on a trio of one repo, then evaluates the target alone on one problem. */
async function evaluateTarget(page: Page, repo: string): Promise<void> {
  await page.goto(`/?hub=${hub.url}&target=${repo}&plus=${repo}&minus=${repo}&alpha=1`);
  await expect(page.getByTestId("compat-report")).toHaveAttribute("data-verdict", "ok");
  const panel = page.getByTestId("eval-panel");
  await panel.getByLabel("Or pick problems by number").fill(String(PROBLEM));
  await panel.getByLabel("Max new tokens").fill(String(MAX_NEW_TOKENS));
  await panel.getByLabel("Merged (current recipe)").uncheck();
  await page.getByTestId("eval-run").click();
}

test("the studio prompts with chat_template.jinja as the CLI does with the inline template, and says when a repo has none", async ({ page }) => {
  const dir = await mkdtemp(join(tmpdir(), "merge-studio-template-cli-"));
  let cliOutput: string;
  try {
    const json = join(dir, "report.json");
    const args = ["eval", "--model", join(root, "test", "Inline"), "--problems", String(PROBLEM), "--max-new-tokens", String(MAX_NEW_TOKENS), "--json", json];
    execFileSync(process.execPath, ["--import", "tsx", "src/cli/main.ts", ...args], { stdio: "pipe" });
    cliOutput = (JSON.parse(await readFile(json, "utf8")) as EvalReport).models[0]!.answers[0]!.output;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }

  await evaluateTarget(page, "test/Jinja");
  await expect(page.getByTestId("eval-done")).toBeVisible({ timeout: 120_000 });
  await expect(page.getByTestId("eval-table").locator("tbody tr").first().locator("td").nth(2).locator("pre")).toHaveText(cliOutput, { useInnerText: false });
  await expect(page.getByTestId("eval-notices")).toHaveCount(0);

  await evaluateTarget(page, "test/NoTemplate");
  await expect(page.getByTestId("eval-done")).toBeVisible({ timeout: 120_000 });
  await expect(page.getByTestId("eval-notices")).toHaveText(
    /^test\/NoTemplate@[0-9a-f]{40} has no chat template \(none of chat_template\.jinja, tokenizer_config\.json, chat_template\.json holds one\): its prompts are given as plain text$/,
  );

  // chat_template.jinja wins over tokenizer_config.json's template in the studio too: this one stops the run, naming itself.
  await evaluateTarget(page, "test/Raising");
  await expect(page.getByTestId("eval-panel").getByTestId("error")).toContainText("rendered chat_template.jinja", { timeout: 120_000 });
});

test("the compatibility report warns when a donor's chat template differs, and not when the same template sits in another file", async ({ page }) => {
  await page.goto(`/?hub=${hub.url}&target=test/Inline&plus=test/NoTemplate&minus=test/Jinja&alpha=1`);
  const report = page.getByTestId("compat-report");
  await expect(report).toHaveAttribute("data-verdict", "warnings");
  await expect(report).toContainText("Compatible, with 1 warning.");
  await expect(report).toContainText(
    "chat templates differ (target from tokenizer_config.json, plus none, minus the target's); the merged model keeps the target's, and the evaluator prompts each model with its own",
  );
});
