import { sampleProblems, selectProblems } from "../gsm8k/sampleProblems.ts";
import type { EvalTask } from "./EvalTask.ts";
import { createCustomTask } from "./createCustomTask.ts";
import type { CustomPromptItem } from "./parseCustomTaskSet.ts";
import { TOY_TASK_MAX_NEW_TOKENS, TOY_TASK_SET_NAMES, toyTaskSetPath, type ToyTaskSetName } from "./toyTaskSets.ts";

/** Which lines of a set a run answers: a seeded sample of `count` (sampleProblems), or the lines picked by their 0-based index, in that order. */
export type ProblemSelection = { count: number; seed: number } | { ids: number[] };

export interface ToyTaskOptions {
  name: ToyTaskSetName;
  /** The bytes of public/data/toy/NAME.jsonl (the report records their SHA-256). */
  bytes: Uint8Array<ArrayBuffer>;
  selection: ProblemSelection;
}

/**
 * A toy task by name: its shipped set read as a custom prompt/target set (each prompt as the one
 * user turn, so through the chat template exactly the text the toy models were trained on; the
 * trimmed output must equal the target), on the selected lines, with TOY_TASK_MAX_NEW_TOKENS new
 * tokens by default. Generation ends at the model's eos (<|im_end|>), as in training.
 */
export async function createToyTask({ name, bytes, selection }: ToyTaskOptions): Promise<EvalTask<CustomPromptItem>> {
  if (!TOY_TASK_SET_NAMES.includes(name)) throw new Error(`no toy task is named ${JSON.stringify(name)}: ${TOY_TASK_SET_NAMES.join(", ")}`);
  const source = toyTaskSetPath(name);
  const set = await createCustomTask({ source, bytes, questionTemplate: "" });
  const all = set.items.map((item) => {
    if (item.form !== "prompt" || item.match !== "exact") throw new Error(`${source}: line ${item.index + 1} is not a {"prompt", "target"} line of exact match, as every toy task's are`);
    return item;
  });
  const items = "ids" in selection ? selectProblems(all, selection.ids, `${name} problem`) : sampleProblems(all, selection.count, selection.seed);
  return {
    ...(set as EvalTask<CustomPromptItem>),
    name,
    promptFormat: "toy prompt as the one user turn (the toy models' training form), exact match",
    items,
    defaultMaxNewTokens: TOY_TASK_MAX_NEW_TOKENS,
  };
}
