import type { Gsm8kProblem } from "../gsm8k/parseGsm8k.ts";
import { GSM8K_COT_EXEMPLARS } from "../prompt/promptPresets.ts";
import type { EvalMetric, EvalTask } from "./EvalTask.ts";
import { lmEvalRegexFilter, lmEvalScore } from "./lmEvalScoring.ts";
import { PythonRandom } from "./PythonRandom.ts";
import { renderFewShotPrompt, type FewShotExample } from "./renderFewShotPrompt.ts";

/**
 * lm-evaluation-harness's GSM8K tasks, matched against v0.4.12 (tag v0.4.12, commit
 * 6d642546f4688648fced259eb3302efd36ece5af; the task YAMLs are unchanged up to 4e7e0d47f33b):
 * lm_eval/tasks/gsm8k/gsm8k.yaml, gsm8k-cot.yaml and gsm8k-cot-zeroshot.yaml (metadata version 3.0).
 * All three: dataset openai/gsm8k "main", test split, greedy, max_gen_toks 256 (lm-eval's default),
 * exact_match after the "strict-match" and "flexible-extract" filters (see lmEvalScoring.ts).
 */
export const LM_EVAL_GSM8K_TASK_NAMES = ["gsm8k", "gsm8k_cot", "gsm8k_cot_zeroshot"] as const;
export type LmEvalGsm8kTaskName = (typeof LM_EVAL_GSM8K_TASK_NAMES)[number];

/** lm-eval's generate_until default (max_gen_toks), which the GSM8K YAMLs keep. */
export const LM_EVAL_MAX_GEN_TOKS = 256;

/** lm-eval's default --seed for the few-shot sampler (DEFAULT_OTHER_SEED in lm_eval/defaults.py). */
export const LM_EVAL_FEWSHOT_SEED = 1234;

const GSM8K_TEST_SPLIT = { kind: "hub", id: "openai/gsm8k", config: "main", split: "test" } as const;

/** flexible-extract of all three YAMLs: the last number-like run (two or more of "$0-9.,", or digits). */
const FLEXIBLE_EXTRACT = String.raw`(-?[$0-9.,]{2,})|(-?[0-9]+)`;

function metric(name: string, pattern: string, groupSelect: number, reference: (problem: Gsm8kProblem) => string): EvalMetric<Gsm8kProblem> {
  return { name, score: (output, problem) => lmEvalScore(lmEvalRegexFilter(output, pattern, groupSelect), reference(problem)) };
}

/** doc_to_target "{{answer}}": the whole solution; exact_match's "(?s).*#### " leaves its final number. */
const wholeAnswer = (problem: Gsm8kProblem) => problem.answerText;
/** gsm8k-cot.yaml's doc_to_target: answer.split('####')[-1].strip(). */
const finalAnswer = (problem: Gsm8kProblem) => problem.answerText.split("####").at(-1)!.trim();

export interface Gsm8kTaskOptions {
  /** The problems answered, in answering order. */
  problems: readonly Gsm8kProblem[];
  /**
   * GSM8K's train split, in the dataset's order (openai/gsm8k main, 7473 problems; the app ships it
   * as public/data/gsm8k/train.jsonl): where gsm8k draws its 5 examples.
   */
  fewShotPool: readonly Gsm8kProblem[];
  /** lm-eval's --seed (its fourth value, the few-shot seed); 1234 by default. */
  fewShotSeed?: number;
}

/**
 * gsm8k: 5-shot "Question: ...\nAnswer: <full solution>" blocks, stop at "Question:".
 *
 * Its examples come from the train split through lm-eval's default sampler: one
 * `random.Random(seed)` for the whole task, and for each evaluated document in turn
 * `rnd.sample(train_docs, 5)` (the test document is not removed: it is not in the train split).
 * lm-eval visits the documents in test-set order (with --limit N the first N; with --samples the
 * chosen indices, in test-set order), so the k-th problem of that order gets the k-th draw: here
 * the problems are put in test-set order for the draws, whatever order they are answered in.
 */
