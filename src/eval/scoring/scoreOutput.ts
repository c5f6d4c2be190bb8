import { extractAnswer, type ExtractedAnswer } from "./extractAnswer.ts";

export interface ScoredOutput {
  /** The answer found in the output, or null when it holds no number. */
  extracted: ExtractedAnswer | null;
  /** Whether the extracted answer equals the gold answer as a number ("18.00" equals "18"). */
  correct: boolean;
}

/**
 * Scores one model output against a gold answer given in canonical decimal form (Gsm8kProblem.gold).
 * The output is first cut at the earliest of `stopSequences` (a few-shot prompt's "Question:", where
 * a model goes on to invent the next exemplar), then its answer is extracted (see extractAnswer).
 * Canonical decimals are equal exactly when the numbers are, so the comparison is a string compare.
 */
export function scoreOutput(output: string, gold: string, stopSequences: readonly string[] = []): ScoredOutput {
  const extracted = extractAnswer(cutAtStopSequences(output, stopSequences));
  return { extracted, correct: extracted !== null && extracted.value === gold };
}

/** `text` up to the earliest occurrence of any stop sequence (empty sequences are ignored). */
export function cutAtStopSequences(text: string, stopSequences: readonly string[]): string {
  let end = text.length;
  for (const stop of stopSequences) {
    const at = stop === "" ? -1 : text.indexOf(stop);
    if (at !== -1 && at < end) end = at;
  }
  return text.slice(0, end);
}
