import { mkdir, rm } from "node:fs/promises";
import { join } from "node:path";
import { inspectModel } from "../../src/core/model/inspectModel.ts";
import { openFolderSource } from "../../src/core/node/openFolderSource.ts";
import { OnnxCausalDecoder, type OnnxRuntime } from "../../src/eval/decoder/OnnxCausalDecoder.ts";
import { buildQwen2Onnx, type Qwen2OnnxFormat } from "../../src/eval/onnx/buildQwen2Onnx.ts";
import { modelTensorLoader } from "../../src/eval/onnx/modelTensorLoader.ts";
import { qwen2OnnxWeightBytes } from "../../src/eval/onnx/qwen2OnnxWeightBytes.ts";
import { readQwen2Config } from "../../src/eval/onnx/readQwen2Config.ts";
import { releaseExternalData } from "../../src/eval/onnx/releaseExternalData.ts";
import { generateQwen2Model } from "../../src/testmodels/generateQwen2Model.ts";
import { QWEN2_PRESETS } from "../../src/testmodels/qwen2Shape.ts";
import { measureBatchGeneration, type BatchPlan } from "../measureBatchGeneration.ts";

/** wasm32 holds the weights while onnxruntime-web's session takes them: the studio refuses a model over 3 GiB (README, "Evaluating"). */
const WASM_WEIGHT_LIMIT = 3 * 2 ** 30;
const PROMPT_TOKENS = 100;

export interface EvalCase {
  preset: keyof typeof QWEN2_PRESETS;
  format: Qwen2OnnxFormat;
}

export interface EvalBatchResult {
  batch: number;
  newTokens: number;
  runs: number;
  /** Seconds of the prefill pass of all the batch's prompts (best run). */
  prefillSeconds: number;
  prefillTokensPerSecond: number;
  /** Tokens after each row's first, summed over the rows, per second (best run). */
  decodeTokensPerSecond: number;
}

export interface EvalCaseResult extends EvalCase {
  /** Set when the case did not run, with the reason. */
  skipped?: string;
  generateSeconds?: number;
  /** buildQwen2Onnx (weights read and converted) and the onnxruntime-web session on WebGPU. */
  buildSeconds?: number;
  sessionSeconds?: number;
  weightBytes?: number;
  batches?: EvalBatchResult[];
}

/**
 * `count` prompts of PROMPT_TOKENS token ids spread over the vocabulary, a different one in every
 * row, as bench/eval.ts makes them: decoding speed does not depend on which ids they are.
 */
function fixedPrompts(count: number, vocabSize: number): number[][] {
  return Array.from({ length: count }, (_, row) => Array.from({ length: PROMPT_TOKENS }, (_, i) => (i * 7919 + row * 104729 + 13) % vocabSize));
}

/**
 * The evaluator on onnxruntime-web's WebGPU execution provider (the studio's "GPU (WebGPU)"
 * choice, KV cache on the GPU), one case at a time: a model of the preset's shape generated into
 * `workDir` (bf16, seed 0, once per preset), its graph built by buildQwen2Onnx in the format, a
 * session opened, then greedy generation of fixed 100-token prompts at each batch size
 * (measureBatchGeneration, as bench:eval runs it). A case that would start after `deadline`
 * (performance.now() milliseconds) is skipped and says so; a case that fails records its error.
 */
export async function measureEvalOnWebGpu(
  ort: OnnxRuntime,
  cases: readonly EvalCase[],
  plans: readonly BatchPlan[],
  workDir: string,
  deadline: number,
  log: (line: string) => void,
  onCase: (result: EvalCaseResult) => void,
): Promise<void> {
  const generated = new Map<string, number>();
  for (const evalCase of cases) {
    const label = `${evalCase.preset} ${evalCase.format}`;
    const result: EvalCaseResult = { ...evalCase };
    if (performance.now() > deadline) {
      result.skipped = "out of time (the harness's --deadline)";
      log(`eval ${label}: skipped, ${result.skipped}`);
      onCase(result);
      continue;
    }
    const dir = join(workDir, evalCase.preset);
    try {
      if (!generated.has(evalCase.preset)) {
        const started = performance.now();
        await rm(dir, { recursive: true, force: true });
        await mkdir(workDir, { recursive: true });
        await generateQwen2Model({ dir, shape: QWEN2_PRESETS[evalCase.preset], dtype: "BF16", initSeed: 0, tokenizer: false });
        generated.set(evalCase.preset, (performance.now() - started) / 1000);
        log(`eval ${evalCase.preset}: generated in ${generated.get(evalCase.preset)!.toFixed(1)} s`);
      }
      result.generateSeconds = generated.get(evalCase.preset)!;
      const source = await openFolderSource(dir);
      try {
        const model = await inspectModel(source);
        const config = readQwen2Config(model.config);
        const weightBytes = qwen2OnnxWeightBytes(config, evalCase.format).total;
        result.weightBytes = weightBytes;
        if (weightBytes > WASM_WEIGHT_LIMIT) {
          result.skipped = `${(weightBytes / 2 ** 30).toFixed(2)} GiB of weights, over the 3 GiB that wasm32 holds (the studio refuses it too)`;
          log(`eval ${label}: skipped, ${result.skipped}`);
          onCase(result);
          continue;
        }
        let started = performance.now();
        const built = await buildQwen2Onnx(model.config, { format: evalCase.format, loadTensor: modelTensorLoader(model), logits: "last" });
        result.buildSeconds = (performance.now() - started) / 1000;
        started = performance.now();
        const decoder = await OnnxCausalDecoder.create(ort, built, { sessionOptions: { executionProviders: ["webgpu"], logSeverityLevel: 3 }, kvCacheOnGpu: true });
        releaseExternalData(built);
        result.sessionSeconds = (performance.now() - started) / 1000;
        log(`eval ${label}: ${(weightBytes / 2 ** 30).toFixed(2)} GiB of weights, graph built in ${result.buildSeconds.toFixed(1)} s, WebGPU session in ${result.sessionSeconds.toFixed(1)} s`);
        const prompts = fixedPrompts(Math.max(...plans.map((plan) => plan.batch)), config.vocabSize);
        result.batches = [];
        try {
          for (const plan of plans) {
            const measured = await measureBatchGeneration(decoder, prompts, plan);
            const batchResult: EvalBatchResult = { ...measured, prefillSeconds: (plan.batch * PROMPT_TOKENS) / measured.prefillTokensPerSecond };
            result.batches.push(batchResult);
            log(
              `eval ${label} batch ${plan.batch}: prefill ${batchResult.prefillSeconds.toFixed(3)} s (${measured.prefillTokensPerSecond.toFixed(0)} tok/s), ` +
                `decode ${measured.decodeTokensPerSecond.toFixed(1)} tok/s (${plan.newTokens} new tokens per row, best of ${plan.runs})`,
            );
          }
        } finally {
          await decoder.release();
        }
      } finally {
        await source.close?.();
      }
    } catch (error) {
      result.skipped = `failed: ${error instanceof Error ? error.message : String(error)}`;
      log(`eval ${label}: ${result.skipped}`);
    }
    onCase(result);
  }
}
