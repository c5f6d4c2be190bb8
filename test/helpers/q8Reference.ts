import { quantizeInt8PerChannel } from "../../src/eval/onnx/quantizeInt8PerChannel.ts";
import { LINEAR_WEIGHT } from "./q4Reference.ts";
import type { ReferenceShape } from "./qwen2Reference.ts";

/** What a q8 MatMulInteger computes with: codes [columns, rows] x scale of each row, read back to [rows, columns]. */
export function dequantizedQ8(weight: Float32Array, rows: number, columns: number): Float64Array {
  const codes = new Int8Array(rows * columns);
  const scales = new Float32Array(rows);
  quantizeInt8PerChannel(weight, rows, columns, { codes, scales, outRows: rows });
  const values = new Float64Array(rows * columns);
  for (let row = 0; row < rows; row++) {
    for (let column = 0; column < columns; column++) values[row * columns + column] = codes[column * rows + row]! * scales[row]!;
  }
  return values;
}

/**
 * The weights a q8 graph computes with, for the reference: linear layers, the embedding table and
 * lm_head dequantised (a tied model shares one quantised table), norms and biases as they are.
 */
export function q8ReferenceWeights(shape: ReferenceShape, weights: Map<string, Float32Array>): (name: string) => Float64Array {
  const columnsOf = (name: string) => (name.includes("down_proj") ? shape.intermediateSize : name.includes("o_proj") ? shape.numHeads * shape.headDim : shape.hiddenSize);
  return (name) => {
    const values = weights.get(name)!;
    if (!LINEAR_WEIGHT.test(name) && name !== "lm_head.weight" && name !== "model.embed_tokens.weight") return Float64Array.from(values);
    const columns = columnsOf(name);
    return dequantizedQ8(values, values.length / columns, columns);
  };
}

/** Round half to even, as ONNX's Round rounds. */
function roundHalfToEven(value: number): number {
  const floor = Math.floor(value);
  const fraction = value - floor;
  if (fraction !== 0.5) return Math.round(value);
  return floor % 2 === 0 ? floor : floor + 1;
}

/**
 * How far from a rounding half, relative to its value, float32 arithmetic upstream of an activation
 * may move it: closer than this, the graph may round the other way than the float64 pass (seen at
 * 4.6e-5 codes of -79.5, 5.8e-7 of the value).
 */
export const Q8_NEAR_TIE = 1e-6;

/**
 * What a q8 graph multiplies instead of x ([rows, columns]), written from the format's description:
 * each row on its own, in float32 as the graph computes it, scale = max(fl32(max |x_row| / 127),
 * 2^-126), code = round-half-even(fl32(x / scale)), value code x scale (the zero point 128 cancels).
 * `onNearTie` hears each row with a value within Q8_NEAR_TIE of a half.
 */
export function quantizeQ8ActivationRows(x: Float64Array, columns: number, onNearTie?: (row: number) => void): Float64Array {
  const out = new Float64Array(x.length);
  for (let start = 0; start < x.length; start += columns) {
    let largest = 0;
    for (let i = start; i < start + columns; i++) largest = Math.max(largest, Math.abs(Math.fround(x[i]!)));
    const scale = Math.max(Math.fround(largest / 127), 2 ** -126);
    let nearTie = false;
    for (let i = start; i < start + columns; i++) {
      const scaled = Math.fround(Math.fround(x[i]!) / scale);
      nearTie ||= Math.abs(Math.abs(scaled - Math.floor(scaled)) - 0.5) < Q8_NEAR_TIE * Math.abs(scaled);
      out[i] = roundHalfToEven(scaled) * scale;
    }
    if (nearTie) onNearTie?.(start / columns);
  }
  return out;
}
