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
 * Reads and checks a Qwen2 / Qwen2.5 config.json, as transformers 4 writes it (`rope_theta`,
 * `torch_dtype`) or transformers 5 (`rope_parameters`, `layer_types`, `dtype`). Defaults are
 * transformers' Qwen2Config defaults; anything that would change the forward pass and is not
 * implemented (other architectures, RoPE scaling, sliding-window attention, another activation),
 * and any layout of these fields this reader does not know, is refused with the field's name.
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
  const slidingWindow = config.use_sliding_window ?? false;
  if (slidingWindow === true) {
    throw new UnsupportedModelError(`config.json "use_sliding_window" is true; sliding-window attention is not implemented`);
  }
  if (slidingWindow !== false) throw new UnsupportedModelError(`config.json "use_sliding_window" is ${JSON.stringify(slidingWindow)}; expected true or false`);
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
  const numLayers = positiveInteger(config, "num_hidden_layers");
  checkLayerTypes(config.layer_types, numLayers);
  const tie = config.tie_word_embeddings ?? false;
  if (typeof tie !== "boolean") throw new UnsupportedModelError(`config.json "tie_word_embeddings" is ${JSON.stringify(tie)}; expected true or false`);
  return {
    hiddenSize,
    intermediateSize: positiveInteger(config, "intermediate_size"),
    numLayers,
    numHeads,
    numKvHeads,
    headDim,
    vocabSize: positiveInteger(config, "vocab_size"),
    ropeTheta: readRopeTheta(config),
    rmsNormEps: positiveNumber(config, "rms_norm_eps", 1e-6),
    tieWordEmbeddings: tie,
    maxPositionEmbeddings: config.max_position_embeddings === undefined ? 32768 : positiveInteger(config, "max_position_embeddings"),
  };
}

/** transformers' Qwen2Config default when neither `rope_theta` nor `rope_parameters` is given. */
const DEFAULT_ROPE_THETA = 10000;

/** The keys of transformers 5's `rope_parameters` this evaluator implements, with the value each must have (undefined: any positive number). */
const ROPE_PARAMETERS: Readonly<Record<string, unknown>> = { rope_type: "default", rope_theta: undefined, partial_rotary_factor: 1 };

/**
 * The RoPE base: transformers 4's top-level `rope_theta`, or transformers 5's
 * `rope_parameters: {"rope_theta": ..., "rope_type": "default"}`. When both are given they must
 * agree; a rope_type other than "default", a partial rotary factor, per-layer-type parameters or any
 * other key is refused, naming it.
 */
function readRopeTheta(config: Record<string, unknown>): number {
  const topLevel = config.rope_theta === undefined || config.rope_theta === null ? undefined : positiveNumber(config, "rope_theta", DEFAULT_ROPE_THETA);
  const parameters = config.rope_parameters;
  if (parameters === undefined || parameters === null) return topLevel ?? DEFAULT_ROPE_THETA;
  if (typeof parameters !== "object" || Array.isArray(parameters)) {
    throw new UnsupportedModelError(`config.json "rope_parameters" is ${JSON.stringify(parameters)}; expected an object such as {"rope_theta": 1000000.0, "rope_type": "default"}`);
  }
  const fields = parameters as Record<string, unknown>;
  for (const [key, value] of Object.entries(fields)) {
    if (!(key in ROPE_PARAMETERS)) {
      throw new UnsupportedModelError(`config.json "rope_parameters" has "${key}" (${JSON.stringify(value)}); the evaluator implements only ${Object.keys(ROPE_PARAMETERS).map((name) => `"${name}"`).join(", ")} (one set for all layers)`);
    }
    const expected = ROPE_PARAMETERS[key];
    if (expected !== undefined && value !== expected) {
      throw new UnsupportedModelError(`config.json "rope_parameters.${key}" is ${JSON.stringify(value)}; only ${JSON.stringify(expected)} is implemented`);
    }
  }
  if (fields.rope_theta === undefined) {
    if (topLevel === undefined) throw new UnsupportedModelError(`config.json "rope_parameters" has no "rope_theta", and there is no top-level "rope_theta"`);
    return topLevel;
  }
  const theta = fields.rope_theta;
  if (typeof theta !== "number" || !Number.isFinite(theta) || theta <= 0) {
    throw new UnsupportedModelError(`config.json "rope_parameters.rope_theta" is ${JSON.stringify(theta)}; expected a positive number`);
  }
  if (topLevel !== undefined && topLevel !== theta) {
    throw new UnsupportedModelError(`config.json "rope_theta" (${topLevel}) and "rope_parameters.rope_theta" (${theta}) disagree; the RoPE base is ambiguous`);
  }
  return theta;
}

/** transformers 5's `layer_types`: one entry per layer, all "full_attention" (sliding-window layers are not implemented). */
function checkLayerTypes(layerTypes: unknown, numLayers: number): void {
  if (layerTypes === undefined || layerTypes === null) return;
  if (!Array.isArray(layerTypes)) throw new UnsupportedModelError(`config.json "layer_types" is ${JSON.stringify(layerTypes)}; expected a list with one entry per layer`);
  if (layerTypes.length !== numLayers) {
    throw new UnsupportedModelError(`config.json "layer_types" has ${layerTypes.length} entries but "num_hidden_layers" is ${numLayers}`);
  }
  const other = layerTypes.findIndex((type) => type !== "full_attention");
  if (other !== -1) {
    throw new UnsupportedModelError(`config.json "layer_types[${other}]" is ${JSON.stringify(layerTypes[other])}; only "full_attention" layers are implemented`);
  }
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
