import type { FloatArray } from "./floatArrays.ts";
import { multiplyTransposed, transpose } from "./matrixProducts.ts";

/** A linear layer's sizes: x is [rows, inFeatures], the weight [outFeatures, inFeatures] (transformers' layout). */
export interface LinearSize {
  rows: number;
  inFeatures: number;
  outFeatures: number;
}

/** y [rows, outFeatures] = x W^T (+ bias). */
export function linearForward(x: FloatArray, weight: FloatArray, bias: FloatArray | undefined, size: LinearSize): FloatArray {
  const { rows, inFeatures, outFeatures } = size;
  const y = multiplyTransposed(x, rows, weight, outFeatures, inFeatures);
  if (bias !== undefined) {
    for (let row = 0; row < rows; row++) {
      for (let out = 0; out < outFeatures; out++) y[row * outFeatures + out] = y[row * outFeatures + out]! + bias[out]!;
    }
  }
  return y;
}

/**
 * The backward pass of linearForward: adds dL/dW = dy^T x (and dL/dbias, dy summed over rows) into
 * `weightGradient` (and `biasGradient`) and returns dL/dx = dy W. Each element is one sum in a
 * fixed order, so the result is the same on every run.
 */
export function linearBackward(
  dy: FloatArray,
  x: FloatArray,
  weight: FloatArray,
  size: LinearSize,
  weightGradient: FloatArray,
  biasGradient: FloatArray | undefined,
): FloatArray {
  const { rows, inFeatures, outFeatures } = size;
  const dyTransposed = transpose(dy, rows, outFeatures);
  const dWeight = multiplyTransposed(dyTransposed, outFeatures, transpose(x, rows, inFeatures), inFeatures, rows);
  for (let i = 0; i < dWeight.length; i++) weightGradient[i] = weightGradient[i]! + dWeight[i]!;
  if (biasGradient !== undefined) {
    for (let out = 0; out < outFeatures; out++) {
      let sum = 0;
      for (let row = 0; row < rows; row++) sum += dyTransposed[out * rows + row]!;
      biasGradient[out] = biasGradient[out]! + sum;
    }
  }
  return multiplyTransposed(dy, rows, transpose(weight, outFeatures, inFeatures), inFeatures, outFeatures);
}
