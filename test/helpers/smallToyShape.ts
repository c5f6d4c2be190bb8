import type { Qwen2Shape } from "../../src/testmodels/qwen2Shape.ts";
import { TOY_VOCAB_SIZE } from "../../src/testmodels/training/toyTokenizer.ts";

/** A small toy-vocabulary Qwen2 shape: fast enough for tens of training steps in a test. */
export const SMALL_TOY_SHAPE: Qwen2Shape = {
  hiddenSize: 32,
  intermediateSize: 64,
  numLayers: 2,
  numHeads: 4,
  numKvHeads: 2,
  vocabSize: TOY_VOCAB_SIZE,
  tieWordEmbeddings: true,
  ropeTheta: 10_000,
  rmsNormEps: 1e-6,
  maxPositionEmbeddings: 128,
};
