import { zerosLike, type FloatArray } from "./floatArrays.ts";

export interface RmsNormOutput {
  y: FloatArray;
  /** 1 / sqrt(mean(x^2) + eps) of each row, kept for the backward pass. */
  inverseRms: Float64Array;
}

/** Qwen2RMSNorm over rows of `width`: y = weight * x / sqrt(mean(x^2) + eps). */
export function rmsNormForward(x: FloatArray, weight: FloatArray, width: number, eps: number): RmsNormOutput {
  const rows = x.length / width;
  const y = zerosLike(x);
  const inverseRms = new Float64Array(rows);
  for (let row = 0; row < rows; row++) {
    const base = row * width;
    let squares = 0;
    for (let i = 0; i < width; i++) squares += x[base + i]! * x[base + i]!;
    const r = 1 / Math.sqrt(squares / width + eps);
    inverseRms[row] = r;
    for (let i = 0; i < width; i++) y[base + i] = weight[i]! * (x[base + i]! * r);
  }
  return { y, inverseRms };
}

/**
 * The backward pass of rmsNormForward: adds dL/dweight into `weightGradient`, returns dL/dx.
 * With g = dy * weight and r the row's inverse RMS: dx = r g - x r^3 (g . x) / width.
 */
export function rmsNormBackward(dy: FloatArray, x: FloatArray, weight: FloatArray, inverseRms: Float64Array, width: number, weightGradient: FloatArray): FloatArray {
  const rows = x.length / width;
  const dx = zerosLike(x);
  for (let row = 0; row < rows; row++) {
    const base = row * width;
    const r = inverseRms[row]!;
    let dot = 0;
    for (let i = 0; i < width; i++) dot += dy[base + i]! * weight[i]! * x[base + i]!;
    const c = (r * r * r * dot) / width;
    for (let i = 0; i < width; i++) {
      dx[base + i] = r * dy[base + i]! * weight[i]! - x[base + i]! * c;
      weightGradient[i] = weightGradient[i]! + dy[base + i]! * x[base + i]! * r;
    }
  }
  return dx;
}
