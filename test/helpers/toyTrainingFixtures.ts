import type { Qwen2Shape } from "../../src/testmodels/qwen2Shape.ts";
import type { GrpoOptions } from "../../src/testmodels/training/trainGrpo.ts";
import { TOY_SHAPE } from "../../src/testmodels/training/toyShape.ts";
import { TOY_TOKEN_IDS } from "../../src/testmodels/training/toyTokenizer.ts";

/** A small toy-vocabulary Qwen2 shape: fast enough for tens of training steps in a test. */
export const SMALL_TOY_SHAPE: Qwen2Shape = { ...TOY_SHAPE, hiddenSize: 32, intermediateSize: 64, numLayers: 2, maxPositionEmbeddings: 128 };

/** A few short GRPO steps at a constant learning rate: answers of up to two tokens, no weight decay. */
export const SMALL_GRPO_OPTIONS: GrpoOptions = {
  steps: 3,
  promptsPerStep: 3,
  groupSize: 6,
  temperature: 1,
  maxNewTokens: 2,
  stopIds: [TOY_TOKEN_IDS.imEnd],
  seed: 5,
  adamW: { learningRate: 1e-2, beta1: 0.9, beta2: 0.99, epsilon: 1e-8, weightDecay: 0 },
  maxGradientNorm: 1,
  warmupSteps: 0,
  minLearningRateFraction: 1,
};
