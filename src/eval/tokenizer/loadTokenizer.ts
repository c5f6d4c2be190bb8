import { Tokenizer } from "@huggingface/tokenizers";
import { chooseChatTemplate, type ChatTemplateFile } from "../../core/model/chooseChatTemplate.ts";
import { compileChatTemplate, type ChatTemplate } from "./chatTemplate.ts";

/** A JSON file's contents: its text, or the object already parsed. */
export type JsonFileContents = string | Record<string, unknown>;

/** The contents of a model repo's tokenizer files (not paths: the browser reads them from a ModelSource). */
export interface TokenizerFiles {
  tokenizerJson: JsonFileContents;
  tokenizerConfig: JsonFileContents;
  /** generation_config.json, when the repo has one: its eos_token_id (a number or a list) stops generation. */
  generationConfig?: JsonFileContents;
  /** chat_template.jinja, which recent transformers and TRL save instead of tokenizer_config's chat_template; it wins. */
  chatTemplateJinja?: string;
  /** chat_template.json (`{"chat_template": ...}`), used only when neither of the others has a template. */
  chatTemplateJson?: JsonFileContents;
}

export interface EvalTokenizer {
  /** Token ids of `text`. Adds no BOS/EOS (a rendered chat prompt already holds what the template wants); special-token text such as "<|im_end|>" becomes its single id. */
  encode(text: string): number[];
  decode(ids: readonly number[], options?: { skipSpecialTokens?: boolean }): string;
  tokenToId(token: string): number | undefined;
  /** The largest token id + 1: a model's vocab_size (embedding rows) must be at least this. */
  readonly idCount: number;
  /** The chat template, or null when the repo has none (then prompts are used as plain text). */
  readonly chatTemplate: ChatTemplate | null;
  /** The file the chat template came from, or null when there is none. */
  readonly chatTemplateFile: ChatTemplateFile | null;
  /** The id of the special token the chat template closes an assistant turn with ("<|im_end|>"), or null. */
  readonly endOfTurnTokenId: number | null;
  /** Where greedy decoding stops: generation_config's eos_token_id, tokenizer_config's eos_token and the end-of-turn token, sorted, without repeats. */
  readonly stopTokenIds: readonly number[];
}

const SPECIAL_TOKEN_NAMES = ["bos_token", "eos_token", "unk_token", "pad_token", "sep_token", "cls_token", "mask_token"];

/** Loads a Hugging Face tokenizer (tokenizer.json + tokenizer_config.json) with @huggingface/tokenizers. */
export function loadTokenizer(files: TokenizerFiles): EvalTokenizer {
  const tokenizerJson = parseJsonFile("tokenizer.json", files.tokenizerJson);
  const tokenizerConfig = parseJsonFile("tokenizer_config.json", files.tokenizerConfig);
  const generationConfig = files.generationConfig === undefined ? {} : parseJsonFile("generation_config.json", files.generationConfig);

  let tokenizer: Tokenizer;
  try {
    tokenizer = new Tokenizer(tokenizerJson, tokenizerConfig);
  } catch (error) {
    throw new Error(`tokenizer.json cannot be loaded: ${(error as Error).message}`, { cause: error });
  }
  const encode = (text: string) => tokenizer.encode(text, { add_special_tokens: false }).ids;
  const tokenToId = (token: string) => tokenizer.token_to_id(token);

  const specialTokens = specialTokenStrings(tokenizerConfig);
  const templateSource =
    chooseChatTemplate({ jinja: files.chatTemplateJinja, tokenizerConfig }) ??
    chooseChatTemplate({ chatTemplateJson: files.chatTemplateJson === undefined ? undefined : parseJsonFile("chat_template.json", files.chatTemplateJson) });
  const chatTemplate = templateSource === null ? null : compileChatTemplate(templateSource.text, specialTokens);
  const specialIds = new Set([...tokenizer.get_added_tokens_decoder()].filter(([, token]) => token.special).map(([id]) => id));
  const endOfTurnTokenId = chatTemplate === null ? null : findEndOfTurnTokenId(chatTemplate, encode, specialIds);

  const stopTokenIds = new Set(eosTokenIds(generationConfig.eos_token_id));
  const eosId = specialTokens.eos_token === undefined ? undefined : tokenToId(specialTokens.eos_token);
  if (eosId !== undefined) stopTokenIds.add(eosId);
  if (endOfTurnTokenId !== null) stopTokenIds.add(endOfTurnTokenId);

  return {
    encode,
    decode: (ids, { skipSpecialTokens = false } = {}) => tokenizer.decode([...ids], { skip_special_tokens: skipSpecialTokens }),
    tokenToId,
    idCount: largestId(tokenizer.get_vocab(true).values()) + 1,
    chatTemplate,
    chatTemplateFile: templateSource?.file ?? null,
    endOfTurnTokenId,
    stopTokenIds: [...stopTokenIds].sort((a, b) => a - b),
  };
}

function largestId(ids: Iterable<number>): number {
  let largest = -1;
  for (const id of ids) largest = Math.max(largest, id);
  return largest;
}

function parseJsonFile(name: string, contents: JsonFileContents): Record<string, unknown> {
  let value: unknown = contents;
  if (typeof contents === "string") {
    try {
      value = JSON.parse(contents);
    } catch (error) {
      throw new Error(`${name} is not valid JSON: ${(error as Error).message}`, { cause: error });
    }
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) throw new Error(`${name} is not a JSON object`);
  return value as Record<string, unknown>;
}

/** tokenizer_config's special tokens by name, each a string or an AddedToken object {content, ...}. */
function specialTokenStrings(config: Record<string, unknown>): Record<string, string> {
  const tokens: Record<string, string> = {};
  for (const name of SPECIAL_TOKEN_NAMES) {
    const value = config[name];
    if (typeof value === "string") tokens[name] = value;
    else if (typeof value === "object" && value !== null && typeof (value as { content?: unknown }).content === "string") {
      tokens[name] = (value as { content: string }).content;
    }
  }
  return tokens;
}

function eosTokenIds(value: unknown): number[] {
  if (value === undefined || value === null) return [];
  const ids = Array.isArray(value) ? value : [value];
  for (const id of ids) {
    if (!Number.isInteger(id) || (id as number) < 0) {
      throw new Error(`generation_config.json: eos_token_id must be a token id or a list of them, not ${JSON.stringify(value)}`);
    }
  }
  return ids as number[];
}

/**
 * Renders a user turn and an assistant turn whose content is a marker, and reads the token right
 * after the marker: the token the template closes a turn with, when it is a special token
 * ("<|im_end|>" for ChatML, "<|eot_id|>" for Llama 3, "<end_of_turn>" for Gemma). Null when the
 * template puts no special token there, or cannot render that conversation (some templates raise
 * on roles they do not expect): then the EOS ids alone stop generation.
 */
function findEndOfTurnTokenId(template: ChatTemplate, encode: (text: string) => number[], specialIds: ReadonlySet<number>): number | null {
  const marker = "END_OF_TURN_PROBE";
  let rendered: string;
  try {
    rendered = template.render(
      [
        { role: "user", content: "question" },
        { role: "assistant", content: marker },
      ],
      { addGenerationPrompt: false },
    );
  } catch {
    return null;
  }
  const at = rendered.lastIndexOf(marker);
  const next = at === -1 ? undefined : encode(rendered.slice(at + marker.length))[0];
  return next !== undefined && specialIds.has(next) ? next : null;
}
