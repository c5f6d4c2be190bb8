/// <reference types="@webgpu/types" />
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";
import type { FloatDtype } from "../src/core/dtypes.ts";
import type { FloatChunk } from "../src/core/engine/mergeChunk.ts";
import { createWebGpuComputer } from "../src/core/engine/webGpuComputer.ts";
import { oneTermTask } from "../test/helpers/oneVectorRecipe.ts";
import { createWebGpuRecipeKernel, type WebGpuRecipeKernel } from "../src/core/numeric/webgpu/createWebGpuRecipeKernel.ts";
import { requestWebGpuMergeKernel } from "../src/core/numeric/webgpu/requestWebGpuMergeKernel.ts";
import { mergeRecipeChunk, type RecipeChunkInputs } from "../src/core/recipe/mergeRecipeChunk.ts";
import type { TensorRecipe } from "../src/core/recipe/TensorRecipe.ts";
import { makeKernelTestInputs } from "../e2e/kernelTestChunks.ts";
import { dareCases, dtypeMixCases, everyMethodCases, farElementCases, nineTermCases, normalizeCases, randomChunkCases } from "../e2e/recipeKernelCases.ts";
import type { EncodedChunk, RecipeKernelCase } from "../e2e/webgpu-recipe-kernel-page.ts";

/**
 * The WebGPU recipe kernel under Node on Dawn (the `webgpu` npm package, not a dependency of the
 * project: npx tsx bench/webGpuRecipeKernelDawn.ts PATH/TO/webgpu/index.js): first every case of
 * e2e/webgpu-recipe-kernel.spec.ts against mergeRecipeChunk, byte for byte, on the machine's GPU;
 * then MB/s (input bytes over the best of RUNS, upload and read-back included) of the recipe kernel
 * on one bf16 chunk with 2 terms for task_arithmetic, ties and dare_ties, against today's one-term
 * kernel (createWebGpuComputer) on the same chunk's target and first term, and with CHUNKS chunks
 * in flight at once (the slots overlap upload, compute and read-back).
 */

const webgpuPath = process.argv[2];
if (!webgpuPath) throw new Error("usage: npx tsx bench/webGpuRecipeKernelDawn.ts PATH/TO/webgpu/index.js [MILLIONS]");
const millions = Number(process.argv[3] ?? 4);
if (!(millions > 0 && millions <= 64)) throw new Error(`MILLIONS: chunk elements in millions, above 0 and at most 64, not ${JSON.stringify(process.argv[3])}`);
const ELEMENTS = Math.round(millions * 2 ** 20);
const RUNS = 5;
const CHUNKS = 8;

const { create, globals } = (await import(pathToFileURL(resolve(webgpuPath)).href)) as { create(flags: string[]): GPU; globals: Record<string, unknown> };
Object.assign(globalThis, globals);
const gpu = create([]);
const adapter = await gpu.requestAdapter({ powerPreference: "high-performance" });
if (!adapter) throw new Error("Dawn found no GPU adapter");
const device = await adapter.requestDevice({
  requiredLimits: { maxStorageBufferBindingSize: adapter.limits.maxStorageBufferBindingSize, maxBufferSize: adapter.limits.maxBufferSize },
});
process.stdout.write(`adapter: ${adapter.info.vendor} ${adapter.info.architecture} ${adapter.info.device} ${adapter.info.description}\n`);

const decode = (chunk: EncodedChunk): FloatChunk => ({ dtype: chunk.dtype, bytes: new Uint8Array(Buffer.from(chunk.base64, "base64")) });
const inputsOf = (test: RecipeKernelCase): RecipeChunkInputs => ({ target: decode(test.target), terms: test.terms.map(({ plus, minus }) => ({ plus: decode(plus), minus: decode(minus) })) });

async function compare(kernel: WebGpuRecipeKernel, cases: RecipeKernelCase[]): Promise<string[]> {
  const mismatches = await Promise.all(
    cases.map(async (test) => {
      const inputs = inputsOf(test);
      const gpuBytes = await kernel.mergeRecipeChunk(test.recipe, test.stats, inputs, test.firstElement, test.outDtype);
      const reference = mergeRecipeChunk(test.recipe, test.stats, inputs, test.firstElement, test.outDtype);
      const index = gpuBytes.findIndex((byte, i) => byte !== reference[i]);
      return gpuBytes.length === reference.length && index < 0 ? undefined : `${test.label}: first differing byte ${index}`;
    }),
  );
  return mismatches.filter((line) => line !== undefined);
}

