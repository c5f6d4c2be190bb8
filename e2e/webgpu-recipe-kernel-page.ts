/// <reference types="@webgpu/types" />
import type { FloatDtype } from "../src/core/dtypes.ts";
import { createWebGpuComputer } from "../src/core/engine/webGpuComputer.ts";
import { oneTermTask } from "../test/helpers/oneVectorRecipe.ts";
import { createWebGpuRecipeKernel, type WebGpuRecipeKernel } from "../src/core/numeric/webgpu/createWebGpuRecipeKernel.ts";
import type { MagnitudeStatistics } from "../src/core/recipe/magnitudeStatistics.ts";
import { mergeRecipeChunk, type RecipeChunkInputs } from "../src/core/recipe/mergeRecipeChunk.ts";
import type { TensorRecipe } from "../src/core/recipe/TensorRecipe.ts";
import { requestWebGpuMergeKernel } from "../src/core/numeric/webgpu/requestWebGpuMergeKernel.ts";

/**
 * The page side of e2e/webgpu-recipe-kernel.spec.ts and bench/webGpuRecipeKernel.ts, bundled by them
 * and served by route, apart from the app: runs chunks through createWebGpuRecipeKernel on the
 * page's GPU and through mergeRecipeChunk (the JavaScript reference), and compares the bytes.
 */

export interface EncodedChunk {
  dtype: FloatDtype;
  base64: string;
}

export interface RecipeKernelCase {
  label: string;
  recipe: TensorRecipe;
  stats?: MagnitudeStatistics;
  target: EncodedChunk;
  terms: { plus: EncodedChunk; minus: EncodedChunk }[];
  firstElement: number;
  outDtype: FloatDtype;
}

export interface RecipeKernelReport {
  adapter: string;
  compared: number;
  /** One line per case whose bytes differ: its label and its first differing element. */
  mismatches: string[];
}

export interface RecipeKernelTiming {
  adapter: string;
  /** Input bytes (target, plus and minus of each term) over the best of the runs' seconds, in MB/s (1e6 bytes). */
  megabytesPerSecond: number;
  seconds: number[];
}

declare global {
  interface Window {
    __webGpuRecipeKernel: {
      compare(cases: RecipeKernelCase[], maxElementsPerDispatch?: number): Promise<RecipeKernelReport>;
      time(test: RecipeKernelCase, runs: number): Promise<RecipeKernelTiming>;
      timeTaskArithmetic(test: RecipeKernelCase, runs: number): Promise<RecipeKernelTiming>;
    };
  }
}

const decode = (chunk: EncodedChunk) => ({ dtype: chunk.dtype, bytes: Uint8Array.from(atob(chunk.base64), (char) => char.charCodeAt(0)) });

const width = (dtype: FloatDtype) => (dtype === "F32" ? 4 : 2);

const hex = (bytes: Uint8Array, dtype: FloatDtype, index: number) => {
  let value = 0;
  for (let byte = width(dtype) - 1; byte >= 0; byte--) value = value * 256 + bytes[index * width(dtype) + byte]!;
  return `0x${value.toString(16).padStart(width(dtype) * 2, "0")}`;
};

let device: Promise<{ device: GPUDevice; adapter: string }> | undefined;
const kernels = new Map<number, Promise<WebGpuRecipeKernel>>();

function openDevice() {
  device ??= (async () => {
    const adapter = await navigator.gpu?.requestAdapter();
    if (!adapter) throw new Error("no WebGPU adapter in this browser");
    const { info } = adapter;
    const name = `${info.description || info.vendor || "unnamed adapter"}${info.isFallbackAdapter ? " (software)" : ""}`;
    return { device: await adapter.requestDevice(), adapter: name };
  })();
  return device;
}

function kernelFor(maxElementsPerDispatch: number | undefined) {
  const key = maxElementsPerDispatch ?? 0;
  let kernel = kernels.get(key);
  if (!kernel) {
    kernel = openDevice().then(({ device }) => createWebGpuRecipeKernel(device, maxElementsPerDispatch ? { maxElementsPerDispatch } : {}));
    kernels.set(key, kernel);
  }
  return kernel;
}

