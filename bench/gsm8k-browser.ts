import { chromium, type Page } from "@playwright/test";
import { spawn } from "node:child_process";
import { availableParallelism, loadavg } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { parseBatchSize } from "../src/eval/chooseBatchSize.ts";
import type { EvaluatedModelKind } from "../src/eval/report/EvalReport.ts";
import type { ModelRunStats } from "../src/eval/runGsm8kEvaluation.ts";
import { startHubServer } from "../src/hub-server/startHubServer.ts";
import { HUB_ROOT, repoDir } from "./benchModels.ts";
import { generateGsm8kBenchTrio, GSM8K_BENCH_SHAPES, type Gsm8kBenchShape } from "./gsm8kBenchTrio.ts";
import { childPid, sampleTreeRss } from "./processTreeMemory.ts";
import { startPreview } from "./startPreview.ts";

/**
 * GSM8K in the browser at the paper's scale (npm run bench:gsm8k, after vite build): a generated
 * Qwen2.5-1.5B-shaped trio (bf16, .bench/hub/bench/gsm8k-1.5b-*), merged once by the CLI (alpha 1,
 * timed on its own), then the studio's own evaluator driven through its page in headless Chromium
 * (cross-origin isolated, so onnxruntime-web has threads): target and merged model (the merged one
 * computed from the recipe as the evaluator loads it, as a user's run does), q8 on wasm, batch
 * auto. Per model: batch chosen, load, prefill and decode seconds, tokens, aggregate tokens/s, wall
 * time, accuracy (random weights score 0), and the peak PSS summed over Chromium's processes.
 * Flags: --shape 1.5b|small (small: the real vocabulary at tiny widths, to check the script),
 * --problems N (20), --max-new-tokens N (256), --batch auto|N, --timeout-minutes M (240).
 */

