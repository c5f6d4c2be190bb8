import { deriveSeed, splitMix32 } from "../seededGaussian.ts";
import { adamWStep, clipGradientNorm, createAdamWState, type AdamWSettings } from "./adamW.ts";
import type { WeightedSequence } from "./packSequences.ts";
import { singleThreadLossAndGradients, type SequencesLossAndGradients } from "./qwen2Model.ts";
import type { Qwen2Parameters } from "./qwen2Parameters.ts";
import { seededPasses } from "./seededPasses.ts";

/** A prompt and the answer the model should learn to continue it with; the loss counts answer tokens only. */
export interface SupervisedExample {
  promptIds: readonly number[];
  answerIds: readonly number[];
}

/** How a trainer takes its steps: the optimizer, the clip, the learning-rate schedule and where the gradients come from. */
export interface OptimizationOptions {
  /** The schedule's length. */
  steps: number;
  adamW: AdamWSettings;
  /** Global gradient norm clip. */
  maxGradientNorm: number;
  /** Learning rate: linear warm-up over these steps, then cosine decay to minLearningRateFraction of the peak. */
  warmupSteps: number;
  minLearningRateFraction: number;
  /** Computes each step's loss and gradients: singleThreadLossAndGradients by default, or startGradientWorkers(...).lossAndGradients (two threads; equal within float32 round-off, not bit for bit). */
  lossAndGradients?: SequencesLossAndGradients;
}

export interface SupervisedTrainingOptions extends OptimizationOptions {
  /** Steps actually run, from the first (all of them by default): a prefix of the full run, e.g. to check its first losses. */
  runSteps?: number;
  batchSize: number;
  /** Seeds the order of the examples (reshuffled every pass over them). */
  seed: number;
  /** Called after every step (step from 1) with the batch's mean answer-token loss and the gradient norm before clipping. */
  onStep?: (step: number, loss: number, gradientNorm: number) => void;
}

export interface StepRecord {
  loss: number;
  gradientNorm: number;
}

/** The learning rate of `step` (from 1): linear warm-up, then a cosine from the peak down to the floor at the last step. */
export function scheduledLearningRate(step: number, options: Pick<SupervisedTrainingOptions, "steps" | "warmupSteps" | "minLearningRateFraction"> & { peak: number }): number {
  const { steps, warmupSteps, minLearningRateFraction, peak } = options;
  if (step <= warmupSteps) return (peak * step) / warmupSteps;
  const progress = steps === warmupSteps ? 1 : (step - warmupSteps) / (steps - warmupSteps);
  return peak * (minLearningRateFraction + ((1 - minLearningRateFraction) * (1 + Math.cos(Math.PI * progress))) / 2);
}

/** The sequence of a batch's example: prompt then answer, each answer token weighted 1 / (answer tokens in the batch). */
export function supervisedBatch(examples: readonly SupervisedExample[]): WeightedSequence[] {
  const answerTokens = examples.reduce((sum, example) => sum + example.answerIds.length, 0);
  if (answerTokens === 0) throw new Error("a supervised batch needs at least one answer token");
  return examples.map(({ promptIds, answerIds }) => {
    if (promptIds.length === 0) throw new Error("a supervised example needs a prompt of at least one token");
    return {
      ids: [...promptIds, ...answerIds],
      lossWeights: [...new Array<number>(promptIds.length).fill(0), ...new Array<number>(answerIds.length).fill(1 / answerTokens)],
    };
  });
}

/**
 * Supervised fine-tuning in place: `steps` AdamW steps on batches of `batchSize` examples, taken in
 * a seeded shuffled order, the loss the mean cross-entropy over answer tokens. Deterministic: the
 * same parameters, examples and options give the same bytes.
 */
export function trainSupervised(parameters: Qwen2Parameters, examples: readonly SupervisedExample[], options: SupervisedTrainingOptions): StepRecord[] {
  if (examples.length === 0) throw new Error("no training examples");
  if (!(options.batchSize >= 1 && options.batchSize <= examples.length)) throw new Error(`batch size ${options.batchSize} must be between 1 and the ${examples.length} examples`);
  const rng = splitMix32(deriveSeed(options.seed, "supervised order"));
  const nextExample = seededPasses(examples.length, rng);
  const state = createAdamWState(parameters);
  const records: StepRecord[] = [];
  for (let step = 1; step <= (options.runSteps ?? options.steps); step++) {
    const batch = Array.from({ length: options.batchSize }, () => examples[nextExample()]!);
    const { loss, gradients } = (options.lossAndGradients ?? singleThreadLossAndGradients)(parameters, supervisedBatch(batch));
    const gradientNorm = clipGradientNorm(gradients, options.maxGradientNorm);
    adamWStep(parameters, gradients, state, options.adamW, scheduledLearningRate(step, { ...options, peak: options.adamW.learningRate }));
    records.push({ loss, gradientNorm });
    options.onStep?.(step, loss, gradientNorm);
  }
  return records;
}
