/// <reference types="@webgpu/types" />
import type { FloatDtype } from "../../src/core/dtypes.ts";
import type { FloatChunk } from "../../src/core/engine/mergeChunk.ts";
import { createWebGpuComputer } from "../../src/core/engine/webGpuComputer.ts";
import { createWebGpuRecipeKernel, type WebGpuRecipeKernel } from "../../src/core/numeric/webgpu/createWebGpuRecipeKernel.ts";
import type { WebGpuMergeKernel } from "../../src/core/numeric/webgpu/requestWebGpuMergeKernel.ts";
import { mergeRecipeChunk, type RecipeChunkInputs } from "../../src/core/recipe/mergeRecipeChunk.ts";
import type { TensorRecipe } from "../../src/core/recipe/TensorRecipe.ts";
import { makeKernelTestInputs } from "../../e2e/kernelTestChunks.ts";
import { dareCases, dtypeMixCases, everyMethodCases, farElementCases, nineTermCases, normalizeCases, randomChunkCases } from "../../e2e/recipeKernelCases.ts";
import type { EncodedChunk, RecipeKernelCase } from "../../e2e/webgpu-recipe-kernel-page.ts";
import { oneTermTask } from "../../test/helpers/oneVectorRecipe.ts";

/**
 * The WebGPU recipe kernel on the machine's GPU: every case of e2e/webgpu-recipe-kernel.spec.ts
 * against mergeRecipeChunk, byte for byte, and its MB/s against the one-term kernel.
 */

/** One group of cases of e2e/recipeKernelCases.ts run through the recipe kernel. */
export interface RecipeBitCheck {
  name: string;
  cases: number;
  /** Cases whose bytes differ from mergeRecipeChunk's (the first few, each with its first differing byte). */
  mismatches: string[];
  mismatchedCases: number;
  seconds: number;
}

/** MB/s of input bytes (upload and read-back included), best of the runs, for one chunk and for several in flight at once. */
export interface RecipeKernelTiming {
  label: string;
  terms: number;
  inputBytesPerChunk: number;
  oneChunkMBps: number;
  chunksInFlight: number;
  inFlightMBps: number;
}

const CASE_GROUPS = { everyMethodCases, dareCases, nineTermCases, farElementCases, normalizeCases, dtypeMixCases, randomChunkCases };
/** Dispatches of this many elements for the nine-term cases run again split (an odd size, so splits fall inside packed words). */
const SPLIT_DISPATCH_ELEMENTS = 255;
const MISMATCHES_KEPT = 5;

const decode = (chunk: EncodedChunk): FloatChunk => ({ dtype: chunk.dtype, bytes: new Uint8Array(Buffer.from(chunk.base64, "base64")) });
const inputsOf = (test: RecipeKernelCase): RecipeChunkInputs => ({
  target: decode(test.target),
  terms: test.terms.map(({ plus, minus }) => ({ plus: decode(plus), minus: decode(minus) })),
});

/** The cases that `kernel` computes to other bytes than mergeRecipeChunk, each named with its first differing byte. */
async function mismatchesOf(kernel: Pick<WebGpuRecipeKernel, "mergeRecipeChunk">, cases: RecipeKernelCase[]): Promise<string[]> {
  const mismatches = await Promise.all(
    cases.map(async (test) => {
      const inputs = inputsOf(test);
      const gpuBytes = await kernel.mergeRecipeChunk(test.recipe, test.stats, inputs, test.firstElement, test.outDtype);
      const reference = mergeRecipeChunk(test.recipe, test.stats, inputs, test.firstElement, test.outDtype);
      const index = gpuBytes.findIndex((byte, i) => byte !== reference[i]);
      if (gpuBytes.length !== reference.length) return `${test.label}: ${gpuBytes.length} bytes, not ${reference.length}`;
      return index < 0 ? undefined : `${test.label}: first differing byte ${index}`;
    }),
  );
  return mismatches.filter((line) => line !== undefined);
}

/**
 * Every group of cases through `kernel` (the engine's: kernel.recipe), the nine-term cases also
 * through `splitKernel` (one of small dispatches, SPLIT_DISPATCH_ELEMENTS); `report` is called
 * after each group.
 */
