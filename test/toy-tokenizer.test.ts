import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { inspectModel } from "../src/core/model/inspectModel.ts";
import { openFolderSource } from "../src/core/node/openFolderSource.ts";
import { readModelTokenizer } from "../src/eval/loadEvalModel.ts";
import { loadTokenizer, type EvalTokenizer } from "../src/eval/tokenizer/loadTokenizer.ts";
import { initQwen2Parameters } from "../src/testmodels/training/qwen2Parameters.ts";
import { TOY_TASK_NAMES, toyTaskSplit } from "../src/testmodels/training/toyTasks.ts";
import { decodeToyIds, encodeToyText, TOY_VOCAB_SIZE, toyChatPrompt, toyTokenizerFiles } from "../src/testmodels/training/toyTokenizer.ts";
import { TOY_SHAPE } from "../src/testmodels/training/toyShape.ts";
import { writeTrainedModel } from "../src/testmodels/training/writeTrainedModel.ts";

const files = toyTokenizerFiles();
const vocab = (files.tokenizerJson.model as { vocab: Record<string, number> }).vocab;
/** Every problem of both tasks' test sets plus some training problems, rendered as the trainer feeds them. */
const texts = TOY_TASK_NAMES.flatMap((task) => {
  const { train, test } = toyTaskSplit(task, { seed: 5, testCount: 200, trainCount: 100 });
  return [...train, ...test].map((problem) => `${toyChatPrompt(problem.prompt)}${problem.target}<|im_end|>`);
});

describe("the toy tokenizer, loaded by the evaluator from its JSON text", () => {
  let tokenizer: EvalTokenizer;
  beforeAll(() => {
    tokenizer = loadTokenizer({
      tokenizerJson: JSON.stringify(files.tokenizerJson),
      tokenizerConfig: JSON.stringify(files.tokenizerConfig),
      generationConfig: JSON.stringify({ eos_token_id: [46, 44] }),
    });
  });

  it("has a few dozen ids: every character of the tasks, then the three special tokens, each a single id", () => {
    expect(tokenizer.idCount).toBe(TOY_VOCAB_SIZE);
    expect(TOY_VOCAB_SIZE).toBe(47);
    expect(tokenizer.encode("<|endoftext|>")).toEqual([44]);
    expect(tokenizer.encode("<|im_start|>")).toEqual([45]);
    expect(tokenizer.encode("<|im_end|>")).toEqual([46]);
    expect(tokenizer.encode("<|im_start|>user\n")).toEqual([45, vocab.u, vocab.s, vocab.e, vocab.r, vocab["\n"]]);
  });

  it("encodes one id per character, the one tokenizer.json's vocabulary lists, as the trainer's encoder does", () => {
    expect(tokenizer.encode("347+568=")).toEqual([..."347+568="].map((character) => vocab[character]));
    expect(tokenizer.encode("rev 04821")).toEqual([vocab.r, vocab.e, vocab.v, vocab[" "], 0, 4, 8, 2, 1]);
    for (const text of texts) expect(tokenizer.encode(text)).toEqual(encodeToyText(text));
  });

  it("decodes every encoded text back to itself (round trip), as the trainer's decoder does", () => {
    for (const text of texts) {
      const ids = tokenizer.encode(text);
      expect(tokenizer.decode(ids)).toBe(text);
      expect(decodeToyIds(ids)).toBe(text);
    }
    expect(tokenizer.decode(encodeToyText("1292<|im_end|>"), { skipSpecialTokens: true })).toBe("1292");
  });

  it("renders the ChatML chat template as Qwen's shape, without a default system prompt", () => {
    expect(tokenizer.chatTemplate!.render([{ role: "user", content: "12+34=" }])).toBe("<|im_start|>user\n12+34=<|im_end|>\n<|im_start|>assistant\n");
    expect(toyChatPrompt("12+34=")).toBe(tokenizer.chatTemplate!.render([{ role: "user", content: "12+34=" }]));
    expect(
      tokenizer.chatTemplate!.render(
        [
          { role: "system", content: "add" },
          { role: "user", content: "rev 123" },
          { role: "assistant", content: "321" },
        ],
        { addGenerationPrompt: false },
      ),
    ).toBe("<|im_start|>system\nadd<|im_end|>\n<|im_start|>user\nrev 123<|im_end|>\n<|im_start|>assistant\n321<|im_end|>\n");
  });

  it("stops generation at <|im_end|> (the end of the assistant's turn and eos) and <|endoftext|>", () => {
    expect(tokenizer.endOfTurnTokenId).toBe(46);
    expect(tokenizer.stopTokenIds).toEqual([44, 46]);
  });

  it("the trainer's encoder refuses a character outside the vocabulary, naming it and where", () => {
    expect(() => encodeToyText("12+Q")).toThrow('the toy tokenizer has no token for "Q" at character 3 of "12+Q"');
  });
});

describe("a written toy model folder", () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "toy-tokenizer-"));
    await writeTrainedModel(dir, initQwen2Parameters(TOY_SHAPE, 1, Float32Array));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("loads its tokenizer through the evaluator's folder path as a Hub repo's, with the stop ids of its generation_config.json", async () => {
    const tokenizer = await readModelTokenizer(await inspectModel(await openFolderSource(dir)));
    expect(tokenizer.idCount).toBe(TOY_SHAPE.vocabSize);
    expect(tokenizer.stopTokenIds).toEqual([44, 46]);
    expect(tokenizer.chatTemplateFile).toBe("tokenizer_config.json");
    expect(tokenizer.decode(tokenizer.encode(texts[0]!))).toBe(texts[0]);
  });
});
