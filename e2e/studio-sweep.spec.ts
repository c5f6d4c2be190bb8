import { expect, test, type Download, type Worker } from "@playwright/test";
import { readFile } from "node:fs/promises";
import type { EvalReport } from "../src/eval/report/EvalReport.ts";
import { DEMO_HUB_URL, DEMO_TRIO } from "./cliReference.ts";

const PROBLEMS = 3;
const MAX_NEW_TOKENS = 8;
/** The reversed vector at control alpha 1 is the sweep's alpha -1: one model, both a point of the curve and the control. */
const MODELS = ["target", "alpha -1 (reversed)", "alpha 0", "alpha 1", "random-sign control (alpha 1)"];

const downloaded = async (download: Promise<Download>) => {
  const path = await (await download).path();
  return readFile(path);
};

test.describe.configure({ timeout: 300_000 });

test("an alpha sweep with a control: one worker per model, the chart's points equal the table and the downloaded report", async ({ page }) => {
  // Every evaluation worker the page starts, by the name the page gives it (onnxruntime's own thread workers are "em-pthread...").
  const evalWorkers: { name: string; closed: boolean }[] = [];
  page.on("worker", (worker: Worker) => {
    void worker
      .evaluate(() => self.name)
      .then((name) => {
        if (!name.startsWith("eval ")) return;
        const entry = { name, closed: false };
        evalWorkers.push(entry);
        worker.on("close", () => (entry.closed = true));
      })
      .catch(() => undefined);
  });

  await page.goto(`/?hub=${DEMO_HUB_URL}&target=${DEMO_TRIO.target}&plus=${DEMO_TRIO.plus}&minus=${DEMO_TRIO.minus}&alpha=1`);
  await expect(page.getByTestId("compat-report")).toHaveAttribute("data-verdict", "ok");
  const panel = page.getByTestId("eval-panel");
  await page.getByTestId("eval-n").fill(String(PROBLEMS));
  await panel.getByLabel("Max new tokens").fill(String(MAX_NEW_TOKENS));
  await page.getByTestId("eval-batch").fill(String(PROBLEMS));

  // The alpha field says at once what is wrong with it, and a run with a bad list is refused with the reason.
  const alphas = page.getByTestId("sweep-alphas");
  await alphas.fill("0:100:0.001");
  await expect(page.getByTestId("sweep-alphas-note")).toHaveText("the range 0:100:0.001 has 100001 alphas; a sweep evaluates at most 21 (each a whole model run).");
  await alphas.fill("1, NaN");
  await expect(page.getByTestId("sweep-alphas-note")).toHaveText('alpha 2 of "1, NaN" must be a finite number, got "NaN".');
  await page.getByTestId("eval-run").click();
  await expect(panel.getByRole("alert")).toHaveText('Alphas: alpha 2 of "1, NaN" must be a finite number, got "NaN".');

  await alphas.fill("1, -1, 0");
  await expect(page.getByTestId("sweep-alphas-note")).toContainText("3 merged models");
  await page.getByTestId("sweep-reversed").check();
  await page.getByTestId("sweep-random-sign").check();
  await page.getByTestId("sweep-control-alpha").fill("1");
  await page.getByTestId("sweep-control-seed").fill("7");

  // Cancel in the middle of the second model ends its worker; nothing after it starts.
  await page.getByTestId("eval-run").click();
  await expect(page.getByTestId("eval-status")).toContainText("Loading alpha -1 (reversed) (model 2 of 5)", { timeout: 60_000 });
  await expect.poll(() => evalWorkers.length).toBe(2);
  await panel.getByRole("button", { name: "Cancel" }).click();
  await expect(panel).toContainText("The evaluation was cancelled");
  await expect.poll(() => evalWorkers.map((worker) => [worker.name, worker.closed])).toEqual([
    ["eval target", true],
    ["eval alpha -1 (reversed)", true],
  ]);
  await expect(page.getByTestId("eval-download-json")).toHaveCount(0);
  evalWorkers.length = 0;

  await page.getByTestId("eval-run").click();
  const chart = page.getByTestId("sweep-chart");
  // Before the first merged model finishes the chart has no point, and cannot be saved.
  await expect(chart).toHaveAttribute("data-points", "0");
  await expect(page.getByTestId("sweep-save-svg")).toBeDisabled();
  await expect(page.getByTestId("sweep-save-png")).toBeDisabled();
  // The points appear one by one, as models finish: record every count the chart shows.
  await chart.evaluate((element) => {
    const counts: string[] = [element.getAttribute("data-points")!];
    (window as unknown as { sweepPointCounts: string[] }).sweepPointCounts = counts;
    new MutationObserver(() => counts.push(element.getAttribute("data-points")!)).observe(element, { attributes: true, attributeFilter: ["data-points"] });
  });
  await expect(page.getByTestId("eval-done")).toBeVisible({ timeout: 240_000 });
  await expect(page.getByTestId("eval-alpha-zero")).toHaveText("Alpha 0 gave exactly the target's answers, as it must (its weights are the target's).");
  expect(await page.evaluate(() => (window as unknown as { sweepPointCounts: string[] }).sweepPointCounts)).toEqual(["0", "1", "2", "3", "4"]);

  // One worker per model, each ended when its model was done.
  await expect.poll(() => evalWorkers.map((worker) => worker.name).sort()).toEqual(MODELS.map((model) => `eval ${model}`).sort());
  await expect.poll(() => evalWorkers.every((worker) => worker.closed)).toBe(true);

  const points = await page.getByTestId("sweep-point").evaluateAll((elements) =>
    elements.map((element) => ({
      label: element.getAttribute("data-label")!,
      alpha: Number(element.getAttribute("data-alpha")),
      accuracy: Number(element.getAttribute("data-accuracy")),
      correct: Number(element.getAttribute("data-correct")),
      total: Number(element.getAttribute("data-total")),
      control: element.getAttribute("data-control")!,
    })),
  );
  expect(points.map((point) => point.label)).toEqual(MODELS.slice(1));
  expect(points.map((point) => [point.alpha, point.control])).toEqual([[-1, "reversed"], [0, "none"], [1, "none"], [1, "random-sign"]]);

  // The table says the same of each model.
  const rows = await page.getByTestId("sweep-row").evaluateAll((elements) =>
    elements.map((element) => ({ label: element.getAttribute("data-label")!, correct: Number(element.getAttribute("data-correct")), total: Number(element.getAttribute("data-total")) })),
  );
  expect(rows.map((row) => row.label)).toEqual(MODELS);
  for (const point of points) {
    expect(rows.find((row) => row.label === point.label)).toEqual({ label: point.label, correct: point.correct, total: point.total });
    expect(point.total).toBe(PROBLEMS);
    expect(point.accuracy).toBe(point.correct / point.total);
  }

  // The downloaded report is what the chart drew, and alpha 0 answered exactly as the target.
  const report = JSON.parse((await downloaded(Promise.all([page.waitForEvent("download"), page.getByTestId("eval-download-json").click()]).then(([download]) => download))).toString("utf8")) as EvalReport;
  expect(report.models.map((model) => model.label)).toEqual(MODELS);
  for (const point of points) {
    const model = report.models.find((entry) => entry.label === point.label)!;
    expect({ alpha: model.alpha, control: model.control ?? "none", correct: model.scores[0]!.correct, total: model.scores[0]!.total }).toEqual({
      alpha: point.alpha,
      control: point.control,
      correct: point.correct,
      total: point.total,
    });
  }
  const target = report.models[0]!;
  await expect(page.getByTestId("sweep-chart-target")).toHaveAttribute("data-correct", String(target.scores[0]!.correct));
  const alphaZero = report.models.find((model) => model.label === "alpha 0")!;
  expect(alphaZero.answers.map((answer) => answer.output)).toEqual(target.answers.map((answer) => answer.output));
  expect(report.models.find((model) => model.label === "random-sign control (alpha 1)")!.recipe).toMatchObject({ control: { kind: "random_sign", seed: 7 } });

  const csv = (await downloaded(Promise.all([page.waitForEvent("download"), page.getByTestId("eval-download-csv").click()]).then(([download]) => download))).toString("utf8");
  expect(csv.split("\r\n").filter((line) => line !== "")).toHaveLength(1 + MODELS.length);

  await chart.screenshot({ path: "test-results/screenshots/studio-sweep-chart.png" });
  await page.screenshot({ path: "test-results/screenshots/studio-sweep.png", fullPage: true });

  // Save SVG: a standalone SVG document with every point, that a browser draws as an image on its own.
  const svgText = (await downloaded(Promise.all([page.waitForEvent("download"), page.getByTestId("sweep-save-svg").click()]).then(([download]) => download))).toString("utf8");
  const parsed = await page.evaluate(async (text) => {
    const document = new DOMParser().parseFromString(text, "image/svg+xml");
    const image = new Image();
    image.src = URL.createObjectURL(new Blob([text], { type: "image/svg+xml" }));
    await image.decode();
    return {
      root: document.documentElement.nodeName,
      errors: document.getElementsByTagName("parsererror").length,
      points: document.querySelectorAll("[data-testid='sweep-point']").length,
      width: image.naturalWidth,
      height: image.naturalHeight,
    };
  }, svgText);
  expect(parsed).toMatchObject({ root: "svg", errors: 0, points: MODELS.length - 1 });
  expect(parsed.width).toBeGreaterThan(0);

  // Save PNG: that SVG at twice its size.
  const png = await downloaded(Promise.all([page.waitForEvent("download"), page.getByTestId("sweep-save-png").click()]).then(([download]) => download));
  expect([...png.subarray(0, 8)]).toEqual([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  expect([png.readUInt32BE(16), png.readUInt32BE(20)]).toEqual([2 * parsed.width, 2 * parsed.height]);
});
