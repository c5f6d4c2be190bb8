import { chromium } from "@playwright/test";
import { convertChunk, type FloatChunk } from "../src/core/engine/mergeChunk.ts";
import { computeMagnitudeStatistics, needsMagnitudeStatistics } from "../src/core/recipe/magnitudeStatistics.ts";
import type { RecipeMethodId } from "../src/core/recipe/TensorRecipe.ts";
import { twoTermRecipe } from "./twoTermRecipe.ts";
import { openBundledPage } from "../e2e/openBundledPage.ts";
import type { RecipeKernelCase, RecipeKernelTiming } from "../e2e/webgpu-recipe-kernel-page.ts";

/**
 * The WebGPU recipe kernel in headless Chromium (npx tsx bench/webGpuRecipeKernel.ts [M elements]):
 * one bf16 chunk of 1 M elements (2 MiB per input, the engine's local chunk size) with 2 terms,
 * merged by createWebGpuRecipeKernel for task_arithmetic, ties and dare_ties, against today's
 * one-term kernel (createWebGpuComputer, task arithmetic) on the same chunk's target and first term.
 * Values are weight-like (plus and minus = base + small deltas). MB/s counts the input bytes of the
 * best of RUNS runs after a warm-up, upload and read-back included. On this machine the adapter is
 * SwiftShader: a software GPU on the CPU, so the figures compare the kernels, not GPUs.
 */

const millions = Number(process.argv[2] ?? 1);
if (!(millions > 0 && millions <= 16)) throw new Error(`usage: npx tsx bench/webGpuRecipeKernel.ts [MILLIONS]: chunk elements in millions, above 0 and at most 16, not ${JSON.stringify(process.argv[2])}`);
const ELEMENTS = Math.round(millions * 2 ** 20);
const RUNS = 3;
const CHROMIUM_ARGS = ["--headless=new", "--no-sandbox", "--enable-unsafe-webgpu", "--enable-features=Vulkan", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"];

let state = 12345;
function gaussian(): number {
  state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
  const u = (state + 1) / 2 ** 32;
  state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
  return Math.sqrt(-2 * Math.log(u)) * Math.cos((2 * Math.PI * state) / 2 ** 32);
}

const bf16 = (values: Float32Array): FloatChunk => ({ dtype: "BF16", bytes: convertChunk({ dtype: "F32", bytes: new Uint8Array(values.buffer) }, "BF16") });
const base = Float32Array.from({ length: ELEMENTS }, () => gaussian() * 0.02);
const near = (scale: number) => bf16(base.map((x) => x + gaussian() * scale));
const target = bf16(base);
const terms = [
  { plus: near(1e-3), minus: near(1e-3) },
  { plus: near(2e-3), minus: near(1e-3) },
];
const encode = (chunk: FloatChunk) => ({ dtype: chunk.dtype, base64: Buffer.from(chunk.bytes).toString("base64") });

async function chunkCase(method: RecipeMethodId): Promise<RecipeKernelCase> {
  const recipe = twoTermRecipe(method);
  const stats = needsMagnitudeStatistics(recipe) ? await computeMagnitudeStatistics(recipe, ELEMENTS, (visit) => void visit(0, terms)) : undefined;
  return {
    label: method,
    recipe,
    ...(stats ? { stats } : {}),
    target: encode(target),
    terms: terms.map(({ plus, minus }) => ({ plus: encode(plus), minus: encode(minus) })),
    firstElement: 0,
    outDtype: "BF16",
  };
}

const browser = await chromium.launch({ executablePath: "/usr/bin/chromium", args: CHROMIUM_ARGS });
try {
  const { page, close } = await openBundledPage(browser, "e2e/webgpu-recipe-kernel-page.ts", "/__webgpu-recipe-kernel/", "__webGpuRecipeKernel", "http://127.0.0.1");
  const rows: [string, RecipeKernelTiming][] = [];
  const taskArithmetic = await chunkCase("task_arithmetic");
  rows.push(["today's kernel, task arithmetic, 1 term", await page.evaluate(({ test, runs }) => window.__webGpuRecipeKernel.timeTaskArithmetic(test, runs), { test: taskArithmetic, runs: RUNS })]);
  const oneTerm = { ...taskArithmetic, recipe: { ...taskArithmetic.recipe, terms: taskArithmetic.recipe.terms.slice(0, 1) }, terms: taskArithmetic.terms.slice(0, 1) };
  rows.push(["recipe kernel, task_arithmetic, 1 term", await page.evaluate(({ test, runs }) => window.__webGpuRecipeKernel.time(test, runs), { test: oneTerm, runs: RUNS })]);
  for (const method of ["task_arithmetic", "ties", "dare_ties"] as const) {
    const test = await chunkCase(method);
    rows.push([`recipe kernel, ${method}, 2 terms`, await page.evaluate(({ test, runs }) => window.__webGpuRecipeKernel.time(test, runs), { test, runs: RUNS })]);
  }
  await close();
  process.stdout.write(`${ELEMENTS} bf16 elements per chunk, best of ${RUNS} runs, adapter: ${rows[0]![1].adapter}\n`);
  process.stdout.write(`${"kernel".padEnd(42)}  MB/s  seconds\n`);
  for (const [name, timing] of rows) {
    process.stdout.write(`${name.padEnd(42)}${timing.megabytesPerSecond.toFixed(1).padStart(6)}  ${timing.seconds.map((s) => s.toFixed(3)).join(" ")}\n`);
  }
} finally {
  await browser.close();
}
