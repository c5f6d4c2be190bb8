import { zerosLike, type FloatArray } from "./floatArrays.ts";

/** A linear layer's sizes: x is [rows, inFeatures], the weight [outFeatures, inFeatures] (transformers' layout). */
export interface LinearSize {
  rows: number;
  inFeatures: number;
  outFeatures: number;
}

/** y [rows, outFeatures] = x W^T (+ bias). Each output is one dot product summed left to right. */
export function linearForward(x: FloatArray, weight: FloatArray, bias: FloatArray | undefined, size: LinearSize): FloatArray {
  const { rows, inFeatures, outFeatures } = size;
  const y = zerosLike(x, rows * outFeatures);
  for (let row = 0; row < rows; row++) {
    const xBase = row * inFeatures;
    const yBase = row * outFeatures;
    for (let out = 0; out < outFeatures; out++) {
      const wBase = out * inFeatures;
      let sum = 0;
      for (let i = 0; i < inFeatures; i++) sum += x[xBase + i]! * weight[wBase + i]!;
      y[yBase + out] = bias === undefined ? sum : sum + bias[out]!;
    }
  }
  return y;
}

/**
 * The backward pass of linearForward: adds dL/dW (and dL/dbias) into `weightGradient` (and
 * `biasGradient`) and returns dL/dx. Sums run over rows in row order, so the result is the same
 * on every run.
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
  const dx = zerosLike(x, rows * inFeatures);
  for (let row = 0; row < rows; row++) {
    const xBase = row * inFeatures;
    for (let out = 0; out < outFeatures; out++) {
      const g = dy[row * outFeatures + out]!;
      if (g === 0) continue;
      const wBase = out * inFeatures;
      for (let i = 0; i < inFeatures; i++) {
        dx[xBase + i] = dx[xBase + i]! + g * weight[wBase + i]!;
        weightGradient[wBase + i] = weightGradient[wBase + i]! + g * x[xBase + i]!;
      }
    }
  }
  if (biasGradient !== undefined) {
    for (let out = 0; out < outFeatures; out++) {
      let sum = 0;
      for (let row = 0; row < rows; row++) sum += dy[row * outFeatures + out]!;
      biasGradient[out] = biasGradient[out]! + sum;
    }
  }
  return dx;
}
