import { DTYPE_BYTES, type FloatDtype } from "../dtypes.ts";
import type { MagnitudeStatistics, TermChunk } from "../recipe/magnitudeStatistics.ts";
import { mergeRecipeChunk, type RecipeChunkInputs } from "../recipe/mergeRecipeChunk.ts";
import type { TensorRecipe } from "../recipe/TensorRecipe.ts";
import { wasmRecipeKernelHere, type WasmRecipeKernel } from "../numeric/wasm/createWasmRecipeKernel.ts";
import { outputBytes } from "../numeric/wasm/wasmKernelModule.ts";
import { convertChunk, type FloatChunk } from "./mergeChunk.ts";

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

/** Elements of `chunk` from `start`, `count` of them. */
export function sliceChunk(chunk: FloatChunk, start: number, count: number): FloatChunk {
  const width = DTYPE_BYTES[chunk.dtype];
  return { dtype: chunk.dtype, bytes: chunk.bytes.subarray(start * width, (start + count) * width) };
}

/** The slices of a task's target and terms from element `start`, `count` of them (one segment's inputs). */
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

/** What computes one segment of a merge: mergeRecipeChunk or a recipe kernel's, which give the same bytes. */
export type RecipeChunkMerger = Pick<WasmRecipeKernel, "mergeRecipeChunk">;

/**
 * A merge task computed segment by segment by `merger`, each segment on its slices of the task's
 * chunks and its part of the output (`task.into` when it has room, else a new array).
 */
export function mergeSegments(task: MergeChunkTask, merger: RecipeChunkMerger): Uint8Array {
  const count = mergeTaskElements(task);
  const width = DTYPE_BYTES[task.outDtype];
  const out = outputBytes(count * width, task.into);
  let start = 0;
  for (const segment of task.segments) {
    const into = out.subarray(start * width, (start + segment.elements) * width);
    merger.mergeRecipeChunk(segment.recipe, segment.statistics, sliceInputs(task, start, segment.elements), segment.firstElement, task.outDtype, into);
    start += segment.elements;
  }
  return out;
}

/**
 * Computes a task on this thread with the WebAssembly SIMD recipe kernel (wasmRecipeKernelHere),
 * or, where it cannot run (no SIMD), with the JavaScript reference (mergeRecipeChunk, convertChunk):
 * the same bytes.
 */
export function computeChunkHere(task: ChunkTask): Uint8Array {
  const kernel = wasmRecipeKernelHere();
  if (task.kind === "convert") {
    return kernel ? kernel.convertChunk(task.input, task.outDtype, task.into) : convertChunk(task.input, task.outDtype, task.into);
  }
  return mergeSegments(task, kernel ?? { mergeRecipeChunk });
}

/** Computes on the calling thread. */
export const inThreadComputer: ChunkComputer = {
  compute: async (task) => computeChunkHere(task),
};