const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const CHROMIUM = "/usr/bin/chromium";
const CHROMIUM_ARGS = ["--headless=new", "--no-sandbox", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"];
const ROLES: readonly EvaluatedModelKind[] = ["target", "merged"];
/** The studio's id of each model (the merged one is the recipe at the link's alpha 1): its results' test ids end with it. */
const STUDIO_IDS: Record<EvaluatedModelKind, string> = { target: "target", merged: "alpha 1", plus: "plus", minus: "minus" };
const POLL_MS = 1000;

interface Options {
  shape: Gsm8kBenchShape;
  problems: number;
  maxNewTokens: number;
  batch: string;
  timeoutSeconds: number;
}

/** One model's figures, as the studio shows them when the model has answered every problem. */
interface ModelRow extends ModelRunStats {
  role: EvaluatedModelKind;
  correct: number;
  total: number;
  peakPss: number;
}

function parseOptions(): Options {
  const { values } = parseArgs({
    options: {
      shape: { type: "string", default: "1.5b" },
      problems: { type: "string", default: "20" },
      "max-new-tokens": { type: "string", default: "256" },
      batch: { type: "string", default: "auto" },
      "timeout-minutes": { type: "string", default: "240" },
    },
  });
  const wholeNumber = (name: string, text: string) => {
    if (!/^\d+$/.test(text) || Number(text) < 1) throw new Error(`--${name}: expected a whole number of at least 1, got "${text}"`);
    return Number(text);
  };
  if (!(values.shape in GSM8K_BENCH_SHAPES)) throw new Error(`--shape: expected one of ${Object.keys(GSM8K_BENCH_SHAPES).join(", ")}, got "${values.shape}"`);
  try {
    parseBatchSize(values.batch);
  } catch (error) {
    throw new Error(`--batch: ${(error as Error).message}`);
  }
  return {
    shape: values.shape as Gsm8kBenchShape,
    problems: wholeNumber("problems", values.problems),
    maxNewTokens: wholeNumber("max-new-tokens", values["max-new-tokens"]),
    batch: values.batch,
    timeoutSeconds: 60 * wholeNumber("timeout-minutes", values["timeout-minutes"]),
  };
}

const log = (line: string) => process.stderr.write(`${line}\n`);
const loadText = (values: number[]) => values.map((value) => value.toFixed(2)).join(", ");

/** The CLI's merge of the trio into a Hub repo folder next to it (what a user would publish); seconds. */
async function mergeWithCli(trio: { target: string; plus: string; minus: string }, out: string): Promise<number> {
  const args = ["--import", "tsx", join(REPO_ROOT, "src/cli/main.ts"), "merge", "--target", repoDir(trio.target), "--plus", repoDir(trio.plus), "--minus", repoDir(trio.minus), "--alpha", "1", "--out", out, "--force"];
  const started = performance.now();
  const child = spawn(process.execPath, args, { cwd: REPO_ROOT, stdio: ["ignore", "ignore", "pipe"] });
  let stderr = "";
  child.stderr.on("data", (data: Buffer) => (stderr += data.toString()));
  const code = await new Promise<number | null>((resolve) => child.on("close", resolve));
  if (code !== 0) throw new Error(`the CLI merge exited with ${code}:\n${stderr}`);
  return (performance.now() - started) / 1000;
}

/** Reads a finished model's figures from the results the studio shows (its data attributes and accuracy card). */
async function readModelRow(page: Page, role: EvaluatedModelKind, peakPss: number): Promise<ModelRow> {
  const stats = page.getByTestId(`eval-run-${STUDIO_IDS[role]}`);
  const number = async (name: string) => {
    const text = await stats.getAttribute(`data-${name}`);
    const value = Number(text);
    if (text === null || !Number.isFinite(value)) throw new Error(`the studio's ${role} figures have no number in data-${name} (got ${text})`);
    return value;
  };
  const accuracy = (await page.getByTestId(`eval-accuracy-${STUDIO_IDS[role]}`).textContent()) ?? "";
  const right = /(\d+) \/ (\d+) right/.exec(accuracy);
  if (!right) throw new Error(`the studio's ${role} accuracy card does not say "N / M right": ${accuracy}`);
  return {
    role,
    batchSize: await number("batch"),
    loadSeconds: await number("load-seconds"),
    seconds: await number("seconds"),
    prefillSeconds: await number("prefill-seconds"),
    decodeSeconds: await number("decode-seconds"),
    newTokens: await number("new-tokens"),
    tokensPerSecond: await number("tokens-per-second"),
    correct: Number(right[1]),
    total: Number(right[2]),
    peakPss: peakPss,
  };
}

function formatTable(rows: ModelRow[]): string {
  const header = ["model", "batch", "load s", "prefill s", "decode s", "tokens", "tok/s", "wall s", "accuracy", "peak PSS"];
  const lines = [header];
  for (const row of rows) {
    lines.push([
      row.role,
      String(row.batchSize),
      row.loadSeconds.toFixed(1),
      row.prefillSeconds.toFixed(1),
      row.decodeSeconds.toFixed(1),
      String(row.newTokens),
      row.tokensPerSecond.toFixed(2),
      (row.loadSeconds + row.seconds).toFixed(1),
      `${row.correct} / ${row.total}`,
      `${(row.peakPss / 1e9).toFixed(2)} GB`,
    ]);
  }
  const widths = header.map((_, column) => Math.max(...lines.map((line) => line[column]!.length)));
  return lines.map((line) => line.map((cell, column) => cell.padEnd(widths[column]!)).join("  ")).join("\n");
}

/**
 * Drives the studio's Evaluate panel and waits for the run to finish, fail or time out. Returns the
 * finished models' rows; `failure` says why the run did not finish (the rows are then incomplete).
 */
async function runInStudio(page: Page, options: Options, memory: ReturnType<typeof sampleTreeRss>): Promise<{ rows: ModelRow[]; threads: string; wallSeconds: number; failure?: string }> {
  const panel = page.getByTestId("eval-panel");
  await page.getByTestId("eval-n").fill(String(options.problems));
  await panel.getByLabel("Max new tokens").fill(String(options.maxNewTokens));
  await page.getByTestId("eval-batch").fill(options.batch === "auto" ? "" : options.batch);
  await panel.getByLabel("Runs on").selectOption("wasm");
  await panel.getByLabel("Weights").selectOption("q8");
  for (const role of ["Target", "Merged (current recipe)"]) await panel.getByLabel(role, { exact: true }).check();
  for (const role of ["Plus", "Minus"]) await panel.getByLabel(role, { exact: true }).uncheck();
  memory.reset();
  const started = performance.now();
  await page.getByTestId("eval-run").click();
  const rows: ModelRow[] = [];
  let lastStatus = "";
  for (;;) {
    const elapsed = (performance.now() - started) / 1000;
    const threads = await page.evaluate(() => document.querySelector("[data-testid='eval-threads']")?.getAttribute("data-threads") ?? "?");
    const finish = (failure?: string) => ({ rows, threads, wallSeconds: elapsed, ...(failure ? { failure } : {}) });
    for (const role of ROLES.slice(rows.length)) {
      if ((await page.getByTestId(`eval-run-${STUDIO_IDS[role]}`).count()) === 0) break;
      // The role's stats appear when it has answered everything, before its session is released: its peak is the sampler's since the last reset.
      rows.push(await readModelRow(page, role, memory.peak().pss));
      memory.reset();
      log(`${role} done after ${elapsed.toFixed(0)} s`);
    }
    if (await page.getByTestId("eval-done").isVisible()) {
      return rows.length === ROLES.length ? finish() : finish(`the studio says the run is done, but it shows the figures of ${rows.length} of ${ROLES.length} models`);
    }
    const alert = panel.getByRole("alert");
    if ((await alert.count()) > 0) return finish(`the studio reports: ${await alert.first().textContent()}`);
    if (elapsed > options.timeoutSeconds) return finish(`timed out after ${(options.timeoutSeconds / 60).toFixed(0)} minutes`);
    const status = await page.evaluate(() => document.querySelector("[data-testid='eval-status']")?.textContent ?? "");
    // The status line changes with every token; log it when its phase changes, or once a minute.
    const phase = status.replace(/[\d.,]+/g, "#");
    if (status && (phase !== lastStatus.replace(/[\d.,]+/g, "#") || Math.floor(elapsed / 60) !== Math.floor((elapsed - POLL_MS / 1000) / 60))) {
      log(`[${elapsed.toFixed(0)} s] ${status}`);
      lastStatus = status;
    }
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
}

async function main(): Promise<void> {
  const options = parseOptions();
  const loadBefore = loadavg();
  const trio = await generateGsm8kBenchTrio(options.shape, log);
  const mergedRepo = `bench/gsm8k-${options.shape}-merged`;
  log(`merging with the CLI into ${repoDir(mergedRepo)}...`);
  const mergeSeconds = await mergeWithCli(trio, repoDir(mergedRepo));
  log(`CLI merge: ${mergeSeconds.toFixed(1)} s`);

  const hub = await startHubServer({ root: HUB_ROOT, port: 0, host: "127.0.0.1" });
  const preview = await startPreview();
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
  const memory = sampleTreeRss(await childPid("chromium"));
  let outcome: Awaited<ReturnType<typeof runInStudio>>;
  try {
    const page = await browser.newPage();
    page.on("pageerror", (error) => log(`page error: ${error.message}`));
    const query = new URLSearchParams({ hub: hub.url, target: trio.target, plus: trio.plus, minus: trio.minus, alpha: "1" });
    await page.goto(`${preview.url}/?${query}`);
    if (!(await page.evaluate(() => crossOriginIsolated))) throw new Error("the studio page is not cross-origin isolated: onnxruntime-web would run on one thread");
    // "warnings" is expected: plus and minus have no tokenizer files, so no chat template to compare.
    const report = page.getByTestId("compat-report");
    await report.and(page.locator(":not([data-verdict='pending'])")).waitFor({ timeout: 120_000 });
    if ((await report.getAttribute("data-verdict")) === "errors") throw new Error(`the studio refuses the trio: ${await report.textContent()}`);
    outcome = await runInStudio(page, options, memory);
  } finally {
    memory.stop();
    await browser.close();
    preview.stop();
    await hub.close();
  }

  const { rows, threads, wallSeconds, failure } = outcome;
  const lines = [
    "",
    `GSM8K in the studio (headless Chromium, onnxruntime-web wasm on ${threads} threads, ${availableParallelism()} cores): ` +
      `${GSM8K_BENCH_SHAPES[options.shape]}-shaped trio, bf16, merged model = target + 1 x (plus - minus) computed as it loads; ` +
      `${options.problems} problems (the studio's default seed), ${options.maxNewTokens} new tokens at most, format q8, batch ${options.batch}.`,
    `CLI merge of the same trio into ${mergedRepo}: ${mergeSeconds.toFixed(1)} s (not part of the evaluation).`,
    "",
    formatTable(rows),
    "",
    "load s: reading the weights, converting to q8 and creating the session; prefill s / decode s: the forward passes of each kind; " +
      "tok/s: new tokens over the seconds answering (load excluded); wall s: load + answering; peak PSS: Chromium's processes summed, sampled every 200 ms, " +
      "while the model loaded and answered (each model runs in a worker of its own, ended before the next starts).",
    `whole run: ${wallSeconds.toFixed(1)} s from Evaluate to the last answer; load average (1, 5, 15 min) before: ${loadText(loadBefore)}; after: ${loadText(loadavg())}`,
  ];
  if (failure) {
    lines.splice(1, 0, `RUN FAILED: ${failure}. The table below holds only the ${rows.length} of ${ROLES.length} models that finished; it is NOT a complete run.`);
    process.stdout.write(`${lines.join("\n")}\n`);
    process.exitCode = 1;
    return;
  }
  process.stdout.write(`${lines.join("\n")}\n`);
}

await main();
