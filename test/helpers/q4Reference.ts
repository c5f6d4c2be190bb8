import { matMulNBitsSizes, quantizeMatMulNBits } from "../../src/eval/onnx/quantizeMatMulNBits.ts";
import type { ReferenceShape } from "./qwen2Reference.ts";

/** What MatMulNBits computes with: the test's own reading of the layout (ORT's spec), back to [rows, columns]. */
export function dequantizedQ4(weight: Float32Array, rows: number, columns: number): Float64Array {
  const sizes = matMulNBitsSizes(rows, columns);
  const codes = new Uint8Array(sizes.codeBytes);
  const scales = new Float32Array(sizes.scaleCount);
  const zeroPoints = new Uint8Array(sizes.zeroPointBytes);
  quantizeMatMulNBits(weight, rows, columns, { codes, scales, zeroPoints });
  const values = new Float64Array(rows * columns);
  const zeroPointBytesPerRow = Math.ceil(sizes.blocksPerRow / 2);
  for (let row = 0; row < rows; row++) {
    for (let column = 0; column < columns; column++) {
      const block = Math.floor(column / 32);
      const scaleIndex = row * sizes.blocksPerRow + block;
      const zeroPoint = (zeroPoints[row * zeroPointBytesPerRow + Math.floor(block / 2)]! >> (4 * (block % 2))) & 15;
      const inBlock = column % 32;
      const code = (codes[scaleIndex * 16 + Math.floor(inBlock / 2)]! >> (4 * (inBlock % 2))) & 15;
      values[row * columns + column] = (code - zeroPoint) * scales[scaleIndex]!;
    }
  }
  return values;
}

export const LINEAR_WEIGHT = /\.(q_proj|k_proj|v_proj|o_proj|gate_proj|up_proj|down_proj)\.weight$/;

/**
 * The weights a q4 graph computes with, for the reference: linear layers and lm_head dequantised,
 * everything else as is. The reference shape is untied, because a tied q4 model reads the
 * embedding table in float32 and its quantised copy as lm_head.
 */
export function q4ReferenceWeights(shape: ReferenceShape, weights: Map<string, Float32Array>): { shape: ReferenceShape; weights: (name: string) => Float64Array } {
  const columnsOf = (name: string) => (name.includes("down_proj") ? shape.intermediateSize : name.includes("o_proj") ? shape.numHeads * shape.headDim : shape.hiddenSize);
  return {
    shape: { ...shape, tieWordEmbeddings: false },
    weights: (name) => {
      const source = name === "lm_head.weight" && shape.tieWordEmbeddings ? "model.embed_tokens.weight" : name;
      const values = weights.get(source)!;
      if (!LINEAR_WEIGHT.test(name) && name !== "lm_head.weight") return Float64Array.from(values);
      const columns = columnsOf(name);
      return dequantizedQ4(values, values.length / columns, columns);
    },
  };
}

