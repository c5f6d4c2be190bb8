import type { InferenceSession } from "onnxruntime-web";
import { OnnxCausalDecoder, type OnnxRuntime } from "../src/eval/decoder/OnnxCausalDecoder.ts";
import { buildQwen2Onnx, type Qwen2OnnxFormat } from "../src/eval/onnx/buildQwen2Onnx.ts";
import type { Qwen2Config } from "../src/eval/onnx/readQwen2Config.ts";
import { renderQwen2Config } from "../src/testmodels/generateQwen2Model.ts";
import { qwen2Tensors } from "../src/testmodels/qwen2Shape.ts";

/** Rows of the GEMM timed for the prefill bound: a prefill-sized block of tokens. */
export const PREFILL_GEMM_ROWS = 128;
/** Layers of the model timed: enough that the products, not a run's fixed costs, take the time. */
const GEMM_LAYERS = 4;
const GEMM_VOCAB = 64;
/** Each row count is timed at least GEMM_MIN_RUNS times and until GEMM_MIN_SECONDS have passed (few rows run in milliseconds), at most GEMM_MAX_RUNS. */
const GEMM_MIN_RUNS = 3;
const GEMM_MIN_SECONDS = 1;
const GEMM_MAX_RUNS = 50;

/** Multiply-adds of the linear layers (lm_head included) per token, x 2: the floating-point operations a token costs in matrix products. */
export function matrixFlopsPerToken(config: Pick<Qwen2Config, "hiddenSize" | "intermediateSize" | "numHeads" | "numKvHeads" | "headDim" | "numLayers" | "vocabSize">): number {
  const { hiddenSize: hidden, intermediateSize, numHeads, numKvHeads, headDim, numLayers, vocabSize } = config;
  const layer = (numHeads + 2 * numKvHeads) * headDim * hidden + hidden * numHeads * headDim + 3 * intermediateSize * hidden;
  return 2 * (numLayers * layer + vocabSize * hidden);
}

/**
 * Matrix-product rate (FLOP/s) of `format`'s kernels at `config`'s shapes on this runtime and
 * threads, for each count of `rows` (int8 and 4-bit kernels run at very different rates on 1 row
 * and on 128): GEMM_LAYERS decoder layers of the same widths (and a 64-word lm_head) built once in
 * that format with deterministic weights, fed that many tokens at once, best of the runs after a
 * first one that pays for lazy initialisation (attention over those positions, norms and RoPE add
 * a few percent: the bound is slightly conservative). A model's compute bound at a batch of B
 * rows is the rate at B rows over matrixFlopsPerToken. Returns the rates by row count.
 */
export async function measureGemmRates(
  ort: OnnxRuntime,
  config: Qwen2Config,
  format: Qwen2OnnxFormat,
  sessionOptions: InferenceSession.SessionOptions,
  rows: readonly number[],
): Promise<Record<number, number>> {
  const shape = { ...config, numLayers: GEMM_LAYERS, vocabSize: GEMM_VOCAB, tieWordEmbeddings: false, maxPositionEmbeddings: Math.max(...rows) };
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
    const rates: Record<number, number> = {};
    for (const count of rows) {
      const ids = Array.from({ length: count }, (_, i) => i % GEMM_VOCAB);
      const time = async () => {
        decoder.reset();
        const started = performance.now();
        await decoder.forward(ids);
        return (performance.now() - started) / 1000;
      };
      await time();
      let best = Number.POSITIVE_INFINITY;
      let spent = 0;
      for (let run = 0; run < GEMM_MAX_RUNS && (run < GEMM_MIN_RUNS || spent < GEMM_MIN_SECONDS); run++) {
        const seconds = await time();
        best = Math.min(best, seconds);
        spent += seconds;
      }
      rates[count] = (count * matrixFlopsPerToken(shape)) / best;
    }
    return rates;
  } finally {
    await decoder.release();
  }
}
