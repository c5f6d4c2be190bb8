import { zerosLike, type FloatArray } from "./floatArrays.ts";

/** cos and sin of every (position, frequency) pair, [positions, headDim / 2], computed in float64. */
export interface RopeTables {
  headDim: number;
  cos: Float64Array;
  sin: Float64Array;
}

/** The tables for positions 0..positions-1: angle = position * theta^(-2i / headDim), as transformers' default RoPE. */
export function ropeTables(positions: number, headDim: number, theta: number): RopeTables {
  const half = headDim / 2;
  const cos = new Float64Array(positions * half);
  const sin = new Float64Array(positions * half);
  for (let i = 0; i < half; i++) {
    const inverseFrequency = 1 / theta ** ((2 * i) / headDim);
    for (let position = 0; position < positions; position++) {
      cos[position * half + i] = Math.cos(position * inverseFrequency);
      sin[position * half + i] = Math.sin(position * inverseFrequency);
    }
  }
  return { headDim, cos, sin };
}

/**
 * Rotates x [rows, heads * headDim] in transformers' rotate_half layout: the pair (i, i + headDim/2)
 * of each head of row r by the angle of positions[r]. `direction` -1 rotates back, which is the
 * backward pass (a rotation's transpose is its inverse).
 */
export function applyRope(x: FloatArray, positions: Int32Array, heads: number, tables: RopeTables, direction: 1 | -1 = 1): FloatArray {
  const { headDim } = tables;
  const half = headDim / 2;
  const y = zerosLike(x);
  for (let row = 0; row < positions.length; row++) {
    const angleBase = positions[row]! * half;
    if (angleBase + half > tables.cos.length) throw new RangeError(`position ${positions[row]} is beyond the RoPE tables (${tables.cos.length / half} positions)`);
    for (let head = 0; head < heads; head++) {
      const base = (row * heads + head) * headDim;
      for (let i = 0; i < half; i++) {
        const c = tables.cos[angleBase + i]!;
        const s = direction * tables.sin[angleBase + i]!;
        const x1 = x[base + i]!;
        const x2 = x[base + i + half]!;
        y[base + i] = x1 * c - x2 * s;
        y[base + i + half] = x2 * c + x1 * s;
      }
    }
  }
  return y;
}
