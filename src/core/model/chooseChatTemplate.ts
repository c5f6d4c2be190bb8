/** The files a chat template can come from, in the order transformers prefers them. */
export const CHAT_TEMPLATE_FILES = ["chat_template.jinja", "tokenizer_config.json", "chat_template.json"] as const;

export type ChatTemplateFile = (typeof CHAT_TEMPLATE_FILES)[number];

/** A repo's chat template: its Jinja text and the file it was read from. */
export interface ChatTemplateSource {
  file: ChatTemplateFile;
  text: string;
}

/** What a repo ships of its chat template; each absent when the file is. */
export interface ChatTemplateCandidates {
  /** chat_template.jinja's text. */
  jinja?: string;
  /** tokenizer_config.json, parsed. */
  tokenizerConfig?: Record<string, unknown>;
  /** chat_template.json, parsed: `{"chat_template": "..."}`. */
  chatTemplateJson?: Record<string, unknown>;
}

/**
 * Picks a repo's chat template as transformers does: chat_template.jinja (what recent transformers
 * and TRL save) takes priority over tokenizer_config.json's `chat_template`, a string or a list of
 * named templates of which "default" is used. chat_template.json (`{"chat_template": ...}`) is what
 * processors used to save; transformers' tokenizers never read it, so it counts only when neither
 * of the others has a template. Null when the repo has none. A template field of another shape
 * throws, naming the file.
 */
export function chooseChatTemplate(candidates: ChatTemplateCandidates): ChatTemplateSource | null {
  if (candidates.jinja !== undefined) return { file: "chat_template.jinja", text: candidates.jinja };
  const fromConfig = templateField(candidates.tokenizerConfig, "tokenizer_config.json");
  if (fromConfig !== null) return { file: "tokenizer_config.json", text: fromConfig };
  const fromJson = templateField(candidates.chatTemplateJson, "chat_template.json");
  if (fromJson !== null) return { file: "chat_template.json", text: fromJson };
  return null;
}

/** A file's `chat_template`: a string, or a list of named templates of which "default" is used. */
function templateField(json: Record<string, unknown> | undefined, file: ChatTemplateFile): string | null {
  const value = json?.chat_template;
  if (value === undefined || value === null) return null;
  if (typeof value === "string") return value;
  if (Array.isArray(value)) {
    const named = value as { name?: unknown; template?: unknown }[];
    const chosen = named.find((entry) => entry.name === "default");
    if (typeof chosen?.template === "string") return chosen.template;
    const names = named.map((entry) => String(entry.name)).join(", ");
    throw new Error(`${file}: chat_template lists templates (${names}) but none named "default"`);
  }
  throw new Error(`${file}: chat_template is neither a string nor a list of named templates`);
}
