import type { ModelInfo } from "../core/model/inspectModel.ts";
import { readTextFile } from "../core/sources/ModelSource.ts";
import { OnnxCausalDecoder, type OnnxCausalDecoderOptions, type OnnxRuntime } from "./decoder/OnnxCausalDecoder.ts";
import { buildQwen2Onnx, type Qwen2OnnxFormat, type TensorLoader } from "./onnx/buildQwen2Onnx.ts";
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

/**
 * Builds the ONNX graph of a model in `format` from its tensors and opens an onnxruntime session
 * on it; the graph's buffers are dropped once the session holds the weights.
 */
export async function loadEvalModel(
  ort: OnnxRuntime,
  source: EvalModelSource,
  format: Qwen2OnnxFormat,
  options: OnnxCausalDecoderOptions & { signal?: AbortSignal; onPhase?: (phase: LoadPhase) => void } = {},
): Promise<LoadedEvalModel> {
  const { signal, onPhase, ...decoderOptions } = options;
  // Generation needs the last position's logits only: all of them would be prompt x vocabulary
  // floats per prefill (about 550 MB for an 8-shot prompt with Qwen's vocabulary).
  const built = await buildQwen2Onnx(source.config, {
    format,
    loadTensor: source.loadTensor,
    logits: "last",
    signal,
    onProgress: (doneBytes, totalBytes) => onPhase?.({ phase: "weights", doneBytes, totalBytes }),
  });
  onPhase?.({ phase: "session" });
  const weightBytes = built.externalData.reduce((sum, file) => sum + file.data.byteLength, 0);
  const decoder = await OnnxCausalDecoder.create(ort, built, decoderOptions);
  return { generator: decoder, tokenizer: source.tokenizer, config: built.config, weightBytes };
}
