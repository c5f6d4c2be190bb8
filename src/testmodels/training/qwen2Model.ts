import type { Qwen2Shape } from "../qwen2Shape.ts";
import { causalAttentionBackward, causalAttentionForward, type AttentionOutput, type AttentionSize } from "./causalAttention.ts";
import { embeddingBackward, embeddingForward } from "./embedding.ts";
import type { FloatArray } from "./floatArrays.ts";
import { linearBackward, linearForward } from "./linear.ts";
import { packSequences, type PackedBatch, type WeightedSequence } from "./packSequences.ts";
import { parameter, zerosLikeParameters, type Qwen2Parameters } from "./qwen2Parameters.ts";
import { rmsNormBackward, rmsNormForward, type RmsNormOutput } from "./rmsNorm.ts";
import { applyRope, ropeTables, type RopeTables } from "./rope.ts";
import { swiGluBackward, swiGluForward } from "./swiGlu.ts";
import { weightedCrossEntropy } from "./weightedCrossEntropy.ts";

/** What one decoder layer's forward pass keeps for its backward pass. */
interface LayerTape {
  input: FloatArray;
  inputNorm: RmsNormOutput;
  /** After RoPE. */
  query: FloatArray;
  key: FloatArray;
  value: FloatArray;
  attention: AttentionOutput;
  afterAttention: FloatArray;
  postAttentionNorm: RmsNormOutput;
  gate: FloatArray;
  up: FloatArray;
  activated: FloatArray;
}

/** The forward pass's activations, for qwen2Backward. */
export interface Qwen2Tape {
  batch: PackedBatch;
  rope: RopeTables;
  layers: LayerTape[];
  finalInput: FloatArray;
  finalNorm: RmsNormOutput;
  /** [rows, vocab] */
  logits: FloatArray;
}

const headDimOf = (shape: Qwen2Shape) => shape.hiddenSize / shape.numHeads;
const attentionSize = (shape: Qwen2Shape): AttentionSize => ({ numHeads: shape.numHeads, numKvHeads: shape.numKvHeads, headDim: headDimOf(shape) });
const lmHeadName = (shape: Qwen2Shape) => (shape.tieWordEmbeddings ? "model.embed_tokens.weight" : "lm_head.weight");

function addInto(target: FloatArray, addend: FloatArray): FloatArray {
  for (let i = 0; i < target.length; i++) target[i] = target[i]! + addend[i]!;
  return target;
}

function added(a: FloatArray, b: FloatArray): FloatArray {
  return addInto(a.slice(), b);
}

/**
 * The forward pass of Qwen2ForCausalLM (transformers' modeling_qwen2, what the evaluator's ONNX graph
 * computes) over packed sequences: embedding; per layer RMS norm, q/k/v projections with biases,
 * RoPE, causal grouped-query attention within each sequence, o_proj, residual, RMS norm, SwiGLU MLP,
 * residual; final norm and lm_head (the embedding table when tied). Returns the logits of every row
 * and what the backward pass needs.
 */
export function qwen2Forward(parameters: Qwen2Parameters, batch: PackedBatch): Qwen2Tape {
  const { shape } = parameters;
  const { hiddenSize: hidden, intermediateSize, numHeads, numKvHeads, rmsNormEps: eps } = shape;
  const headDim = headDimOf(shape);
  const rows = batch.ids.length;
  const p = (name: string) => parameter(parameters, name);
  const positions = batch.positions.reduce((largest, position) => Math.max(largest, position), 0) + 1;
  if (positions > shape.maxPositionEmbeddings) {
    throw new Error(`a sequence of ${positions} tokens is longer than the model's ${shape.maxPositionEmbeddings} positions (max_position_embeddings)`);
  }
  const rope = ropeTables(positions, headDim, shape.ropeTheta);
  const layers: LayerTape[] = [];
  let states = embeddingForward(p("model.embed_tokens.weight"), batch.ids, hidden);
  for (let layer = 0; layer < shape.numLayers; layer++) {
    const prefix = `model.layers.${layer}`;
    const inputNorm = rmsNormForward(states, p(`${prefix}.input_layernorm.weight`), hidden, eps);
    const project = (name: string, outFeatures: number) =>
      linearForward(inputNorm.y, p(`${prefix}.self_attn.${name}.weight`), p(`${prefix}.self_attn.${name}.bias`), { rows, inFeatures: hidden, outFeatures });
    const query = applyRope(project("q_proj", numHeads * headDim), batch.positions, numHeads, rope);
    const key = applyRope(project("k_proj", numKvHeads * headDim), batch.positions, numKvHeads, rope);
    const value = project("v_proj", numKvHeads * headDim);
    const attention = causalAttentionForward(query, key, value, batch.segmentStarts, attentionSize(shape));
    const attentionOutput = linearForward(attention.context, p(`${prefix}.self_attn.o_proj.weight`), undefined, { rows, inFeatures: numHeads * headDim, outFeatures: hidden });
    const afterAttention = added(states, attentionOutput);
    const postAttentionNorm = rmsNormForward(afterAttention, p(`${prefix}.post_attention_layernorm.weight`), hidden, eps);
    const mlpSize = { rows, inFeatures: hidden, outFeatures: intermediateSize };
    const gate = linearForward(postAttentionNorm.y, p(`${prefix}.mlp.gate_proj.weight`), undefined, mlpSize);
    const up = linearForward(postAttentionNorm.y, p(`${prefix}.mlp.up_proj.weight`), undefined, mlpSize);
    const activated = swiGluForward(gate, up);
    const down = linearForward(activated, p(`${prefix}.mlp.down_proj.weight`), undefined, { rows, inFeatures: intermediateSize, outFeatures: hidden });
    layers.push({ input: states, inputNorm, query, key, value, attention, afterAttention, postAttentionNorm, gate, up, activated });
    states = added(afterAttention, down);
  }
  const finalNorm = rmsNormForward(states, p("model.norm.weight"), hidden, eps);
  const logits = linearForward(finalNorm.y, p(lmHeadName(shape)), undefined, { rows, inFeatures: hidden, outFeatures: shape.vocabSize });
  return { batch, rope, layers, finalInput: states, finalNorm, logits };
}

