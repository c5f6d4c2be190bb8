/**
 * The toy models' tokenizer: one token per character over a few dozen characters (digits, lowercase
 * letters, space, newline, a little punctuation) and Qwen's three chat special tokens after them,
 * written as a Hugging Face tokenizer.json (a BPE model with no merges, so every character is its own
 * token; the Fuse decoder joins tokens back without spaces) and a tokenizer_config.json with a
 * ChatML chat template, so the evaluator and transformers load it like any Hub repo's.
 */

export const TOY_CHARACTERS = [..."0123456789abcdefghijklmnopqrstuvwxyz +-=:,.\n"];

export const TOY_SPECIAL_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"] as const;

/** Token ids: characters first, then the special tokens (as Qwen puts its specials after the vocabulary). */
export const TOY_TOKEN_IDS = {
  endOfText: TOY_CHARACTERS.length,
  imStart: TOY_CHARACTERS.length + 1,
  imEnd: TOY_CHARACTERS.length + 2,
} as const;

/** Embedding rows a toy model needs: every character and special token. */
export const TOY_VOCAB_SIZE = TOY_CHARACTERS.length + TOY_SPECIAL_TOKENS.length;

/** Qwen's ChatML shape without a default system prompt: each message <|im_start|>ROLE\nCONTENT<|im_end|>\n, then the assistant's turn. */
export const TOY_CHAT_TEMPLATE = [
  "{%- for message in messages %}",
  "{{- '<|im_start|>' + message.role + '\\n' + message.content + '<|im_end|>' + '\\n' }}",
  "{%- endfor %}",
  "{%- if add_generation_prompt %}",
  "{{- '<|im_start|>assistant\\n' }}",
  "{%- endif %}",
].join("\n");

/** tokenizer.json and tokenizer_config.json of the toy tokenizer, as objects to write as JSON. */
export function toyTokenizerFiles(): { tokenizerJson: Record<string, unknown>; tokenizerConfig: Record<string, unknown> } {
  const addedTokens = TOY_SPECIAL_TOKENS.map((content, offset) => ({
    id: TOY_CHARACTERS.length + offset,
    content,
    single_word: false,
    lstrip: false,
    rstrip: false,
    normalized: false,
    special: true,
  }));
  return {
    tokenizerJson: {
      version: "1.0",
      truncation: null,
      padding: null,
      added_tokens: addedTokens,
      normalizer: null,
      pre_tokenizer: null,
      post_processor: null,
      decoder: { type: "Fuse" },
      model: {
        type: "BPE",
        dropout: null,
        unk_token: null,
        continuing_subword_prefix: null,
        end_of_word_suffix: null,
        fuse_unk: false,
        byte_fallback: false,
        ignore_merges: false,
        vocab: Object.fromEntries(TOY_CHARACTERS.map((character, id) => [character, id])),
        merges: [],
      },
    },
    tokenizerConfig: {
      add_bos_token: false,
      add_prefix_space: false,
      added_tokens_decoder: Object.fromEntries(addedTokens.map(({ id, ...token }) => [String(id), token])),
      bos_token: null,
      chat_template: TOY_CHAT_TEMPLATE,
      clean_up_tokenization_spaces: false,
      eos_token: "<|im_end|>",
      errors: "replace",
      model_max_length: 256,
      pad_token: "<|endoftext|>",
      split_special_tokens: false,
      tokenizer_class: "PreTrainedTokenizerFast",
      unk_token: null,
    },
  };
}

const CHARACTER_IDS = new Map(TOY_CHARACTERS.map((character, id) => [character, id]));

/**
 * The ids tokenizer.json gives `text` (special-token text as its single id), for the trainer, which
 * imports nothing of the evaluator. A character outside the vocabulary throws, naming it and where.
 */
export function encodeToyText(text: string): number[] {
  const ids: number[] = [];
  for (let at = 0; at < text.length; ) {
    const special = TOY_SPECIAL_TOKENS.findIndex((token) => text.startsWith(token, at));
    if (special !== -1) {
      ids.push(TOY_CHARACTERS.length + special);
      at += TOY_SPECIAL_TOKENS[special]!.length;
      continue;
    }
    const id = CHARACTER_IDS.get(text[at]!);
    if (id === undefined) throw new Error(`the toy tokenizer has no token for ${JSON.stringify(text[at])} at character ${at} of ${JSON.stringify(text)}`);
    ids.push(id);
    at += 1;
  }
  return ids;
}

/** The text of `ids` (special tokens as their text). */
export function decodeToyIds(ids: readonly number[]): string {
  return ids
    .map((id) => {
      const text = id < TOY_CHARACTERS.length ? TOY_CHARACTERS[id] : TOY_SPECIAL_TOKENS[id - TOY_CHARACTERS.length];
      if (text === undefined) throw new Error(`token id ${id} is outside the toy vocabulary of ${TOY_VOCAB_SIZE}`);
      return text;
    })
    .join("");
}

/** What the chat template renders for one user turn with the generation prompt: the text a model continues with its answer. */
export function toyChatPrompt(userContent: string): string {
  return `<|im_start|>user\n${userContent}<|im_end|>\n<|im_start|>assistant\n`;
}
