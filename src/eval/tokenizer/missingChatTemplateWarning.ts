import { CHAT_TEMPLATE_FILES } from "../../core/model/chooseChatTemplate.ts";

/** What the CLI and the studio say when a model's repo has no chat template: its prompts go in as plain text. */
export function missingChatTemplateWarning(model: string): string {
  return `${model} has no chat template (none of ${CHAT_TEMPLATE_FILES.join(", ")} holds one): its prompts are given as plain text`;
}
