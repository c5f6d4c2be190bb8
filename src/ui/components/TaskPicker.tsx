import { useId, useState } from "react";
import { PROMPT_PRESETS, type PromptPreset } from "../../eval/prompt/promptPresets.ts";
import { LM_EVAL_GSM8K_TASK_NAMES, type LmEvalGsm8kTaskName } from "../../eval/tasks/lmEvalGsm8kTasks.ts";
import { TOY_TASK_SET_LINES, TOY_TASK_SETS, toyTaskSetPath, type ToyTaskSetName } from "../../eval/tasks/toyTaskSets.ts";
import type { EvalTaskChoice, Loadable } from "../state/evalTaskSlice.ts";
import { useStudioStore } from "../state/studioStore.ts";
import { inputClass, secondaryButtonClass } from "./styles.ts";

const LM_EVAL_LABELS: Record<LmEvalGsm8kTaskName, string> = {
  gsm8k: "gsm8k: 5-shot Question/Answer, strict #### and flexible last number",
  gsm8k_cot: 'gsm8k_cot: 8-shot chain of thought, strict "The answer is N." and flexible',
  gsm8k_cot_zeroshot: "gsm8k_cot_zeroshot: \"Let's think step by step.\", strict and flexible",
};

/** The select's value of a choice: "preset:ID", "lm-eval:NAME", "toy:NAME" or "custom". */
function choiceValue(choice: EvalTaskChoice, presetId: PromptPreset["id"]): string {
  return choice.kind === "preset" ? `preset:${presetId}` : choice.kind === "custom" ? "custom" : `${choice.kind}:${choice.name}`;
}

/**
 * The task of the Evaluate panel: lm-evaluation-harness's GSM8K formats, the studio's prompt presets
 * (their template editable), the toy demo's tasks, or a custom JSONL set from a file or a URL; and
 * whether prompts go through the models' chat templates.
 */
export function TaskPicker() {
  const state = useStudioStore();
  const [url, setUrl] = useState("");
  const id = useId();
  const choice = state.evalTask;
  const usesTemplate = choice.kind === "preset" || (choice.kind === "custom" && state.evalCustomSet.status === "loaded" && state.evalCustomSet.value.form === "question");

  const choose = (value: string) => {
    const [kind, name] = value.split(":");
    if (kind === "preset") {
      state.setEvalTask({ kind: "preset" });
      state.setEvalPreset(name as PromptPreset["id"]);
    } else if (kind === "lm-eval") state.setEvalTask({ kind: "lm-eval", name: name as LmEvalGsm8kTaskName });
    else if (kind === "toy") state.setEvalTask({ kind: "toy", name: name as ToyTaskSetName });
    else state.setEvalTask({ kind: "custom" });
  };

  return (
    <div data-testid="task-picker" className="flex flex-col gap-1.5 sm:col-span-2">
      <label htmlFor={`${id}-task`} className="text-sm font-medium text-slate-700">
        Task
      </label>
      <select id={`${id}-task`} data-testid="eval-task" value={choiceValue(choice, state.evalPresetId)} onChange={(event) => choose(event.target.value)} className={inputClass}>
        <optgroup label="lm-evaluation-harness (v0.4.12 prompts and scoring)">
          {LM_EVAL_GSM8K_TASK_NAMES.map((name) => (
            <option key={name} value={`lm-eval:${name}`}>
              {LM_EVAL_LABELS[name]}
            </option>
          ))}
        </optgroup>
        <optgroup label="Studio presets">
          {PROMPT_PRESETS.map((preset) => (
            <option key={preset.id} value={`preset:${preset.id}`}>
              {preset.label}
            </option>
          ))}
        </optgroup>
        <optgroup label="Toy tasks (the toy demo's models)">
          {TOY_TASK_SETS.map((set) => (
            <option key={set.name} value={`toy:${set.name}`}>
              {`${set.name}: ${set.description}`}
            </option>
          ))}
        </optgroup>
        <option value="custom">Custom set (JSONL file or URL)</option>
      </select>

      {choice.kind === "lm-eval" && (
        <p className="text-xs text-slate-500">Prompts, stop sequences and exact_match scoring as lm-eval's task; both strict-match and flexible-extract are reported.</p>
      )}
      {choice.kind === "lm-eval" && choice.name === "gsm8k" && (
        <p className="text-xs text-slate-500">Its 5 examples per problem are drawn from GSM8K's train split as lm-eval draws them (seed 1234); the split is fetched when the run starts.</p>
      )}

      {choice.kind === "toy" && (
        <p className="text-xs text-slate-500">
          The held-out set <code>{toyTaskSetPath(choice.name)}</code> ({TOY_TASK_SET_LINES} lines): each prompt as the toy models were trained on it, through their chat template; the
          answer must equal the target exactly.
        </p>
      )}

      {choice.kind === "custom" && (
        <div className="flex flex-col gap-1">
          <input
            data-testid="eval-custom-file"
            aria-label="Custom set file"
            type="file"
            accept=".jsonl,application/jsonl"
            onChange={(event) => event.target.files?.[0] && void state.loadEvalCustomSet(event.target.files[0])}
            className="text-xs"
          />
          <div className="flex gap-2">
            <input data-testid="eval-custom-url" aria-label="Custom set URL" type="url" placeholder="or https://…/set.jsonl" value={url} onChange={(event) => setUrl(event.target.value)} className={inputClass} />
            <button type="button" data-testid="eval-custom-load" disabled={url.trim() === ""} onClick={() => void state.loadEvalCustomSet(url)} className={secondaryButtonClass}>
              Load
            </button>
          </div>
          <LoadStatus loadable={state.evalCustomSet} describe={(value) => `${value.source}: ${value.items} ${value.form === "question" ? "question/answer" : "prompt/target"} lines`} />
          <p className="text-xs text-slate-500">
            One JSON object a line: <code>{'{"question": "...", "answer": 18}'}</code> (through the template below, scored as a number) or{" "}
            <code>{'{"prompt": "...", "target": "..."}'}</code> (exact, trimmed; add <code>{'"match": "regex"'}</code> for a regular expression).
          </p>
        </div>
      )}

      {usesTemplate && (
        <>
          <label htmlFor={`${id}-prompt`} className="sr-only">
            Prompt text
          </label>
          <textarea id={`${id}-prompt`} rows={3} value={state.evalPrompt} onChange={(event) => state.setEvalSettings({ evalPrompt: event.target.value })} className={`${inputClass} font-mono text-xs`} />
          <p className="text-xs text-slate-500">
            <code>{"{question}"}</code> is replaced by the problem. Greedy decoding.
          </p>
        </>
      )}

      <label className="flex items-center gap-2 text-sm text-slate-700">
        <input type="checkbox" data-testid="eval-chat-template" checked={state.evalChatTemplate} onChange={(event) => state.setEvalChatTemplate(event.target.checked)} />
        Through the model's chat template (lm-eval's --apply_chat_template; models without one get plain prompts)
      </label>
    </div>
  );
}

function LoadStatus<T>({ loadable, describe }: { loadable: Loadable<T>; describe: (value: T) => string }) {
  if (loadable.status === "none") return null;
  if (loadable.status === "loading") return <p className="text-xs text-slate-500">Reading {loadable.source}…</p>;
  if (loadable.status === "failed")
    return (
      <p data-testid="eval-task-load-error" role="alert" className="text-xs wrap-anywhere text-red-700">
        {loadable.error}
      </p>
    );
  return (
    <p data-testid="eval-task-loaded" className="text-xs text-emerald-700">
      {describe(loadable.value)}
    </p>
  );
}
