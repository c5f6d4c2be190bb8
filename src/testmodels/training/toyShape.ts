import type { Qwen2Shape } from "../qwen2Shape.ts";
import { TOY_VOCAB_SIZE } from "./toyTokenizer.ts";

/**
 * The toy models' Qwen2 shape: 4 layers of width 128, 4 query heads on 2 key/value heads (head
 * dimension 32), the toy tokenizer's 47-token vocabulary, tied embeddings; about 0.6M parameters.
 */
export const TOY_SHAPE: Qwen2Shape = {
  hiddenSize: 128,
  intermediateSize: 256,
  numLayers: 4,
  numHeads: 4,
  numKvHeads: 2,
  vocabSize: TOY_VOCAB_SIZE,
  tieWordEmbeddings: true,
  ropeTheta: 10_000,
  rmsNormEps: 1e-6,
  maxPositionEmbeddings: 256,
};
