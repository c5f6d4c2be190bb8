import { deriveSeed, nextUniform, splitMix32 } from "../seededGaussian.ts";
import type { Qwen2Shape } from "../qwen2Shape.ts";
import type { AdamWSettings } from "./adamW.ts";
import type { SequencesLossAndGradients } from "./qwen2Model.ts";
import { initQwen2Parameters, type Qwen2Parameters } from "./qwen2Parameters.ts";
import { sampleCompletions, type Completion } from "./sampleCompletion.ts";
import { trainGrpo, type GrpoProblem, type GrpoStepRecord } from "./trainGrpo.ts";
import { trainSupervised, type StepRecord, type SupervisedExample } from "./trainSupervised.ts";
import { TOY_SHAPE } from "./toyShape.ts";
import { TOY_TEST_SET, toyTaskSplit, type ToyProblem, type ToyTaskName } from "./toyTasks.ts";
import { decodeToyIds, encodeToyText, TOY_TOKEN_IDS, toyChatPrompt } from "./toyTokenizer.ts";

/** A supervised stage: which tasks it trains on, in what proportion, and how. */
export interface SupervisedStage {
  /** Examples of each task per round of the training list (its order is shuffled anyway), e.g. { "toy-own": 3, "toy-reasoning": 1 }. */
  mix: Partial<Record<ToyTaskName, number>>;
  steps: number;
  batchSize: number;
  learningRate: number;
  warmupSteps: number;
  weightDecay: number;
}

export interface GrpoStage {
  steps: number;
  promptsPerStep: number;
  groupSize: number;
  temperature: number;
  learningRate: number;
  warmupSteps: number;
}

/** Everything `npm run train:demo` does, so the committed models can be regenerated from it. */
export interface ToyDemoRecipe {
  shape: Qwen2Shape;
  /** Seeds the initial weights, every stage's data order and the GRPO samples. */
  seed: number;
  /** Training problems drawn per task (disjoint from the shipped test sets). */
  trainProblemsPerTask: number;
  /**
   * The addition answers of the supervised data are written in a hurry: where the ones column
   * carries, this share of them forget the carry ("47+85=" -> "122"). Supervised training imitates
   * the slips; GRPO, rewarded only for correct sums, learns to avoid them: what RL adds.
   */
  carrySlipRate: number;
  /** Toy-Base: from the initial weights, both tasks. */
  base: SupervisedStage;
  /**
   * Toy-Instruct (the target): Toy-Base trained further on its own task, with some of the base's
   * addition data replayed (as instruction tuning mixes in general data; without it the model forgets
   * addition altogether, and a vector has nothing to build on).
   */
  instruct: SupervisedStage;
  /** Toy-SFT (minus): Toy-Base trained further on the reasoning task. */
  sft: SupervisedStage;
  /** Toy-GRPO (plus): Toy-SFT trained by GRPO on the reasoning task, reward 1 for the exact sum. */
  grpo: GrpoStage;
}

export const TOY_DEMO_RECIPE: ToyDemoRecipe = {
  shape: { ...TOY_SHAPE, hiddenSize: 64, intermediateSize: 192 },
  seed: 2509,
  trainProblemsPerTask: 6000,
  carrySlipRate: 0.5,
  base: { mix: { "toy-reasoning": 1, "toy-own": 1 }, steps: 4000, batchSize: 32, learningRate: 3e-3, warmupSteps: 50, weightDecay: 0.01 },
  instruct: { mix: { "toy-own": 3, "toy-reasoning": 1 }, steps: 200, batchSize: 32, learningRate: 1e-3, warmupSteps: 20, weightDecay: 0 },
  sft: { mix: { "toy-reasoning": 1 }, steps: 200, batchSize: 32, learningRate: 1e-3, warmupSteps: 20, weightDecay: 0 },
  grpo: { steps: 50, promptsPerStep: 16, groupSize: 8, temperature: 1, learningRate: 5e-4, warmupSteps: 10 },
};

/** The answers end the assistant's turn, as the chat template's <|im_end|>. */
const MAX_ANSWER_TOKENS = 12;
const STOP_IDS = [TOY_TOKEN_IDS.imEnd, TOY_TOKEN_IDS.endOfText];

export const toyPromptIds = (problem: ToyProblem): number[] => encodeToyText(toyChatPrompt(problem.prompt));

/** The ones digits of an addition prompt carry into the tens. */
export function onesColumnCarries(prompt: string): boolean {
  const match = /^(\d+)\+(\d+)=$/u.exec(prompt);
  if (match === null) throw new Error(`not an addition prompt: ${JSON.stringify(prompt)}`);
  return (Number(match[1]) % 10) + (Number(match[2]) % 10) >= 10;
}

/** The training problems of `task`, addition answers with the recipe's carry slips (seeded, the same for every stage). */
export function toyTrainingProblems(recipe: ToyDemoRecipe, task: ToyTaskName): ToyProblem[] {
  const { train } = toyTaskSplit(task, { seed: TOY_TEST_SET.seed, testCount: TOY_TEST_SET.count, trainCount: recipe.trainProblemsPerTask });
  if (task !== "toy-reasoning") return train;
  const rng = splitMix32(deriveSeed(recipe.seed, "carry slips"));
  return train.map((problem) => {
    const slips = nextUniform(rng) < recipe.carrySlipRate;
    return onesColumnCarries(problem.prompt) && slips ? { prompt: problem.prompt, target: String(Number(problem.target) - 10) } : problem;
  });
}

const supervisedExample = (problem: ToyProblem): SupervisedExample => ({ promptIds: toyPromptIds(problem), answerIds: encodeToyText(`${problem.target}<|im_end|>`) });

