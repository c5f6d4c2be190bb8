/**
 * A plain float64 forward pass of a Qwen2ForCausalLM, written for tests from transformers'
 * modeling_qwen2 (not from the ONNX graph builder): straightforward loops over the whole sequence,
 * no cache, keys and values repeated per head group as repeat_kv does.
 */

export interface ReferenceShape {
  hiddenSize: number;
  intermediateSize: number;
  numLayers: number;
  numHeads: number;
  numKvHeads: number;
  headDim: number;
  vocabSize: number;
  ropeTheta: number;
  rmsNormEps: number;
  tieWordEmbeddings: boolean;
}

export interface ReferenceOptions {
  /**
   * Applied to every input and output of the linear layers (before the bias): with a rounding to
   * float16 it mirrors a graph that casts around float16 matrix products.
   */
  roundLinearInputsAndOutputs?: (value: number) => number;
  /**
   * Applied to the whole input of each linear layer (x [positions, columns], once per input: q, k
   * and v share theirs): with a q8 graph's per-row rounding it mirrors that graph's activations.
   */
  quantizeLinearInputs?: (x: Float64Array, columns: number) => Float64Array;
}

/**
 * Logits of every position of `ids` (positions 0..n-1), row-major [n, vocab], with the weights as
 * float64 arrays under transformers' names and layouts.
 */
export function referenceLogits(shape: ReferenceShape, weights: (name: string) => Float64Array, ids: readonly number[], options: ReferenceOptions = {}): Float64Array {
  const { hiddenSize: hidden, intermediateSize, numLayers, numHeads, numKvHeads, headDim, vocabSize, rmsNormEps } = shape;
  const round = options.roundLinearInputsAndOutputs ?? ((value: number) => value);
  const n = ids.length;
  const linear = (input: Float64Array, columns: number, weight: Float64Array, outputs: number, bias?: Float64Array): Float64Array => {
    const x = options.quantizeLinearInputs ? options.quantizeLinearInputs(input, columns) : input;
    const y = new Float64Array(n * outputs);
    for (let row = 0; row < n; row++) {
      for (let out = 0; out < outputs; out++) {
        let sum = 0;
        for (let i = 0; i < columns; i++) sum += round(x[row * columns + i]!) * weight[out * columns + i]!;
        y[row * outputs + out] = round(sum) + (bias ? bias[out]! : 0);
      }
    }
    return y;
  };
  const rmsNorm = (x: Float64Array, scale: Float64Array): Float64Array => {
    const y = new Float64Array(n * hidden);
    for (let row = 0; row < n; row++) {
      let squares = 0;
      for (let i = 0; i < hidden; i++) squares += x[row * hidden + i]! ** 2;
      const inverseRms = 1 / Math.sqrt(squares / hidden + rmsNormEps);
      for (let i = 0; i < hidden; i++) y[row * hidden + i] = scale[i]! * x[row * hidden + i]! * inverseRms;
    }
    return y;
  };
  /** x [n, heads * headDim]: rotates (i, i + headDim/2) of each head by position * theta^(-2i / headDim). */
  const rope = (x: Float64Array, heads: number): Float64Array => {
    const y = new Float64Array(x.length);
    const half = headDim / 2;
    for (let position = 0; position < n; position++) {
      for (let head = 0; head < heads; head++) {
        const base = (position * heads + head) * headDim;
        for (let i = 0; i < half; i++) {
          const angle = position / shape.ropeTheta ** ((2 * i) / headDim);
          const [x1, x2] = [x[base + i]!, x[base + i + half]!];
          y[base + i] = x1 * Math.cos(angle) - x2 * Math.sin(angle);
          y[base + i + half] = x2 * Math.cos(angle) + x1 * Math.sin(angle);
        }
      }
    }
    return y;
  };

  const embedding = weights("model.embed_tokens.weight");
  let states = new Float64Array(n * hidden);
  ids.forEach((id, position) => states.set(embedding.subarray(id * hidden, (id + 1) * hidden), position * hidden));
  for (let layer = 0; layer < numLayers; layer++) {
    const p = `model.layers.${layer}`;
    const normed = rmsNorm(states, weights(`${p}.input_layernorm.weight`));
    const project = (name: string, rows: number) => linear(normed, hidden, weights(`${p}.self_attn.${name}.weight`), rows, weights(`${p}.self_attn.${name}.bias`));
    const query = rope(project("q_proj", numHeads * headDim), numHeads);
    const key = rope(project("k_proj", numKvHeads * headDim), numKvHeads);
    const value = project("v_proj", numKvHeads * headDim);
    const context = new Float64Array(n * numHeads * headDim);
    for (let head = 0; head < numHeads; head++) {
      const kvHead = Math.floor(head / (numHeads / numKvHeads));
      for (let row = 0; row < n; row++) {
        const q = query.subarray((row * numHeads + head) * headDim, (row * numHeads + head + 1) * headDim);
        // Causal: position `row` attends to positions 0..row.
        const scores: number[] = [];
        for (let j = 0; j <= row; j++) {
          let dot = 0;
          for (let d = 0; d < headDim; d++) dot += q[d]! * key[(j * numKvHeads + kvHead) * headDim + d]!;
          scores.push(dot / Math.sqrt(headDim));
        }
        const max = Math.max(...scores);
        const exps = scores.map((score) => Math.exp(score - max));
        const total = exps.reduce((sum, e) => sum + e, 0);
        for (let d = 0; d < headDim; d++) {
          let sum = 0;
          for (let j = 0; j <= row; j++) sum += (exps[j]! / total) * value[(j * numKvHeads + kvHead) * headDim + d]!;
          context[(row * numHeads + head) * headDim + d] = sum;
        }
      }
    }
    const attention = linear(context, numHeads * headDim, weights(`${p}.self_attn.o_proj.weight`), hidden);
    states = states.map((v, i) => v + attention[i]!);
    const normed2 = rmsNorm(states, weights(`${p}.post_attention_layernorm.weight`));
    const gate = linear(normed2, hidden, weights(`${p}.mlp.gate_proj.weight`), intermediateSize);
    const up = linear(normed2, hidden, weights(`${p}.mlp.up_proj.weight`), intermediateSize);
    const activated = gate.map((g, i) => (g / (1 + Math.exp(-g))) * up[i]!);
    const down = linear(activated, intermediateSize, weights(`${p}.mlp.down_proj.weight`), hidden);
    states = states.map((v, i) => v + down[i]!);
  }
  const lmHead = weights(shape.tieWordEmbeddings ? "model.embed_tokens.weight" : "lm_head.weight");
  return linear(rmsNorm(states, weights("model.norm.weight")), hidden, lmHead, vocabSize);
}
