import { expect, test, type BrowserContext, type Page } from "@playwright/test";
import { readFile } from "node:fs/promises";
import { QWEN2_PRESETS } from "../src/testmodels/qwen2Shape.ts";
import { expectSameAsCli, mergeRecipeWithCli } from "./cliReference.ts";
import { DEMO_HUB_URL as HUB } from "./ports.ts";
import { listOpfsMerges, readOpfsFolder } from "./readOpfsFolder.ts";

const INSTRUCT = "demo/Qwen2-Small-Instruct";
const GRPO = "demo/Qwen2-Small-GRPO";
const SFT = "demo/Qwen2-Small-SFT";
const SHOTS = "test-results/screenshots";

/** The studio's shared page: one recipe is built, linked, exported and imported across the cases. */
let context: BrowserContext;
let page: Page;

test.describe.configure({ mode: "serial", timeout: 180_000 });

test.beforeAll(async ({ browser }) => {
  context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  page = await context.newPage();
});

test.afterAll(async () => {
  await context.close();
});

/** The numbers the bars of a layer editor show, in layer order. */
async function barValues(editor: ReturnType<Page["getByTestId"]>): Promise<number[]> {
  const bars = editor.getByTestId("layer-bar");
  return (await bars.evaluateAll((elements) => elements.map((element) => element.getAttribute("aria-valuenow")))).map(Number);
}

test("builds a 2-vector TIES recipe with a layer gradient through the UI", async () => {
  await page.goto(`/?hub=${HUB}&target=${INSTRUCT}&plus=${GRPO}&minus=${INSTRUCT}&alpha=1`);
  await expect(page.getByTestId("compat-report")).toHaveAttribute("data-verdict", "ok");

  await page.getByTestId("method-select").selectOption("ties");
  await expect(page.getByTestId("method-explanation")).toContainText("elects one sign per element");
  await expect(page.getByLabel("Normalize by the weights")).toBeChecked();

  await page.getByTestId("add-vector").click();
  const second = page.getByTestId("vector-2");
  const plus2 = second.getByTestId("model-card-plus-2");
  await plus2.getByRole("combobox").fill("SFT");
  await plus2.getByRole("option", { name: new RegExp(SFT) }).click();
  const minus2 = second.getByTestId("model-card-minus-2");
  await minus2.getByRole("combobox").fill(INSTRUCT);
  await minus2.getByRole("button", { name: "Use" }).click();
  await expect(plus2.getByTestId("model-summary")).toContainText("Qwen2ForCausalLM");
  await expect(minus2.getByTestId("model-summary")).toContainText("Qwen2ForCausalLM");
  await page.getByTestId("weight-input-2").fill("0.5");

  // Vector 1: weight per layer, a gradient 0 -> 1, then the last bar one step down with the keyboard.
  const first = page.getByTestId("vector-1");
  await first.getByRole("button", { name: "Weight per layer…" }).click();
  const editor = page.getByTestId("layer-editor-weight-1");
  await editor.getByRole("button", { name: "Gradient" }).click();
  await expect(page.getByTestId("setting-text-weight-1")).toHaveValue("[0, 1]");
  const layers = QWEN2_PRESETS.small.numLayers;
  const gradient = await barValues(editor);
  expect(gradient).toHaveLength(layers);
  gradient.forEach((value, layer) => expect(value).toBeCloseTo(layer / (layers - 1), 12));
  await editor.getByTestId("layer-bar").last().focus();
  await page.keyboard.press("ArrowDown");
  const edited = await barValues(editor);
  expect(edited.at(-1)).toBe(0.95);
  edited.slice(0, -1).forEach((value, layer) => expect(value).toBeCloseTo(gradient[layer]!, 6));

  // A gradient left empty, a weight that is not a number: each field says what is wrong, Merge says which field.
  await page.getByTestId("setting-text-weight-1").fill("");
  await expect(editor.getByRole("alert")).toHaveText("empty: give a number, a gradient [a, b, …] or filter conditions");
  await expect(page.locator("#merge-help")).toHaveText("Vector 1 weight: empty: give a number, a gradient [a, b, …] or filter conditions.");
  await page.getByTestId("setting-text-weight-1").fill("[0, 0.95]");
  await expect(editor.getByRole("alert")).toHaveCount(0);
  await page.getByTestId("weight-input-2").fill("abc");
  await expect(second.getByRole("alert")).toHaveText("“abc” is not a number");
  await expect(page.locator("#merge-help")).toHaveText("Vector 2 weight: “abc” is not a number.");
  await page.getByTestId("weight-input-2").fill("0.5");

  await first.getByTestId("density-input-1").fill("0.5");
  // Bad input: the field says what is wrong, and Merge stays disabled with the reason.
  await second.getByTestId("density-input-2").fill("1.5");
  await expect(second.getByRole("alert")).toHaveText("density 1.5 is outside (0, 1]");
  await expect(page.getByTestId("merge-button")).toBeDisabled();
  await expect(page.locator("#merge-help")).toHaveText("Vector 2 density: density 1.5 is outside (0, 1].");
  await second.getByTestId("density-input-2").fill("0.7");
  await expect(second.getByRole("alert")).toHaveCount(0);
  // The studio merges the recipe in the browser, byte for byte what the CLI merges from the recipe file the page downloads.
  const [download] = await Promise.all([page.waitForEvent("download"), page.getByTestId("recipe-json-download").click()]);
  const recipe = JSON.parse(await readFile((await download.path())!, "utf8")) as { method: string; vectors: unknown[] };
  expect(recipe).toMatchObject({ method: "ties", vectors: [{ plus: GRPO, minus: INSTRUCT, weight: [0, 0.95], density: 0.5 }, { plus: SFT, minus: INSTRUCT, weight: 0.5, density: 0.7 }] });
  await page.getByTestId("merge-button").click();
  await expect(page.getByTestId("merge-done")).toBeVisible({ timeout: 120_000 });
  const merges = await listOpfsMerges(page);
  expect(merges).toHaveLength(1);
  expectSameAsCli(await readOpfsFolder(page, ["merges", merges[0]!]), await mergeRecipeWithCli(recipe));
  await expect(page.getByTestId("mergekit-export")).toContainText("merge_method: ties");
  await page.screenshot({ path: `${SHOTS}/studio-recipe-1-ties.png`, fullPage: true });
  await first.screenshot({ path: `${SHOTS}/studio-recipe-1-vector.png` });
  await page.setViewportSize({ width: 390, height: 844 });
  await page.screenshot({ path: `${SHOTS}/studio-recipe-2-ties-narrow.png`, fullPage: true });
  await first.screenshot({ path: `${SHOTS}/studio-recipe-2-vector-narrow.png` });
  await page.getByTestId("method-select").scrollIntoViewIfNeeded();
  await page.screenshot({ path: `${SHOTS}/studio-recipe-2-method-narrow.png` });
  await page.setViewportSize({ width: 1280, height: 900 });
});

