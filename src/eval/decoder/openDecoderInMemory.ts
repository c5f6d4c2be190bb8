import { buildQwen2Onnx, type BuildQwen2OnnxOptions } from "../onnx/buildQwen2Onnx.ts";
import type { Qwen2Config } from "../onnx/readQwen2Config.ts";
import { releaseExternalData } from "../onnx/releaseExternalData.ts";
import { OnnxCausalDecoder, type OnnxCausalDecoderOptions, type OnnxRuntime } from "./OnnxCausalDecoder.ts";

export interface OpenedDecoder {
  decoder: OnnxCausalDecoder;
  config: Qwen2Config;
  /** Bytes of the model's external data (its weights, alignment padding included). */
  weightBytes: number;
}

/**
 * Builds a model's graph (buildQwen2Onnx with `build`) and opens a decoder on it, calling
 * `onSession` when the weights are built and the session is being created. A signal aborted
 * while the session was being created releases it and throws: nothing is left loaded.
 */
export type DecoderOpener = (
  ort: OnnxRuntime,
  configJson: Record<string, unknown>,
  build: BuildQwen2OnnxOptions,
  decoderOptions: OnnxCausalDecoderOptions,
  onSession?: () => void,
) => Promise<OpenedDecoder>;

/**
 * The DecoderOpener for every runtime: the weights are built into memory and handed to
 * onnxruntime as external data files, then freed once the session exists (it holds its own copy,
 * so for a moment the weights are in memory twice). Under onnxruntime-node,
 * openDecoderFromTempFolder (src/eval/node) avoids that.
 */
export const openDecoderInMemory: DecoderOpener = async (ort, configJson, build, decoderOptions, onSession) => {
  const built = await buildQwen2Onnx(configJson, build);
  onSession?.();
  const weightBytes = built.externalData.reduce((sum, file) => sum + file.data.byteLength, 0);
  let decoder: OnnxCausalDecoder;
  try {
    decoder = await OnnxCausalDecoder.create(ort, built, decoderOptions);
  } finally {
    // The session holds its own copy (or there is none): free the built files now, not at the next collection.
    releaseExternalData(built);
  }
  await releaseIfAborted(decoder, build.signal);
  return { decoder, config: built.config, weightBytes };
};

/** Releases `decoder` and throws the abort reason when `signal` was aborted while it was being opened. */
export async function releaseIfAborted(decoder: OnnxCausalDecoder, signal: AbortSignal | undefined): Promise<void> {
  if (!signal?.aborted) return;
  await decoder.release();
  signal.throwIfAborted();
}
