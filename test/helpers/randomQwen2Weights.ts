import type { ReferenceShape } from "./qwen2Reference.ts";

/** mulberry32: a small seeded generator, so test weights are the same on every run. */
function seededUniform(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let z = state;
    z = Math.imul(z ^ (z >>> 15), z | 1);
    z ^= z + Math.imul(z ^ (z >>> 7), z | 61);
    return ((z ^ (z >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Random float32 weights for a Qwen2 shape, under transformers' names and layouts. The scales make
 * attention far from uniform (large q/k weights and biases, as trained Qwen2 models have) so that
 * RoPE, the causal mask and the head grouping all move the logits.
 */
export function randomQwen2Weights(shape: ReferenceShape, seed: number): Map<string, Float32Array> {
  const uniform = seededUniform(seed);
  const normal = () => Math.sqrt(-2 * Math.log(1 - uniform())) * Math.cos(2 * Math.PI * uniform());
  const weights = new Map<string, Float32Array>();
  const add = (name: string, count: number, mean: number, std: number) => weights.set(name, Float32Array.from({ length: count }, () => mean + std * normal()));
  const { hiddenSize: hidden, intermediateSize: inter, numHeads, numKvHeads, headDim, vocabSize: vocab } = shape;
  add("model.embed_tokens.weight", vocab * hidden, 0, 1);
  for (let layer = 0; layer < shape.numLayers; layer++) {
    const p = `model.layers.${layer}`;
    add(`${p}.input_layernorm.weight`, hidden, 1, 0.2);
    add(`${p}.self_attn.q_proj.weight`, numHeads * headDim * hidden, 0, 0.3);
    add(`${p}.self_attn.q_proj.bias`, numHeads * headDim, 0, 0.5);
    add(`${p}.self_attn.k_proj.weight`, numKvHeads * headDim * hidden, 0, 0.3);
    add(`${p}.self_attn.k_proj.bias`, numKvHeads * headDim, 0, 0.5);
    add(`${p}.self_attn.v_proj.weight`, numKvHeads * headDim * hidden, 0, 0.15);
    add(`${p}.self_attn.v_proj.bias`, numKvHeads * headDim, 0, 0.1);
    add(`${p}.self_attn.o_proj.weight`, hidden * numHeads * headDim, 0, 0.15);
    add(`${p}.post_attention_layernorm.weight`, hidden, 1, 0.2);
    add(`${p}.mlp.gate_proj.weight`, inter * hidden, 0, 0.15);
    add(`${p}.mlp.up_proj.weight`, inter * hidden, 0, 0.15);
    add(`${p}.mlp.down_proj.weight`, hidden * inter, 0, 0.15);
  }
  add("model.norm.weight", hidden, 1, 0.2);
  if (!shape.tieWordEmbeddings) add("lm_head.weight", vocab * hidden, 0, 0.3);
  return weights;
}

/** config.json of a Qwen2ForCausalLM with this shape (head_dim written only when it differs from hidden / heads). */
export function qwen2ConfigJson(shape: ReferenceShape): Record<string, unknown> {
  return {
    architectures: ["Qwen2ForCausalLM"],
    model_type: "qwen2",
    hidden_act: "silu",
    hidden_size: shape.hiddenSize,
    intermediate_size: shape.intermediateSize,
    num_hidden_layers: shape.numLayers,
    num_attention_heads: shape.numHeads,
    num_key_value_heads: shape.numKvHeads,
    ...(shape.headDim * shape.numHeads === shape.hiddenSize ? {} : { head_dim: shape.headDim }),
    vocab_size: shape.vocabSize,
    rope_theta: shape.ropeTheta,
    rms_norm_eps: shape.rmsNormEps,
    rope_scaling: null,
    use_sliding_window: false,
    sliding_window: 32768,
    // The tests run a few dozen positions: small RoPE tables keep the graphs small.
    max_position_embeddings: 64,
    tie_word_embeddings: shape.tieWordEmbeddings,
  };
}

/** GQA (2 query heads per kv head), untied lm_head, an intermediate size that is not a multiple of 32. */
export const GQA_UNTIED: ReferenceShape = {
  hiddenSize: 64,
  intermediateSize: 80,
  numLayers: 2,
  numHeads: 4,
  numKvHeads: 2,
  headDim: 16,
  vocabSize: 300,
  ropeTheta: 10000,
  rmsNormEps: 1e-6,
  tieWordEmbeddings: false,
};
