import type { ModelInfo } from "../core/model/inspectModel.ts";
import { readTextFile } from "../core/sources/ModelSource.ts";
import type { OnnxCausalDecoderOptions, OnnxRuntime } from "./decoder/OnnxCausalDecoder.ts";
import { openDecoderInMemory, type DecoderOpener } from "./decoder/openDecoderInMemory.ts";
import type { Qwen2OnnxFormat, TensorLoader } from "./onnx/buildQwen2Onnx.ts";
import { qwen2OnnxWeightBytes } from "./onnx/qwen2OnnxWeightBytes.ts";
import { readQwen2Config } from "./onnx/readQwen2Config.ts";
import type { LoadedEvalModel, LoadPhase } from "./runGsm8kEvaluation.ts";
import { loadTokenizer, type EvalTokenizer } from "./tokenizer/loadTokenizer.ts";

/**
 * The tokenizer of a model repo: tokenizer.json and tokenizer_config.json (both required),
 * generation_config.json for the stop tokens, and the chat template from chat_template.jinja,
 * tokenizer_config.json or chat_template.json (transformers' order), each read when present.
 */
export async function readModelTokenizer(model: ModelInfo, signal?: AbortSignal): Promise<EvalTokenizer> {
  const read = async (path: string) => {
    const found = model.files.find((candidate) => candidate.path === path);
    return found === undefined ? undefined : readTextFile(model.source, found, signal);
  };
  const required = async (path: string) => {
    const text = await read(path);
    if (text === undefined) throw new Error(`${model.source.label}: ${path} is missing; the evaluator needs the model's tokenizer`);
    return text;
  };
  return loadTokenizer({
    tokenizerJson: await required("tokenizer.json"),
    tokenizerConfig: await required("tokenizer_config.json"),
    generationConfig: await read("generation_config.json"),
    chatTemplateJinja: await read("chat_template.jinja"),
    chatTemplateJson: await read("chat_template.json"),
  });
}

export interface EvalModelSource {
  /** config.json of the model evaluated (the target's for a merge). */
  config: Record<string, unknown>;
  loadTensor: TensorLoader;
  tokenizer: EvalTokenizer;
}

/** wasm32 memory: 4 GiB at most, whatever the machine has. */
export const WASM_MEMORY_BYTES = 4 * 2 ** 30;
/**
 * Weights that onnxruntime-web's wasm provider may hold: the rest of its 4 GiB is kept for what a
 * session needs besides (a weight's packed copy while it is prepacked, activations, the KV cache).
 */
export const WASM_WEIGHT_LIMIT_BYTES = 3 * 2 ** 30;

/** A model too large for WebAssembly memory in the chosen format, refused before anything is read. */
export class ModelTooLargeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ModelTooLargeError";
  }
}

const gibibytes = (bytes: number) => `${(bytes / 2 ** 30).toFixed(1)} GiB`;

/**
 * Refuses a model whose weights in `format` do not fit onnxruntime-web's wasm memory, naming the
 * size, the 4 GB limit and the formats that fit.
 */
export function assertFitsWasmMemory(configJson: Record<string, unknown>, format: Qwen2OnnxFormat): void {
  const config = readQwen2Config(configJson);
  const bytes = qwen2OnnxWeightBytes(config, format).total;
  if (bytes <= WASM_WEIGHT_LIMIT_BYTES) return;
  const fitting = (["q8", "q4"] as const)
    .filter((candidate) => candidate !== format)
    .map((candidate) => ({ candidate, bytes: qwen2OnnxWeightBytes(config, candidate).total }))
    .filter((option) => option.bytes <= WASM_WEIGHT_LIMIT_BYTES)
    .map((option) => `${option.candidate} (${gibibytes(option.bytes)})`);
  throw new ModelTooLargeError(
    `in format ${format} this model's weights take ${gibibytes(bytes)}, more than WebAssembly can hold: its memory stops at ${gibibytes(WASM_MEMORY_BYTES)} ` +
      `(wasm32), of which ${gibibytes(WASM_WEIGHT_LIMIT_BYTES)} may be weights; ` +
      (fitting.length > 0 ? `choose ${fitting.join(" or ")}` : "no format fits: evaluate a smaller model, or use onnxruntime-node (merge-studio eval)"),
  );
}

/**
 * Builds the ONNX graph of a model in `format` from its tensors and opens an onnxruntime session
 * on it with `open` (default openDecoderInMemory: the built weights are freed once the session
 * holds them; under onnxruntime-node, openDecoderFromTempFolder never holds them twice). On the
 * wasm execution provider, a model too large for WebAssembly memory in `format` is refused before
 * anything is read.
 */
export async function loadEvalModel(
  ort: OnnxRuntime,
  source: EvalModelSource,
  format: Qwen2OnnxFormat,
  options: OnnxCausalDecoderOptions & { signal?: AbortSignal; onPhase?: (phase: LoadPhase) => void; open?: DecoderOpener } = {},
): Promise<LoadedEvalModel> {
  const { signal, onPhase, open = openDecoderInMemory, ...decoderOptions } = options;
  const providers = (decoderOptions.sessionOptions?.executionProviders ?? []).map((provider) => (typeof provider === "string" ? provider : provider.name));
  if (providers.includes("wasm")) assertFitsWasmMemory(source.config, format);
  const { decoder, config, weightBytes } = await open(
    ort,
    source.config,
    {
      format,
      loadTensor: source.loadTensor,
      // Generation needs the last position's logits only: all of them would be prompt x vocabulary
      // floats per prefill (about 550 MB for an 8-shot prompt with Qwen's vocabulary).
      logits: "last",
      signal,
      onProgress: (doneBytes, totalBytes) => onPhase?.({ phase: "weights", doneBytes, totalBytes }),
    },
    decoderOptions,
    () => onPhase?.({ phase: "session" }),
  );
  return { generator: decoder, tokenizer: source.tokenizer, config, weightBytes };
}
