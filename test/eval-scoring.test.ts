import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { parseGsm8k } from "../src/eval/gsm8k/parseGsm8k.ts";
import { extractAnswer } from "../src/eval/scoring/extractAnswer.ts";
import { findNumbers, parseDecimal } from "../src/eval/scoring/parseNumbers.ts";
import { cutAtStopSequences, scoreOutput } from "../src/eval/scoring/scoreOutput.ts";

describe("extractAnswer on the gold solutions", () => {
  const rows = readFileSync("public/data/gsm8k/test.jsonl", "utf8")
    .trim()
    .split("\n")
    .map((text) => JSON.parse(text) as { question: string; answer: string });

  it("finds the number after #### in every one of the 1319 answers", () => {
    expect(rows).toHaveLength(1319);
    for (const { answer } of rows) {
      // GSM8K's final answers are integers, some with thousands commas: dropping the commas gives the expected value.
      const expected = answer.split("####").at(-1)!.trim().replace(/,/g, "");
      expect(expected).toMatch(/^-?\d+$/);
      expect(extractAnswer(answer)).toMatchObject({ method: "hash-marks", value: expected });
    }
  });

  it("scores every gold solution as correct against parseGsm8k's gold", () => {
    const problems = parseGsm8k(readFileSync("public/data/gsm8k/test.jsonl", "utf8"));
    expect(problems.filter((problem) => !scoreOutput(problem.answerText, problem.gold).correct)).toEqual([]);
  });
});

describe("extractAnswer on model outputs", () => {
  it.each([
    // \boxed{...}
    ["a boxed answer", "So she makes 9 * 2 = 18 dollars.\n\n\\boxed{18}", "boxed", "18", "18"],
    ["nested braces in the box", "Total: \\boxed{\\text{\\$}{1{,}250}}", "boxed", "1250", "1,250"],
    ["the last box", "First \\boxed{5}; correcting the sum, \\boxed{7}.", "boxed", "7", "7"],
    ["a box before an echoed empty box", "\\boxed{42} (I put the final answer within \\boxed{})", "boxed", "42", "42"],
    ["a complete box before a truncated one", "\\boxed{12} or maybe \\boxed{13", "boxed", "12", "12"],
    ["what follows = in a box", "\\boxed{5 + 3 = 8}", "boxed", "8", "8"],
    ["a box with units", "\\boxed{18 \\text{ eggs}}", "boxed", "18", "18"],
    ["a box with a dollar sign and commas", "\\boxed{\\$1,000,000}", "boxed", "1000000", "$1,000,000"],
    ["a negative box", "The change is \\boxed{-5} degrees", "boxed", "-5", "-5"],
    ["a Unicode minus", "\\boxed{\u22127}", "boxed", "-7", "\u22127"],
    ["a decimal box", "\\boxed{0.50}", "boxed", "0.5", "0.50"],
    ["a percent in a box", "\\boxed{25\\%}", "boxed", "25", "25"],
    ["LaTeX thin-space thousands", "\\boxed{1\\,000}", "boxed", "1000", "1,000"],
    ["a box before a later The answer is", "\\boxed{3}\nThe answer is 4.", "boxed", "3", "3"],
    // The answer is ...
    ["The answer is, with commas", "She saves 1,250 dollars. The answer is 1,250.", "answer-is", "1250", "1,250"],
    ["The answer is, with dollars", "She makes $18 every day. The answer is $18.", "answer-is", "18", "$18"],
    ["The answer is, negative dollars", "The balance drops. The answer is -$3.", "answer-is", "-3", "-$3"],
    ["The answer is, trailing .00", "The answer is 18.00.", "answer-is", "18", "18.00"],
    ["The answer is, a sentence's full stop", "The answer is 18. Then 3 + 4 = 7.", "answer-is", "18", "18"],
    ["the final answer is:, any case", "THE FINAL ANSWER IS: **42**", "answer-is", "42", "42"],
    ["The answer is, a percent", "The answer is 25%.", "answer-is", "25", "25"],
    ["The answer is, with units", "The answer is 5 km.", "answer-is", "5", "5"],
    ["The answer is, an equation", "The answer is 5 + 3 = 8.", "answer-is", "8", "8"],
    ["The answer is, a bare decimal point", "The answer is .5 liters.", "answer-is", "0.5", ".5"],
    ["a box with no number, then The answer is", "\\boxed{\\text{none}} The answer is 4.", "answer-is", "4", "4"],
    // #### ...
    ["#### at the end", "48/2 = 24 clips in May.\n#### 72", "hash-marks", "72", "72"],
    ["#### with commas", "#### 1,000", "hash-marks", "1000", "1,000"],
    // the last number
    ["the last number", "3 apples and 4 oranges make 7 fruits in all", "last-number", "7", "7"],
    ["the last number, subtraction not a sign", "10-5 = 5", "last-number", "5", "5"],
    ["the last number, a decimal", "It costs 2.5 dollars.", "last-number", "2.5", "2.5"],
    ["the last number, a negative", "The temperature fell to -12 degrees", "last-number", "-12", "-12"],
  ])("reads %s", (_, output, method, value, text) => {
    expect(extractAnswer(output)).toEqual({ method, value, text });
  });

  it.each([
    ["empty output", ""],
    ["words only", "I don't know how to solve this."],
    ["a box without a number", "\\boxed{x}"],
    ["digits glued to a version", "version v1.2"],
  ])("gives null for %s", (_, output) => {
    expect(extractAnswer(output)).toBeNull();
  });
});

