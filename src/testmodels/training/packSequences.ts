/** One training sequence: token ids and, per token, the weight of predicting it from the tokens before it. */
export interface WeightedSequence {
  ids: readonly number[];
  /**
   * lossWeights[t] weighs the loss of predicting ids[t] (t >= 1; lossWeights[0] must be 0, nothing
   * predicts the first token). 0 for prompt tokens, e.g. 1 / (answer tokens in the batch) for answer
   * tokens (the mean cross-entropy over a loss mask), or a signed advantage for a policy gradient.
   */
  lossWeights: readonly number[];
}

/** Sequences packed as consecutive rows, each row one token: what the model's forward and backward passes take. */
export interface PackedBatch {
  ids: Int32Array;
  /** Each row's position in its sequence (its RoPE angle), from 0. */
  positions: Int32Array;
  /** Sequence s is rows segmentStarts[s] .. segmentStarts[s + 1] - 1. */
  segmentStarts: number[];
  /** The token row r predicts (the next one of its sequence), -1 at a sequence's last row. */
  targets: Int32Array;
  /** The loss weight of row r's prediction (0 at a sequence's last row). */
  weights: Float64Array;
}

/** Packs `sequences` into one batch; a sequence must hold at least one token and one weight per token. */
export function packSequences(sequences: readonly WeightedSequence[]): PackedBatch {
  const rows = sequences.reduce((sum, sequence) => sum + sequence.ids.length, 0);
  const batch: PackedBatch = {
    ids: new Int32Array(rows),
    positions: new Int32Array(rows),
    segmentStarts: [0],
    targets: new Int32Array(rows),
    weights: new Float64Array(rows),
  };
  let row = 0;
  sequences.forEach((sequence, index) => {
    const { ids, lossWeights } = sequence;
    if (ids.length === 0) throw new Error(`sequence ${index} is empty`);
    if (lossWeights.length !== ids.length) throw new Error(`sequence ${index} has ${ids.length} tokens but ${lossWeights.length} loss weights`);
    if (lossWeights[0] !== 0) throw new Error(`sequence ${index}: lossWeights[0] is ${lossWeights[0]}; nothing predicts the first token, so it must be 0`);
    for (let t = 0; t < ids.length; t++, row++) {
      if (!Number.isInteger(ids[t])) throw new Error(`sequence ${index}: token ${t} is ${ids[t]}, not a token id`);
      if (!Number.isFinite(lossWeights[t])) throw new Error(`sequence ${index}: loss weight ${t} is ${lossWeights[t]}`);
      batch.ids[row] = ids[t]!;
      batch.positions[row] = t;
      batch.targets[row] = t + 1 < ids.length ? ids[t + 1]! : -1;
      batch.weights[row] = t + 1 < ids.length ? lossWeights[t + 1]! : 0;
    }
    batch.segmentStarts.push(row);
  });
  return batch;
}
