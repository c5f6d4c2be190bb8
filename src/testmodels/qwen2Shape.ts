/** The hyper-parameters of a Qwen2ForCausalLM that decide its tensors and its config.json. */
export interface Qwen2Shape {
  hiddenSize: number;
  intermediateSize: number;
  numLayers: number;
  numHeads: number;
  numKvHeads: number;
  vocabSize: number;
  tieWordEmbeddings: boolean;
  ropeTheta: number;
  rmsNormEps: number;
  maxPositionEmbeddings: number;
}

const QWEN2_5_VOCAB_SIZE = 151936;

export const QWEN2_PRESETS = {
  /** About 100 KB in bf16; its vocabulary is too small for the real tokenizer. Untied, so lm_head.weight is exercised. */
  tiny: {
    hiddenSize: 32,
    intermediateSize: 64,
    numLayers: 2,
    numHeads: 4,
    numKvHeads: 2,
    vocabSize: 512,
    tieWordEmbeddings: false,
    ropeTheta: 1_000_000,
    rmsNormEps: 1e-6,
    maxPositionEmbeddings: 32768,
  },
  /** The real vocabulary (so the real tokenizer works with it) at a tiny width: about 20 MB in bf16. */
  small: {
    hiddenSize: 64,
    intermediateSize: 128,
    numLayers: 2,
    numHeads: 4,
    numKvHeads: 2,
    vocabSize: QWEN2_5_VOCAB_SIZE,
    tieWordEmbeddings: true,
    ropeTheta: 1_000_000,
    rmsNormEps: 1e-6,
    maxPositionEmbeddings: 32768,
  },
  /** Qwen2.5-0.5B-Instruct: 494M parameters, about 1 GB in bf16. */
  "qwen2.5-0.5b": {
    hiddenSize: 896,
    intermediateSize: 4864,
    numLayers: 24,
    numHeads: 14,
    numKvHeads: 2,
    vocabSize: QWEN2_5_VOCAB_SIZE,
    tieWordEmbeddings: true,
    ropeTheta: 1_000_000,
    rmsNormEps: 1e-6,
    maxPositionEmbeddings: 32768,
  },
  /** Qwen2.5-1.5B-Instruct: 1.54B parameters, about 3.1 GB in bf16. */
  "qwen2.5-1.5b": {
    hiddenSize: 1536,
    intermediateSize: 8960,
    numLayers: 28,
    numHeads: 12,
    numKvHeads: 2,
    vocabSize: QWEN2_5_VOCAB_SIZE,
    tieWordEmbeddings: true,
    ropeTheta: 1_000_000,
    rmsNormEps: 1e-6,
    maxPositionEmbeddings: 32768,
  },
} as const satisfies Record<string, Qwen2Shape>;

export type Qwen2TensorKind = "weight" | "bias" | "norm";

export interface Qwen2Tensor {
  name: string;
  shape: number[];
  kind: Qwen2TensorKind;
}

/**
 * The tensors of a Qwen2ForCausalLM in the order of its state dict: module registration order in
 * transformers' modeling_qwen2 (attention, then MLP, then the two norms, in each decoder layer).
 */
export function qwen2Tensors(shape: Qwen2Shape): Qwen2Tensor[] {
  const { hiddenSize: h, intermediateSize: inter, numHeads, numKvHeads, vocabSize: vocab } = shape;
  if (h % numHeads !== 0) throw new Error(`hidden size ${h} is not a multiple of the ${numHeads} attention heads`);
  if (numHeads % numKvHeads !== 0) throw new Error(`${numHeads} attention heads are not a multiple of the ${numKvHeads} key/value heads`);
  const kv = numKvHeads * (h / numHeads);
  const tensors: Qwen2Tensor[] = [{ name: "model.embed_tokens.weight", shape: [vocab, h], kind: "weight" }];
  for (let layer = 0; layer < shape.numLayers; layer++) {
    const prefix = `model.layers.${layer}`;
    tensors.push(
      { name: `${prefix}.self_attn.q_proj.weight`, shape: [h, h], kind: "weight" },
      { name: `${prefix}.self_attn.q_proj.bias`, shape: [h], kind: "bias" },
      { name: `${prefix}.self_attn.k_proj.weight`, shape: [kv, h], kind: "weight" },
      { name: `${prefix}.self_attn.k_proj.bias`, shape: [kv], kind: "bias" },
      { name: `${prefix}.self_attn.v_proj.weight`, shape: [kv, h], kind: "weight" },
      { name: `${prefix}.self_attn.v_proj.bias`, shape: [kv], kind: "bias" },
      { name: `${prefix}.self_attn.o_proj.weight`, shape: [h, h], kind: "weight" },
      { name: `${prefix}.mlp.gate_proj.weight`, shape: [inter, h], kind: "weight" },
      { name: `${prefix}.mlp.up_proj.weight`, shape: [inter, h], kind: "weight" },
      { name: `${prefix}.mlp.down_proj.weight`, shape: [h, inter], kind: "weight" },
      { name: `${prefix}.input_layernorm.weight`, shape: [h], kind: "norm" },
      { name: `${prefix}.post_attention_layernorm.weight`, shape: [h], kind: "norm" },
    );
  }
  tensors.push({ name: "model.norm.weight", shape: [h], kind: "norm" });
  if (!shape.tieWordEmbeddings) tensors.push({ name: "lm_head.weight", shape: [vocab, h], kind: "weight" });
  return tensors;
}
