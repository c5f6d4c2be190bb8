import { expect, test, type Browser, type Page } from "@playwright/test";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { build } from "vite";
import { q4ReferenceWeights } from "../test/helpers/q4Reference.ts";
import { q8ReferenceWeights, quantizeQ8ActivationRows } from "../test/helpers/q8Reference.ts";
import { referenceLogits } from "../test/helpers/qwen2Reference.ts";
import { GQA_UNTIED, randomQwen2Weights } from "../test/helpers/randomQwen2Weights.ts";
import type { EvalOnnxCase, EvalOnnxResult } from "./eval-onnx-page.ts";

/**
 * The Qwen2 ONNX graph on onnxruntime-web in Chromium, wasm and WebGPU (SwiftShader here), against
 * the float64 forward pass of test/helpers/qwen2Reference.ts. The page bundle (e2e/eval-onnx-page.ts)
 * is built by this spec and served by route under PREFIX, so it needs nothing from the app.
 */
const PREFIX = "/__eval-onnx/";

declare global {
  interface Window {
    __evalOnnx: { runEvalOnnxCase(request: EvalOnnxCase): Promise<EvalOnnxResult> };
  }
}

const SEED = 7;
const PROMPT = [3, 141, 59, 26, 53, 58, 97];
const NEW_TOKENS = 6;
/** Left-padded in one batch: 7, 1, 4 and 2 tokens. */
const BATCH_PROMPTS = [PROMPT, [200], [12, 7, 250, 31], [5, 5]];

/**
 * Tolerances as a fraction of the logit scale (largest |reference logit|), as in test/eval-onnx.test.ts:
 * float32 (and q4 against its dequantised weights) 1e-5 on both providers (measured 1e-6; RoPE's
 * cos and sin come from tables, so WGSL's 2^-11 sin and cos never enter); float16 5e-3 on wasm
 * and 2e-2 on WebGPU, whose float16 products may also accumulate in float16 (2^-11 per addition).
 */
const TOLERANCE = { f32: { wasm: 1e-5, webgpu: 1e-5 }, q4: { wasm: 1e-5, webgpu: 1e-5 }, f16: { wasm: 5e-3, webgpu: 2e-2 } } as const;

let bundleDir: string;
const ortDist = join(createRequire(import.meta.url).resolve("onnxruntime-web"), "..");

test.describe.configure({ timeout: 180_000 });

test.beforeAll(async () => {
  test.setTimeout(180_000);
  bundleDir = await mkdtemp(join(tmpdir(), "eval-onnx-page-"));
  await build({
    configFile: false,
    logLevel: "error",
    build: {
      outDir: bundleDir,
      emptyOutDir: true,
      minify: false,
      lib: { entry: "e2e/eval-onnx-page.ts", formats: ["es"], fileName: () => "page.js" },
    },
  });
});

test.afterAll(async () => {
  await rm(bundleDir, { recursive: true, force: true });
});

/** A page with the bundle loaded; each page compiles onnxruntime's wasm (about 45 s here), so each provider's tests share one. */
async function openPage(browser: Browser): Promise<Page> {
  const page = await browser.newPage();
  await page.route(`**${PREFIX}**`, async (route) => {
    const name = new URL(route.request().url()).pathname.slice(PREFIX.length);
    if (name === "index.html") {
      await route.fulfill({ contentType: "text/html", body: `<!doctype html><script type="module" src="page.js"></script>` });
    } else if (name === "page.js") {
      await route.fulfill({ contentType: "text/javascript", body: await readFile(join(bundleDir, "page.js")) });
    } else if (name === "ort-wasm-simd-threaded.jsep.wasm") {
      await route.fulfill({ contentType: "application/wasm", body: await readFile(join(ortDist, name)) });
    } else {
      await route.fulfill({ status: 404, body: "" });
    }
  });
  await page.goto(`${PREFIX}index.html`);
  await page.waitForFunction(() => "__evalOnnx" in window);
  return page;
}

/** Largest |computed - reference| as a fraction of the largest |reference|. */
function relativeDifference(computed: readonly number[], reference: Float64Array): number {
  expect(computed).toHaveLength(reference.length);
  let scale = 0;
  let difference = 0;
  reference.forEach((value, i) => {
    scale = Math.max(scale, Math.abs(value));
    difference = Math.max(difference, Math.abs(computed[i]! - value));
  });
  return difference / scale;
}

