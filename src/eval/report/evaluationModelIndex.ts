import type { EvalReport, EvaluatedTask } from "./EvalReport.ts";
import type { EvaluatedMerge } from "./findEvaluatedMerge.ts";

/**
 * The Hub's `model-index` card metadata (huggingface/hub-docs modelcard.md; huggingface_hub
 * 1.29's repocard_data.py, EvalResult and eval_results_to_model_index, is what reads and writes it):
 * a list of {name, results}; each result has task {type, name?}, dataset {type, name, config?,
 * split?, revision?, args?}, metrics [{type, value, name?, config?, args?, verified?}] and source
 * {url, name?} (huggingface_hub refuses a source name without a url).
 */
export interface ModelIndexEntry {
  name: string;
  results: ModelIndexResult[];
}

export interface ModelIndexResult {
  task: { type: string; name: string };
  dataset: { type: string; name: string; config?: string; split?: string; args: Record<string, string | number | boolean> };
  metrics: { type: string; value: number; name: string; args: Record<string, string | number>; verified: false }[];
  source?: { url: string; name: string };
}

export interface ModelIndexOptions {
  /** What the card calls the merged model (its repo id or folder name). */
  modelName: string;
  /** Where these results can be seen (a report or a Space); without it the result has no `source`. */
  sourceUrl?: string;
}

/** Accuracies written with 4 decimals: the exact counts are in the metric's args. */
const rounded = (value: number) => Math.round(value * 1e4) / 1e4;

function datasetFields(task: EvaluatedTask): Pick<ModelIndexResult["dataset"], "type" | "config" | "split"> & { title: string } {
  const { dataset } = task;
  if (dataset.kind === "hub") return { type: dataset.id, config: dataset.config, split: dataset.split, title: dataset.id.endsWith("gsm8k") ? "GSM8K" : dataset.id };
  return { type: "custom", title: `custom set ${dataset.name}` };
}

/**
 * The `model-index` of a card that records `evaluated.merge`'s results: one entry, this model's,
 * one result (the report's task on its dataset) with one metric per scored metric, each an
 * exact_match accuracy, self-reported (`verified: false`). The target is not an entry: the Hub and
 * huggingface_hub read every entry's results as this model's (model_index_to_eval_results keeps
 * one name for all of them), so the target's scores are in the card's table only.
 */
export function evaluationModelIndex(report: EvalReport, evaluated: EvaluatedMerge, options: ModelIndexOptions): ModelIndexEntry[] {
  const { task, evaluator } = report;
  const { title, ...dataset } = datasetFields(task);
  const result: ModelIndexResult = {
    task: { type: "text-generation", name: "Text Generation" },
    dataset: {
      ...dataset,
      name: `${title} (${task.name}, ${task.fewShot}-shot, ${task.problemIndices.length} problems)`,
      args: {
        task: task.name,
        num_few_shot: task.fewShot,
        problems: task.problemIndices.length,
        ...(task.sampleSeed === null ? {} : { sample_seed: task.sampleSeed }),
        ...(task.dataset.kind === "file" ? { sha256: task.dataset.sha256 } : {}),
        prompt_format: task.promptFormat,
        chat_template: evaluator.chatTemplate,
        max_new_tokens: evaluator.maxNewTokens,
        greedy: evaluator.greedy,
      },
    },
    metrics: evaluated.merge.scores.map((score) => ({
      type: "exact_match",
      value: rounded(score.accuracy),
      name: `${score.metric} accuracy`,
      args: { filter: score.metric, correct: score.correct, total: score.total, ci95_low: rounded(score.low), ci95_high: rounded(score.high) },
      verified: false,
    })),
  };
  if (options.sourceUrl !== undefined) result.source = { url: options.sourceUrl, name: `merge-studio ${evaluator.version} (${evaluator.runtime}, ${evaluator.format})` };
  return [{ name: options.modelName, results: [result] }];
}
