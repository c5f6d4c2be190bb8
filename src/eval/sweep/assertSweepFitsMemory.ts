import type { Qwen2OnnxFormat } from "../onnx/buildQwen2Onnx.ts";
import { qwen2OnnxWeightBytes } from "../onnx/qwen2OnnxWeightBytes.ts";
import type { Qwen2Config } from "../onnx/readQwen2Config.ts";

const gibibytes = (bytes: number) => `${(bytes / 2 ** 30).toFixed(2)} GiB`;

/**
 * Refuses, before anything loads, a run whose models do not fit in memory: the models are loaded
 * one at a time and all share the target's shapes, so one model's weights in `format`
 * (qwen2OnnxWeightBytes) must fit in memoryBytes. The message names the sizes and the formats
 * that would fit.
 */
export function assertSweepFitsMemory(config: Qwen2Config, format: Qwen2OnnxFormat, modelCount: number, memoryBytes: number): void {
  const bytes = qwen2OnnxWeightBytes(config, format).total;
  if (bytes <= memoryBytes) return;
  const fitting = (["f16", "q8", "q4"] as const).filter((candidate) => candidate !== format && qwen2OnnxWeightBytes(config, candidate).total <= memoryBytes);
  throw new Error(
    `the ${modelCount} models of this run load one at a time, and each takes ${gibibytes(bytes)} of weights in format ${format}, ` +
      `more than the ${gibibytes(memoryBytes)} of memory here: ${fitting.length > 0 ? `choose --format ${fitting.join(" or ")}` : "no format fits; evaluate on a machine with more memory"}`,
  );
}
