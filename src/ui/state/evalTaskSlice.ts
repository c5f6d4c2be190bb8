import type { StateCreator } from "zustand";
import { createCustomTask } from "../../eval/tasks/createCustomTask.ts";
import type { EvalTaskSpec } from "../../eval/tasks/createEvalTask.ts";
import { PRESET_MAX_NEW_TOKENS } from "../../eval/tasks/createPresetTask.ts";
import type { ProblemSelection } from "../../eval/tasks/createToyTask.ts";
import { fetchCustomTaskSet } from "../../eval/tasks/fetchCustomTaskSet.ts";
import { LM_EVAL_MAX_GEN_TOKS, type LmEvalGsm8kTaskName } from "../../eval/tasks/lmEvalGsm8kTasks.ts";
import { TOY_TASK_MAX_NEW_TOKENS, type ToyTaskSetName } from "../../eval/tasks/toyTaskSets.ts";
import { loadGsm8kSplit } from "../eval/loadGsm8kSplit.ts";
import { loadToyTaskSet } from "../eval/loadToyTaskSet.ts";
import type { StudioState } from "./studioStore.ts";

/** A custom set checked line by line when it was picked: its bytes travel to the worker. */
export interface LoadedCustomSet {
  source: string;
  bytes: Uint8Array<ArrayBuffer>;
  items: number;
  form: "question" | "prompt";
}

/** What the Evaluate panel runs: a prompt preset (evalPresetId, evalPrompt), an lm-eval GSM8K task, a toy task by name, or a custom set. */
export type EvalTaskChoice = { kind: "preset" } | { kind: "lm-eval"; name: LmEvalGsm8kTaskName } | { kind: "toy"; name: ToyTaskSetName } | { kind: "custom" };

/** A file being read, read, or refused (its error says which lines are bad). */
export type Loadable<T> = { status: "none" } | { status: "loading"; source: string } | { status: "loaded"; value: T } | { status: "failed"; source: string; error: string };

export interface EvalTaskSlice {
  evalTask: EvalTaskChoice;
  evalCustomSet: Loadable<LoadedCustomSet>;
  /** Prompts through each model's chat template (lm-eval's --apply_chat_template); models without one get plain prompts. */
  evalChatTemplate: boolean;
  /** Chooses the task and sets max new tokens to its default (256 for lm-eval tasks, 16 for toy tasks, 512 otherwise); a toy task turns the chat template on (the toy models were trained through it). */
  setEvalTask: (choice: EvalTaskChoice) => void;
  setEvalChatTemplate: (on: boolean) => void;
  /** Reads a custom set from a picked file or a URL and checks every line. */
  loadEvalCustomSet: (from: File | string) => Promise<void>;
}

const message = (error: unknown) => (error instanceof Error ? error.message : String(error));

export const createEvalTaskSlice: StateCreator<StudioState, [], [], EvalTaskSlice> = (set, get) => ({
  evalTask: { kind: "preset" },
  evalCustomSet: { status: "none" },
  evalChatTemplate: true,

  setEvalTask: (choice) =>
    set(
      choice.kind === "toy"
        ? { evalTask: choice, evalMaxNewTokens: TOY_TASK_MAX_NEW_TOKENS, evalChatTemplate: true }
        : { evalTask: choice, evalMaxNewTokens: choice.kind === "lm-eval" ? LM_EVAL_MAX_GEN_TOKS : PRESET_MAX_NEW_TOKENS },
    ),
  setEvalChatTemplate: (on) => set({ evalChatTemplate: on }),

  loadEvalCustomSet: async (from) => {
    const source = typeof from === "string" ? from.trim() : from.name;
    set({ evalCustomSet: { status: "loading", source } });
    try {
      const bytes = typeof from === "string" ? await fetchCustomTaskSet(source) : new Uint8Array(await from.arrayBuffer());
      const task = await createCustomTask({ source, bytes, questionTemplate: get().evalPrompt });
      set({ evalCustomSet: { status: "loaded", value: { source, bytes, items: task.items.length, form: task.items[0]!.form } } });
    } catch (error) {
      set({ evalCustomSet: { status: "failed", source, error: message(error) } });
    }
  },
});

/**
 * The chosen task as the worker takes it, or why it cannot run yet; lm-eval gsm8k's examples come
 * from the train split, fetched (once per page) only for that task; a toy task's set is fetched
 * (once per page) and answers the lines of `selection`.
 */
export async function buildEvalTaskSpec(
  state: Pick<StudioState, "evalTask" | "evalCustomSet" | "evalPresetId" | "evalPrompt">,
  selection: ProblemSelection,
): Promise<EvalTaskSpec | { error: string }> {
  const choice = state.evalTask;
  if (choice.kind === "preset") return { kind: "preset", id: state.evalPresetId, template: state.evalPrompt };
  if (choice.kind === "toy") return { kind: "toy", name: choice.name, bytes: await loadToyTaskSet(choice.name), selection };
  if (choice.kind === "custom") {
    if (state.evalCustomSet.status !== "loaded") return { error: "Choose a custom set (a JSONL file or its URL) that reads without errors." };
    const { source, bytes } = state.evalCustomSet.value;
    return { kind: "custom", source, bytes, questionTemplate: state.evalPrompt };
  }
  return choice.name === "gsm8k" ? { kind: "lm-eval", name: "gsm8k", fewShotPool: await loadGsm8kSplit("train") } : { kind: "lm-eval", name: choice.name };
}
