/** The fields of a Qwen2ForCausalLM config.json that decide its forward pass. */
export interface Qwen2Config {
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
  /** Positions the RoPE tables cover. */
  maxPositionEmbeddings: number;
}

/** A config.json this evaluator cannot run; the message names the field. */
export class UnsupportedModelError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "UnsupportedModelError";
  }
}

const SUPPORTED_ARCHITECTURE = "Qwen2ForCausalLM";

/**
 * Reads and checks a Qwen2 / Qwen2.5 config.json. Defaults are transformers' Qwen2Config defaults;
 * anything that would change the forward pass and is not implemented (other architectures, RoPE
 * scaling, sliding-window attention, another activation) is refused with the field's name.
 */
export function readQwen2Config(config: Record<string, unknown>): Qwen2Config {
  const architectures = config.architectures;
  if (!Array.isArray(architectures) || architectures.length !== 1 || architectures[0] !== SUPPORTED_ARCHITECTURE) {
    throw new UnsupportedModelError(
      `config.json "architectures" is ${JSON.stringify(architectures)}; the evaluator runs only ["${SUPPORTED_ARCHITECTURE}"] (Qwen2 / Qwen2.5)`,
    );
  }
  if (config.model_type !== undefined && config.model_type !== "qwen2") {
    throw new UnsupportedModelError(`config.json "model_type" is ${JSON.stringify(config.model_type)}; expected "qwen2"`);
  }
  if (config.rope_scaling !== undefined && config.rope_scaling !== null) {
    throw new UnsupportedModelError(`config.json "rope_scaling" is ${JSON.stringify(config.rope_scaling)}; RoPE scaling is not implemented (only null)`);
  }
  if (config.use_sliding_window === true) {
    throw new UnsupportedModelError(`config.json "use_sliding_window" is true; sliding-window attention is not implemented`);
  }
  const activation = config.hidden_act ?? "silu";
  if (activation !== "silu") {
    throw new UnsupportedModelError(`config.json "hidden_act" is ${JSON.stringify(activation)}; only "silu" is implemented`);
  }

  const hiddenSize = positiveInteger(config, "hidden_size");
  const numHeads = positiveInteger(config, "num_attention_heads");
  const numKvHeads = config.num_key_value_heads === undefined || config.num_key_value_heads === null ? numHeads : positiveInteger(config, "num_key_value_heads");
  if (numHeads % numKvHeads !== 0) {
    throw new UnsupportedModelError(`config.json "num_attention_heads" (${numHeads}) is not a multiple of "num_key_value_heads" (${numKvHeads})`);
  }
  let headDim: number;
  if (config.head_dim === undefined || config.head_dim === null) {
    if (hiddenSize % numHeads !== 0) {
      throw new UnsupportedModelError(`config.json "hidden_size" (${hiddenSize}) is not a multiple of "num_attention_heads" (${numHeads}) and there is no "head_dim"`);
    }
    headDim = hiddenSize / numHeads;
  } else {
    headDim = positiveInteger(config, "head_dim");
  }
  if (headDim % 2 !== 0) throw new UnsupportedModelError(`the head dimension ${headDim} is odd; rotary embeddings need an even one`);
  const tie = config.tie_word_embeddings ?? false;
  if (typeof tie !== "boolean") throw new UnsupportedModelError(`config.json "tie_word_embeddings" is ${JSON.stringify(tie)}; expected true or false`);
  return {
    hiddenSize,
    intermediateSize: positiveInteger(config, "intermediate_size"),
    numLayers: positiveInteger(config, "num_hidden_layers"),
    numHeads,
    numKvHeads,
    headDim,
    vocabSize: positiveInteger(config, "vocab_size"),
    ropeTheta: positiveNumber(config, "rope_theta", 10000),
    rmsNormEps: positiveNumber(config, "rms_norm_eps", 1e-6),
    tieWordEmbeddings: tie,
    maxPositionEmbeddings: config.max_position_embeddings === undefined ? 32768 : positiveInteger(config, "max_position_embeddings"),
  };
}

function positiveInteger(config: Record<string, unknown>, field: string): number {
  const value = config[field];
  if (typeof value !== "number" || !Number.isInteger(value) || value <= 0) {
    throw new UnsupportedModelError(`config.json "${field}" is ${JSON.stringify(value)}; expected a positive integer`);
  }
  return value;
}

function positiveNumber(config: Record<string, unknown>, field: string, fallback: number): number {
  const value = config[field] ?? fallback;
  if (typeof value !== "number" || !Number.isFinite(value) || value <= 0) {
    throw new UnsupportedModelError(`config.json "${field}" is ${JSON.stringify(value)}; expected a positive number`);
  }
  return value;
}
