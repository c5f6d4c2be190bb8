import type { FloatDtype } from "../dtypes.ts";
import { getMergeMethod } from "../methods/mergeMethods.ts";
import type { MergeParameters } from "../methods/MergeMethod.ts";
import { convertChunk, mergeChunk, type FloatChunk } from "./mergeChunk.ts";

/** One unit of arithmetic: merge three input chunks, or convert one, into `outDtype` bytes. */
export type ChunkTask =
  | { kind: "merge"; methodId: string; parameters: MergeParameters; target: FloatChunk; plus: FloatChunk; minus: FloatChunk; outDtype: FloatDtype }
  | { kind: "convert"; input: FloatChunk; outDtype: FloatDtype };

/**
 * Runs chunk arithmetic somewhere: on this thread, in a pool of workers, or on a GPU. Every
 * implementation must return the bytes `computeChunkHere` returns.
 */
export interface ChunkComputer {
  compute(task: ChunkTask): Promise<Uint8Array>;
  close?(): Promise<void>;
}

export function computeChunkHere(task: ChunkTask): Uint8Array {
  return task.kind === "merge"
    ? mergeChunk(getMergeMethod(task.methodId), task.parameters, task.target, task.plus, task.minus, task.outDtype)
    : convertChunk(task.input, task.outDtype);
}

/** Computes on the calling thread. */
export const inThreadComputer: ChunkComputer = {
  compute: async (task) => computeChunkHere(task),
};