export async function checkRecipeKernelBits(
  kernel: Pick<WebGpuRecipeKernel, "mergeRecipeChunk">,
  splitKernel: Pick<WebGpuRecipeKernel, "mergeRecipeChunk">,
  report: (check: RecipeBitCheck) => void,
): Promise<RecipeBitCheck[]> {
  const checks: RecipeBitCheck[] = [];
  for (const [name, makeCases] of Object.entries(CASE_GROUPS)) {
    const started = performance.now();
    const cases = await makeCases();
    const split = name === "nineTermCases";
    const mismatches = [...(await mismatchesOf(kernel, cases)), ...(split ? await mismatchesOf(splitKernel, cases) : [])];
    const check = {
      name: split ? `${name} (and split in dispatches of ${SPLIT_DISPATCH_ELEMENTS})` : name,
      cases: split ? 2 * cases.length : cases.length,
      mismatches: mismatches.slice(0, MISMATCHES_KEPT),
      mismatchedCases: mismatches.length,
      seconds: (performance.now() - started) / 1000,
    };
    checks.push(check);
    report(check);
  }
  return checks;
}

/** The recipe kernel of small dispatches that checkRecipeKernelBits runs the nine-term cases on, on `device`. */
export function createSplitRecipeKernel(device: GPUDevice): Promise<WebGpuRecipeKernel> {
  return createWebGpuRecipeKernel(device, { maxElementsPerDispatch: SPLIT_DISPATCH_ELEMENTS });
}

/**
 * MB/s of the recipe kernel (kernel.recipe) on one bf16 chunk of `elements` elements for
 * task_arithmetic with 1 and 2 terms, ties (with a magnitude cut) and dare_ties with 2, against the
 * one-term kernel through createWebGpuComputer on the same chunk's target and first term; each
 * also with `chunksInFlight` chunks at once (the slots overlap upload, compute and read-back).
 * Values are weight-like: plus and minus of one exponent (kernelTestChunks' family 2).
 */
export async function measureRecipeKernel(kernel: WebGpuMergeKernel, elements: number, runs: number, chunksInFlight: number): Promise<RecipeKernelTiming[]> {
  const chunk = (seed: number): FloatChunk => ({ dtype: "BF16", bytes: makeKernelTestInputs({ t: "BF16", p: "BF16", m: "BF16" }, elements, seed, [2]).plus });
  const inputs: RecipeChunkInputs = { target: chunk(1), terms: [{ plus: chunk(2), minus: chunk(3) }, { plus: chunk(4), minus: chunk(5) }] };
  const outDtype: FloatDtype = "BF16";
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
  const stats = { numel: elements, terms: [0, 1].map(() => ({ from: { pattern: 0xffffffff, lastTieIndex: -1 }, to: { pattern: 0x3c000000, lastTieIndex: elements - 1 } })) };

  const bestMBps = async (bytes: number, run: () => Promise<unknown>): Promise<number> => {
    await run();
    let best = Infinity;
    for (let i = 0; i < runs; i++) {
      const started = performance.now();
      await run();
      best = Math.min(best, (performance.now() - started) / 1000);
    }
    return bytes / 1e6 / best;
  };
  const timing = async (label: string, terms: number, run: () => Promise<unknown>): Promise<RecipeKernelTiming> => {
    const inputBytesPerChunk = elements * 2 * (1 + 2 * terms);
    return {
      label,
      terms,
      inputBytesPerChunk,
      oneChunkMBps: await bestMBps(inputBytesPerChunk, run),
      chunksInFlight,
      inFlightMBps: await bestMBps(chunksInFlight * inputBytesPerChunk, () => Promise.all(Array.from({ length: chunksInFlight }, run))),
    };
  };

  // Never closed: close() destroys the device, which the recipe kernel shares (the caller destroys it).
  const computer = createWebGpuComputer(kernel, { fallback: { compute: () => Promise.reject(new Error("the GPU computer fell back to the CPU")) } });
  const { plus, minus } = inputs.terms[0]!;
  const timings = [await timing("one-term kernel (createWebGpuComputer), task_arithmetic", 1, () => computer.compute(oneTermTask(0.7, inputs.target, plus, minus, outDtype)))];
  for (const [method, termCount] of [["task_arithmetic", 1], ["task_arithmetic", 2], ["ties", 2], ["dare_ties", 2]] as const) {
    const recipe = recipeOf(method, termCount);
    const chunkInputs = { target: inputs.target, terms: inputs.terms.slice(0, termCount) };
    timings.push(await timing(`recipe kernel, ${method}`, termCount, () => kernel.recipe.mergeRecipeChunk(recipe, method === "ties" ? stats : undefined, chunkInputs, 0, outDtype)));
  }
  return timings;
}
