import { readFile, stat } from "node:fs/promises";
import { basename } from "node:path";
import { GSM8K_TRAIN_SET_PATH, parseGsm8k } from "../eval/gsm8k/parseGsm8k.ts";
import { PROMPT_PRESETS } from "../eval/prompt/promptPresets.ts";
import type { EvalTaskSpec } from "../eval/tasks/createEvalTask.ts";
import type { ProblemSelection } from "../eval/tasks/createToyTask.ts";
import { fetchCustomTaskSet } from "../eval/tasks/fetchCustomTaskSet.ts";
import { LM_EVAL_GSM8K_TASK_NAMES, type LmEvalGsm8kTaskName } from "../eval/tasks/lmEvalGsm8kTasks.ts";
import { CUSTOM_TASK_SET_MAX_BYTES } from "../eval/tasks/parseCustomTaskSet.ts";
import { TOY_TASK_SET_NAMES, toyTaskSetPath, type ToyTaskSetName } from "../eval/tasks/toyTaskSets.ts";
import { UsageError } from "./format.ts";

const TASK_CHOICES = `${LM_EVAL_GSM8K_TASK_NAMES.join(" | ")} | ${PROMPT_PRESETS.map((preset) => preset.id).join(" | ")} | ${TOY_TASK_SET_NAMES.join(" | ")} | PATH.jsonl | URL`;

/** public/, served as the web root, with the GSM8K splits and the toy tasks' sets. */
const PUBLIC_FOLDER = new URL("../../public/", import.meta.url);

/**
 * The task of `--task`: an lm-eval GSM8K task (gsm8k draws its examples from the shipped train
 * split), a prompt preset, a toy task by name (its shipped set, answering the lines `selection`
 * gives: the one --n/--seed or --problems describe), or a custom JSONL set from a file or an
 * http(s) URL (its question/answer lines through the zero-shot preset's template).
 */
export async function readTaskArgs(task: string, selection: () => ProblemSelection): Promise<EvalTaskSpec> {
  if ((LM_EVAL_GSM8K_TASK_NAMES as readonly string[]).includes(task)) {
    const name = task as LmEvalGsm8kTaskName;
    return name === "gsm8k" ? { kind: "lm-eval", name, fewShotPool: parseGsm8k(await readFile(new URL(GSM8K_TRAIN_SET_PATH, PUBLIC_FOLDER), "utf8")) } : { kind: "lm-eval", name };
  }
  if ((TOY_TASK_SET_NAMES as readonly string[]).includes(task)) {
    const name = task as ToyTaskSetName;
    return { kind: "toy", name, bytes: new Uint8Array(await readFile(new URL(toyTaskSetPath(name), PUBLIC_FOLDER))), selection: selection() };
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
