import type { FloatDtype } from "../dtypes.ts";
import { F16_TO_F32_BITS } from "../numeric/float16.ts";
import type { FloatBits } from "../numeric/floatBlocks.ts";
import type { InspectedElements } from "./VectorInspection.ts";

/**
 * The running float64 sums behind InspectedElements: what adds up when elements are appended, so
 * that a tensor's chunks, a cell's tensors and the model's cells all combine the same way.
 */
export interface ElementSums {
  elements: number;
  targetSumSquares: number;
  targetNonFinite: number;
  vectors: { sumSquares: number; maxAbs: number; zeros: number; nonFinite: number }[];
  /** Pairs i < j in the order (0,1), (0,2), ..., (1,2), ... */
  pairs: { i: number; j: number; dot: number; sameSign: number; bothNonZero: number }[];
}

export function emptySums(vectorCount: number): ElementSums {
  const pairs: ElementSums["pairs"] = [];
  for (let i = 0; i < vectorCount; i++) for (let j = i + 1; j < vectorCount; j++) pairs.push({ i, j, dot: 0, sameSign: 0, bothNonZero: 0 });
  return {
    elements: 0,
    targetSumSquares: 0,
    targetNonFinite: 0,
    vectors: Array.from({ length: vectorCount }, () => ({ sumSquares: 0, maxAbs: 0, zeros: 0, nonFinite: 0 })),
    pairs,
  };
}

/**
 * Appends the target's values of `count` elements, widened to float32 from `dtype`'s bits
 * src[start ..], through `scratch` (float32 bits of the same memory as `values`). Widening and
 * summing in one loop per dtype. A value x is finite when x - x === 0 (false for NaN and +-Inf).
 */
export function accumulateTarget(sums: ElementSums, dtype: FloatDtype, src: FloatBits, start: number, count: number, scratch: FloatBlock): void {
  const { bits, values } = scratch;
  sums.elements += count;
  let sumSquares = 0;
  let nonFinite = 0;
  if (dtype === "BF16") {
    for (let e = 0; e < count; e++) {
      bits[e] = src[start + e]! << 16;
      const t = values[e]!;
      if (t - t === 0) sumSquares += t * t;
      else nonFinite++;
    }
  } else if (dtype === "F16") {
    for (let e = 0; e < count; e++) {
      bits[e] = F16_TO_F32_BITS[src[start + e]!]!;
      const t = values[e]!;
      if (t - t === 0) sumSquares += t * t;
      else nonFinite++;
    }
  } else {
    for (let e = 0; e < count; e++) {
      bits[e] = src[start + e]!;
      const t = values[e]!;
      if (t - t === 0) sumSquares += t * t;
      else nonFinite++;
    }
  }
  sums.targetSumSquares += sumSquares;
  sums.targetNonFinite += nonFinite;
}

/** Float32 values and their bits, one memory. */
export interface FloatBlock {
  values: Float32Array;
  bits: Uint32Array;
}

/*
 * The loops below keep data-dependent branches out (a vector's signs and zeros are coin flips, and
 * a mispredicted branch per element tripled the time): |x| by Math.abs, and "x is not +-0" from the
 * bits as ((k | -k) >>> 31) with k = bits << 1, which is 1 exactly when k != 0.
 */

/**
 * Computes v_j = fl32(p - m) of `count` elements into `v` from the widened plus and minus, and
 * appends them to vector j's sums, in one loop.
 */
export function accumulateVector(sums: ElementSums, j: number, plus: Float32Array, minus: Float32Array, count: number, v: FloatBlock): void {
  const stats = sums.vectors[j]!;
  const { values, bits } = v;
  let sumSquares = 0;
  let maxAbs = stats.maxAbs;
  let nonZero = 0;
  let nonFinite = 0;
  for (let e = 0; e < count; e++) {
    // The double difference rounded once to float32: fl32(p - m), exact for float32 inputs.
    const x = Math.fround(plus[e]! - minus[e]!);
    values[e] = x;
    const k = bits[e]! << 1;
    nonZero += (k | -k) >>> 31;
    if (x - x === 0) {
      sumSquares += x * x;
      const abs = Math.abs(x);
      if (abs > maxAbs) maxAbs = abs;
    } else {
      nonFinite++;
    }
  }
  stats.sumSquares += sumSquares;
  stats.maxAbs = maxAbs;
  stats.zeros += count - nonZero;
  stats.nonFinite += nonFinite;
}

/** Appends `count` elements of every pair of vectors (v_j as accumulateVector computed them). */
export function accumulatePairs(sums: ElementSums, vectors: readonly FloatBlock[], count: number): void {
  for (const pair of sums.pairs) {
    const { values: a, bits: aBits } = vectors[pair.i]!;
    const { values: b, bits: bBits } = vectors[pair.j]!;
    let dot = 0;
    let sameSign = 0;
    let bothNonZero = 0;
    for (let e = 0; e < count; e++) {
      const x = a[e]!;
      const y = b[e]!;
      if (x - x !== 0 || y - y !== 0) continue;
      dot += x * y;
      const xBits = aBits[e]!;
      const yBits = bBits[e]!;
      const kx = xBits << 1;
      const ky = yBits << 1;
      const both = ((kx | -kx) >>> 31) & ((ky | -ky) >>> 31);
      bothNonZero += both;
      sameSign += both & (((xBits ^ yBits) >>> 31) ^ 1);
    }
    pair.dot += dot;
    pair.sameSign += sameSign;
    pair.bothNonZero += bothNonZero;
  }
}

/** Adds `from` into `into` (the concatenation of their elements). */
export function addSums(into: ElementSums, from: ElementSums): void {
  into.elements += from.elements;
  into.targetSumSquares += from.targetSumSquares;
  into.targetNonFinite += from.targetNonFinite;
  for (const [j, stats] of into.vectors.entries()) {
    const other = from.vectors[j]!;
    stats.sumSquares += other.sumSquares;
    stats.maxAbs = Math.max(stats.maxAbs, other.maxAbs);
    stats.zeros += other.zeros;
    stats.nonFinite += other.nonFinite;
  }
  for (const [k, pair] of into.pairs.entries()) {
    const other = from.pairs[k]!;
    pair.dot += other.dot;
    pair.sameSign += other.sameSign;
    pair.bothNonZero += other.bothNonZero;
  }
}

/** The statistics the sums give: norms, ratios, shares, cosines (null where a denominator is 0). */
export function describeSums(sums: ElementSums): InspectedElements {
  const targetNorm = Math.sqrt(sums.targetSumSquares);
  const norms = sums.vectors.map((stats) => Math.sqrt(stats.sumSquares));
  return {
    elements: sums.elements,
    targetSumSquares: sums.targetSumSquares,
    targetNorm,
    targetNonFinite: sums.targetNonFinite,
    vectors: sums.vectors.map((stats, j) => ({
      sumSquares: stats.sumSquares,
      norm: norms[j]!,
      relativeNorm: targetNorm > 0 ? norms[j]! / targetNorm : null,
      maxAbs: stats.maxAbs,
      zeros: stats.zeros,
      zeroShare: sums.elements > 0 ? stats.zeros / sums.elements : 0,
      nonFinite: stats.nonFinite,
    })),
    pairs: sums.pairs.map(({ i, j, dot, sameSign, bothNonZero }) => ({
      vectors: [i, j],
      dot,
      cosine: norms[i]! > 0 && norms[j]! > 0 ? dot / (norms[i]! * norms[j]!) : null,
      sameSign,
      bothNonZero,
      signAgreement: bothNonZero > 0 ? sameSign / bothNonZero : null,
    })),
  };
}