/** The gradients of a loss with respect to every parameter, given dL/dlogits, under the parameters' names. */
export function qwen2Backward(parameters: Qwen2Parameters, tape: Qwen2Tape, dLogits: FloatArray): Map<string, FloatArray> {
  const { shape } = parameters;
  const { hiddenSize: hidden, intermediateSize, numHeads, numKvHeads } = shape;
  const headDim = headDimOf(shape);
  const { batch } = tape;
  const rows = batch.ids.length;
  const p = (name: string) => parameter(parameters, name);
  const gradients = zerosLikeParameters(parameters);
  const g = (name: string) => parameter(gradients, name);

  const dFinalNormed = linearBackward(dLogits, tape.finalNorm.y, p(lmHeadName(shape)), { rows, inFeatures: hidden, outFeatures: shape.vocabSize }, g(lmHeadName(shape)), undefined);
  let dStates = rmsNormBackward(dFinalNormed, tape.finalInput, p("model.norm.weight"), tape.finalNorm.inverseRms, hidden, g("model.norm.weight"));
  for (let layer = shape.numLayers - 1; layer >= 0; layer--) {
    const prefix = `model.layers.${layer}`;
    const saved = tape.layers[layer]!;
    const mlpSize = { rows, inFeatures: hidden, outFeatures: intermediateSize };
    const dActivated = linearBackward(dStates, saved.activated, p(`${prefix}.mlp.down_proj.weight`), { rows, inFeatures: intermediateSize, outFeatures: hidden }, g(`${prefix}.mlp.down_proj.weight`), undefined);
    const { dGate, dUp } = swiGluBackward(dActivated, saved.gate, saved.up);
    const dPostNormed = linearBackward(dGate, saved.postAttentionNorm.y, p(`${prefix}.mlp.gate_proj.weight`), mlpSize, g(`${prefix}.mlp.gate_proj.weight`), undefined);
    addInto(dPostNormed, linearBackward(dUp, saved.postAttentionNorm.y, p(`${prefix}.mlp.up_proj.weight`), mlpSize, g(`${prefix}.mlp.up_proj.weight`), undefined));
    const dAfterAttention = addInto(
      rmsNormBackward(dPostNormed, saved.afterAttention, p(`${prefix}.post_attention_layernorm.weight`), saved.postAttentionNorm.inverseRms, hidden, g(`${prefix}.post_attention_layernorm.weight`)),
      dStates,
    );
    const dContext = linearBackward(
      dAfterAttention,
      saved.attention.context,
      p(`${prefix}.self_attn.o_proj.weight`),
      { rows, inFeatures: numHeads * headDim, outFeatures: hidden },
      g(`${prefix}.self_attn.o_proj.weight`),
      undefined,
    );
    const { dq, dk, dv } = causalAttentionBackward(dContext, saved.query, saved.key, saved.value, saved.attention.probabilities, batch.segmentStarts, attentionSize(shape));
    const projectBack = (name: string, dy: FloatArray, outFeatures: number) =>
      linearBackward(dy, saved.inputNorm.y, p(`${prefix}.self_attn.${name}.weight`), { rows, inFeatures: hidden, outFeatures }, g(`${prefix}.self_attn.${name}.weight`), g(`${prefix}.self_attn.${name}.bias`));
    const dNormed = projectBack("q_proj", applyRope(dq, batch.positions, numHeads, tape.rope, -1), numHeads * headDim);
    addInto(dNormed, projectBack("k_proj", applyRope(dk, batch.positions, numKvHeads, tape.rope, -1), numKvHeads * headDim));
    addInto(dNormed, projectBack("v_proj", dv, numKvHeads * headDim));
    dStates = addInto(rmsNormBackward(dNormed, saved.input, p(`${prefix}.input_layernorm.weight`), saved.inputNorm.inverseRms, hidden, g(`${prefix}.input_layernorm.weight`)), dAfterAttention);
  }
  embeddingBackward(dStates, batch.ids, hidden, g("model.embed_tokens.weight"));
  return gradients;
}

export interface LossAndGradients {
  /** sum over rows of weight * -log p(target) */
  loss: number;
  gradients: Map<string, FloatArray>;
}

/** The weighted cross-entropy of `batch` (see packSequences) and its gradient with respect to every parameter. */
export function qwen2LossAndGradients(parameters: Qwen2Parameters, batch: PackedBatch): LossAndGradients {
  const tape = qwen2Forward(parameters, batch);
  const { loss, dLogits } = weightedCrossEntropy(tape.logits, batch.targets, batch.weights, parameters.shape.vocabSize);
  return { loss, gradients: qwen2Backward(parameters, tape, dLogits) };
}

/** The loss and gradients of a batch of sequences: what a trainer's step needs, on one thread or more. */
export type SequencesLossAndGradients = (parameters: Qwen2Parameters, sequences: readonly WeightedSequence[]) => LossAndGradients;

/** The batch packed whole and computed on the calling thread: the trainers' default. */
export const singleThreadLossAndGradients: SequencesLossAndGradients = (parameters, sequences) => qwen2LossAndGradients(parameters, packSequences(sequences));
