import type { Qwen2OnnxFormat } from "./buildQwen2Onnx.ts";
import { matMulNBitsSizes } from "./quantizeMatMulNBits.ts";
import type { Qwen2Config } from "./readQwen2Config.ts";

export interface Qwen2OnnxWeightBytes {
  /** Every weight buildQwen2Onnx writes in this format (external data, without alignment padding). */
  total: number;
  /**
   * What one decode step reads: every linear layer, lm_head, norms and biases; not the embedding
   * (one row is gathered) nor the RoPE tables, unless the table is also lm_head.
   */
  perDecodeStep: number;
}

/** Bytes of the weights of buildQwen2Onnx's graph for `config` in `format`, from the shapes alone (nothing is read). */
export function qwen2OnnxWeightBytes(config: Qwen2Config, format: Qwen2OnnxFormat): Qwen2OnnxWeightBytes {
  const { hiddenSize: hidden, intermediateSize, numHeads, numKvHeads, headDim, vocabSize, numLayers, tieWordEmbeddings, maxPositionEmbeddings } = config;
  /** A linear layer's weight [rows, columns] (and lm_head, which is one in q8 and q4). */
  const matrix = (rows: number, columns: number): number => {
    switch (format) {
      case "f32":
        return rows * columns * 4;
      case "f16":
        return rows * columns * 2;
      case "q8":
        return rows * columns + rows * 4;
      case "q4": {
        const sizes = matMulNBitsSizes(rows, columns);
        return sizes.codeBytes + sizes.scaleCount * 4 + sizes.zeroPointBytes;
      }
    }
  };
  /** The embedding table as Gather reads it: float32 in f32 and q4, float16 in f16, q8's int8 table (shared with a tied lm_head). */
  const embeddingTable = format === "q8" ? matrix(vocabSize, hidden) : vocabSize * hidden * (format === "f16" ? 2 : 4);
  const qkvRows = (numHeads + 2 * numKvHeads) * headDim;
  const layer = matrix(qkvRows, hidden) + matrix(hidden, numHeads * headDim) + matrix(2 * intermediateSize, hidden) + matrix(hidden, intermediateSize);
  const vectors = numLayers * (2 * hidden + qkvRows) * 4 + hidden * 4;
  // f32 and f16 multiply by the table itself when tied; q8 shares its table; q4 quantises a copy for lm_head.
  const lmHead = tieWordEmbeddings && format !== "q4" ? embeddingTable : matrix(vocabSize, hidden);
  const separateLmHead = tieWordEmbeddings && format !== "q4" ? 0 : lmHead;
  const ropeTables = 2 * maxPositionEmbeddings * (headDim / 2) * 4;
  return {
    total: embeddingTable + numLayers * layer + vectors + separateLmHead + ropeTables,
    perDecodeStep: numLayers * layer + vectors + lmHead,
  };
}
