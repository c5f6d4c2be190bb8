import type { Qwen2Shape } from "../qwen2Shape.ts";
import { embeddingForward } from "./embedding.ts";
import { linearForward } from "./linear.ts";
import { parameter, type Qwen2Parameters } from "./qwen2Parameters.ts";
import { rmsNormForward } from "./rmsNorm.ts";
import { applyRope, ropeTables, type RopeTables } from "./rope.ts";
import { swiGluForward } from "./swiGlu.ts";

/** One sequence's keys and values at every layer (after RoPE), [positions, numKvHeads * headDim] each. */
export interface KeyValueCache {
  length: number;
  keys: Float32Array[];
  values: Float32Array[];
}

const kvWidth = (shape: Qwen2Shape) => shape.numKvHeads * (shape.hiddenSize / shape.numHeads);

export function emptyKeyValueCache(shape: Qwen2Shape): KeyValueCache {
  return { length: 0, keys: Array.from({ length: shape.numLayers }, () => new Float32Array(0)), values: Array.from({ length: shape.numLayers }, () => new Float32Array(0)) };
}

export function copyKeyValueCache(cache: KeyValueCache): KeyValueCache {
  return { length: cache.length, keys: cache.keys.map((keys) => keys.slice()), values: cache.values.map((values) => values.slice()) };
}

function appended(existing: Float32Array, rows: Float32Array): Float32Array {
  const grown = new Float32Array(existing.length + rows.length);
  grown.set(existing);
  grown.set(rows, existing.length);
  return grown;
}

/**
 * The forward pass of qwen2Forward for generation: runs new tokens of several sequences (each
 * continuing its cache, which grows by them) and returns the logits of each sequence's last new
 * token. The same float32 operations in the same order as the training forward pass (so the same
 * logits, bit for bit), only the rows before the new ones come from the cache instead of being
 * computed again.
 */
export function decodeWithCache(parameters: Qwen2Parameters, caches: readonly KeyValueCache[], newIds: readonly (readonly number[])[]): Float32Array[] {
  const { shape } = parameters;
  const { hiddenSize: hidden, intermediateSize, numHeads, numKvHeads, rmsNormEps: eps } = shape;
  const headDim = hidden / numHeads;
  const width = kvWidth(shape);
  const p = (name: string) => parameter(parameters, name);
  const starts: number[] = [];
  const ids: number[] = [];
  const positions: number[] = [];
  newIds.forEach((sequence, s) => {
    if (sequence.length === 0) throw new Error(`sequence ${s} has no new token`);
    starts.push(ids.length);
    sequence.forEach((id, t) => {
      ids.push(id);
      positions.push(caches[s]!.length + t);
    });
  });
  const rows = ids.length;
  const longest = Math.max(...positions) + 1;
  if (longest > shape.maxPositionEmbeddings) throw new Error(`a sequence of ${longest} tokens is longer than the model's ${shape.maxPositionEmbeddings} positions (max_position_embeddings)`);
  const rope: RopeTables = ropeTables(longest, headDim, shape.ropeTheta);
  const rowPositions = Int32Array.from(positions);
  let states = embeddingForward(p("model.embed_tokens.weight"), Int32Array.from(ids), hidden) as Float32Array;
  const group = numHeads / numKvHeads;
  const scale = 1 / Math.sqrt(headDim);
  const scores = new Float64Array(longest);
  for (let layer = 0; layer < shape.numLayers; layer++) {
    const prefix = `model.layers.${layer}`;
    const normed = rmsNormForward(states, p(`${prefix}.input_layernorm.weight`), hidden, eps).y;
    const project = (name: string, outFeatures: number) => linearForward(normed, p(`${prefix}.self_attn.${name}.weight`), p(`${prefix}.self_attn.${name}.bias`), { rows, inFeatures: hidden, outFeatures });
    const query = applyRope(project("q_proj", numHeads * headDim), rowPositions, numHeads, rope);
    const key = applyRope(project("k_proj", width), rowPositions, numKvHeads, rope);
    const value = project("v_proj", width);
    const context = new Float32Array(rows * numHeads * headDim);
    newIds.forEach((sequence, s) => {
      const cache = caches[s]!;
      const start = starts[s]!;
      cache.keys[layer] = appended(cache.keys[layer]!, key.subarray(start * width, (start + sequence.length) * width) as Float32Array);
      cache.values[layer] = appended(cache.values[layer]!, value.subarray(start * width, (start + sequence.length) * width) as Float32Array);
      const keys = cache.keys[layer]!;
      const values = cache.values[layer]!;
      for (let t = 0; t < sequence.length; t++) {
        const row = start + t;
        const visible = positions[row]! + 1;
        for (let head = 0; head < numHeads; head++) {
          const kvHead = Math.floor(head / group);
          const qBase = (row * numHeads + head) * headDim;
          let max = -Infinity;
          for (let j = 0; j < visible; j++) {
            const kBase = j * width + kvHead * headDim;
            let dot = 0;
            for (let d = 0; d < headDim; d++) dot += query[qBase + d]! * keys[kBase + d]!;
            scores[j] = dot * scale;
            if (scores[j]! > max) max = scores[j]!;
          }
          let total = 0;
          for (let j = 0; j < visible; j++) {
            scores[j] = Math.exp(scores[j]! - max);
            total += scores[j]!;
          }
          // As the training pass: float32 probabilities, accumulated into the float32 context row by row.
          for (let j = 0; j < visible; j++) {
            const probability = Math.fround(scores[j]! / total);
            const vBase = j * width + kvHead * headDim;
            for (let d = 0; d < headDim; d++) context[qBase + d] = context[qBase + d]! + probability * values[vBase + d]!;
          }
        }
      }
    });
    const afterAttention = linearForward(context, p(`${prefix}.self_attn.o_proj.weight`), undefined, { rows, inFeatures: numHeads * headDim, outFeatures: hidden });
    for (let i = 0; i < afterAttention.length; i++) afterAttention[i] = states[i]! + afterAttention[i]!;
    const postNormed = rmsNormForward(afterAttention, p(`${prefix}.post_attention_layernorm.weight`), hidden, eps).y;
    const mlpSize = { rows, inFeatures: hidden, outFeatures: intermediateSize };
    const activated = swiGluForward(linearForward(postNormed, p(`${prefix}.mlp.gate_proj.weight`), undefined, mlpSize), linearForward(postNormed, p(`${prefix}.mlp.up_proj.weight`), undefined, mlpSize));
    const down = linearForward(activated, p(`${prefix}.mlp.down_proj.weight`), undefined, { rows, inFeatures: intermediateSize, outFeatures: hidden });
    for (let i = 0; i < down.length; i++) down[i] = afterAttention[i]! + down[i]!;
    states = down as Float32Array;
  }
  newIds.forEach((sequence, s) => (caches[s]!.length += sequence.length));
  const lastRows = new Float32Array(newIds.length * hidden);
  newIds.forEach((sequence, s) => lastRows.set(states.subarray((starts[s]! + sequence.length - 1) * hidden, (starts[s]! + sequence.length) * hidden), s * hidden));
  const finalNormed = rmsNormForward(lastRows, p("model.norm.weight"), hidden, eps).y;
  const lmHead = p(shape.tieWordEmbeddings ? "model.embed_tokens.weight" : "lm_head.weight");
  const logits = linearForward(finalNormed, lmHead, undefined, { rows: newIds.length, inFeatures: hidden, outFeatures: shape.vocabSize });
  return newIds.map((_, s) => logits.subarray(s * shape.vocabSize, (s + 1) * shape.vocabSize) as Float32Array);
}
