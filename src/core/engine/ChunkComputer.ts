import { DTYPE_BYTES, type FloatDtype } from "../dtypes.ts";
import type { MagnitudeStatistics, TermChunk } from "../recipe/magnitudeStatistics.ts";
import { mergeRecipeChunk, type RecipeChunkInputs } from "../recipe/mergeRecipeChunk.ts";
import type { TensorRecipe } from "../recipe/TensorRecipe.ts";
import { createWasmMergeKernel, mergeKernelWasmBytes, outputBytes, type WasmMergeKernel } from "../numeric/wasm/createWasmMergeKernel.ts";
import { convertChunk, mergeChunk, type FloatChunk } from "./mergeChunk.ts";

/**
 * The part of a merge task that belongs to one tensor: `elements` consecutive elements of the task's
 * chunks (segments follow each other from the chunks' start), merged by that tensor's recipe.
 * A recipe kernel computes a segment as mergeRecipeChunk(recipe, statistics, inputs, firstElement,
 * outDtype, into) on the segment's slices of the task's chunks (sliceSegment).
 */
export interface ChunkSegment {
  recipe: TensorRecipe;
  /** computeMagnitudeStatistics' result for the whole tensor, present when needsMagnitudeStatistics(recipe). */
  statistics?: MagnitudeStatistics;
  /** The segment's first element as an index into its tensor (the contract's e, for the hash and the tie-break). */
  firstElement: number;
  elements: number;
}

/**
 * One unit of arithmetic: merge a run of elements (of one tensor or of several adjacent ones) from the
 * target and each term's plus and minus, or convert one chunk, into `outDtype` bytes. In a merge
 * every segment's recipe has the task's terms, in the same order (TensorRecipe.terms[k] reads
 * terms[k]).
 */
export type ChunkTask = (
  | { kind: "merge"; outDtype: FloatDtype; target: FloatChunk; terms: TermChunk[]; segments: ChunkSegment[] }
  | { kind: "convert"; input: FloatChunk; outDtype: FloatDtype }
) & {
  /** Where the result goes if it fits (a reused buffer); otherwise a new array is returned. */
  into?: Uint8Array;
};

export type MergeChunkTask = Extract<ChunkTask, { kind: "merge" }>;

/**
 * Runs chunk arithmetic somewhere: on this thread, in a pool of workers, or on a GPU. Every
 * implementation must return the bytes `computeChunkHere` returns.
 */
export interface ChunkComputer {
  compute(task: ChunkTask): Promise<Uint8Array>;
  /**
   * Called once a merge has computed its last chunk (never after a failure): a computer still choosing
   * its backend on the first chunks decides on what it has timed (a model of few chunks).
   */
  finish?(): void;
  close?(): Promise<void>;
}

/**
 * The weight of a recipe that is one task-arithmetic term without control or normalize: the
 * contract v1 formula target + w * (plus - minus), which the fast kernels (mergeChunk, the wasm and
 * WGSL merge kernels) compute. Undefined for every other recipe.
 */
export function taskArithmeticWeight(recipe: TensorRecipe): number | undefined {
  const [term] = recipe.terms;
  if (recipe.method !== "task_arithmetic" || recipe.terms.length !== 1 || !term || recipe.control || recipe.normalize) return undefined;
  return term.weight;
}

/** A run of a merge task's elements, `start` .. `start + count` - 1 of its chunks. */
export interface ElementRun {
  start: number;
  count: number;
}

/**
 * The task's elements as runs of one weight when every segment is a one-term task-arithmetic recipe
 * (adjacent segments of the same weight joined: one kernel call covers them); undefined otherwise.
 */
export function taskArithmeticRuns(task: MergeChunkTask): (ElementRun & { weight: number })[] | undefined {
  const runs: (ElementRun & { weight: number })[] = [];
  let start = 0;
  for (const segment of task.segments) {
    const weight = taskArithmeticWeight(segment.recipe);
    if (weight === undefined) return undefined;
    const last = runs.at(-1);
    if (last && last.weight === weight) last.count += segment.elements;
    else runs.push({ start, count: segment.elements, weight });
    start += segment.elements;
  }
  return runs;
}

