import type { ChatMessage } from "../tokenizer/chatTemplate.ts";
import type { PromptOptions } from "./EvalTask.ts";

/** One worked example of a few-shot context: its doc_to_text and its doc_to_target. */
export interface FewShotExample {
  text: string;
  target: string;
}

/**
 * A few-shot context as lm-evaluation-harness v0.4.12 builds it for a generate_until task without
 * a description, system instruction or gen_prefix (ConfigurableTask.fewshot_context and
 * build_qa_turn in lm_eval/api/task.py, multiturn_to_singleturn in lm_eval/api/utils.py):
 * - plain text: each example as text + target_delimiter (" ") + target + fewshot_delimiter
 *   ("\n\n"), then the item's text with nothing after it;
 * - chat template: that same text as the one user message, with the generation prompt;
 * - chat template, few-shot as multiturn: each example as a user turn (its text) and an assistant
 *   turn (its target), then the item's text as the last user turn, with the generation prompt.
 */
export function renderFewShotPrompt(examples: readonly FewShotExample[], text: string, { chatTemplate, fewShotAsMultiturn = false }: PromptOptions): string {
  const plain = examples.map((example) => `${example.text} ${example.target}\n\n`).join("") + text;
  if (chatTemplate === null) return plain;
  const messages: ChatMessage[] = fewShotAsMultiturn
    ? [
        ...examples.flatMap((example): ChatMessage[] => [
          { role: "user", content: example.text },
          { role: "assistant", content: example.target },
        ]),
        { role: "user", content: text },
      ]
    : [{ role: "user", content: plain }];
  return chatTemplate.render(messages);
}
