import { createHash } from "node:crypto";
import { readFileSync, statSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { GSM8K_TEST_SET_PATH, parseGsm8k, type Gsm8kProblem } from "../src/eval/gsm8k/parseGsm8k.ts";
import { DEFAULT_SAMPLE_COUNT, DEFAULT_SAMPLE_SEED, sampleProblems, selectProblems } from "../src/eval/gsm8k/sampleProblems.ts";

const testSetFile = `public/${GSM8K_TEST_SET_PATH}`;
const problems = parseGsm8k(readFileSync(testSetFile, "utf8"));

const line = (question: string, answer: string) => JSON.stringify({ question, answer });

describe("the shipped GSM8K test set", () => {
  it("is the 1319-problem test split, under a megabyte, with its MIT licence", () => {
    expect(problems).toHaveLength(1319);
    expect(statSync(testSetFile).size).toBeLessThan(1_000_000);
    // Unchanged since it was copied in: problem ids and the default sample stay comparable.
    expect(createHash("sha256").update(readFileSync(testSetFile)).digest("hex")).toBe("3730d312f6e3440559ace48831e51066acaca737f6eabec99bccb9e4b3c39d14");
    const licence = readFileSync("public/data/gsm8k/LICENSE", "utf8");
    expect(licence).toContain("MIT License");
    expect(licence).toContain("Copyright (c) 2021 OpenAI");
  });

  it("numbers problems by line and reads the gold answer after ####", () => {
    expect(problems.map((problem) => problem.index)).toEqual([...Array(1319).keys()]);
    const first = problems[0]!;
    expect(first.question.startsWith("Janet\u2019s ducks lay 16 eggs per day.")).toBe(true);
    expect(first.answerText.endsWith("\n#### 18")).toBe(true);
    expect([first.goldText, first.gold]).toEqual(["18", "18"]);
    expect([problems[146]!.goldText, problems[146]!.gold]).toEqual(["2,125", "2125"]);
    expect([problems[611]!.goldText, problems[611]!.gold]).toEqual(["1,450,000", "1450000"]);
    expect([problems[489]!.gold, problems[1113]!.gold]).toEqual(["-10", "-3"]);
  });

  it("has an integer gold answer for every problem", () => {
    for (const problem of problems) expect(problem.gold).toMatch(/^-?[1-9]\d*$|^0$/);
  });
});

describe("parseGsm8k", () => {
  it("accepts CRLF line ends and a missing final newline", () => {
    const parsed = parseGsm8k(`${line("Q1?", "a\n#### 1")}\r\n${line("Q2?", "b #### $1,000.50")}`);
    expect(parsed).toEqual([
      { index: 0, question: "Q1?", answerText: "a\n#### 1", goldText: "1", gold: "1" },
      { index: 1, question: "Q2?", answerText: "b #### $1,000.50", goldText: "$1,000.50", gold: "1000.5" },
    ]);
  });

  it.each([
    ["a line that is not JSON", `${line("Q?", "#### 1")}\n{"question": "Q?",`, /^GSM8K line 2: not JSON/],
    ["a blank line between problems", `${line("Q?", "#### 1")}\n\n${line("Q?", "#### 2")}\n`, /^GSM8K line 2: blank line$/],
    ["an array", `${line("Q?", "#### 1")}\n["Q?", "#### 1"]`, /^GSM8K line 2: not a JSON object$/],
    ["a missing question", JSON.stringify({ answer: "#### 1" }), /^GSM8K line 1: "question" is not a non-empty string$/],
    ["an answer that is not text", JSON.stringify({ question: "Q?", answer: 1 }), /^GSM8K line 1: "answer" is not a string$/],
    ["an answer without ####", line("Q?", "The answer is 4"), /^GSM8K line 1: "answer" has no "####"/],
    ["a final answer that is not a number", line("Q?", "#### four"), /^GSM8K line 1: the final answer "four" after "####" is not a number$/],
    ["a final answer with words after the number", line("Q?", "#### 4 apples"), /^GSM8K line 1: the final answer "4 apples"/],
  ])("refuses %s, naming the line", (_, text, message) => {
    expect(() => parseGsm8k(text)).toThrow(message);
  });
});

describe("sampleProblems", () => {
  const ids = (sample: Gsm8kProblem[]) => sample.map((problem) => problem.index);

  it("draws distinct problems in test-set order, the same ones for the same seed", () => {
    const sample = ids(sampleProblems(problems, DEFAULT_SAMPLE_COUNT, DEFAULT_SAMPLE_SEED));
    expect(sample).toHaveLength(20);
    expect(new Set(sample).size).toBe(20);
    expect(sample).toEqual([...sample].sort((a, b) => a - b));
    expect(ids(sampleProblems(problems, 20, DEFAULT_SAMPLE_SEED))).toEqual(sample);
    expect(ids(sampleProblems(problems, 20, DEFAULT_SAMPLE_SEED + 1))).not.toEqual(sample);
  });

  it("keeps the default sample fixed, so results of different sessions compare", () => {
    expect(ids(sampleProblems(problems, DEFAULT_SAMPLE_COUNT, DEFAULT_SAMPLE_SEED))).toEqual(DEFAULT_SAMPLE_IDS);
  });

  it("contains a smaller sample of the same seed in a larger one", () => {
    const small = ids(sampleProblems(problems, 20, 7));
    const large = new Set(ids(sampleProblems(problems, 200, 7)));
    expect(small.every((id) => large.has(id))).toBe(true);
  });

  it("takes 0 problems or all of them", () => {
    expect(sampleProblems(problems, 0, 1)).toEqual([]);
    expect(ids(sampleProblems(problems, 1319, 1))).toEqual([...Array(1319).keys()]);
  });

  it("picks each problem about equally often over many seeds", () => {
    const ten = problems.slice(0, 10);
    const counts = new Array<number>(10).fill(0);
    for (let seed = 0; seed < 6000; seed++) for (const problem of sampleProblems(ten, 3, seed)) counts[problem.index]!++;
    // 6000 draws of 3 out of 10: each index expects 1800 (standard deviation about 35).
    for (const count of counts) expect(Math.abs(count - 1800)).toBeLessThan(180);
  });

  it("refuses a bad count or seed", () => {
    expect(() => sampleProblems(problems, 1320, 1)).toThrow("cannot sample 1320 problems from 1319");
    expect(() => sampleProblems(problems, 2.5, 1)).toThrow(RangeError);
    expect(() => sampleProblems(problems, -1, 1)).toThrow(RangeError);
    expect(() => sampleProblems(problems, 5, -1)).toThrow("seed -1 must be an integer in [0, 2^32)");
    expect(() => sampleProblems(problems, 5, 2 ** 32)).toThrow(RangeError);
  });
});

describe("selectProblems", () => {
  it("returns the problems chosen by hand, in the order given", () => {
    expect(selectProblems(problems, [611, 0, 146]).map((problem) => problem.gold)).toEqual(["1450000", "18", "2125"]);
  });

  it("refuses unknown and repeated ids", () => {
    expect(() => selectProblems(problems, [1319])).toThrow("no GSM8K problem has id 1319");
    expect(() => selectProblems(problems, [5, 5])).toThrow("GSM8K problem 5 is chosen twice");
  });
});

/** The default sample (20 problems, seed 2509): changing it makes old results incomparable. */
const DEFAULT_SAMPLE_IDS = [2, 48, 98, 145, 242, 311, 369, 416, 420, 466, 532, 567, 579, 872, 1058, 1155, 1168, 1186, 1238, 1264];
