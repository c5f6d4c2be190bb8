import * as ort from "onnxruntime-web";
import { argmax, OnnxCausalDecoder } from "../src/eval/decoder/OnnxCausalDecoder.ts";
import { buildQwen2Onnx, type Qwen2OnnxFormat } from "../src/eval/onnx/buildQwen2Onnx.ts";
import type { ReferenceShape } from "../test/helpers/qwen2Reference.ts";
import { qwen2ConfigJson, randomQwen2Weights } from "../test/helpers/randomQwen2Weights.ts";

/**
 * The page side of e2e/eval-onnx.spec.ts, bundled by the spec and served next to onnxruntime-web's
 * .wasm: builds a random Qwen2 graph in the page and runs it on onnxruntime-web (the app's default
 * build, as workers/evalWorker.ts uses it).
 */

export interface EvalOnnxCase {
  shape: ReferenceShape;
  seed: number;
  format: Qwen2OnnxFormat;
  /** MatMulNBits accuracy_level for q4 (0: float32 arithmetic on the dequantised weights). */
  q4AccuracyLevel: 0 | 4;
  executionProvider: "wasm" | "webgpu";
  kvCacheOnGpu: boolean;
  prompt: number[];
  newTokens: number;
  /** Prompts of different lengths run as one left-padded batch. */
  batchPrompts: number[][];
}

export interface EvalOnnxResult {
  /** Logits of every prompt position, row-major. */
  promptLogits: number[];
  /** Greedy tokens of generate(). */
  tokens: number[];
  /** Last-position logits after the prompt and after each fed token, with the KV cache. */
  cachedSteps: number[][];
  /** The same, each from a fresh cache over the whole sequence so far. */
  recomputedSteps: number[][];
  /** Decode tokens per second of generate(). */
  decodeTokensPerSecond: number;
  /** forwardBatch(batchPrompts): each row's logits at its own tokens, row-major [its length, vocab]. */
  batchPromptLogits: number[][];
  /** Each row's greedy token after its prompt, and the logits of the cached step that feeds it. */
  batchNextTokens: number[];
  batchStepLogits: number[][];
  /** generateBatch(batchPrompts) greedy tokens at batch size 1 and 3 (rows refilled). */
  batchTokens: { 1: number[][]; 3: number[][] };
}

// The page is served from the same folder as the .wasm.
ort.env.wasm.wasmPaths = { wasm: new URL("ort-wasm-simd-threaded.jsep.wasm", document.baseURI).href };
ort.env.wasm.numThreads = 1;

async function runEvalOnnxCase(request: EvalOnnxCase): Promise<EvalOnnxResult> {
  const weights = randomQwen2Weights(request.shape, request.seed);
  const built = await buildQwen2Onnx(qwen2ConfigJson(request.shape), { format: request.format, q4AccuracyLevel: request.q4AccuracyLevel, loadTensor: async (name) => weights.get(name)! });
  const decoder = await OnnxCausalDecoder.create(ort, built, {
    sessionOptions: { executionProviders: [request.executionProvider] },
    kvCacheOnGpu: request.kvCacheOnGpu,
  });
  try {
    const promptLogits = Array.from(await decoder.forward(request.prompt));
    const generation = await decoder.generate(request.prompt, { maxNewTokens: request.newTokens });
    decoder.reset();
    const sequence = [...request.prompt];
    const cachedSteps = [Array.from(await decoder.forward(sequence, { lastOnly: true }))];
    const recomputedSteps = [cachedSteps[0]!];
    for (const token of generation.tokens.slice(0, -1)) {
      cachedSteps.push(Array.from(await decoder.forward([token], { lastOnly: true })));
      sequence.push(token);
    }
    const recomputing = await OnnxCausalDecoder.create(ort, built, { sessionOptions: { executionProviders: [request.executionProvider] } });
    try {
      for (let length = request.prompt.length + 1; length <= sequence.length; length++) {
        recomputing.reset();
        recomputedSteps.push(Array.from(await recomputing.forward(sequence.slice(0, length), { lastOnly: true })));
      }
    } finally {
      await recomputing.release();
    }
    decoder.reset();
    const batchPrompt = await decoder.forwardBatch(request.batchPrompts);
    const batchNextTokens = batchPrompt.map((logits) => argmax(logits.subarray(logits.length - decoder.vocabSize)));
    const batchStep = await decoder.forwardBatch(batchNextTokens.map((token) => [token]), { lastOnly: true });
    const batchTokens = { 1: [] as number[][], 3: [] as number[][] };
    for (const batchSize of [1, 3] as const) {
      batchTokens[batchSize] = (await decoder.generateBatch(request.batchPrompts, { batchSize, maxNewTokens: request.newTokens })).map((result) => result.tokens);
    }
    return {
      promptLogits,
      tokens: generation.tokens,
      cachedSteps,
      recomputedSteps,
      decodeTokensPerSecond: generation.decodeTokensPerSecond,
      batchPromptLogits: batchPrompt.map((logits) => Array.from(logits)),
      batchNextTokens,
      batchStepLogits: batchStep.map((logits) => Array.from(logits)),
      batchTokens,
    };
  } finally {
    await decoder.release();
  }
}

Object.assign(window, { __evalOnnx: { runEvalOnnxCase } });
