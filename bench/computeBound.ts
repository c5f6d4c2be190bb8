import type { InferenceSession } from "onnxruntime-web";
import { OnnxCausalDecoder, type OnnxRuntime } from "../src/eval/decoder/OnnxCausalDecoder.ts";
import { buildQwen2Onnx, type Qwen2OnnxFormat } from "../src/eval/onnx/buildQwen2Onnx.ts";
import type { Qwen2Config } from "../src/eval/onnx/readQwen2Config.ts";
import { renderQwen2Config } from "../src/testmodels/generateQwen2Model.ts";
import { qwen2Tensors } from "../src/testmodels/qwen2Shape.ts";

/** Rows of the GEMM timed: a prefill-sized block of tokens. */
export const GEMM_ROWS = 128;
/** Layers of the model timed: enough that the products, not a run's fixed costs, take the time. */
const GEMM_LAYERS = 4;
const GEMM_VOCAB = 64;
const GEMM_RUNS = 3;

/** Multiply-adds of the linear layers (lm_head included) per token, x 2: the floating-point operations a token costs in matrix products. */
export function matrixFlopsPerToken(config: Pick<Qwen2Config, "hiddenSize" | "intermediateSize" | "numHeads" | "numKvHeads" | "headDim" | "numLayers" | "vocabSize">): number {
  const { hiddenSize: hidden, intermediateSize, numHeads, numKvHeads, headDim, numLayers, vocabSize } = config;
  const layer = (numHeads + 2 * numKvHeads) * headDim * hidden + hidden * numHeads * headDim + 3 * intermediateSize * hidden;
  return 2 * (numLayers * layer + vocabSize * hidden);
}

/**
 * Matrix-product rate (FLOP/s) of `format`'s kernels at `config`'s shapes on this runtime and
 * threads: GEMM_LAYERS decoder layers of the same widths (and a 64-word lm_head) built in that format
 * with deterministic weights, fed GEMM_ROWS tokens at once, best of GEMM_RUNS (attention over 128
 * positions, norms and RoPE add a few percent: the bound is slightly conservative). A model's compute bound
 * is this rate over matrixFlopsPerToken.
 */
export async function measureGemmRate(ort: OnnxRuntime, config: Qwen2Config, format: Qwen2OnnxFormat, sessionOptions: InferenceSession.SessionOptions): Promise<number> {
  const shape = { ...config, numLayers: GEMM_LAYERS, vocabSize: GEMM_VOCAB, tieWordEmbeddings: false, maxPositionEmbeddings: GEMM_ROWS };
  const sizes = new Map(qwen2Tensors(shape).map((tensor) => [tensor.name, tensor.shape.reduce((product, dim) => product * dim, 1)]));
  let seed = 1;
  const built = await buildQwen2Onnx(JSON.parse(renderQwen2Config(shape, "BF16")) as Record<string, unknown>, {
    format,
    logits: "last",
    loadTensor: async (name) => {
      const count = sizes.get(name)!;
      // Small values of either sign, different in every tensor: what the kernels do does not depend on them.
      const values = new Float32Array(count);
      for (let i = 0; i < count; i++) values[i] = (((Math.imul(i + seed, 2654435761) >>> 16) & 1023) - 512) / 8192 + (name.endsWith("layernorm.weight") || name === "model.norm.weight" ? 1 : 0);
      seed++;
      return values;
    },
  });
  const decoder = await OnnxCausalDecoder.create(ort, built, { sessionOptions });
  try {
    const ids = Array.from({ length: GEMM_ROWS }, (_, i) => i % GEMM_VOCAB);
    let best = Number.POSITIVE_INFINITY;
    for (let run = 0; run <= GEMM_RUNS; run++) {
      decoder.reset();
      const started = performance.now();
      await decoder.forward(ids);
      // The first run pays for lazy initialisation.
      if (run > 0) best = Math.min(best, (performance.now() - started) / 1000);
    }
    return (GEMM_ROWS * matrixFlopsPerToken(shape)) / best;
  } finally {
    await decoder.release();
  }
}