const inputsOf = (test: RecipeKernelCase): RecipeChunkInputs => ({
  target: decode(test.target),
  terms: test.terms.map(({ plus, minus }) => ({ plus: decode(plus), minus: decode(minus) })),
});

/** All cases at once on the GPU (their dispatches share the kernel's slots), each against mergeRecipeChunk. */
async function compare(cases: RecipeKernelCase[], maxElementsPerDispatch?: number): Promise<RecipeKernelReport> {
  const kernel = await kernelFor(maxElementsPerDispatch);
  const mismatches = await Promise.all(
    cases.map(async (test) => {
      const inputs = inputsOf(test);
      const gpu = await kernel.mergeRecipeChunk(test.recipe, test.stats, inputs, test.firstElement, test.outDtype);
      const reference = mergeRecipeChunk(test.recipe, test.stats, inputs, test.firstElement, test.outDtype);
      const index = gpu.findIndex((byte, i) => byte !== reference[i]);
      if (gpu.length === reference.length && index < 0) return undefined;
      if (gpu.length !== reference.length) return `${test.label}: ${gpu.length} bytes, expected ${reference.length}`;
      const element = Math.floor(index / width(test.outDtype));
      const values = [inputs.target, ...inputs.terms.flatMap((term) => [term.plus, term.minus])].map((chunk) => hex(chunk.bytes, chunk.dtype, element));
      return (
        `${test.label}: element ${test.firstElement + element} (target, plus/minus per term: ${values.join(", ")}) ` +
        `gave ${hex(gpu, test.outDtype, element)}, expected ${hex(reference, test.outDtype, element)}`
      );
    }),
  );
  return { adapter: (await openDevice()).adapter, compared: cases.length, mismatches: mismatches.filter((line) => line !== undefined) };
}

async function timeRuns(test: RecipeKernelCase, runs: number, run: (inputs: RecipeChunkInputs) => Promise<unknown>): Promise<RecipeKernelTiming> {
  const inputs = inputsOf(test);
  const bytes = [inputs.target, ...inputs.terms.flatMap((term) => [term.plus, term.minus])].reduce((sum, chunk) => sum + chunk.bytes.byteLength, 0);
  await run(inputs);
  const seconds: number[] = [];
  for (let i = 0; i < runs; i++) {
    const started = performance.now();
    await run(inputs);
    seconds.push((performance.now() - started) / 1000);
  }
  return { adapter: (await openDevice()).adapter, megabytesPerSecond: bytes / 1e6 / Math.min(...seconds), seconds };
}

/** The recipe kernel on one chunk, `runs` times after a warm-up run. */
async function time(test: RecipeKernelCase, runs: number): Promise<RecipeKernelTiming> {
  const kernel = await kernelFor(undefined);
  return timeRuns(test, runs, (inputs) => kernel.mergeRecipeChunk(test.recipe, test.stats, inputs, test.firstElement, test.outDtype));
}

/**
 * Today's one-term kernel (requestWebGpuMergeKernel, createWebGpuComputer) on the same chunk's
 * target and first term, alpha = the term's weight: the figure the recipe kernel is compared with.
 */
async function timeTaskArithmetic(test: RecipeKernelCase, runs: number): Promise<RecipeKernelTiming> {
  const request = await requestWebGpuMergeKernel();
  if ("unavailable" in request) throw new Error(`no WebGPU: ${request.unavailable}`);
  const computer = createWebGpuComputer(request.kernel, { fallback: { compute: () => Promise.reject(new Error("the GPU computer fell back to the CPU")) } });
  try {
    const oneTerm = { ...test, terms: test.terms.slice(0, 1) };
    return await timeRuns(oneTerm, runs, (inputs) =>
      computer.compute(oneTermTask(test.recipe.terms[0]!.weight, inputs.target, inputs.terms[0]!.plus, inputs.terms[0]!.minus, test.outDtype)),
    );
  } finally {
    await computer.close?.();
  }
}

window.__webGpuRecipeKernel = { compare, time, timeTaskArithmetic };