const lastRow = (logits: Float64Array) => logits.subarray(logits.length - GQA_UNTIED.vocabSize);

for (const executionProvider of ["wasm", "webgpu"] as const) {
  test.describe(executionProvider, () => {
    let page: Page;
    test.beforeAll(async ({ browser }) => {
      test.setTimeout(180_000);
      page = await openPage(browser);
    });
    test.afterAll(async () => {
      await page.close();
    });
    for (const format of ["f32", "q4", "f16"] as const) {
      const refusal = format === "f16" && executionProvider === "webgpu" ? " (or a clear refusal where the GPU lacks shader-f16)" : "";
      test(`${executionProvider}, ${format}${format === "q4" ? " (accuracy_level 0)" : ""}: prompt logits, greedy tokens and KV-cache steps against the float64 pass, alone and in a left-padded batch${refusal}`, async () => {
        if (executionProvider === "webgpu") expect(await page.evaluate(async () => (await navigator.gpu?.requestAdapter()) != null)).toBe(true);
        const request: EvalOnnxCase = { shape: GQA_UNTIED, seed: SEED, format, q4AccuracyLevel: 0, executionProvider, kvCacheOnGpu: executionProvider === "webgpu", prompt: PROMPT, newTokens: NEW_TOKENS, batchPrompts: BATCH_PROMPTS };
        const run = () => page.evaluate((request) => window.__evalOnnx.runEvalOnnxCase(request), request);
        if (format === "f16" && executionProvider === "webgpu" && !(await page.evaluate(async () => (await navigator.gpu.requestAdapter())!.features.has("shader-f16")))) {
          // SwiftShader has no float16 shaders: the decoder must refuse rather than return zeros.
          await expect(run()).rejects.toThrow(/needs the GPU feature "shader-f16"/);
          return;
        }
        const result = await run();

        const weights = randomQwen2Weights(GQA_UNTIED, SEED);
        const reference =
          format === "q4"
            ? q4ReferenceWeights(GQA_UNTIED, weights)
            : { shape: GQA_UNTIED, weights: (name: string) => Float64Array.from(weights.get(name)!) };
        const tolerance = TOLERANCE[format][executionProvider];
        const measured = [relativeDifference(result.promptLogits, referenceLogits(reference.shape, reference.weights, PROMPT))];
        const sequence = [...PROMPT];
        for (let step = 0; step < result.cachedSteps.length; step++) {
          const expected = lastRow(referenceLogits(reference.shape, reference.weights, sequence));
          measured.push(relativeDifference(result.cachedSteps[step]!, expected), relativeDifference(result.recomputedSteps[step]!, expected));
          if (format !== "f16") {
            // The greedy choice must be the reference's wherever its margin exceeds what the tolerance allows.
            const sorted = [...expected].sort((a, b) => b - a);
            const scale = Math.max(...expected.map(Math.abs));
            expect(sorted[0]! - sorted[1]!).toBeGreaterThan(2 * tolerance * scale);
            expect(result.tokens[step]).toBe(expected.indexOf(sorted[0]!));
          }
          sequence.push(result.tokens[step]!);
        }
        // The batch: each row's logits are those of the row alone, at its prompt and at one cached step.
        BATCH_PROMPTS.forEach((prompt, row) => {
          measured.push(relativeDifference(result.batchPromptLogits[row]!, referenceLogits(reference.shape, reference.weights, prompt)));
          measured.push(relativeDifference(result.batchStepLogits[row]!, lastRow(referenceLogits(reference.shape, reference.weights, [...prompt, result.batchNextTokens[row]!]))));
        });
        console.log(`${executionProvider} ${format}: max difference ${Math.max(...measured).toExponential(2)} of the logit scale; ${result.decodeTokensPerSecond.toFixed(1)} tokens/s`);
        expect(Math.max(...measured)).toBeLessThanOrEqual(tolerance);
        expect(result.tokens).toHaveLength(NEW_TOKENS);
        expect(result.batchTokens[1][0], "generateBatch at batch 1 gives generate's tokens").toEqual(result.tokens);
        expect(result.batchTokens[3], "the same tokens at batch sizes 1 and 3").toEqual(result.batchTokens[1]);
      });
    }
    if (executionProvider === "wasm") {
      /**
       * q8 (int8 weights, activations quantised row by row, MatMulInteger) on wasm against the float64 pass
       * over the dequantised weights that quantises each linear layer's input row by row as the graph does:
       * 1e-4 of the logit scale, as on onnxruntime-node (test/eval-onnx-q8.test.ts), up to the first
       * position with an activation that float32 arithmetic may round either way (a near tie), 0.2 from
       * there on. A row's result depends on that row alone: the same for the prompt in one call, token by
       * token, recomputed, or as a row of a left-padded batch.
       */
      test("wasm, q8: prompt logits, greedy tokens and KV-cache steps against the float64 pass with quantised activations, alone and in a left-padded batch", async () => {
        const request: EvalOnnxCase = { shape: GQA_UNTIED, seed: SEED, format: "q8", q4AccuracyLevel: 0, executionProvider: "wasm", kvCacheOnGpu: false, prompt: PROMPT, newTokens: NEW_TOKENS, batchPrompts: BATCH_PROMPTS };
        const result = await page.evaluate((request) => window.__evalOnnx.runEvalOnnxCase(request), request);
        const weights = q8ReferenceWeights(GQA_UNTIED, randomQwen2Weights(GQA_UNTIED, SEED));
        const [tolerance, afterNearTie] = [1e-4, 0.2];
        const decided: number[] = [];
        const undecided: number[] = [];
        /** Compares the logits of `sequence`'s last `positions` positions with the pass, by whether a near tie precedes them. */
        const compare = (computed: readonly number[], sequence: number[], positions: number) => {
          let firstNearTie = sequence.length;
          const reference = referenceLogits(GQA_UNTIED, weights, sequence, {
            quantizeLinearInputs: (x, columns) => quantizeQ8ActivationRows(x, columns, (position) => (firstNearTie = Math.min(firstNearTie, position))),
          });
          const vocab = GQA_UNTIED.vocabSize;
          for (let position = sequence.length - positions; position < sequence.length; position++) {
            const offset = (position - sequence.length + positions) * vocab;
            const difference = relativeDifference(computed.slice(offset, offset + vocab), reference.subarray(position * vocab, (position + 1) * vocab));
            (position < firstNearTie ? decided : undecided).push(difference);
          }
          return { reference: lastRow(reference), decided: firstNearTie === sequence.length };
        };
        compare(result.promptLogits, PROMPT, PROMPT.length);
        const sequence = [...PROMPT];
        for (let step = 0; step < result.cachedSteps.length; step++) {
          const { reference, decided: noNearTie } = compare(result.cachedSteps[step]!, sequence, 1);
          compare(result.recomputedSteps[step]!, sequence, 1);
          if (noNearTie) {
            const sorted = [...reference].sort((a, b) => b - a);
            expect(sorted[0]! - sorted[1]!).toBeGreaterThan(2 * tolerance * Math.max(...reference.map(Math.abs)));
            expect(result.tokens[step]).toBe(reference.indexOf(sorted[0]!));
          }
          sequence.push(result.tokens[step]!);
        }
        // The batch: each row's logits are those of the row alone, at its prompt and at one cached step.
        BATCH_PROMPTS.forEach((prompt, row) => {
          compare(result.batchPromptLogits[row]!, prompt, prompt.length);
          compare(result.batchStepLogits[row]!, [...prompt, result.batchNextTokens[row]!], 1);
        });
        console.log(`wasm q8: max difference ${Math.max(...decided).toExponential(2)} of the logit scale over ${decided.length} positions, ${Math.max(0, ...undecided).toExponential(2)} over ${undecided.length} after a near tie; ${result.decodeTokensPerSecond.toFixed(1)} tokens/s`);
        expect(decided.length, "positions compared before any near tie").toBeGreaterThan(undecided.length);
        expect(Math.max(...decided)).toBeLessThanOrEqual(tolerance);
        expect(Math.max(0, ...undecided)).toBeLessThanOrEqual(afterNearTie);
        expect(result.tokens).toHaveLength(NEW_TOKENS);
        expect(result.batchTokens[1][0], "generateBatch at batch 1 gives generate's tokens").toEqual(result.tokens);
        expect(result.batchTokens[3], "the same tokens at batch sizes 1 and 3").toEqual(result.batchTokens[1]);
      });
    }
  });
}