test("the page's link carries the whole recipe: a new page shows the same", async () => {
  await expect(page).toHaveURL(/[?&]r=[A-Za-z0-9_-]+/);
  const url = page.url();
  expect(url).not.toContain("target=");
  const exported = await page.getByTestId("mergekit-export").textContent();
  const weightText = await page.getByTestId("setting-text-weight-1").inputValue();

  const opened = await context.newPage();
  await opened.goto(url);
  await expect(opened.getByTestId("method-select")).toHaveValue("ties");
  await expect(opened.getByTestId("vector-2").getByTestId("model-card-plus-2").getByTestId("model-name")).toHaveText(SFT);
  await expect(opened.getByTestId("setting-text-weight-1")).toHaveValue(weightText);
  await expect(opened.getByTestId("density-input-1")).toHaveValue("0.5");
  await expect(opened.getByTestId("density-input-2")).toHaveValue("0.7");
  await expect(opened.getByTestId("weight-input-2")).toHaveValue("0.5");
  await expect(opened.getByTestId("mergekit-export")).toHaveText(exported!);
  await expect(opened.getByTestId("error")).toHaveCount(0);

  // A damaged recipe in a link is listed as a problem; the page opens with the one-vector recipe.
  await opened.goto(`/?hub=${HUB}&r=bm90IGEgcmVjaXBl`);
  await expect(opened.getByTestId("error")).toContainText("The link's recipe was ignored: it is not a recipe this studio wrote");
  await expect(opened.getByTestId("method-select")).toHaveValue("task_arithmetic");
  await opened.close();
});

