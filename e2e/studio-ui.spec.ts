import { expect, test, type Page } from "@playwright/test";
import { DEMO_HUB_URL as HUB } from "./ports.ts";
const INSTRUCT = "demo/Qwen2-Small-Instruct";
const GRPO = "demo/Qwen2-Small-GRPO";
const SFT = "demo/Qwen2-Small-SFT";
const BIG_VOCAB = "demo/Qwen2-Small-BigVocab";
const SHOTS = "test-results/screenshots";

// One case merges the demo trio in the page, which a slow machine takes more than the default 30 s over.
test.describe.configure({ timeout: 180_000 });

const recipeUrl = (plus: string) => `/?hub=${HUB}&target=${INSTRUCT}&plus=${plus}&minus=${SFT}&alpha=1`;

async function expectCardFilled(page: Page, role: string, repo: string) {
  const card = page.getByTestId(`model-card-${role}`);
  await expect(card.getByTestId("model-name")).toHaveText(repo);
  const summary = card.getByTestId("model-summary");
  await expect(summary).toContainText("Qwen2ForCausalLM");
  await expect(summary).toContainText(/Commit[0-9a-f]{10}/);
}

test("a shared link fills the three cards and checks compatibility", async ({ page }) => {
  await page.goto(recipeUrl(GRPO));

  await expectCardFilled(page, "target", INSTRUCT);
  await expectCardFilled(page, "plus", GRPO);
  await expectCardFilled(page, "minus", SFT);
  const report = page.getByTestId("compat-report");
  await expect(report).toHaveAttribute("data-verdict", "ok");
  await expect(report).toContainText("Compatible");
  await expect(page.getByTestId("alpha-input")).toHaveValue("1");
  await expect(page.getByTestId("merge-button")).toBeEnabled();
  await expect(page.getByTestId("error")).toHaveCount(0);

  await page.screenshot({ path: `${SHOTS}/studio-1-link.png`, fullPage: true });
});

test("models picked through the UI, and alpha, go into the URL", async ({ page }) => {
  await page.goto(`/?hub=${HUB}`);
  await expect(page.getByTestId("compat-report")).toContainText("0 of 3 chosen");
  await expect(page.getByTestId("merge-button")).toBeDisabled();
  await page.screenshot({ path: `${SHOTS}/studio-2-empty.png`, fullPage: true });

  const target = page.getByTestId("model-card-target");
  // The demo Hub also has demo/Toy-Instruct: "small-instruct" finds one model.
  await target.getByRole("combobox").fill("small-instruct");
  await expect(target.getByRole("option")).toHaveText([new RegExp(INSTRUCT)]);
  await expect(target.getByRole("option")).toContainText(/↓ .*♥/);
  await page.screenshot({ path: `${SHOTS}/studio-3-search.png`, fullPage: true });
  await target.getByRole("option", { name: new RegExp(INSTRUCT) }).click();
  await expectCardFilled(page, "target", INSTRUCT);

  // The keyboard path: search, arrow down, Enter.
  const plus = page.getByTestId("model-card-plus");
  const plusSearch = plus.getByRole("combobox");
  await plusSearch.fill("Small-GRPO");
  await expect(plus.getByRole("option")).toHaveCount(1);
  await plusSearch.press("ArrowDown");
  await plusSearch.press("Enter");
  await expectCardFilled(page, "plus", GRPO);

  // A pasted id.
  const minus = page.getByTestId("model-card-minus");
  await minus.getByRole("combobox").fill(`${SFT}@main`);
  await minus.getByRole("button", { name: "Use" }).click();
  await expect(minus.getByTestId("model-name")).toHaveText(`${SFT}@main`);
  await expect(page.getByTestId("compat-report")).toHaveAttribute("data-verdict", "ok");

  await page.getByTestId("alpha-slider").focus();
  await page.keyboard.press("ArrowLeft");
  await page.keyboard.press("ArrowLeft");
  await expect(page.getByTestId("alpha-input")).toHaveValue("0.9");
  await expect(page).toHaveURL(/alpha=0\.9(&|$)/);

  await page.getByTestId("alpha-input").fill("-0.5");
  await expect(page.getByText("Subtract the vector: merged")).toBeVisible();
  await page.getByLabel("Output dtype").selectOption("F32");
  await page.getByLabel("Shard size").fill("2GB");

  const url = new URL(page.url());
  expect(url.searchParams.get("hub")).toBe(HUB);
  expect(url.searchParams.get("target")).toBe(INSTRUCT);
  expect(url.searchParams.get("plus")).toBe(GRPO);
  expect(url.searchParams.get("minus")).toBe(`${SFT}@main`);
  expect(url.searchParams.get("alpha")).toBe("-0.5");
  expect(url.searchParams.get("dtype")).toBe("f32");
  expect(url.searchParams.get("shard")).toBe("2GB");
  expect(url.searchParams.has("vocab")).toBe(false);
  await page.screenshot({ path: `${SHOTS}/studio-4-picked.png`, fullPage: true });

  await page.getByTestId("alpha-input").fill("0");
  await expect(page.getByText("Target unchanged: the output is the target")).toBeVisible();

  // The token is never part of the link.
  await page.getByLabel(/Access token/).fill("hf_secret_for_test");
  await page.getByLabel("Remember for this tab").check();
  await page.getByTestId("alpha-input").fill("1.25");
  await expect(page).toHaveURL(/alpha=1\.25/);
  expect(page.url()).not.toContain("hf_secret");
});

test("an incompatible trio names both vocabulary sizes; merging common rows fixes it", async ({ page }) => {
  await page.goto(recipeUrl(BIG_VOCAB));

  const report = page.getByTestId("compat-report");
  await expect(report).toHaveAttribute("data-verdict", "errors");
  await expect(report).toContainText(/vocabulary sizes differ \(target has \d+ rows, plus \d+, minus \d+\)/);
  const [, targetRows, plusRows] = /target has (\d+) rows, plus (\d+)/.exec((await report.textContent()) ?? "")!;
  expect(targetRows).not.toBe(plusRows);
  await expect(page.getByTestId("merge-button")).toBeDisabled();
  await page.screenshot({ path: `${SHOTS}/studio-5-incompatible.png`, fullPage: true });

  await report.getByLabel("Merge the common rows").check();
  await expect(report).toHaveAttribute("data-verdict", "warnings");
  await expect(report).toContainText("merging the");
  await expect(page).toHaveURL(/vocab=common/);
  await expect(page.getByTestId("merge-button")).toBeEnabled();
  await page.screenshot({ path: `${SHOTS}/studio-6-common-rows.png`, fullPage: true });
});

test("the paper preset fills the roles from the Hub and the merge runs", async ({ page }) => {
  await page.goto(`/?hub=${HUB}&alpha=0.5`);
  await page.getByRole("button", { name: "Reasoning vector (paper)" }).click();
  await expectCardFilled(page, "target", INSTRUCT);
  await expectCardFilled(page, "plus", GRPO);
  await expectCardFilled(page, "minus", SFT);
  await expect(page.getByTestId("alpha-input")).toHaveValue("1");
  await expect(page.getByTestId("compat-report")).toHaveAttribute("data-verdict", "ok");

  await page.getByTestId("merge-button").click();
  await expect(page.getByTestId("merge-progress")).toBeVisible();
  await expect(page.getByTestId("merge-done")).toBeVisible({ timeout: 120_000 });
  await expect(page.getByTestId("merge-progress")).toHaveCount(0);
  await expect(page.getByTestId("save-zip-button")).toBeEnabled();
  await page.screenshot({ path: `${SHOTS}/studio-7-merged.png`, fullPage: true });
});
