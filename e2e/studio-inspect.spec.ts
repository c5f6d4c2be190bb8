import { expect, test, type Locator } from "@playwright/test";
import { execFileSync } from "node:child_process";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { deflateRawSync } from "node:zlib";
import type { InspectedCell, VectorInspection } from "../src/core/inspect/VectorInspection.ts";
import { DEMO_HUB_URL, DEMO_TRIO } from "./cliReference.ts";

/*
 * The studio's "Inspect vectors" on the demo models, two vectors (GRPO - SFT and SFT - Instruct):
 * heatmap cells read back from their data attributes equal the CLI's `inspect --json` for the same
 * recipe, for each vector's statistics and the pair's cosine and sign agreement.
 */

const RECIPE = {
  target: DEMO_TRIO.target,
  method: "task_arithmetic",
  vectors: [
    { plus: DEMO_TRIO.plus, minus: DEMO_TRIO.minus, weight: 1 },
    { plus: DEMO_TRIO.minus, minus: DEMO_TRIO.target, weight: 0.5 },
  ],
};

async function inspectWithCli(): Promise<VectorInspection> {
  const dir = await mkdtemp(join(tmpdir(), "merge-studio-inspect-"));
  try {
    const [file, json] = [join(dir, "recipe.json"), join(dir, "inspection.json")];
    await writeFile(file, JSON.stringify(RECIPE));
    execFileSync(process.execPath, ["--import", "tsx", "src/cli/main.ts", "inspect", "--hub-url", DEMO_HUB_URL, "--config", file, "--json", json], { stdio: "pipe" });
    return JSON.parse(await readFile(json, "utf8")) as VectorInspection;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** A data attribute as a number (null for ""), compared with the CLI's value to 1e-12 relative (both run the same core on the same reads). */
async function expectNumber(cell: Locator, attribute: string, expected: number | null, what: string): Promise<void> {
  const text = await cell.getAttribute(attribute);
  if (expected === null) {
    expect(text, what).toBe("");
    return;
  }
  const value = Number(text);
  expect(Math.abs(value - expected), `${what}: ${value} vs ${expected}`).toBeLessThanOrEqual(1e-12 * Math.abs(expected));
}

/** The heatmap cell of a cell of the CLI's inspection. */
const cellLocator = (heatmapCells: Locator, cell: InspectedCell) => heatmapCells.and(heatmapCells.page().locator(`[data-layer="${cell.layer ?? "model"}"][data-module="${cell.module}"]`));

test.describe.configure({ timeout: 180_000 });

test("inspects two vectors in the browser: the heatmap's cells equal the CLI's inspection", async ({ page }) => {
  const cli = await inspectWithCli();
  const link = deflateRawSync(Buffer.from(JSON.stringify(RECIPE))).toString("base64url");
  await page.goto(`/?hub=${DEMO_HUB_URL}&r=${link}`);
  await expect(page.getByTestId("compat-report")).toHaveAttribute("data-verdict", "ok");
  const inspector = page.getByTestId("vector-inspector");
  await inspector.getByTestId("inspect-run").click();
  await expect(inspector.getByTestId("inspect-done")).toBeVisible({ timeout: 120_000 });

  const cells = inspector.getByTestId("heatmap-cell");
  await expect(cells).toHaveCount(cli.cells.length);
  const sample = ["0:q", "1:down", `${cli.layers - 1}:norms`, "model:embed", "model:norms", "model:lm_head"]
    .map((key) => cli.cells.find((cell) => `${cell.layer ?? "model"}:${cell.module}` === key))
    .filter((cell): cell is InspectedCell => cell !== undefined);
  expect(sample.length).toBeGreaterThanOrEqual(5);

  for (const [vector, label] of [[0, "vector 1"], [1, "vector 2"]] as const) {
    await inspector.getByTestId("inspect-vector").selectOption({ label });
    for (const expected of sample) {
      const cell = cellLocator(cells, expected);
      const what = `${expected.layer ?? "model"} ${expected.module}, ${label}`;
      await expect(cell).toHaveAttribute("data-tensors", expected.tensors.join(" "));
      await expect(cell).toHaveAttribute("data-elements", String(expected.elements));
      const stats = expected.vectors[vector]!;
      await expectNumber(cell, "data-value", stats.relativeNorm, `${what} value`);
      await expectNumber(cell, "data-relative-norm", stats.relativeNorm, `${what} relative norm`);
      await expectNumber(cell, "data-norm", stats.norm, `${what} norm`);
      await expectNumber(cell, "data-max-abs", stats.maxAbs, `${what} max`);
      await expectNumber(cell, "data-zero-share", stats.zeroShare, `${what} zero share`);
    }
  }

  await inspector.getByTestId("inspect-statistic").selectOption("cosine");
  for (const expected of sample) {
    const cell = cellLocator(cells, expected);
    const pair = expected.pairs[0]!;
    await expectNumber(cell, "data-value", pair.cosine, `${expected.module} cosine`);
    await expectNumber(cell, "data-sign-agreement", pair.signAgreement, `${expected.module} sign agreement`);
  }
  const legend = inspector.getByTestId("heatmap-legend");
  await expect(legend).toHaveAttribute("data-min", "-1");
  await expect(legend).toHaveAttribute("data-max", "1");
  await inspector.screenshot({ path: "test-results/screenshots/studio-inspect-cosine.png" });

  // Hover details: the cell's exact numbers and its tensors.
  await inspector.getByTestId("inspect-statistic").selectOption("relativeNorm");
  const q = cli.cells.find((cell) => cell.layer === 0 && cell.module === "q")!;
  await cellLocator(cells, q).hover();
  const details = inspector.getByTestId("heatmap-details");
  await expect(details).toContainText("Layer 0, q");
  for (const name of q.tensors) await expect(details).toContainText(name);
  await expect(details).toContainText(q.vectors[0]!.relativeNorm!.toPrecision(4));
  await inspector.scrollIntoViewIfNeeded();
  await inspector.screenshot({ path: "test-results/screenshots/studio-inspect.png" });
});

test("cancels an inspection while its reads are held back", async ({ page, context }) => {
  // Once the inspection starts, weight reads wait until the test lets them go: it is still running when Cancel is pressed.
  let holding = false;
  let held = 0;
  let release: () => void = () => undefined;
  const released = new Promise<void>((resolve) => (release = resolve));
  await context.route(/\.safetensors/, async (route) => {
    if (holding) {
      held++;
      await released;
    }
    await route.continue();
  });
  await page.goto(`/?hub=${DEMO_HUB_URL}&target=${DEMO_TRIO.target}&plus=${DEMO_TRIO.plus}&minus=${DEMO_TRIO.minus}&alpha=1`);
  await expect(page.getByTestId("compat-report")).toHaveAttribute("data-verdict", "ok");
  const inspector = page.getByTestId("vector-inspector");
  holding = true;
  await inspector.getByTestId("inspect-run").click();
  await expect(inspector.getByTestId("inspect-progress")).toBeVisible();
  await expect.poll(() => held).toBeGreaterThan(0);
  await inspector.getByTestId("inspect-cancel").click();
  release();
  await expect(inspector).toContainText("The inspection was cancelled.");
  await expect(inspector.getByTestId("inspect-done")).toHaveCount(0);
  await expect(inspector.getByTestId("inspect-run")).toBeEnabled();
});
