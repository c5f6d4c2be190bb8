import { zerosLike, type FloatArray } from "./floatArrays.ts";

export interface CrossEntropyOutput {
  /** sum over rows of weight * -log softmax(logits)[target] */
  loss: number;
  /** dL/dlogits, [rows, vocab] */
  dLogits: FloatArray;
}

/**
 * Token-level cross-entropy with a weight per row: L = sum_r weights[r] * -log p_r(targets[r]).
 * A weight of 0 leaves a row out (a prompt token); weights 1/n over n answer tokens give the mean
 * loss over a loss mask; signed weights give a policy-gradient loss. dL/dlogits = w (softmax - onehot).
 */
export function weightedCrossEntropy(logits: FloatArray, targets: Int32Array, weights: Float64Array, vocab: number): CrossEntropyOutput {
  const dLogits = zerosLike(logits);
  let loss = 0;
  for (let row = 0; row < targets.length; row++) {
    const weight = weights[row]!;
    if (weight === 0) continue;
    const target = targets[row]!;
    if (!(target >= 0 && target < vocab)) throw new RangeError(`target id ${target} at row ${row} is outside the vocabulary of ${vocab}`);
    const base = row * vocab;
    let max = -Infinity;
    for (let i = 0; i < vocab; i++) max = Math.max(max, logits[base + i]!);
    let total = 0;
    for (let i = 0; i < vocab; i++) total += Math.exp(logits[base + i]! - max);
    const logTotal = Math.log(total);
    loss += weight * (max + logTotal - logits[base + target]!);
    for (let i = 0; i < vocab; i++) dLogits[base + i] = weight * Math.exp(logits[base + i]! - max - logTotal);
    dLogits[base + target] = dLogits[base + target]! - weight;
  }
  return { loss, dLogits };
}
