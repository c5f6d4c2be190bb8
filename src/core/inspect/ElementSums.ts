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
 * Appends `count` elements: the target's values and each vector's v_j (float32 values, already
 * computed as fl32(p - m)). A value x is finite when x - x === 0 (false for NaN and +-Inf).
 */
export function accumulateElements(sums: ElementSums, target: Float32Array, vectors: readonly Float32Array[], count: number): void {
  sums.elements += count;
  let targetSumSquares = 0;
  let targetNonFinite = 0;
  for (let e = 0; e < count; e++) {
    const t = target[e]!;
    if (t - t === 0) targetSumSquares += t * t;
    else targetNonFinite++;
  }
  sums.targetSumSquares += targetSumSquares;
  sums.targetNonFinite += targetNonFinite;
  for (const [j, stats] of sums.vectors.entries()) {
    const v = vectors[j]!;
    let sumSquares = 0;
    let maxAbs = stats.maxAbs;
    let zeros = 0;
    let nonFinite = 0;
    for (let e = 0; e < count; e++) {
      const x = v[e]!;
      if (x - x === 0) {
        sumSquares += x * x;
        const abs = x < 0 ? -x : x;
        if (abs > maxAbs) maxAbs = abs;
        if (x === 0) zeros++;
      } else {
        nonFinite++;
      }
    }
    stats.sumSquares += sumSquares;
    stats.maxAbs = maxAbs;
    stats.zeros += zeros;
    stats.nonFinite += nonFinite;
  }
  for (const pair of sums.pairs) {
    const a = vectors[pair.i]!;
    const b = vectors[pair.j]!;
    let dot = 0;
    let sameSign = 0;
    let bothNonZero = 0;
    for (let e = 0; e < count; e++) {
      const x = a[e]!;
      const y = b[e]!;
      if (x - x !== 0 || y - y !== 0) continue;
      dot += x * y;
      if (x !== 0 && y !== 0) {
        bothNonZero++;
        if (x > 0 === y > 0) sameSign++;
      }
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
