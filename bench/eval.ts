import { chromium } from "@playwright/test";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { createRequire } from "node:module";
import { availableParallelism, tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { Worker } from "node:worker_threads";
import * as ort from "onnxruntime-node";
import { build } from "vite";
import { inspectModel } from "../src/core/model/inspectModel.ts";
import { openFolderSource } from "../src/core/node/openFolderSource.ts";
import { OnnxCausalDecoder } from "../src/eval/decoder/OnnxCausalDecoder.ts";
import { buildQwen2Onnx, type Qwen2OnnxFormat } from "../src/eval/onnx/buildQwen2Onnx.ts";
import { modelTensorLoader } from "../src/eval/onnx/modelTensorLoader.ts";
import { matMulNBitsSizes } from "../src/eval/onnx/quantizeMatMulNBits.ts";
import { readQwen2Config, type Qwen2Config } from "../src/eval/onnx/readQwen2Config.ts";
import { startHubServer } from "../src/hub-server/startHubServer.ts";
import { generateBenchModels, HUB_ROOT, repoDir } from "./benchModels.ts";
import type { EvalBenchRequest, EvalBenchResult } from "./eval-page.ts";

/**
 * Evaluator benchmark (npm run bench:eval): the 0.5B-shaped bench model (.bench/hub/bench/target),
 * a 100-token prompt and 64 greedy tokens, f32 and q4, under onnxruntime-node and in headless
 * Chromium (onnxruntime-web, wasm). Next to each decode rate: the bound that memory bandwidth puts on
 * it, the bytes of weights one decode step reads divided by the memory copy rate measured in the
 * same process (TypedArray.set of 256 MiB, best of 5, on as many threads as the decoder uses).
 * `--no-browser` skips Chromium.
 */

const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const REPO = "bench/target";
const FORMATS: Qwen2OnnxFormat[] = ["f32", "q4"];
const PROMPT_TOKENS = 100;
const NEW_TOKENS = 64;
/** The first run pays for lazy initialisation; the best of the runs is reported. */
const RUNS = 2;
const PAGE_PREFIX = "/__eval-bench/";
const CHROMIUM_ARGS = ["--headless=new", "--no-sandbox", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"];
/** The target: decode at half the bandwidth bound or better on CPU. */
const TARGET_FRACTION = 0.5;

interface Row {
  where: string;
  format: Qwen2OnnxFormat;
  result: EvalBenchResult;
}

/**
 * Bytes of weights one decode step reads: every linear layer, lm_head, norms and biases; not the
 * embedding table (one row is gathered) nor the RoPE tables, unless the table is also lm_head.
 */
function decodeWeightBytes(config: Qwen2Config, format: Qwen2OnnxFormat): number {
  const { hiddenSize: hidden, intermediateSize, numHeads, numKvHeads, headDim, vocabSize, numLayers } = config;
  const matrix = (rows: number, columns: number) => {
    if (format !== "q4") return rows * columns * (format === "f32" ? 4 : 2);
    const sizes = matMulNBitsSizes(rows, columns);
    return sizes.codeBytes + sizes.scaleCount * 4 + sizes.zeroPointBytes;
  };
  const qkvRows = (numHeads + 2 * numKvHeads) * headDim;
  const layer = matrix(qkvRows, hidden) + matrix(hidden, numHeads * headDim) + matrix(2 * intermediateSize, hidden) + matrix(hidden, intermediateSize);
  const vectors = numLayers * (2 * hidden + qkvRows) * 4 + hidden * 4;
  return numLayers * layer + matrix(vocabSize, hidden) + vectors;
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

async function runNode(format: Qwen2OnnxFormat, prompt: number[]): Promise<EvalBenchResult> {
  const copyBytesPerSecond = await measureCopyBandwidth(availableParallelism());
  const source = await openFolderSource(repoDir(REPO));
  try {
    const { decoder, buildSeconds, sessionSeconds } = await openNodeDecoder(source, format);
    try {
      let prefill = 0;
      let decode = 0;
      for (let run = 0; run < RUNS; run++) {
        const result = await decoder.generate(prompt, { maxNewTokens: NEW_TOKENS });
        prefill = Math.max(prefill, result.prefillTokensPerSecond);
        decode = Math.max(decode, result.decodeTokensPerSecond);
      }
      return { buildSeconds, sessionSeconds, prefillTokensPerSecond: prefill, decodeTokensPerSecond: decode, copyBytesPerSecond, threads: availableParallelism() };
    } finally {
      await decoder.release();
    }
  } finally {
    await source.close?.();
  }
}

/** Builds the graph and opens its session; the graph's buffers are dropped on return. */
async function openNodeDecoder(source: Awaited<ReturnType<typeof openFolderSource>>, format: Qwen2OnnxFormat) {
  let started = performance.now();
  const model = await inspectModel(source);
  const built = await buildQwen2Onnx(model.config, { format, loadTensor: modelTensorLoader(model), logits: "last" });
  const buildSeconds = (performance.now() - started) / 1000;
  started = performance.now();
  const decoder = await OnnxCausalDecoder.create(ort, built, { sessionOptions: { intraOpNumThreads: availableParallelism() } });
  return { decoder, buildSeconds, sessionSeconds: (performance.now() - started) / 1000 };
}

async function runBrowser(prompt: number[]): Promise<Row[]> {
  const bundleDir = await mkdtemp(join(tmpdir(), "eval-bench-page-"));
  const hub = await startHubServer({ root: HUB_ROOT, port: 0, host: "127.0.0.1" });
  const browser = await chromium.launch({ executablePath: "/usr/bin/chromium", args: CHROMIUM_ARGS });
  try {
    await build({
      configFile: false,
      logLevel: "error",
      build: { outDir: bundleDir, emptyOutDir: true, minify: false, lib: { entry: join(REPO_ROOT, "bench/eval-page.ts"), formats: ["es"], fileName: () => "page.js" } },
    });
    const ortDist = join(createRequire(import.meta.url).resolve("onnxruntime-web"), "..");
    const files: Record<string, { path: string; type: string }> = {
      "page.js": { path: join(bundleDir, "page.js"), type: "text/javascript" },
      "ort-wasm-simd-threaded.jsep.mjs": { path: join(ortDist, "ort-wasm-simd-threaded.jsep.mjs"), type: "text/javascript" },
      "ort-wasm-simd-threaded.jsep.wasm": { path: join(ortDist, "ort-wasm-simd-threaded.jsep.wasm"), type: "application/wasm" },
    };
    const rows: Row[] = [];
    for (const format of FORMATS) {
      // A fresh page per format: the wasm heap of one model is not handed back to the next.
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
      const request: EvalBenchRequest = { repo: REPO, format, prompt, newTokens: NEW_TOKENS, threads: 2, runs: RUNS };
      process.stderr.write(`chromium wasm ${format}...\n`);
      const result = await page.evaluate(
        (request) => (window as unknown as { __evalBench: { runEvalBench(request: EvalBenchRequest): Promise<EvalBenchResult> } }).__evalBench.runEvalBench(request),
        request,
      );
      rows.push({ where: `chromium wasm (${result.threads} thread${result.threads === 1 ? "" : "s"})`, format, result });
      await page.close();
    }
    return rows;
  } finally {
    await browser.close();
    await hub.close();
    await rm(bundleDir, { recursive: true, force: true });
  }
}

function printReport(config: Qwen2Config, rows: Row[]): void {
  const header = ["where", "format", "build s", "session s", "prefill tok/s", "decode tok/s", "weights/token", "copy GB/s", "bound tok/s", "decode / bound"];
  const lines = [header];
  for (const { where, format, result } of rows) {
    const bytes = decodeWeightBytes(config, format);
    const bound = result.copyBytesPerSecond / bytes;
    lines.push([
      where,
      format,
      result.buildSeconds.toFixed(1),
      result.sessionSeconds.toFixed(1),
      result.prefillTokensPerSecond.toFixed(1),
      result.decodeTokensPerSecond.toFixed(2),
      `${(bytes / 1e6).toFixed(0)} MB`,
      (result.copyBytesPerSecond / 1e9).toFixed(1),
      bound.toFixed(2),
      `${((100 * result.decodeTokensPerSecond) / bound).toFixed(0)}%`,
    ]);
  }
  const widths = header.map((_, column) => Math.max(...lines.map((line) => line[column]!.length)));
  process.stdout.write(`\n${lines.map((line) => line.map((cell, column) => cell.padEnd(widths[column]!)).join("  ")).join("\n")}\n`);
  process.stdout.write(`\nprompt ${PROMPT_TOKENS} tokens, ${NEW_TOKENS} new tokens, best of ${RUNS} runs; target: decode at ${100 * TARGET_FRACTION}% of the bound or more on CPU\n`);
}

async function main(): Promise<void> {
  await generateBenchModels();
  const config = readQwen2Config(JSON.parse(await readFile(join(repoDir(REPO), "config.json"), "utf8")) as Record<string, unknown>);
  // Token ids spread over the vocabulary: decoding speed does not depend on which ids they are.
  const prompt = Array.from({ length: PROMPT_TOKENS }, (_, i) => (i * 7919 + 13) % config.vocabSize);
  const rows: Row[] = [];
  for (const format of FORMATS) {
    process.stderr.write(`onnxruntime-node ${format}...\n`);
    const result = await runNode(format, prompt);
    rows.push({ where: `onnxruntime-node (${result.threads} threads)`, format, result });
  }
  if (!process.argv.includes("--no-browser")) rows.push(...(await runBrowser(prompt)));
  printReport(config, rows);
}

await main();
