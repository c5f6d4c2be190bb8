/**
 * What one evaluation run produced, as plain JSON: `merge-studio eval --json REPORT.json` writes it,
 * the studio exports it, and a saved merge's model card and merge_recipe.json record it. Every
 * evaluated model (the target, each alpha of a sweep, each control) answered the same problems,
 * in the same order, with the same settings.
 */
export const EVAL_REPORT_SCHEMA = "merge-studio-eval/1";

export interface EvalReport {
  schema: typeof EVAL_REPORT_SCHEMA;
  /** When the run finished (ISO 8601). */
  createdAt: string;
  evaluator: EvaluatorSettings;
  task: EvaluatedTask;
  /** The target first (when it ran), then the merged models in ascending alpha, then the controls. */
  models: EvaluatedModel[];
}

export interface EvaluatorSettings {
  /** TOOL_VERSION of the app or CLI that ran it. */
  version: string;
  /** "onnxruntime-node", "onnxruntime-web wasm" or "onnxruntime-web webgpu". */
  runtime: string;
  /** The weight format of the ONNX graph: "f32", "f16", "q8" or "q4". */
  format: string;
  /** Rows answered at once (the automatic choice resolved to a number). */
  batchSize: number;
  maxNewTokens: number;
  /** Greedy decoding: always true today, recorded so that a reader need not assume it. */
  greedy: boolean;
  /** Whether the model's chat template wrapped each prompt (lm-eval's --apply_chat_template). */
  chatTemplate: boolean;
}

export interface EvaluatedTask {
  /** "gsm8k", "gsm8k_cot", "gsm8k_cot_zeroshot", a prompt preset's id, "custom", or a toy task's name ("toy-reasoning"). */
  name: string;
  /** Human words for the prompt format: "5-shot Question/Answer (lm-eval gsm8k)". */
  promptFormat: string;
  fewShot: number;
  /** Where the problems come from: a Hub dataset (id, config, split) or a custom file (name and sha256 of its bytes). */
  dataset: { kind: "hub"; id: string; config: string; split: string } | { kind: "file"; name: string; sha256: string };
  /** The problems answered: their 0-based line indices in the dataset split or file, in answering order. */
  problemIndices: number[];
  /** The seed of the random sample of problems; null when they were named or the whole set ran. */
  sampleSeed: number | null;
  /** The metrics scored, the primary first: "strict-match" and "flexible-extract" (lm-eval tasks), "numeric-match" (presets, custom question/answer sets), "target-match" (custom prompt/target sets). */
  metrics: string[];
}

export type EvaluatedModelKind = "target" | "merged" | "plus" | "minus";
export type EvalControl = "reversed" | "random-sign";

export interface EvaluatedModel {
  /** What the chart, table and card call it: "target", "alpha 0.5", "reversed (alpha -1)", "random-sign control (alpha 1)". */
  label: string;
  kind: EvaluatedModelKind;
  /** For a merged model: the factor every vector weight of the recipe was scaled by (the one-vector recipe's alpha); null otherwise. */
  alpha: number | null;
  /** For a merged model made as a control; null otherwise. */
  control: EvalControl | null;
  /** For a merged model: the canonical recipe JSON (renderRecipeJson) it was computed from; null otherwise. */
  recipe: unknown;
  /** One score per task metric, in EvaluatedTask.metrics' order. */
  scores: MetricScore[];
  /** Against the target on the same problems, on the primary metric; null for the target, or when the target did not run. */
  comparison: TargetComparison | null;
  run: RunFigures;
  /** In EvaluatedTask.problemIndices' order. */
  answers: AnswerRecord[];
}

export interface MetricScore {
  metric: string;
  correct: number;
  total: number;
  /** correct / total, with its 95% Wilson interval. */
  accuracy: number;
  low: number;
  high: number;
}

export interface TargetComparison {
  /** Target wrong, this model right. */
  fixed: number;
  /** Target right, this model wrong. */
  broken: number;
  /** Exact two-sided McNemar p-value of this comparison alone. */
  pValue: number;
  /** Holm-adjusted over every comparison with the target in the run (many alphas are many tests). */
  holmPValue: number;
}

export interface RunFigures {
  loadSeconds: number;
  answerSeconds: number;
  newTokens: number;
  tokensPerSecond: number;
}

export interface AnswerRecord {
  problemIndex: number;
  /** The output as scored (cut at the task's stop sequences). */
  output: string;
  newTokens: number;
  stopReason: "eos" | "stop_sequence" | "max_new_tokens";
  /** In EvaluatedTask.metrics' order: what each metric extracted (null: nothing) and whether it was right. */
  scores: { extracted: string | null; correct: boolean }[];
}
