import { zerosLike, type FloatArray } from "./floatArrays.ts";

/** Heads of one attention: query heads share key/value heads in groups of numHeads / numKvHeads (grouped-query attention). */
export interface AttentionSize {
  numHeads: number;
  numKvHeads: number;
  headDim: number;
}

/**
 * Sequences packed as consecutive rows: sequence s holds rows segmentStarts[s] .. segmentStarts[s + 1] - 1.
 * A row attends to the rows of its own sequence up to itself.
 */
export type SegmentStarts = readonly number[];

export interface AttentionOutput {
  /** [rows, numHeads * headDim] */
  context: FloatArray;
  /** Softmax probabilities of every sequence and head, [length, length] each (zero above the diagonal), kept for the backward pass. */
  probabilities: FloatArray;
}

/** Offsets of each sequence's block of probabilities: numHeads * length^2 values per sequence. */
function probabilityOffsets(segmentStarts: SegmentStarts, numHeads: number): number[] {
  const offsets = [0];
  for (let s = 0; s + 1 < segmentStarts.length; s++) {
    const length = segmentStarts[s + 1]! - segmentStarts[s]!;
    offsets.push(offsets[s]! + numHeads * length * length);
  }
  return offsets;
}

/**
 * Causal scaled dot-product attention with grouped key/value heads, as Qwen2's eager attention:
 * softmax(q k^T / sqrt(headDim) + causal mask) v, query head h reading key/value head
 * floor(h / (numHeads / numKvHeads)). q is [rows, numHeads * headDim], k and v [rows, numKvHeads * headDim].
 */
export function causalAttentionForward(q: FloatArray, k: FloatArray, v: FloatArray, segmentStarts: SegmentStarts, size: AttentionSize): AttentionOutput {
  const { numHeads, numKvHeads, headDim } = size;
  const group = numHeads / numKvHeads;
  const scale = 1 / Math.sqrt(headDim);
  const rows = q.length / (numHeads * headDim);
  const offsets = probabilityOffsets(segmentStarts, numHeads);
  const context = zerosLike(q, rows * numHeads * headDim);
  const probabilities = zerosLike(q, offsets[offsets.length - 1]!);
  const scores = new Float64Array(maxLength(segmentStarts));
  for (let s = 0; s + 1 < segmentStarts.length; s++) {
    const start = segmentStarts[s]!;
    const length = segmentStarts[s + 1]! - start;
    for (let head = 0; head < numHeads; head++) {
      const kvHead = Math.floor(head / group);
      const pBase = offsets[s]! + head * length * length;
      for (let i = 0; i < length; i++) {
        const qBase = ((start + i) * numHeads + head) * headDim;
        let max = -Infinity;
        for (let j = 0; j <= i; j++) {
          const kBase = ((start + j) * numKvHeads + kvHead) * headDim;
          let dot = 0;
          for (let d = 0; d < headDim; d++) dot += q[qBase + d]! * k[kBase + d]!;
          scores[j] = dot * scale;
          if (scores[j]! > max) max = scores[j]!;
        }
        let total = 0;
        for (let j = 0; j <= i; j++) {
          scores[j] = Math.exp(scores[j]! - max);
          total += scores[j]!;
        }
        for (let j = 0; j <= i; j++) probabilities[pBase + i * length + j] = scores[j]! / total;
        for (let j = 0; j <= i; j++) {
          const p = probabilities[pBase + i * length + j]!;
          const vBase = ((start + j) * numKvHeads + kvHead) * headDim;
          for (let d = 0; d < headDim; d++) context[qBase + d] = context[qBase + d]! + p * v[vBase + d]!;
        }
      }
    }
  }
  return { context, probabilities };
}

export interface AttentionGradients {
  dq: FloatArray;
  dk: FloatArray;
  dv: FloatArray;
}

/**
 * The backward pass of causalAttentionForward. With P the probabilities and dC the context's
 * gradient: dP = dC v^T, dv = P^T dC, dS = P (dP - rowsum(P dP)), dq = dS k / sqrt(d), dk = dS^T q / sqrt(d).
 */
export function causalAttentionBackward(
  dContext: FloatArray,
  q: FloatArray,
  k: FloatArray,
  v: FloatArray,
  probabilities: FloatArray,
  segmentStarts: SegmentStarts,
  size: AttentionSize,
): AttentionGradients {
  const { numHeads, numKvHeads, headDim } = size;
  const group = numHeads / numKvHeads;
  const scale = 1 / Math.sqrt(headDim);
  const offsets = probabilityOffsets(segmentStarts, numHeads);
  const dq = zerosLike(q);
  const dk = zerosLike(k);
  const dv = zerosLike(v);
  const dScores = new Float64Array(maxLength(segmentStarts));
  for (let s = 0; s + 1 < segmentStarts.length; s++) {
    const start = segmentStarts[s]!;
    const length = segmentStarts[s + 1]! - start;
    for (let head = 0; head < numHeads; head++) {
      const kvHead = Math.floor(head / group);
      const pBase = offsets[s]! + head * length * length;
      for (let i = 0; i < length; i++) {
        const qBase = ((start + i) * numHeads + head) * headDim;
        let weighted = 0;
        for (let j = 0; j <= i; j++) {
          const vBase = ((start + j) * numKvHeads + kvHead) * headDim;
          const p = probabilities[pBase + i * length + j]!;
          let dot = 0;
          for (let d = 0; d < headDim; d++) {
            dot += dContext[qBase + d]! * v[vBase + d]!;
            dv[vBase + d] = dv[vBase + d]! + p * dContext[qBase + d]!;
          }
          dScores[j] = dot;
          weighted += p * dot;
        }
        for (let j = 0; j <= i; j++) {
          const dS = probabilities[pBase + i * length + j]! * (dScores[j]! - weighted) * scale;
          if (dS === 0) continue;
          const kBase = ((start + j) * numKvHeads + kvHead) * headDim;
          for (let d = 0; d < headDim; d++) {
            dq[qBase + d] = dq[qBase + d]! + dS * k[kBase + d]!;
            dk[kBase + d] = dk[kBase + d]! + dS * q[qBase + d]!;
          }
        }
      }
    }
  }
  return { dq, dk, dv };
}

function maxLength(segmentStarts: SegmentStarts): number {
  let longest = 0;
  for (let s = 0; s + 1 < segmentStarts.length; s++) longest = Math.max(longest, segmentStarts[s + 1]! - segmentStarts[s]!);
  return longest;
}
