import { parseDecimal } from "../scoring/parseNumbers.ts";

/**
 * A custom evaluation set: JSONL, one JSON object per line, all lines of one of two forms.
 * - question/answer: `{"question": "...", "answer": 18}`; the answer a JSON number or a string
 *   holding one number ("1,250", "-3.5"); the question goes through a prompt template and the
 *   output is scored as the GSM8K presets score (the last answer-like number equals the answer).
 * - prompt/target: `{"prompt": "...", "target": "..."}`; the prompt is given as it is (as the one
 *   user message where a chat template is on). With no "match" or `"match": "exact"` the output,
 *   white space trimmed at both ends, must equal the target; with `"match": "regex"` the target
 *   is a JavaScript regular expression (flag "u", no others) that must match somewhere in the
 *   output (anchor it with ^ and $ to match all of it).
 * Other fields (an "id", say) are ignored. Blank lines are skipped; a line keeps its number in the
 * file as its id (index: line number - 1).
 */
export type CustomTaskItem = CustomQuestionItem | CustomPromptItem;

export interface CustomQuestionItem {
  form: "question";
  index: number;
  question: string;
  /** The answer in canonical decimal form (parseNumbers.ts). */
  gold: string;
}

export interface CustomPromptItem {
  form: "prompt";
  index: number;
  /** The whole prompt (named question too, as every item shows one). */
  question: string;
  target: string;
  match: "exact" | "regex";
}

/** At most this many bytes of JSONL are read. */
export const CUSTOM_TASK_SET_MAX_BYTES = 16 * 1024 * 1024;
/** At most this many items in one set. */
export const CUSTOM_TASK_SET_MAX_ITEMS = 10_000;
/** How many bad lines one error lists. */
const LISTED_BAD_LINES = 5;

export interface BadCustomLine {
  /** 1-based, as an editor shows it. */
  line: number;
  reason: string;
}

/** A set refused: every bad line, in file order (the message lists the first few). */
export class CustomTaskSetError extends Error {
  constructor(
    readonly source: string,
    readonly badLines: readonly BadCustomLine[],
    summary?: string,
  ) {
    const listed = badLines.slice(0, LISTED_BAD_LINES).map(({ line, reason }) => `line ${line}: ${reason}`);
    const more = badLines.length > LISTED_BAD_LINES ? [`and ${badLines.length - LISTED_BAD_LINES} more bad lines`] : [];
    super(summary ?? `${source}: ${badLines.length} bad line${badLines.length === 1 ? "" : "s"}, the set is refused: ${[...listed, ...more].join("; ")}`);
    this.name = "CustomTaskSetError";
  }
}

/**
 * Every item of a custom set. `source` names the file or URL in errors. Refuses (CustomTaskSetError)
 * a set with any bad line (not JSON, not an object, a missing or wrongly typed field, both forms in
 * one line, a line of the other form than the set's first, an answer that is not one number, an
 * unknown "match", a target that is no valid regular expression), with no item, or with more than
 * CUSTOM_TASK_SET_MAX_ITEMS items; a text over CUSTOM_TASK_SET_MAX_BYTES (UTF-8) is refused before
 * it is read.
 */
export function parseCustomTaskSet(text: string, source: string): CustomTaskItem[] {
  const bytes = new TextEncoder().encode(text).length;
  if (bytes > CUSTOM_TASK_SET_MAX_BYTES) throw new CustomTaskSetError(source, [], `${source}: ${bytes} bytes, over the ${CUSTOM_TASK_SET_MAX_BYTES}-byte limit of a custom set`);
  const items: CustomTaskItem[] = [];
  const badLines: BadCustomLine[] = [];
  let setForm: { form: CustomTaskItem["form"]; line: number } | null = null;
  text.split(/\r?\n/).forEach((line, index) => {
    if (line.trim() === "") return;
    const parsed = parseLine(line, index);
    if (typeof parsed === "string") {
      badLines.push({ line: index + 1, reason: parsed });
    } else if (setForm !== null && parsed.form !== setForm.form) {
      badLines.push({ line: index + 1, reason: `a ${FORM_NAMES[parsed.form]} line in a ${FORM_NAMES[setForm.form]} set (line ${setForm.line} is ${FORM_NAMES[setForm.form]})` });
    } else {
      setForm ??= { form: parsed.form, line: index + 1 };
      items.push(parsed);
    }
  });
  if (badLines.length > 0) throw new CustomTaskSetError(source, badLines);
  if (items.length === 0) throw new CustomTaskSetError(source, [], `${source}: no item: every line is blank (a line is {"question", "answer"} or {"prompt", "target"})`);
  if (items.length > CUSTOM_TASK_SET_MAX_ITEMS) throw new CustomTaskSetError(source, [], `${source}: ${items.length} items, over the limit of ${CUSTOM_TASK_SET_MAX_ITEMS}`);
  return items;
}

const FORM_NAMES: Record<CustomTaskItem["form"], string> = { question: "question/answer", prompt: "prompt/target" };

/** The item of one line, or why the line is bad. */
function parseLine(line: string, index: number): CustomTaskItem | string {
  let row: unknown;
  try {
    row = JSON.parse(line);
  } catch (error) {
    return `not JSON (${(error as Error).message})`;
  }
  if (typeof row !== "object" || row === null || Array.isArray(row)) return "not a JSON object";
  const fields = row as Record<string, unknown>;
  const isQuestion = "question" in fields || "answer" in fields;
  const isPrompt = "prompt" in fields || "target" in fields || "match" in fields;
  if (isQuestion && isPrompt) return 'both forms in one line: a line has "question" and "answer", or "prompt" and "target" (with "match")';
  if (isQuestion) return parseQuestionLine(fields, index);
  if (isPrompt) return parsePromptLine(fields, index);
  return 'neither form: a line needs "question" and "answer", or "prompt" and "target"';
}

function parseQuestionLine({ question, answer }: Record<string, unknown>, index: number): CustomQuestionItem | string {
  if (question === undefined) return '"question" is missing';
  if (typeof question !== "string" || question.trim() === "") return '"question" is not a non-empty string';
  if (answer === undefined) return '"answer" is missing';
  if (typeof answer !== "number" && typeof answer !== "string") return `"answer" is ${typeName(answer)}, not a number`;
  const gold = typeof answer === "number" ? (Number.isFinite(answer) ? parseDecimal(String(answer)) : null) : parseDecimal(answer);
  if (gold === null) return `"answer" ${typeof answer === "number" ? String(answer) : JSON.stringify(answer)} is not one plain decimal number`;
  return { form: "question", index, question, gold };
}

function parsePromptLine({ prompt, target, match = "exact" }: Record<string, unknown>, index: number): CustomPromptItem | string {
  if (prompt === undefined) return '"prompt" is missing';
  if (typeof prompt !== "string" || prompt.trim() === "") return '"prompt" is not a non-empty string';
  if (target === undefined) return '"target" is missing';
  if (typeof target !== "string" || target.trim() === "") return `"target" is ${typeName(target)}, not a non-empty string`;
  if (match !== "exact" && match !== "regex") return `"match" is ${JSON.stringify(match)}: "exact" or "regex"`;
  if (match === "regex") {
    try {
      new RegExp(target, "u");
    } catch (error) {
      return `"target" is not a valid regular expression (${(error as Error).message})`;
    }
  }
  return { form: "prompt", index, question: prompt, target, match };
}

function typeName(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  if (typeof value === "string") return value.trim() === "" ? "an empty string" : "a string";
  return typeof value === "object" ? "an object" : `a ${typeof value}`;
}
