import type { FloatDtype } from "../dtypes.ts";
import { getMergeMethod } from "../methods/mergeMethods.ts";
import type { MergeParameters } from "../methods/MergeMethod.ts";
import { taskArithmetic } from "../methods/taskArithmetic.ts";
import { createWasmMergeKernel, mergeKernelWasmBytes, type WasmMergeKernel } from "../numeric/wasm/createWasmMergeKernel.ts";
import { convertChunk, mergeChunk, type FloatChunk } from "./mergeChunk.ts";

/** One unit of arithmetic: merge three input chunks, or convert one, into `outDtype` bytes. */
export type ChunkTask = (
  | { kind: "merge"; methodId: string; parameters: MergeParameters; target: FloatChunk; plus: FloatChunk; minus: FloatChunk; outDtype: FloatDtype }
  | { kind: "convert"; input: FloatChunk; outDtype: FloatDtype }
) & {
  /** Where the result goes if it fits (a reused buffer); otherwise a new array is returned. */
  into?: Uint8Array;
};

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
 * This thread's WebAssembly SIMD kernel, created on first use; null where the engine cannot run it
 * (no SIMD), and the JavaScript path, the reference, computes instead. Validating the kernel itself
 * checks every feature it uses, SIMD included.
 */
let wasmKernel: WasmMergeKernel | null | undefined;
function getWasmKernel(): WasmMergeKernel | null {
  wasmKernel ??= WebAssembly.validate(mergeKernelWasmBytes()) ? createWasmMergeKernel() : null;
  return wasmKernel;
}

export function computeChunkHere(task: ChunkTask): Uint8Array {
  const kernel = getWasmKernel();
  if (task.kind === "convert") {
    return kernel ? kernel.convertChunkWasm(task.input, task.outDtype, task.into) : convertChunk(task.input, task.outDtype, task.into);
  }
  if (kernel && task.methodId === taskArithmetic.id) {
    // The same default as taskArithmetic.mergeBlock.
    return kernel.mergeChunkWasm(task.parameters.alpha ?? 1, task.target, task.plus, task.minus, task.outDtype, task.into);
  }
  return mergeChunk(getMergeMethod(task.methodId), task.parameters, task.target, task.plus, task.minus, task.outDtype, task.into);
}

/** Computes on the calling thread. */
export const inThreadComputer: ChunkComputer = {
  compute: async (task) => computeChunkHere(task),
};