describe("parseDecimal and findNumbers", () => {
  it.each([
    ["2,125", "2125"],
    ["18.00", "18"],
    ["18.0", "18"],
    ["007", "7"],
    ["-0", "0"],
    ["-0.0", "0"],
    ["$5", "5"],
    ["\\$5", "5"],
    ["-$1,250.50", "-1250.5"],
    ["  42 ", "42"],
    ["0.750", "0.75"],
  ])("reads %j as %s", (text, value) => {
    expect(parseDecimal(text)).toBe(value);
  });

  it.each(["", "five", "5 apples", "1.5.2", "12,34", "1e6", "--5"])("finds no single number in %j", (text) => {
    expect(parseDecimal(text)).toBeNull();
  });

  it("lists every number in order", () => {
    expect(findNumbers("From -3 to 1,000 in 2.50 steps (5-2)").map((number) => number.value)).toEqual(["-3", "1000", "2.5", "5", "2"]);
  });
});

describe("scoreOutput", () => {
  it("compares numerically through the canonical form", () => {
    expect(scoreOutput("The answer is 18.00.", "18")).toEqual({ extracted: { method: "answer-is", value: "18", text: "18.00" }, correct: true });
    expect(scoreOutput("\\boxed{$1,450,000}", "1450000").correct).toBe(true);
    expect(scoreOutput("The answer is 17.", "18").correct).toBe(false);
    expect(scoreOutput("The answer is -10.", "10").correct).toBe(false);
    expect(scoreOutput("No idea.", "18")).toEqual({ extracted: null, correct: false });
  });

  it("cuts the output at a stop sequence before extracting", () => {
    const output = "3 + 2 = 5. The answer is 5.\n\nQuestion: Tom has 9 pens.\nAnswer: The answer is 9.";
    expect(scoreOutput(output, "5", ["Question:"]).correct).toBe(true);
    expect(scoreOutput(output, "5").correct).toBe(false);
  });

  it("cuts at the earliest of several stop sequences and ignores empty ones", () => {
    expect(cutAtStopSequences("a Q: b Question: c", ["Question:", "Q:", ""])).toBe("a ");
    expect(cutAtStopSequences("abc", [])).toBe("abc");
  });
});
