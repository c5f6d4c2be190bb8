/**
 * A tokenizer small enough for the "tiny" test models (vocabulary 512, too small for Qwen's
 * 151669 ids): byte-level BPE with no merges, so every UTF-8 byte is one token and token id ==
 * byte value (0..255), plus three special tokens in ChatML, the format Qwen's chat template uses:
 * <|endoftext|> = 256, <|im_start|> = 257, <|im_end|> = 258. Every text encodes and decodes back
 * exactly; it is as fast to read as a byte dump and as useless to a model as the tiny weights are.
 */

export const BYTE_LEVEL_SPECIAL_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"] as const;

/** A ChatML chat template: each message as <|im_start|>ROLE\nCONTENT<|im_end|>\n, then the assistant's turn. */
const CHATML_TEMPLATE = [
  "{%- for message in messages %}",
  "{{- '<|im_start|>' + message.role + '\\n' + message.content + '<|im_end|>\\n' }}",
  "{%- endfor %}",
  "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}",
].join("");

/**
 * The printable stand-in of each byte in byte-level BPE vocabularies (GPT-2's convention): bytes
 * that are visible Latin-1 characters stand for themselves, the others (controls, space, 0x7f-0xa0,
 * 0xad) take the code points from 256 up, in byte order.
 */
function byteStandIns(): string[] {
  const visible = (byte: number) => (byte >= 0x21 && byte <= 0x7e) || (byte >= 0xa1 && byte <= 0xac) || (byte >= 0xae && byte <= 0xff);
  let next = 256;
  return Array.from({ length: 256 }, (_, byte) => String.fromCodePoint(visible(byte) ? byte : next++));
}

/** tokenizer.json and tokenizer_config.json of the byte-level tokenizer, as objects to write as JSON. */
export function byteLevelTokenizerFiles(): { tokenizerJson: Record<string, unknown>; tokenizerConfig: Record<string, unknown> } {
  const byteLevel = { type: "ByteLevel", add_prefix_space: false, trim_offsets: false, use_regex: true };
  const vocab = Object.fromEntries(byteStandIns().map((standIn, byte) => [standIn, byte]));
  const addedTokens = BYTE_LEVEL_SPECIAL_TOKENS.map((content, offset) => ({
    id: 256 + offset,
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
      pre_tokenizer: byteLevel,
      post_processor: byteLevel,
      decoder: byteLevel,
      model: {
        type: "BPE",
        dropout: null,
        unk_token: null,
        continuing_subword_prefix: "",
        end_of_word_suffix: "",
        fuse_unk: false,
        byte_fallback: false,
        ignore_merges: false,
        vocab,
        merges: [],
      },
    },
    tokenizerConfig: {
      tokenizer_class: "PreTrainedTokenizerFast",
      bos_token: null,
      eos_token: "<|im_end|>",
      pad_token: "<|endoftext|>",
      unk_token: null,
      clean_up_tokenization_spaces: false,
      model_max_length: 32768,
      chat_template: CHATML_TEMPLATE,
    },
  };
}