test("imports a mergekit YAML, exports it back, and refuses what it cannot read", async () => {
  const yaml = [
    "merge_method: dare_linear",
    `base_model: ${INSTRUCT}`,
    "models:",
    `  - model: ${GRPO}`,
    "    parameters:",
    "      weight: [0.2, 1.0]",
    "      density: 0.6",
    `  - model: ${SFT}`,
    "    parameters:",
    "      weight: [{filter: mlp, value: 0.5}, {value: 1.0}]",
    "parameters:",
    "  density: 0.9",
    "  seed: 3",
    "dtype: bfloat16",
  ].join("\n");
  await page.getByTestId("mergekit-import-text").fill(yaml);
  await page.getByTestId("mergekit-import").click();
  await expect(page.getByTestId("mergekit-import-done")).toBeVisible();
  await expect(page.getByTestId("method-select")).toHaveValue("dare_linear");
  await expect(page.getByTestId("vector-2").getByTestId("model-card-plus-2").getByTestId("model-name")).toHaveText(SFT);
  await expect(page.getByTestId("setting-text-weight-1")).toHaveValue("[0.2, 1]");
  await expect(page.getByTestId("setting-text-weight-2")).toHaveValue("[{filter: mlp, value: 0.5}, {value: 1}]");
  await expect(page.getByTestId("density-input-1")).toHaveValue("0.6");
  await expect(page.getByTestId("seed-input")).toHaveValue("3");
  await expect(page.getByLabel("Output dtype")).toHaveValue("BF16");
  const exported = (await page.getByTestId("mergekit-export").textContent())!;
  expect(exported).toContain("merge_method: dare_linear");
  await expect(page.getByTestId("mergekit-export-notes")).toContainText("torch.bernoulli");

  // The export imports back to the same recipe: the same export again.
  await page.getByTestId("mergekit-import-text").fill(exported);
  await page.getByTestId("mergekit-import").click();
  await expect(page.getByTestId("mergekit-export")).toHaveText(exported);

  // A YAML the contract refuses: its one-line reason, and nothing changes.
  await page.getByTestId("mergekit-import-text").fill(`merge_method: slerp\nbase_model: ${INSTRUCT}\nmodels:\n  - model: ${GRPO}\n`);
  await page.getByTestId("mergekit-import").click();
  await expect(page.getByTestId("error")).toContainText('pasted YAML: merge_method: "slerp" is not supported');
  await expect(page.getByTestId("method-select")).toHaveValue("dare_linear");
  await expect(page.getByTestId("mergekit-export")).toHaveText(exported);

  // A recipe mergekit cannot express says so plainly.
  await page.getByTestId("control-toggle").check();
  await expect(page.getByTestId("mergekit-export-reason")).toHaveText("mergekit cannot express this recipe: mergekit has no random_sign control.");
  await page.screenshot({ path: `${SHOTS}/studio-recipe-3-imported.png`, fullPage: true });

  // Any recipe downloads as the CLI's recipe file, and that file imports back.
  const [download] = await Promise.all([page.waitForEvent("download"), page.getByTestId("recipe-json-download").click()]);
  expect(download.suggestedFilename()).toBe("recipe.json");
  const recipeJson = await readFile((await download.path())!, "utf8");
  expect(JSON.parse(recipeJson)).toMatchObject({ target: INSTRUCT, method: "dare_linear", control: { kind: "random_sign", seed: 0 }, out_dtype: "bf16" });
  await page.getByTestId("mergekit-import-text").fill(recipeJson);
  await page.getByTestId("mergekit-import").click();
  await expect(page.getByTestId("mergekit-import-done")).toBeVisible();
  await expect(page.getByTestId("control-toggle")).toBeChecked();
  await expect(page.getByTestId("setting-text-weight-2")).toHaveValue("[{filter: mlp, value: 0.5}, {value: 1}]");

  // Reorder: the vector moves with its models and settings; remove: back to one vector.
  await page.getByRole("button", { name: "Move vector 2 up" }).click();
  await expect(page.getByTestId("model-card-plus").getByTestId("model-name")).toHaveText(SFT);
  await expect(page.getByTestId("setting-text-weight-1")).toHaveValue("[{filter: mlp, value: 0.5}, {value: 1}]");
  await expect(page.getByTestId("model-card-plus-2").getByTestId("model-name")).toHaveText(GRPO);
  await page.getByRole("button", { name: "Remove vector 2" }).click();
  await expect(page.getByTestId("vector-2")).toHaveCount(0);
  await expect(page.getByTestId("compat-report")).toHaveAttribute("data-verdict", "ok");
  await expect(page.getByTestId("compat-report")).toContainText("the three models have the same architecture");
});
