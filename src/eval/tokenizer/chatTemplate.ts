import { Template } from "@huggingface/jinja";

export interface ChatMessage {
  role: "system" | "user" | "assistant";
  content: string;
}

export interface ChatTemplate {
  /** The Jinja source, as the repo ships it. */
  readonly source: string;
  /**
   * Renders `messages` the way transformers' apply_chat_template(tokenize=False) does: the template
   * sees `messages`, `add_generation_prompt` and the special tokens by their tokenizer_config names
   * (`bos_token`, `eos_token`, ...). With addGenerationPrompt (the default) the text ends where the
   * assistant's reply starts.
   */
  render(messages: readonly ChatMessage[], options?: { addGenerationPrompt?: boolean }): string;
}

/** Parses a chat template once (a syntax error throws here, naming the template) for many renders. */
export function compileChatTemplate(source: string, specialTokens: Readonly<Record<string, string>>): ChatTemplate {
  let template: Template;
  try {
    template = new Template(source);
  } catch (error) {
    throw new Error(`the chat template does not parse: ${(error as Error).message}`, { cause: error });
  }
  return {
    source,
    render(messages, { addGenerationPrompt = true } = {}) {
      return template.render({ ...specialTokens, messages, add_generation_prompt: addGenerationPrompt });
    },
  };
}
