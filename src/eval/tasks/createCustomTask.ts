import { buildPrompt } from "../prompt/buildPrompt.ts";
import type { ChatTemplate } from "../tokenizer/chatTemplate.ts";
import type { EvalMetric, EvalTask } from "./EvalTask.ts";
import { numericMatchMetric, PRESET_MAX_NEW_TOKENS } from "./createPresetTask.ts";
import { CUSTOM_TASK_SET_MAX_BYTES, CustomTaskSetError, parseCustomTaskSet, type CustomPromptItem, type CustomQuestionItem, type CustomTaskItem } from "./parseCustomTaskSet.ts";

export interface CustomTaskOptions {
  /** The file's name or the URL it came from (the report records it with the bytes' sha256). */
  source: string;
  /** The file as it is: it must be UTF-8. */
  bytes: Uint8Array<ArrayBuffer>;
  /** The template that question/answer lines fill in ({question}): a preset's or the user's own. */
  questionTemplate: string;
}

/**
 * A custom set as a task ("custom"): question/answer lines through `questionTemplate` and scored
 * by numeric-match; prompt/target lines given as they are and scored by target-match (see
 * parseCustomTaskSet.ts). No stop sequences; max new tokens as the presets.
 */
export async function createCustomTask({ source, bytes, questionTemplate }: CustomTaskOptions): Promise<EvalTask<CustomTaskItem>> {
  if (bytes.length > CUSTOM_TASK_SET_MAX_BYTES) throw new CustomTaskSetError(source, [], `${source}: ${bytes.length} bytes, over the ${CUSTOM_TASK_SET_MAX_BYTES}-byte limit of a custom set`);
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    throw new CustomTaskSetError(source, [], `${source}: not UTF-8 text`);
  }
  const items = parseCustomTaskSet(text, source);
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
  const sha256 = [...digest].map((byte) => byte.toString(16).padStart(2, "0")).join("");
  const questionForm = items[0]!.form === "question";
  return {
    name: "custom",
    promptFormat: questionForm ? `custom question/answer set through the template ${JSON.stringify(questionTemplate)}` : "custom prompt/target set, prompts as written",
    fewShot: 0,
    dataset: { kind: "file", name: source, sha256 },
    items,
    reference: (item) => (item.form === "question" ? item.gold : item.match === "regex" ? `/${item.target}/` : item.target),
    renderPrompt: (item, { chatTemplate }) => (item.form === "question" ? buildPrompt(questionTemplate, item.question, chatTemplate) : promptAsIs(item.question, chatTemplate)),
    stopSequences: [],
    defaultMaxNewTokens: PRESET_MAX_NEW_TOKENS,
    metrics: [questionForm ? numericMatchMetric((item: CustomTaskItem) => (item as CustomQuestionItem).gold) : targetMatchMetric],
  };
}

function promptAsIs(prompt: string, chatTemplate: ChatTemplate | null): string {
  return chatTemplate === null ? prompt : chatTemplate.render([{ role: "user", content: prompt }]);
}

/** A prompt/target line's target: the trimmed output equal to it, or its regex found in the output. */
const targetMatchMetric: EvalMetric<CustomTaskItem> = {
  name: "target-match",
  score(output, item) {
    const { target, match } = item as CustomPromptItem;
    if (match === "exact") {
      const answer = output.trim();
      return { extracted: answer, correct: answer === target.trim() };
    }
    const found = new RegExp(target, "u").exec(output);
    return { extracted: found === null ? null : found[0], correct: found !== null };
  },
};
