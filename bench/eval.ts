import { chromium } from "@playwright/test";
import { spawn } from "node:child_process";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { availableParallelism, loadavg, tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { Worker } from "node:worker_threads";
import * as ort from "onnxruntime-node";
import { build, defaultClientConditions } from "vite";
import { inspectModel } from "../src/core/model/inspectModel.ts";
import { openFolderSource } from "../src/core/node/openFolderSource.ts";
import { OnnxCausalDecoder } from "../src/eval/decoder/OnnxCausalDecoder.ts";
import { buildQwen2Onnx, type Qwen2OnnxFormat } from "../src/eval/onnx/buildQwen2Onnx.ts";
import { modelTensorLoader } from "../src/eval/onnx/modelTensorLoader.ts";
import { qwen2OnnxWeightBytes } from "../src/eval/onnx/qwen2OnnxWeightBytes.ts";
import { readQwen2Config, type Qwen2Config } from "../src/eval/onnx/readQwen2Config.ts";
import { releaseExternalData } from "../src/eval/onnx/releaseExternalData.ts";
import { startHubServer } from "../src/hub-server/startHubServer.ts";
import { generateQwen2Model } from "../src/testmodels/generateQwen2Model.ts";
import { QWEN2_PRESETS } from "../src/testmodels/qwen2Shape.ts";
import { BENCH_DIR, HUB_ROOT, repoDir } from "./benchModels.ts";
import { matrixFlopsPerToken, measureGemmRates, PREFILL_GEMM_ROWS } from "./computeBound.ts";
import type { EvalBenchBounds, EvalBenchModelResult, EvalBenchRequest, EvalBenchResult } from "./eval-page.ts";
import { measureBatchGeneration, type BatchMeasurement, type BatchPlan } from "./measureBatchGeneration.ts";
import { childPid, sampleTreeRss } from "./processTreeMemory.ts";

/**
 * Evaluator benchmark (npm run bench:eval): generated Qwen2.5-0.5B- and 1.5B-shaped models (bf16,
 * .bench/hub/bench/eval-*), batches of 1, 4 and 16 different 100-token prompts generated together
 * (greedy, OnnxCausalDecoder.generateBatch as the evaluator runs them), under onnxruntime-node and
 * in headless Chromium (onnxruntime-web, wasm, on a cross-origin-isolated page so that it has
 * threads), formats f32 (0.5B only: 1.5B's 5.8 GiB do not fit wasm32), q8 and q4. A case is one
 * (runtime, shape, format): it runs alone (a child process, a fresh browser) and loads its model
 * once for all its batches, so that its load time and peak memory are its own: Node's peak RSS,
 * Chromium's summed PSS over all its processes, while it loads the model and generates (the bounds
 * are measured after that). Next to each rate, two bounds measured in the same run on the same
 * threads:
 * - bandwidth: a decode step reads every weight once whatever the batch, so a batch of B decodes at
 *   most B x (the memory copy rate (TypedArray.set of 256 MiB per thread, best of 5) over the
 *   weight bytes of a step) tokens/s;
 * - compute: the matrix-product rate of the format's own kernels at the model's widths (four layers,
 *   bench/computeBound.ts) over the FLOPs a token costs, timed at B rows for a batch of B (int8
 *   and 4-bit kernels run at very different rates on few rows and on many) and at 128 rows for
 *   prefills.
 * Flags: --no-node, --no-browser, --shapes 0.5b,1.5b, --formats f32,q8,q4, --batches 1,4,16.
 */

const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");
interface BenchShape {
  label: string;
  preset: keyof typeof QWEN2_PRESETS;
  repo: string;
  formats: readonly Qwen2OnnxFormat[];
}
const SHAPES: readonly BenchShape[] = [
  { label: "0.5b", preset: "qwen2.5-0.5b", repo: "bench/eval-0.5b", formats: ["f32", "q8", "q4"] },
  { label: "1.5b", preset: "qwen2.5-1.5b", repo: "bench/eval-1.5b", formats: ["q8", "q4"] },
];
const PROMPT_TOKENS = 100;
const DEFAULT_BATCHES = [1, 4, 16];
/**
 * New tokens and runs of a batch. Batch 1 runs twice, the first run paying for the session's lazy
 * initialisation, and the best is reported; later batches run once on the warm session. A batch of
 * 16 decodes 16 new tokens (its prefill of 1600 tokens dominates its time on two cores).
 */
function batchPlan(batch: number): BatchPlan {
  return { batch, newTokens: batch >= 16 ? 16 : 32, runs: batch === 1 ? 2 : 1 };
}
/** onnxruntime-web's 4-bit kernel decodes at about 1% of the bandwidth bound: 8 new tokens, one run, at every batch. */
const SLOW_CASE = { newTokens: 8, runs: 1 };
const PAGE_PREFIX = "/__eval-bench/";
/**
 * Chromium's memory is sampled once a second: a sample's /proc reads cost a fraction of a core,
 * taken from the two the case measures; the peak (model load, which holds the weights for tens of
 * seconds) lasts far longer than that.
 */
const MEMORY_SAMPLE_MS = 1000;
const CHROMIUM_ARGS = ["--headless=new", "--no-sandbox", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"];
/**
 * The targets, for q8 on Chromium wasm: batch-1 decode at half the bandwidth bound or
 * better, and the aggregate decode of a batch of 16 at half its compute bound or better.
 */
const TARGET_FRACTION = 0.5;
const TARGET_BATCH = 16;

/** One (runtime, shape, format): its model loaded once, its batches generated in turn. */
interface Case {
  where: string;
  shape: BenchShape;
  format: Qwen2OnnxFormat;
  result: EvalBenchResult;
  /** Node: peak RSS of the case's process; Chromium: peak of the summed PSS of its processes. */
  peakBytes: number;
}

/** Row counts at which the GEMM rate is timed for these batches: theirs and a prefill's. */
const gemmRows = (batches: readonly BatchPlan[]) => [...new Set([...batches.map((plan) => plan.batch), PREFILL_GEMM_ROWS])];

/** Generates a bench model unless its marker says this generation is already on disk. */
async function generateEvalModel(shape: BenchShape): Promise<void> {
  const marker = join(BENCH_DIR, `${shape.repo.replace("/", "-")}.json`);
  const expected = JSON.stringify({ preset: shape.preset, dtype: "BF16", initSeed: 0 });
  if ((await readFile(marker, "utf8").catch(() => "")) === expected) return;
  const started = performance.now();
  await generateQwen2Model({ dir: repoDir(shape.repo), shape: QWEN2_PRESETS[shape.preset], dtype: "BF16", initSeed: 0 });
  await writeFile(marker, expected);
  process.stderr.write(`generated ${shape.repo} in ${((performance.now() - started) / 1000).toFixed(1)} s\n`);
}

/**
 * Bytes copied per second by `threads` threads at once, each copying its own 256 MiB with
 * TypedArray.set (a memcpy), 5 times after a shared start; the sum of each thread's best rate.
 * The decoder reads weights on as many threads, so one thread's copy rate would understate the bound.
 */
async function measureCopyBandwidth(threads: number): Promise<number> {
  const start = new Int32Array(new SharedArrayBuffer(4));
  const source = `
    const { parentPort, workerData } = require("node:worker_threads");
    const bytes = 256 * 2 ** 20;
    const from = new Uint8Array(bytes).fill(1);
    const to = new Uint8Array(bytes);
    to.set(from);
    parentPort.postMessage("ready");
    Atomics.wait(workerData, 0, 0);
    let best = 0;
    for (let run = 0; run < 5; run++) {
      const started = performance.now();
      to.set(from);
      best = Math.max(best, bytes / ((performance.now() - started) / 1000));
    }
    parentPort.postMessage(best);`;
  const workers = Array.from({ length: threads }, () => new Worker(source, { eval: true, workerData: start }));
  try {
    const rates = workers.map((worker) => new Promise<number>((resolve, reject) => {
      worker.on("message", (message: unknown) => typeof message === "number" && resolve(message));
      worker.on("error", reject);
    }));
    await Promise.all(workers.map((worker) => new Promise((resolve) => worker.once("message", resolve))));
    Atomics.store(start, 0, 1);
    Atomics.notify(start, 0);
    return (await Promise.all(rates)).reduce((sum, rate) => sum + rate, 0);
  } finally {
    await Promise.all(workers.map((worker) => worker.terminate()));
  }
}

/**
 * One onnxruntime-node case, in this (child) process: loads the model once and generates at each
 * batch size first, records the peak RSS so far (what the CLI needs), then measures the bounds;
 * prints the result as JSON on the last line.
 */
async function runNodeCase(repo: string, format: Qwen2OnnxFormat, prompts: number[][], batches: readonly BatchPlan[]): Promise<void> {
  const threads = availableParallelism();
  const sessionOptions = { intraOpNumThreads: threads };
  const source = await openFolderSource(repoDir(repo));
  try {
    const model = await inspectModel(source);
    let started = performance.now();
    const built = await buildQwen2Onnx(model.config, { format, loadTensor: modelTensorLoader(model), logits: "last" });
    const buildSeconds = (performance.now() - started) / 1000;
    started = performance.now();
    const decoder = await OnnxCausalDecoder.create(ort, built, { sessionOptions });
    releaseExternalData(built);
    const sessionSeconds = (performance.now() - started) / 1000;
    const measured: BatchMeasurement[] = [];
    try {
      for (const plan of batches) measured.push(await measureBatchGeneration(decoder, prompts, plan));
    } finally {
      await decoder.release();
    }
    const peakBytes = process.resourceUsage().maxRSS * 1024;
    const result: EvalBenchResult = {
      buildSeconds,
      sessionSeconds,
      batches: measured,
      threads,
      copyBytesPerSecond: await measureCopyBandwidth(threads),
      gemmFlopsPerSecond: await measureGemmRates(ort, readQwen2Config(model.config), format, sessionOptions, gemmRows(batches)),
    };
    process.stdout.write(`${JSON.stringify({ result, peakBytes })}\n`);
  } finally {
    await source.close?.();
  }
}

/** Runs runNodeCase in a child process, so that its peak RSS is this case's alone. */
async function runNode(shape: BenchShape, format: Qwen2OnnxFormat, batches: readonly number[]): Promise<Case> {
  const child = spawn(process.execPath, ["--import", "tsx", fileURLToPath(import.meta.url), "--node-case", shape.repo, format, batches.join(",")], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  let output = "";
  child.stdout.on("data", (data: Buffer) => (output += data.toString()));
  const code = await new Promise<number | null>((resolve) => child.on("close", resolve));
  if (code !== 0) throw new Error(`onnxruntime-node case ${shape.repo} ${format} exited with ${code}:\n${output}`);
  const { result, peakBytes } = JSON.parse(output.trim().split("\n").at(-1)!) as { result: EvalBenchResult; peakBytes: number };
  return { where: `onnxruntime-node (${result.threads} threads)`, shape, format, result, peakBytes };
}

/** Every browser case, each in a fresh Chromium whose processes' summed PSS is sampled throughout. */
async function runBrowser(shapes: readonly BenchShape[], prompts: number[][], batches: readonly number[]): Promise<Case[]> {
  const bundleDir = await mkdtemp(join(tmpdir(), "eval-bench-page-"));
  const hub = await startHubServer({ root: HUB_ROOT, port: 0, host: "127.0.0.1" });
  try {
    await build({
      configFile: false,
      logLevel: "error",
      // onnxruntime-web's build that loads its .wasm from wasmPaths: the default one references the
      // .wasm by URL, which a library build inlines (76 MB of page.js, 0.6 GB of PSS before anything runs).
      resolve: { conditions: ["onnxruntime-web-use-extern-wasm", ...defaultClientConditions] },
      build: { outDir: bundleDir, emptyOutDir: true, minify: false, lib: { entry: join(REPO_ROOT, "bench/eval-page.ts"), formats: ["es"], fileName: () => "page.js" } },
    });
    const ortDist = join(createRequire(import.meta.url).resolve("onnxruntime-web"), "..");
    const files: Record<string, { path: string; type: string }> = {
      "page.js": { path: join(bundleDir, "page.js"), type: "text/javascript" },
      "ort-wasm-simd-threaded.jsep.mjs": { path: join(ortDist, "ort-wasm-simd-threaded.jsep.mjs"), type: "text/javascript" },
      "ort-wasm-simd-threaded.jsep.wasm": { path: join(ortDist, "ort-wasm-simd-threaded.jsep.wasm"), type: "application/wasm" },
    };
    const cases: Case[] = [];
    for (const shape of shapes) {
      for (const format of shape.formats) {
        const browser = await chromium.launch({ executablePath: "/usr/bin/chromium", args: CHROMIUM_ARGS });
        const memory = sampleTreeRss(await childPid("chromium"), MEMORY_SAMPLE_MS);
        try {
          const page = await browser.newPage();
          // Cross-origin isolation (COOP + COEP) lets onnxruntime-web run wasm threads.
          const isolation = { "Cross-Origin-Opener-Policy": "same-origin", "Cross-Origin-Embedder-Policy": "require-corp" };
          await page.route(`${hub.url}${PAGE_PREFIX}**`, async (route) => {
            const name = new URL(route.request().url()).pathname.slice(PAGE_PREFIX.length);
            if (name === "index.html") return route.fulfill({ headers: isolation, contentType: "text/html", body: `<!doctype html><script type="module" src="page.js"></script>` });
            const file = files[name];
            if (!file) return route.fulfill({ status: 404, body: "" });
            return route.fulfill({ headers: isolation, contentType: file.type, body: await readFile(file.path) });
          });
          page.on("pageerror", (error) => process.stderr.write(`page error: ${error.message}\n`));
          await page.goto(`${hub.url}${PAGE_PREFIX}index.html`);
          await page.waitForFunction(() => "__evalBench" in window);
          const plans = batches.map((batch) => (format === "q4" ? { batch, ...SLOW_CASE } : batchPlan(batch)));
          const request: EvalBenchRequest = { repo: shape.repo, format, prompts, threads: availableParallelism(), batches: plans, gemmRows: gemmRows(plans) };
          process.stderr.write(`chromium wasm ${shape.label} ${format}...\n`);
          type BenchPage = { __evalBench: { runModel(request: EvalBenchRequest): Promise<EvalBenchModelResult>; measureBounds(request: EvalBenchRequest): Promise<EvalBenchBounds> } };
          const measured = await page.evaluate((request) => (window as unknown as BenchPage).__evalBench.runModel(request), request);
          const peakBytes = memory.peak().pss;
          const bounds = await page.evaluate((request) => (window as unknown as BenchPage).__evalBench.measureBounds(request), request);
          const result = { ...measured, ...bounds };
          cases.push({ where: `chromium wasm (${result.threads} thread${result.threads === 1 ? "" : "s"})`, shape, format, result, peakBytes });
        } finally {
          memory.stop();
          await browser.close();
        }
      }
    }
    return cases;
  } finally {
    await hub.close();
    await rm(bundleDir, { recursive: true, force: true });
  }
}

const percent = (value: number) => `${(100 * value).toFixed(0)}%`;

/**
 * One line per case and batch: the batch's aggregate rates, its bandwidth bound (B x the batch-1
 * bound) and its compute bound (the GEMM rate at B rows), each with the fraction reached; then the
 * verdicts on the two targets.
 */
function printReport(cases: Case[], loadAverages: number[]): void {
  const header = [
    "where", "model", "format", "batch", "new tokens", "load s", "peak memory", "prefill tok/s", "decode tok/s",
    "weights/step", "copy GB/s", "bandwidth bound", "decode/bw", "GEMM GFLOP/s at B rows", "compute bound", "decode/compute", "prefill/compute",
  ];
  const lines = [header];
  const verdicts: string[] = [];
  for (const { where, shape, format, result, peakBytes } of cases) {
    const config = presetConfig(shape);
    const bytes = qwen2OnnxWeightBytes(config, format).perDecodeStep;
    const flopsPerToken = matrixFlopsPerToken(config);
    const prefillBound = result.gemmFlopsPerSecond[PREFILL_GEMM_ROWS]! / flopsPerToken;
    for (const measured of result.batches) {
      const { batch } = measured;
      const bandwidthBound = (batch * result.copyBytesPerSecond) / bytes;
      const gemmRate = result.gemmFlopsPerSecond[batch]!;
      const computeBound = gemmRate / flopsPerToken;
      const ofBandwidth = measured.decodeTokensPerSecond / bandwidthBound;
      const ofCompute = measured.decodeTokensPerSecond / computeBound;
      lines.push([
        where,
        shape.label,
        format,
        String(batch),
        String(measured.newTokens),
        (result.buildSeconds + result.sessionSeconds).toFixed(1),
        `${(peakBytes / 1e9).toFixed(2)} GB`,
        measured.prefillTokensPerSecond.toFixed(1),
        measured.decodeTokensPerSecond.toFixed(2),
        `${(bytes / 1e6).toFixed(0)} MB`,
        (result.copyBytesPerSecond / 1e9).toFixed(1),
        `${bandwidthBound.toFixed(2)} tok/s`,
        percent(ofBandwidth),
        (gemmRate / 1e9).toFixed(1),
        `${computeBound.toFixed(1)} tok/s`,
        percent(ofCompute),
        percent(measured.prefillTokensPerSecond / prefillBound),
      ]);
      if (format !== "q8" || !where.startsWith("chromium wasm")) continue;
      const verdict = (fraction: number) => `${percent(fraction)} (target ${percent(TARGET_FRACTION)}: ${fraction >= TARGET_FRACTION ? "met" : "missed"})`;
      if (batch === 1) verdicts.push(`${shape.label} q8 ${where}: batch-1 decode at ${verdict(ofBandwidth)} of the bandwidth bound`);
      if (batch === TARGET_BATCH) verdicts.push(`${shape.label} q8 ${where}: batch-${TARGET_BATCH} aggregate decode at ${verdict(ofCompute)} of the compute bound at ${TARGET_BATCH} rows`);
    }
  }
  const widths = header.map((_, column) => Math.max(...lines.map((line) => line[column]!.length)));
  process.stdout.write(`\n${lines.map((line) => line.map((cell, column) => cell.padEnd(widths[column]!)).join("  ")).join("\n")}\n`);
  process.stdout.write(
    `\nprompts of ${PROMPT_TOKENS} tokens, different in every row, all of a batch prefilled in one pass; new tokens per row as listed; batch 1 best of 2 runs, larger batches 1 run ` +
      `(chromium q4: ${SLOW_CASE.newTokens} new tokens, ${SLOW_CASE.runs} run); decode tok/s = all rows' tokens after their first / decode seconds; ` +
      `load = build + session, once per case, and peak memory per case (all its batches); bandwidth bound = B x copy rate / weights per step; ` +
      `compute bound = GEMM rate at B rows / matrix FLOPs per token; prefill/compute against the GEMM rate at ${PREFILL_GEMM_ROWS} rows\n` +
      `${verdicts.length > 0 ? verdicts.join("\n") : "targets (q8 on Chromium wasm, batches 1 and 16) not measured in this run"}\n` +
      `load average (1, 5, 15 min) before: ${loadAverages.map((value) => value.toFixed(2)).join(", ")}; after: ${loadavg().map((value) => value.toFixed(2)).join(", ")}\n`,
  );
}

function presetConfig(shape: BenchShape): Qwen2Config {
  const preset = QWEN2_PRESETS[shape.preset];
  return { ...preset, headDim: preset.hiddenSize / preset.numHeads };
}

/**
 * `count` prompts of PROMPT_TOKENS token ids spread over the vocabulary, a different one in every
 * row (the same for both shapes): decoding speed does not depend on which ids they are.
 */
function promptsFor(count: number): number[][] {
  const vocabSize = presetConfig(SHAPES[0]!).vocabSize;
  return Array.from({ length: count }, (_, row) => Array.from({ length: PROMPT_TOKENS }, (_, i) => (i * 7919 + row * 104729 + 13) % vocabSize));
}

/** The batch sizes of a --batches value: positive integers, comma-separated. */
function parseBatches(value: string | undefined): number[] {
  const batches = (value ?? "").split(",").map(Number);
  const bad = batches.findIndex((batch) => !Number.isInteger(batch) || batch < 1 || batch > 64);
  if (value === undefined || bad >= 0) throw new Error(`--batches takes comma-separated batch sizes from 1 to 64 (e.g. 1,4,16), got ${JSON.stringify(value)}`);
  return batches;
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const batchesAt = args.indexOf("--batches");
  const batches = batchesAt >= 0 ? parseBatches(args[batchesAt + 1]) : DEFAULT_BATCHES;
  const caseAt = args.indexOf("--node-case");
  if (caseAt >= 0) {
    const [repo, format, caseBatches] = [args[caseAt + 1]!, args[caseAt + 2] as Qwen2OnnxFormat, parseBatches(args[caseAt + 3])];
    await runNodeCase(repo, format, promptsFor(Math.max(...caseBatches)), caseBatches.map(batchPlan));
    return;
  }
  const shapesAt = args.indexOf("--shapes");
  const wanted = shapesAt >= 0 ? args[shapesAt + 1]!.split(",") : SHAPES.map((shape) => shape.label);
  const formatsAt = args.indexOf("--formats");
  const formats = formatsAt >= 0 ? args[formatsAt + 1]!.split(",") : undefined;
  const shapes = SHAPES.filter((shape) => wanted.includes(shape.label)).map((shape) => ({
    ...shape,
    formats: shape.formats.filter((format) => formats?.includes(format) ?? true),
  }));
  for (const shape of shapes) await generateEvalModel(shape);
  const loadAverages = loadavg();
  const cases: Case[] = [];
  if (!args.includes("--no-node")) {
    for (const shape of shapes) {
      for (const format of shape.formats) {
        process.stderr.write(`onnxruntime-node ${shape.label} ${format}...\n`);
        cases.push(await runNode(shape, format, batches));
      }
    }
  }
  if (!args.includes("--no-browser")) cases.push(...(await runBrowser(shapes, promptsFor(Math.max(...batches)), batches)));
  printReport(cases, loadAverages);
}

await main();