export function cloneParameters(parameters: Qwen2Parameters): Qwen2Parameters {
  return { shape: parameters.shape, tensors: new Map([...parameters.tensors].map(([name, values]) => [name, values.slice()])) };
}

export const initialToyParameters = (recipe: ToyDemoRecipe): Qwen2Parameters => initQwen2Parameters(recipe.shape, recipe.seed, Float32Array);

/** How a stage runs: progress, a prefix of its steps, and the loss and gradients (npm run train:demo: two threads). */
export interface ToyStageRun<Record> {
  onStep?: (step: number, record: Record) => void;
  /** Supervised stages only: run the first runSteps of the stage's schedule. */
  runSteps?: number;
  lossAndGradients?: SequencesLossAndGradients;
}

/** Trains a copy of `start` by a supervised stage; `label` seeds its data order. */
export function trainToySupervisedStage(
  recipe: ToyDemoRecipe,
  start: Qwen2Parameters,
  stage: SupervisedStage,
  label: string,
  run: ToyStageRun<StepRecord> = {},
): { parameters: Qwen2Parameters; records: StepRecord[] } {
  const parameters = cloneParameters(start);
  const mix = Object.entries(stage.mix) as [ToyTaskName, number][];
  const perTask = mix.map(([task]) => toyTrainingProblems(recipe, task));
  const rounds = Math.min(...mix.map(([, count], index) => Math.floor(perTask[index]!.length / count)));
  const examples = Array.from({ length: rounds }, (_, round) => mix.flatMap(([, count], index) => perTask[index]!.slice(round * count, (round + 1) * count))).flat().map(supervisedExample);
  const adamW: AdamWSettings = { learningRate: stage.learningRate, beta1: 0.9, beta2: 0.99, epsilon: 1e-8, weightDecay: stage.weightDecay };
  const records = trainSupervised(parameters, examples, {
    steps: stage.steps,
    runSteps: run.runSteps,
    batchSize: stage.batchSize,
    seed: deriveSeed(recipe.seed, label),
    adamW,
    maxGradientNorm: 1,
    warmupSteps: stage.warmupSteps,
    minLearningRateFraction: 0.1,
    onStep: run.onStep === undefined ? undefined : (step, loss, gradientNorm) => run.onStep!(step, { loss, gradientNorm }),
    lossAndGradients: run.lossAndGradients,
  });
  return { parameters, records };
}

/** The completion's answer, the text before the stop token; undefined when it never stopped. */
export function toyAnswer(completion: Completion): string | undefined {
  if (!completion.stopped) return undefined;
  return decodeToyIds(completion.ids.slice(0, -1));
}

/** Trains a copy of `sft` by GRPO on the (correct) addition training problems. */
export function trainToyGrpoStage(recipe: ToyDemoRecipe, sft: Qwen2Parameters, run: ToyStageRun<GrpoStepRecord> = {}): { parameters: Qwen2Parameters; records: GrpoStepRecord[] } {
  const parameters = cloneParameters(sft);
  const { train } = toyTaskSplit("toy-reasoning", { seed: TOY_TEST_SET.seed, testCount: TOY_TEST_SET.count, trainCount: recipe.trainProblemsPerTask });
  const problems: GrpoProblem[] = train.map((problem) => ({ promptIds: toyPromptIds(problem), reward: (completion) => (toyAnswer(completion) === problem.target ? 1 : 0) }));
  const { grpo } = recipe;
  const records = trainGrpo(parameters, problems, {
    steps: grpo.steps,
    promptsPerStep: grpo.promptsPerStep,
    groupSize: grpo.groupSize,
    temperature: grpo.temperature,
    maxNewTokens: MAX_ANSWER_TOKENS,
    stopIds: STOP_IDS,
    seed: deriveSeed(recipe.seed, "grpo"),
    adamW: { learningRate: grpo.learningRate, beta1: 0.9, beta2: 0.99, epsilon: 1e-8, weightDecay: 0 },
    maxGradientNorm: 1,
    warmupSteps: grpo.warmupSteps,
    minLearningRateFraction: 0.1,
    onStep: run.onStep,
    lossAndGradients: run.lossAndGradients,
  });
  return { parameters, records };
}

/** Greedy exact-match accuracy on `problems` (the evaluator's scoring: the answer before the stop token equals the target). */
export function toyGreedyAccuracy(parameters: Qwen2Parameters, problems: readonly ToyProblem[], batchSize = 50): number {
  let correct = 0;
  for (let start = 0; start < problems.length; start += batchSize) {
    const batch = problems.slice(start, start + batchSize);
    const completions = sampleCompletions(parameters, batch.map(toyPromptIds), { maxNewTokens: MAX_ANSWER_TOKENS, stopIds: STOP_IDS, temperature: 0 });
    completions.forEach((completion, index) => {
      if (toyAnswer(completion) === batch[index]!.target) correct++;
    });
  }
  return correct / problems.length;
}

/**
 * target + alpha * (plus - minus) by the numeric contract (d = p - m, s = d * alpha, r = t + s, each
 * rounded to float32), for the training script's own quick look; the app's merge engine is what
 * users run, and computes the same floats.
 */
export function toyTaskArithmetic(target: Qwen2Parameters, plus: Qwen2Parameters, minus: Qwen2Parameters, alpha: number): Qwen2Parameters {
  const merged = cloneParameters(target);
  for (const [name, values] of merged.tensors) {
    const p = plus.tensors.get(name)!;
    const m = minus.tensors.get(name)!;
    for (let i = 0; i < values.length; i++) values[i] = values[i]! + Math.fround(Math.fround(p[i]! - m[i]!) * alpha);
  }
  return merged;
}
