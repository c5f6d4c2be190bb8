import type { ChatTemplate } from "../tokenizer/chatTemplate.ts";
import { QUESTION_PLACEHOLDER } from "./promptPresets.ts";

/**
 * The text a model is given for one problem: `promptTemplate` (a preset's template or the user's
 * edit of it) with every QUESTION_PLACEHOLDER replaced by the question, sent as the one user
 * message through the model's chat template with the generation prompt added. A model without a
 * chat template (a base model) gets the filled-in text as it is.
 */
export function buildPrompt(promptTemplate: string, question: string, chatTemplate: ChatTemplate | null): string {
  if (!promptTemplate.includes(QUESTION_PLACEHOLDER)) {
    throw new Error(`the prompt has no ${QUESTION_PLACEHOLDER} where the question goes`);
  }
  const userMessage = promptTemplate.split(QUESTION_PLACEHOLDER).join(question);
  return chatTemplate === null ? userMessage : chatTemplate.render([{ role: "user", content: userMessage }]);
}
