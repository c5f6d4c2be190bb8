import type { Gsm8kProblem } from "../gsm8k/parseGsm8k.ts";
import { PROMPT_PRESETS, type PromptPreset } from "../prompt/promptPresets.ts";
import type { EvaluatedTask } from "../report/EvalReport.ts";
import type { EvalTask } from "./EvalTask.ts";
import { createCustomTask } from "./createCustomTask.ts";
import { createPresetTask } from "./createPresetTask.ts";
import { createToyTask, type ProblemSelection } from "./createToyTask.ts";
import type { ToyTaskSetName } from "./toyTaskSets.ts";
import { createLmEvalGsm8kCotTask, createLmEvalGsm8kCotZeroshotTask, createLmEvalGsm8kTask, LM_EVAL_GSM8K_TASK_NAMES, type LmEvalGsm8kTaskName } from "./lmEvalGsm8kTasks.ts";

/**
 * A task as plain data (it crosses to the evaluation worker and back): an lm-eval GSM8K task, a
 * prompt preset with its (possibly edited) template, a custom set's bytes, or a toy task's shipped
 * set (public/data/toy/NAME.jsonl) with the lines to answer. GSM8K tasks answer the problems given
 * to createEvalTask; a custom set answers all its lines.
 */
export type EvalTaskSpec =
  | {
      kind: "lm-eval";
      name: LmEvalGsm8kTaskName;
      /** gsm8k only: GSM8K's train split (public/data/gsm8k/train.jsonl), where its 5 examples are drawn. */
      fewShotPool?: Gsm8kProblem[];
    }
  | { kind: "preset"; id: PromptPreset["id"]; template: string }
  | { kind: "custom"; source: string; bytes: Uint8Array<ArrayBuffer>; questionTemplate: string }
  | { kind: "toy"; name: ToyTaskSetName; bytes: Uint8Array<ArrayBuffer>; selection: ProblemSelection };

export async function createEvalTask(spec: EvalTaskSpec, problems: readonly Gsm8kProblem[]): Promise<EvalTask> {
  if (spec.kind === "custom") return createCustomTask(spec);
  if (spec.kind === "toy") return createToyTask(spec);
  if (spec.kind === "preset") {
    const preset = PROMPT_PRESETS.find((candidate) => candidate.id === spec.id);
    if (!preset) throw new Error(`no prompt preset is named "${spec.id}": ${PROMPT_PRESETS.map((candidate) => candidate.id).join(", ")}`);
    return createPresetTask(preset, problems, spec.template);
  }
  if (spec.name === "gsm8k_cot") return createLmEvalGsm8kCotTask(problems);
  if (spec.name === "gsm8k_cot_zeroshot") return createLmEvalGsm8kCotZeroshotTask(problems);
  if (spec.name !== "gsm8k") throw new Error(`no lm-eval task is named "${String(spec.name)}": ${LM_EVAL_GSM8K_TASK_NAMES.join(", ")}`);
  if (spec.fewShotPool === undefined) throw new Error("gsm8k draws its 5 examples from GSM8K's train split: the task needs it (public/data/gsm8k/train.jsonl)");
  return createLmEvalGsm8kTask({ problems, fewShotPool: spec.fewShotPool });
}

/** The report's task fields: `sampleSeed` is the seed of a random sample of GSM8K, null when problems were named or a whole set ran. */
export function describeEvaluatedTask(task: EvalTask, sampleSeed: number | null): EvaluatedTask {
  return {
    name: task.name,
    promptFormat: task.promptFormat,
    fewShot: task.fewShot,
    dataset: task.dataset,
    problemIndices: task.items.map((item) => item.index),
    sampleSeed,
    metrics: task.metrics.map((metric) => metric.name),
  };
}
