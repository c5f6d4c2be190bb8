import { readFile, stat } from "node:fs/promises";
import { basename } from "node:path";
import { parseGsm8k } from "../eval/gsm8k/parseGsm8k.ts";
import { PROMPT_PRESETS } from "../eval/prompt/promptPresets.ts";
import type { EvalTaskSpec } from "../eval/tasks/createEvalTask.ts";
import { fetchCustomTaskSet } from "../eval/tasks/fetchCustomTaskSet.ts";
import { LM_EVAL_GSM8K_TASK_NAMES, type LmEvalGsm8kTaskName } from "../eval/tasks/lmEvalGsm8kTasks.ts";
import { CUSTOM_TASK_SET_MAX_BYTES } from "../eval/tasks/parseCustomTaskSet.ts";
import { UsageError } from "./format.ts";

export const TASK_CHOICES = `${LM_EVAL_GSM8K_TASK_NAMES.join(" | ")} | ${PROMPT_PRESETS.map((preset) => preset.id).join(" | ")} | PATH.jsonl | URL`;

/**
 * The task of `--task`: an lm-eval GSM8K task (gsm8k needs `--gsm8k-train`, the train split its
 * examples are drawn from), a prompt preset, or a custom JSONL set from a file or an http(s) URL
 * (its question/answer lines through the zero-shot preset's template).
 */
export async function readTaskArgs(task: string, gsm8kTrain: string | undefined): Promise<EvalTaskSpec> {
  if (gsm8kTrain !== undefined && task !== "gsm8k") throw new UsageError(`--gsm8k-train is for --task gsm8k (its 5 examples), not ${task}`);
  if ((LM_EVAL_GSM8K_TASK_NAMES as readonly string[]).includes(task)) {
    const name = task as LmEvalGsm8kTaskName;
    if (name !== "gsm8k") return { kind: "lm-eval", name };
    if (gsm8kTrain === undefined) {
      throw new UsageError(
        "--task gsm8k draws its 5 examples from GSM8K's train split (as lm-eval does, seed 1234), which is not shipped: " +
          "give it with --gsm8k-train train.jsonl (openai/gsm8k main, 7473 lines), or use --task gsm8k_cot or gsm8k_cot_zeroshot",
      );
    }
    try {
      return { kind: "lm-eval", name, fewShotPool: parseGsm8k(await readFile(gsm8kTrain, "utf8")) };
    } catch (error) {
      throw new UsageError(`--gsm8k-train ${gsm8kTrain}: ${(error as Error).message}`);
    }
  }
  const preset = PROMPT_PRESETS.find((candidate) => candidate.id === task);
  if (preset) return { kind: "preset", id: preset.id, template: preset.template };
  const questionTemplate = PROMPT_PRESETS[0]!.template;
  if (/^https?:\/\//i.test(task)) return { kind: "custom", source: task, bytes: await fetchCustomTaskSet(task), questionTemplate };
  if (!task.toLowerCase().endsWith(".jsonl")) throw new UsageError(`--task must be one of ${TASK_CHOICES}, got "${task}"`);
  const size = await stat(task).then(
    (stats) => stats.size,
    (error: NodeJS.ErrnoException) => {
      throw new UsageError(`--task ${task}: ${error.code === "ENOENT" ? "no such file" : error.message}`);
    },
  );
  if (size > CUSTOM_TASK_SET_MAX_BYTES) throw new UsageError(`--task ${task}: ${size} bytes, over the ${CUSTOM_TASK_SET_MAX_BYTES}-byte limit of a custom set`);
  return { kind: "custom", source: basename(task), bytes: new Uint8Array(await readFile(task)), questionTemplate };
}
