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

/** Round half to even, as ONNX's QuantizeLinear and DynamicQuantizeLinear round. */
function roundHalfToEven(value: number): number {
  const floor = Math.floor(value);
  const fraction = value - floor;
  if (fraction !== 0.5) return Math.round(value);
  return floor % 2 === 0 ? floor : floor + 1;
}

/**
 * What a q8 graph multiplies instead of x: ONNX DynamicQuantizeLinear (uint8) of the whole input,
 * dequantised, from its specification: scale = (max(0, max x) - min(0, min x)) / 255 in float32,
 * zero point = saturate(round(-min / scale)), q = saturate(round(x / scale) + zero point), value
 * (q - zero point) x scale.
 */
export function dynamicQuantizeLinear(x: Float64Array): Float64Array {
  let lo = 0;
  let hi = 0;
  for (const value of x) {
    lo = Math.min(lo, value);
    hi = Math.max(hi, value);
  }
  const scale = Math.fround((Math.fround(hi) - Math.fround(lo)) / 255);
  if (scale === 0) return new Float64Array(x.length);
  const saturate = (value: number) => Math.min(255, Math.max(0, value));
  const zeroPoint = saturate(roundHalfToEven(Math.fround(0 - Math.fround(Math.fround(lo) / scale))));
  return x.map((value) => (saturate(roundHalfToEven(Math.fround(Math.fround(value) / scale)) + zeroPoint) - zeroPoint) * scale);
}

/**
 * dynamicQuantizeLinear over consecutive groups of rows, one per graph call: a decoder fed the
 * prompt and then one token per call quantises each call's rows on their own ([prompt length, 1,
 * 1, ...]); the reference recomputes all rows at once, so it splits them the same way.
 */
export function dynamicQuantizeLinearByCall(callLengths: readonly number[]): (x: Float64Array) => Float64Array {
  const rows = callLengths.reduce((sum, length) => sum + length, 0);
  return (x) => {
    const columns = x.length / rows;
    const out = new Float64Array(x.length);
    let row = 0;
    for (const length of callLengths) {
      out.set(dynamicQuantizeLinear(x.subarray(row * columns, (row + length) * columns)), row * columns);
      row += length;
    }
    return out;
  };
}
