import { deriveSeed, splitMix32 } from "../seededGaussian.ts";
import { adamWStep, clipGradientNorm, createAdamWState } from "./adamW.ts";
import type { WeightedSequence } from "./packSequences.ts";
import { singleThreadLossAndGradients } from "./qwen2Model.ts";
import type { Qwen2Parameters } from "./qwen2Parameters.ts";
import { sampleCompletions, type Completion } from "./sampleCompletion.ts";
import { seededPasses } from "./seededPasses.ts";
import { scheduledLearningRate, type OptimizationOptions } from "./trainSupervised.ts";

/** A prompt and the reward of a completion of it (1 for a correct answer, 0 otherwise, in the toy demo). */
export interface GrpoProblem {
  promptIds: readonly number[];
  reward: (completion: Completion) => number;
}

export interface GrpoOptions extends OptimizationOptions {
  /** Prompts per step, each sampled groupSize times. */
  promptsPerStep: number;
  groupSize: number;
  /** The sampling temperature of the group's completions. */
  temperature: number;
  maxNewTokens: number;
  stopIds: readonly number[];
  /** Seeds the order of the prompts and every sampled token. */
  seed: number;
  onStep?: (step: number, record: GrpoStepRecord) => void;
}

export interface GrpoStepRecord {
  /** The mean reward of the step's completions (sampled before the update). */
  meanReward: number;
  /** Groups whose rewards differ: only they carry a gradient. */
  informativeGroups: number;
  /** The policy-gradient loss, sum of advantage-weighted -log p (0 when no group is informative). */
  loss: number;
  /** Before clipping; 0 when no group is informative (the step is skipped). */
  gradientNorm: number;
}

/** Within-group advantages: (r - mean) / (std + 1e-4), the population std of the group's rewards; all 0 when the rewards are equal. */
export function groupAdvantages(rewards: readonly number[]): number[] {
  const mean = rewards.reduce((sum, reward) => sum + reward, 0) / rewards.length;
  const std = Math.sqrt(rewards.reduce((sum, reward) => sum + (reward - mean) ** 2, 0) / rewards.length);
  return rewards.map((reward) => (std === 0 ? 0 : (reward - mean) / (std + 1e-4)));
}

/**
 * The policy-gradient sequences of sampled groups: each completion follows its prompt, each of its
 * tokens weighted advantage / (groups * groupSize * its length), so the loss is GRPO's objective
 * (DeepSeekMath, arXiv 2402.03300) with one update per sample (the ratio is 1, nothing to clip) and
 * no KL term: the mean over groups of (1/G) sum_i (1/|o_i|) sum_t -A_i log p(o_i,t).
 */
export function grpoSequences(groups: readonly { promptIds: readonly number[]; completions: readonly Completion[]; advantages: readonly number[] }[]): WeightedSequence[] {
  return groups.flatMap(({ promptIds, completions, advantages }) =>
    completions.flatMap((completion, index) => {
      const advantage = advantages[index]!;
      if (advantage === 0 || completion.ids.length === 0) return [];
      const weight = advantage / (groups.length * completions.length * completion.ids.length);
      return [{ ids: [...promptIds, ...completion.ids], lossWeights: [...new Array<number>(promptIds.length).fill(0), ...new Array<number>(completion.ids.length).fill(weight)] }];
    }),
  );
}

/**
 * GRPO in place: at each step, promptsPerStep prompts (a seeded shuffled order, reshuffled every
 * pass) are each sampled groupSize times at `temperature`, every completion is rewarded, advantages
 * are normalised within each group, and one AdamW step follows the policy gradient. Deterministic:
 * the same parameters, problems and options give the same bytes.
 */
export function trainGrpo(parameters: Qwen2Parameters, problems: readonly GrpoProblem[], options: GrpoOptions): GrpoStepRecord[] {
  if (problems.length === 0) throw new Error("no GRPO problems");
  if (!(options.promptsPerStep >= 1 && options.promptsPerStep <= problems.length)) throw new Error(`prompts per step ${options.promptsPerStep} must be between 1 and the ${problems.length} problems`);
  if (!(options.groupSize >= 2)) throw new Error(`group size ${options.groupSize} must be at least 2: advantages compare completions within a group`);
  if (!(options.temperature > 0)) throw new Error(`temperature ${options.temperature} must be above 0: a group of greedy completions would be identical`);
  const orderRng = splitMix32(deriveSeed(options.seed, "grpo order"));
  const sampleRng = splitMix32(deriveSeed(options.seed, "grpo samples"));
  const nextProblem = seededPasses(problems.length, orderRng);
  const state = createAdamWState(parameters);
  const records: GrpoStepRecord[] = [];
  for (let step = 1; step <= options.steps; step++) {
    const chosen = Array.from({ length: options.promptsPerStep }, () => problems[nextProblem()]!);
    const completions = sampleCompletions(
      parameters,
      chosen.flatMap((problem) => new Array<readonly number[]>(options.groupSize).fill(problem.promptIds)),
      { maxNewTokens: options.maxNewTokens, stopIds: options.stopIds, temperature: options.temperature, rng: sampleRng },
    );
    const groups = chosen.map((problem, index) => {
      const group = completions.slice(index * options.groupSize, (index + 1) * options.groupSize);
      const rewards = group.map((completion) => problem.reward(completion));
      return { promptIds: problem.promptIds, completions: group, rewards, advantages: groupAdvantages(rewards) };
    });
    const meanReward = groups.reduce((sum, group) => sum + group.rewards.reduce((a, b) => a + b, 0), 0) / completions.length;
    const informativeGroups = groups.filter((group) => group.advantages.some((advantage) => advantage !== 0)).length;
    const record: GrpoStepRecord = { meanReward, informativeGroups, loss: 0, gradientNorm: 0 };
    if (informativeGroups > 0) {
      const { loss, gradients } = (options.lossAndGradients ?? singleThreadLossAndGradients)(parameters, grpoSequences(groups));
      record.loss = loss;
      record.gradientNorm = clipGradientNorm(gradients, options.maxGradientNorm);
      adamWStep(parameters, gradients, state, options.adamW, scheduledLearningRate(step, { ...options, peak: options.adamW.learningRate }));
    }
    records.push(record);
    options.onStep?.(step, record);
  }
  return records;
}