const kernel = await createWebGpuRecipeKernel(device);
const splitKernel = await createWebGpuRecipeKernel(device, { maxElementsPerDispatch: 255 });
let failed = 0;
for (const [name, make] of Object.entries({ everyMethodCases, dareCases, nineTermCases, farElementCases, normalizeCases, dtypeMixCases, randomChunkCases })) {
  const cases = await make();
  const mismatches = [...(await compare(kernel, cases)), ...(name === "nineTermCases" ? await compare(splitKernel, cases) : [])];
  failed += mismatches.length;
  process.stdout.write(`${name}: ${cases.length} cases, ${mismatches.length} mismatches${mismatches.length ? `\n  ${mismatches.slice(0, 5).join("\n  ")}` : ""}\n`);
}
process.stdout.write(`bit-exact check: ${failed === 0 ? "all cases equal mergeRecipeChunk" : `${failed} cases differ`}\n`);

// Weight-like values: plus and minus of one exponent (kernelTestChunks' family 2), bf16.
const chunk = (seed: number): FloatChunk => ({ dtype: "BF16", bytes: makeKernelTestInputs({ t: "BF16", p: "BF16", m: "BF16" }, ELEMENTS, seed, [2]).plus });
const inputs: RecipeChunkInputs = { target: chunk(1), terms: [{ plus: chunk(2), minus: chunk(3) }, { plus: chunk(4), minus: chunk(5) }] };
const recipeOf = (method: TensorRecipe["method"], termCount: number): TensorRecipe => ({
  tensorName: "model.embed_tokens.weight",
  method,
  terms: [
    { index: 0, weight: 0.7, density: 0.5, gamma: 0.01 },
    { index: 1, weight: 0.5, density: 0.3, gamma: 0.01 },
  ].slice(0, termCount),
  normalize: method === "ties",
  rescale: true,
  seed: 1,
});
// A magnitude cut near the middle of the order for ties (the kernel's cost does not depend on where).
const stats = { numel: ELEMENTS, terms: [0, 1].map(() => ({ from: { pattern: 0xffffffff, lastTieIndex: -1 }, to: { pattern: 0x3c000000, lastTieIndex: ELEMENTS - 1 } })) };

async function rate(bytes: number, run: () => Promise<unknown>): Promise<string> {
  await run();
  const seconds: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const started = performance.now();
    await run();
    seconds.push((performance.now() - started) / 1000);
  }
  return `${(bytes / 1e6 / Math.min(...seconds)).toFixed(0).padStart(6)} MB/s (${seconds.map((s) => s.toFixed(4)).join(" ")} s)`;
}
const bytesOf = (termCount: number) => ELEMENTS * 2 * (1 + 2 * termCount);
const outDtype: FloatDtype = "BF16";

process.stdout.write(`${ELEMENTS} bf16 elements per chunk; one chunk, then ${CHUNKS} chunks in flight\n`);
const request = await requestWebGpuMergeKernel(gpu);
if ("unavailable" in request) throw new Error(request.unavailable);
const computer = createWebGpuComputer(request.kernel, { fallback: { compute: () => Promise.reject(new Error("the GPU computer fell back to the CPU")) } });
const today = () =>
  computer.compute(oneTermTask(0.7, inputs.target, inputs.terms[0]!.plus, inputs.terms[0]!.minus, outDtype));
process.stdout.write(`today's kernel, task arithmetic, 1 term:  ${await rate(bytesOf(1), today)}; ${await rate(CHUNKS * bytesOf(1), () => Promise.all(Array.from({ length: CHUNKS }, today)))}\n`);
for (const [method, termCount] of [["task_arithmetic", 1], ["task_arithmetic", 2], ["ties", 2], ["dare_ties", 2]] as const) {
  const recipe = recipeOf(method, termCount);
  const chunkInputs = { target: inputs.target, terms: inputs.terms.slice(0, termCount) };
  const run = () => kernel.mergeRecipeChunk(recipe, method === "ties" ? stats : undefined, chunkInputs, 0, outDtype);
  process.stdout.write(
    `recipe kernel, ${method}, ${termCount} terms: ${await rate(bytesOf(termCount), run)}; ${await rate(CHUNKS * bytesOf(termCount), () => Promise.all(Array.from({ length: CHUNKS }, run)))}\n`,
  );
}
await computer.close?.();
kernel.destroy();
splitKernel.destroy();
device.destroy();
process.exit(failed === 0 ? 0 : 1);
