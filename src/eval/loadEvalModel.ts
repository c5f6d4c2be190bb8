import type { ModelInfo } from "../core/model/inspectModel.ts";
import { readTextFile } from "../core/sources/ModelSource.ts";
import { OnnxCausalDecoder, type OnnxCausalDecoderOptions, type OnnxRuntime } from "./decoder/OnnxCausalDecoder.ts";
import { buildQwen2Onnx, type Qwen2OnnxFormat, type TensorLoader } from "./onnx/buildQwen2Onnx.ts";
import type { LoadedEvalModel, LoadPhase } from "./runGsm8kEvaluation.ts";
import { loadTokenizer, type EvalTokenizer } from "./tokenizer/loadTokenizer.ts";

/**
 * The tokenizer of a model repo: tokenizer.json and tokenizer_config.json (both required), and
 * generation_config.json for the stop tokens when present.
 */
export async function readModelTokenizer(model: ModelInfo, signal?: AbortSignal): Promise<EvalTokenizer> {
  const file = (path: string) => model.files.find((candidate) => candidate.path === path);
  const read = async (path: string, required: boolean) => {
    const found = file(path);
    if (!found) {
      if (required) throw new Error(`${model.source.label}: ${path} is missing; the evaluator needs the model's tokenizer`);
      return undefined;
    }
    return readTextFile(model.source, found, signal);
  };
  const [tokenizerJson, tokenizerConfig, generationConfig] = [await read("tokenizer.json", true), await read("tokenizer_config.json", true), await read("generation_config.json", false)];
  return loadTokenizer({ tokenizerJson: tokenizerJson!, tokenizerConfig: tokenizerConfig!, generationConfig });
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
