import type { Qwen2Config } from "./onnx/readQwen2Config.ts";

/** The largest batch the evaluator accepts. */
export const MAX_BATCH_SIZE = 256;
/**
 * The largest batch chosen automatically. Decoding on a CPU stops gaining from more rows once the
 * matrix products are compute-bound rather than bound by reading the weights; on the test models
 * with onnxruntime-node 16 rows gave most of the gain (see the measurements in the report of the
 * batching change), and more rows only hold more memory.
 */
export const MAX_AUTO_BATCH_SIZE = 16;

/** A batch size: a whole number of rows, or "auto" (chooseBatchSize). */
export type BatchSizeSetting = number | "auto";

/** The text of a --batch option or the panel's field: "auto" (or nothing) or 1..MAX_BATCH_SIZE. */
export function parseBatchSize(text: string): BatchSizeSetting {
  const trimmed = text.trim();
  if (trimmed === "" || trimmed === "auto") return "auto";
  const value = Number(trimmed);
  if (!/^\d+$/.test(trimmed) || value < 1 || value > MAX_BATCH_SIZE) {
    throw new Error(`the batch size must be a whole number from 1 to ${MAX_BATCH_SIZE}, or auto; got "${text}"`);
  }
  return value;
}

export interface BatchSizeInputs {
  config: Pick<Qwen2Config, "numLayers" | "numKvHeads" | "headDim">;
  /** Bytes of the model's weights as the session holds them. */
  weightBytes: number;
  /** Memory the evaluation may use: RAM in Node, the 4 GiB of 32-bit WebAssembly in a browser. */
  memoryBytes: number;
  /** The longest sequence a row holds: the longest prompt plus max new tokens. */
  longestSequence: number;
  problems: number;
}

/**
 * The automatic batch size: as many rows as the KV cache can hold in a quarter of the memory left
 * after the weights (the rest is for activations, the JavaScript heap and the graph's copies), each
 * row counted at its longest sequence and twice (a step's Concat holds the past and the present
 * cache at once); at least 1, at most MAX_AUTO_BATCH_SIZE and the number of problems.
 */
export function chooseBatchSize(inputs: BatchSizeInputs): number {
  const { numLayers, numKvHeads, headDim } = inputs.config;
  const bytesPerRow = 2 * numLayers * 2 * numKvHeads * headDim * 4 * inputs.longestSequence;
  const budget = Math.max(0, inputs.memoryBytes - inputs.weightBytes) / 4;
  return Math.max(1, Math.min(MAX_AUTO_BATCH_SIZE, inputs.problems, Math.floor(budget / bytesPerRow)));
}
