import { findNumbers, type FoundNumber } from "./parseNumbers.ts";

/** Where in a model's output the answer was found. */
export type ExtractionMethod = "boxed" | "answer-is" | "hash-marks" | "last-number";

export interface ExtractedAnswer {
  method: ExtractionMethod;
  /** The number as the output writes it (LaTeX separators and "\$" written plainly): "$1,250". */
  text: string;
  /** Its canonical decimal form (see parseNumbers.ts): "1250". */
  value: string;
}

/**
 * The final answer of a GSM8K solution or model output, tried in this order; a place that holds no
 * number passes on to the next:
 * 1. "boxed": the content of the last complete `\boxed{...}` (nested braces counted) that holds a
 *    number, so an echoed empty `\boxed{}` or a truncated `\boxed{12` is skipped;
 * 2. "answer-is": the clause after the last "answer is" ("The answer is", "the final answer is:",
 *    any case), up to the end of its sentence or line;
 * 3. "hash-marks": the line after the last "####" (GSM8K's own solution format);
 * 4. "last-number": the last number anywhere in the output.
 * In 1 to 3, when the place holds an "=", only what follows the last "=" counts ("5 + 3 = 8" -> 8),
 * and its first number is the answer ("18 dollars" -> 18). Null when the output holds no number.
 */
export function extractAnswer(output: string): ExtractedAnswer | null {
  const places: [ExtractionMethod, string[]][] = [
    ["boxed", boxedContents(output).reverse()],
    ["answer-is", lastMatch(output, /\banswer is\b:?([^\n]*)/gi).map(untilSentenceEnd)],
    ["hash-marks", lastMatch(output, /####([^\n]*)/g)],
  ];
  for (const [method, texts] of places) {
    for (const text of texts) {
      const found = findNumbers(afterLastEquals(text))[0];
      if (found) return answer(method, found);
    }
  }
  const last = findNumbers(output).at(-1);
  return last ? answer("last-number", last) : null;
}

function answer(method: ExtractionMethod, found: FoundNumber): ExtractedAnswer {
  return { method, text: found.text, value: found.value };
}

/** The first capture group of the last match of a global pattern, as a list of zero or one text. */
function lastMatch(text: string, pattern: RegExp): string[] {
  const match = [...text.matchAll(pattern)].at(-1);
  return match ? [match[1] ?? ""] : [];
}

/** Up to a sentence end: a "." followed by white space or the end (the "." of "1.5" stays). */
function untilSentenceEnd(text: string): string {
  return text.split(/\.(?:\s|$)/)[0] ?? "";
}

function afterLastEquals(text: string): string {
  return text.slice(text.lastIndexOf("=") + 1);
}

/** The contents of every complete `\boxed{...}`, in order of their opening. */
function boxedContents(text: string): string[] {
  const contents: string[] = [];
  const opener = "\\boxed{";
  for (let start = text.indexOf(opener); start !== -1; start = text.indexOf(opener, start + 1)) {
    const contentStart = start + opener.length;
    let depth = 1;
    let index = contentStart;
    for (; index < text.length && depth > 0; index++) {
      if (text[index] === "{") depth++;
      else if (text[index] === "}") depth--;
    }
    if (depth === 0) contents.push(text.slice(contentStart, index - 1));
  }
  return contents;
}