export function createLmEvalGsm8kTask({ problems, fewShotPool, fewShotSeed = LM_EVAL_FEWSHOT_SEED }: Gsm8kTaskOptions): EvalTask<Gsm8kProblem> {
  if (fewShotPool.length < 5) throw new Error(`gsm8k draws 5 examples from GSM8K's train split: the pool given holds ${fewShotPool.length} problems`);
  const random = new PythonRandom(fewShotSeed);
  const examples = new Map<number, FewShotExample[]>();
  for (const problem of [...problems].sort((a, b) => a.index - b.index)) {
    examples.set(
      problem.index,
      random.sample(fewShotPool, 5).map((shot) => ({ text: `Question: ${shot.question}\nAnswer:`, target: shot.answerText })),
    );
  }
  return {
    name: "gsm8k",
    promptFormat: `5-shot Question/Answer (lm-eval gsm8k, train-split examples, seed ${fewShotSeed})`,
    fewShot: 5,
    dataset: GSM8K_TEST_SPLIT,
    items: problems,
    reference: (problem) => problem.goldText,
    renderPrompt: (problem, options) => renderFewShotPrompt(examples.get(problem.index)!, `Question: ${problem.question}\nAnswer:`, options),
    stopSequences: ["Question:", "</s>", "<|im_end|>"],
    defaultMaxNewTokens: LM_EVAL_MAX_GEN_TOKS,
    metrics: [metric("strict-match", String.raw`#### (\-?[0-9\.\,]+)`, 0, wholeAnswer), metric("flexible-extract", FLEXIBLE_EXTRACT, -1, wholeAnswer)],
  };
}

/** gsm8k_cot: the eight fixed Wei et al. exemplars (first_n sampler) as "Q: ...\nA: ... The answer is N.", stop at "Q:". */
export function createLmEvalGsm8kCotTask(problems: readonly Gsm8kProblem[]): EvalTask<Gsm8kProblem> {
  const examples = GSM8K_COT_EXEMPLARS.map(({ question, answer }) => ({ text: `Q: ${question}\nA:`, target: answer }));
  return {
    name: "gsm8k_cot",
    promptFormat: "8-shot chain of thought Q/A (lm-eval gsm8k_cot)",
    fewShot: 8,
    dataset: GSM8K_TEST_SPLIT,
    items: problems,
    reference: (problem) => problem.goldText,
    renderPrompt: (problem, options) => renderFewShotPrompt(examples, `Q: ${problem.question}\nA:`, options),
    stopSequences: ["Q:", "</s>", "<|im_end|>"],
    defaultMaxNewTokens: LM_EVAL_MAX_GEN_TOKS,
    metrics: [metric("strict-match", String.raw`The answer is (\-?[0-9\.\,]+).`, 0, finalAnswer), metric("flexible-extract", FLEXIBLE_EXTRACT, -1, finalAnswer)],
  };
}

/** gsm8k_cot_zeroshot: "Q: ...\nA: Let's think step by step.", no examples, stop at "Q:". */
export function createLmEvalGsm8kCotZeroshotTask(problems: readonly Gsm8kProblem[]): EvalTask<Gsm8kProblem> {
  return {
    name: "gsm8k_cot_zeroshot",
    promptFormat: "zero-shot \"Let's think step by step.\" Q/A (lm-eval gsm8k_cot_zeroshot)",
    fewShot: 0,
    dataset: GSM8K_TEST_SPLIT,
    items: problems,
    reference: (problem) => problem.goldText,
    renderPrompt: (problem, options) => renderFewShotPrompt([], `Q: ${problem.question}\nA: Let's think step by step.`, options),
    stopSequences: ["Q:", "</s>", "<|im_end|>"],
    defaultMaxNewTokens: LM_EVAL_MAX_GEN_TOKS,
    metrics: [metric("strict-match", String.raw`The answer is (\-?[0-9\.\,]+).`, 0, wholeAnswer), metric("flexible-extract", FLEXIBLE_EXTRACT, -1, wholeAnswer)],
  };
}