/** Elements of `chunk` from `start`, `count` of them. */
export function sliceChunk(chunk: FloatChunk, start: number, count: number): FloatChunk {
  const width = DTYPE_BYTES[chunk.dtype];
  return { dtype: chunk.dtype, bytes: chunk.bytes.subarray(start * width, (start + count) * width) };
}

/** A run's slices of a task's target and terms. */
export function sliceInputs(task: MergeChunkTask, start: number, count: number): RecipeChunkInputs {
  return {
    target: sliceChunk(task.target, start, count),
    terms: task.terms.map(({ plus, minus }) => ({ plus: sliceChunk(plus, start, count), minus: sliceChunk(minus, start, count) })),
  };
}

/** Elements in a merge task, checked against its chunks and segments. */
export function mergeTaskElements(task: MergeChunkTask): number {
  const count = task.target.bytes.byteLength / DTYPE_BYTES[task.target.dtype];
  const segmented = task.segments.reduce((sum, segment) => sum + segment.elements, 0);
  const sizes = task.terms.flatMap(({ plus, minus }) => [plus, minus].map((chunk) => chunk.bytes.byteLength / DTYPE_BYTES[chunk.dtype]));
  if (segmented !== count || sizes.some((size) => size !== count)) {
    throw new Error(`internal: chunk sizes differ (target ${count}, terms ${sizes.join(", ")}, segments ${segmented} elements)`);
  }
  for (const segment of task.segments) {
    if (segment.recipe.terms.length !== task.terms.length) {
      throw new Error(`internal: tensor ${segment.recipe.tensorName}: ${segment.recipe.terms.length} terms in a task of ${task.terms.length}`);
    }
  }
  return count;
}

/**
 * This thread's WebAssembly SIMD kernel, created on first use; null where the engine cannot run it
 * (no SIMD), and the JavaScript path, the reference, computes instead. Validating the kernel itself
 * checks every feature it uses, SIMD included.
 */
let wasmKernel: WasmMergeKernel | null | undefined;
function getWasmKernel(): WasmMergeKernel | null {
  wasmKernel ??= WebAssembly.validate(mergeKernelWasmBytes()) ? createWasmMergeKernel() : null;
  return wasmKernel;
}

/**
 * Computes a task on this thread: conversions and one-term task arithmetic with the wasm kernel
 * where it runs (mergeChunk otherwise, the same bytes), every other recipe by mergeRecipeChunk, one
 * segment at a time.
 */
export function computeChunkHere(task: ChunkTask): Uint8Array {
  const kernel = getWasmKernel();
  if (task.kind === "convert") {
    return kernel ? kernel.convertChunkWasm(task.input, task.outDtype, task.into) : convertChunk(task.input, task.outDtype, task.into);
  }
  const count = mergeTaskElements(task);
  const width = DTYPE_BYTES[task.outDtype];
  const out = outputBytes(count * width, task.into);
  const into = (start: number, elements: number) => out.subarray(start * width, (start + elements) * width);
  const runs = taskArithmeticRuns(task);
  if (runs) {
    for (const { start, count: elements, weight } of runs) {
      const { target, terms } = sliceInputs(task, start, elements);
      const { plus, minus } = terms[0]!;
      if (kernel) kernel.mergeChunkWasm(weight, target, plus, minus, task.outDtype, into(start, elements));
      else mergeChunk(weight, target, plus, minus, task.outDtype, into(start, elements));
    }
    return out;
  }
  let start = 0;
  for (const segment of task.segments) {
    mergeRecipeChunk(segment.recipe, segment.statistics, sliceInputs(task, start, segment.elements), segment.firstElement, task.outDtype, into(start, segment.elements));
    start += segment.elements;
  }
  return out;
}

/** Computes on the calling thread. */
export const inThreadComputer: ChunkComputer = {
  compute: async (task) => computeChunkHere(task),
};
