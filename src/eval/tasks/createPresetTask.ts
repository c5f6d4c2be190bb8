import type { Gsm8kProblem } from "../gsm8k/parseGsm8k.ts";
import { buildPrompt } from "../prompt/buildPrompt.ts";
import type { PromptPreset } from "../prompt/promptPresets.ts";
import { scoreOutput } from "../scoring/scoreOutput.ts";
import type { EvalItem, EvalMetric, EvalTask } from "./EvalTask.ts";

/** The studio's own max new tokens for its presets (room for a full chain of thought). */
export const PRESET_MAX_NEW_TOKENS = 512;

/**
 * The studio's numeric scoring (extractAnswer, then the number compared with the canonical gold
 * answer): "18.00", "$18" and "\boxed{18}" all equal 18. `extracted` is the number as written.
 */
export function numericMatchMetric<Item extends EvalItem>(gold: (item: Item) => string): EvalMetric<Item> {
  return {
    name: "numeric-match",
    score(output, item) {
      const { extracted, correct } = scoreOutput(output, gold(item));
      return { extracted: extracted?.text ?? null, correct };
    },
  };
}

/**
 * A prompt preset (or the user's edit of its template) on GSM8K's test split: the filled-in
 * template as the one user message (or plain text without a chat template), scored by
 * numericMatchMetric. Few-shot as multiturn does not apply: the preset's examples are part of its
 * template.
 */
export function createPresetTask(preset: PromptPreset, problems: readonly Gsm8kProblem[], template: string = preset.template): EvalTask<Gsm8kProblem> {
  return {
    name: preset.id,
    promptFormat: template === preset.template ? preset.label : `${preset.label}, template edited`,
    fewShot: preset.fewShot,
    dataset: { kind: "hub", id: "openai/gsm8k", config: "main", split: "test" },
    items: problems,
    reference: (problem) => problem.goldText,
    renderPrompt: (problem, { chatTemplate }) => buildPrompt(template, problem.question, chatTemplate),
    stopSequences: preset.stopSequences,
    defaultMaxNewTokens: PRESET_MAX_NEW_TOKENS,
    metrics: [numericMatchMetric((problem: Gsm8kProblem) => problem.gold)],
  };
}
