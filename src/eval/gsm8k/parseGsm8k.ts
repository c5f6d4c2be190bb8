import { parseDecimal } from "../scoring/parseNumbers.ts";

/** One GSM8K problem. */
export interface Gsm8kProblem {
  /** 0-based line number in the JSONL file: a stable id for the problem. */
  index: number;
  question: string;
  /** The reference solution, with its calculator annotations (<<3*4=12>>) and the final "#### N". */
  answerText: string;
  /** The text after "####" as written: "2,125". */
  goldText: string;
  /** That number in canonical decimal form (see parseNumbers.ts): "2125". */
  gold: string;
}

/** Where the app serves the GSM8K test set (public/data/gsm8k/), relative to its base URL. */
export const GSM8K_TEST_SET_PATH = "data/gsm8k/test.jsonl";
/** And the train split: only lm-eval's 5-shot gsm8k reads it (its examples are drawn from it). */
export const GSM8K_TRAIN_SET_PATH = "data/gsm8k/train.jsonl";

/**
 * Parses GSM8K JSONL: one `{"question": string, "answer": string}` object per line, the answer
 * ending in "#### N". A final newline is allowed, blank lines elsewhere are not (they would shift
 * the ids). Throws on the first bad line, naming it (1-based, as an editor shows it).
 */
export function parseGsm8k(jsonlText: string): Gsm8kProblem[] {
  const lines = jsonlText.split(/\r?\n/);
  if (lines.at(-1) === "") lines.pop();
  return lines.map((line, index) => parseLine(line, index));
}

function parseLine(line: string, index: number): Gsm8kProblem {
  const fail = (what: string): never => {
    throw new Error(`GSM8K line ${index + 1}: ${what}`);
  };
  let row: unknown;
  try {
    row = JSON.parse(line);
  } catch (error) {
    fail(line.trim() === "" ? "blank line" : `not JSON (${(error as Error).message})`);
  }
  if (typeof row !== "object" || row === null || Array.isArray(row)) return fail("not a JSON object");
  const { question, answer } = row as Record<string, unknown>;
  if (typeof question !== "string" || question.trim() === "") return fail('"question" is not a non-empty string');
  if (typeof answer !== "string") return fail('"answer" is not a string');
  const marker = answer.lastIndexOf("####");
  if (marker === -1) return fail('"answer" has no "####" before the final answer');
  const goldText = answer.slice(marker + 4).trim();
  const gold = parseDecimal(goldText);
  if (gold === null) return fail(`the final answer "${goldText}" after "####" is not a number`);
  return { index, question, answerText: answer, goldText, gold };
}
