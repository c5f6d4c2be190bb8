import type { EvaluatedTask } from "../report/EvalReport.ts";
import type { ChatTemplate } from "../tokenizer/chatTemplate.ts";

/** One thing a model answers: a problem of a dataset or a line of a custom set. */
export interface EvalItem {
  /** 0-based line index in the dataset split or file: a stable id. */
  index: number;
  /** What the studio shows as the item: the question, or a custom line's whole prompt. */
  question: string;
}

/** What a metric made of one output: the text it extracted (null: nothing), and whether that is right. */
export interface ItemScore {
  extracted: string | null;
  correct: boolean;
}

export interface EvalMetric<Item extends EvalItem = EvalItem> {
  /** "strict-match", "flexible-extract", "numeric-match", "target-match". */
  name: string;
  /** Scores an output already cut at the task's stop sequences. */
  score(output: string, item: Item): ItemScore;
}

export interface PromptOptions {
  /**
   * The model's chat template, or null to give the prompt as plain text (lm-eval without
   * --apply_chat_template; a base model without a template).
   */
  chatTemplate: ChatTemplate | null;
  /**
   * With a chat template: each few-shot example as its own user and assistant turn (lm-eval's
   * --fewshot_as_multiturn) instead of the whole context in one user turn. Ignored without.
   */
  fewShotAsMultiturn?: boolean;
}

/**
 * An evaluation task: which items, how each becomes a prompt, where generation stops, and how an
 * output is scored. The report's task fields (EvaluatedTask) come from it.
 */
export interface EvalTask<Item extends EvalItem = EvalItem> {
  /** "gsm8k", "gsm8k_cot", "gsm8k_cot_zeroshot", a prompt preset's id, "custom", or a toy task's name ("toy-reasoning"). */
  name: string;
  /** Human words for the prompt format: "5-shot Question/Answer (lm-eval gsm8k)". */
  promptFormat: string;
  fewShot: number;
  dataset: EvaluatedTask["dataset"];
  /**
   * The items a run answers, in answering order: a sample of a dataset or a whole custom set.
   * (Few-shot draws can depend on which items run, as lm-eval's gsm8k's do.)
   */
  items: readonly Item[];
  /** The right answer as a results table shows it: GSM8K's final number, a custom line's answer or target. */
  reference(item: Item): string;
  /** The text the model is given for one item. */
  renderPrompt(item: Item, options: PromptOptions): string;
  /** Text that ends an answer: generation stops there and the output is cut before it. */
  stopSequences: readonly string[];
  /** lm-eval's max_gen_toks for its tasks (256); the studio's choice for the others. */
  defaultMaxNewTokens: number;
  /** The primary metric first. */
  metrics: readonly EvalMetric<Item>[];
}
