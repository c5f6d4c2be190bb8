import type { ItemScore } from "./EvalTask.ts";

/**
 * The scoring of lm-evaluation-harness's GSM8K tasks, as v0.4.12 (commit 6d642546f468) has it in
 * lm_eval/filters/extraction.py (RegexFilter), lm_eval/filters/selection.py (take_first) and
 * lm_eval/api/metrics.py (exact_match_hf_evaluate), with the settings of
 * lm_eval/tasks/gsm8k/gsm8k.yaml, gsm8k-cot.yaml and gsm8k-cot-zeroshot.yaml.
 */

/** What RegexFilter returns when its pattern does not match; it never equals a reference. */
const FALLBACK = "[invalid]";

/**
 * RegexFilter then take_first: Python's `re.findall(pattern, output)`, then the match at
 * `groupSelect` (0: the first, -1: the last); a pattern with several groups gives the first
 * non-empty group of that match; the result is stripped of white space (the GSM8K patterns capture
 * none). Null where nothing matches
 * (lm-eval's "[invalid]"). The patterns used here read the same in Python and in JavaScript
 * without the "u" flag (escapes such as "\-" and "\," outside classes are plain characters there).
 */
export function lmEvalRegexFilter(output: string, pattern: string, groupSelect: number): string | null {
  const match = [...output.matchAll(new RegExp(pattern, "g"))].at(groupSelect);
  if (match === undefined) return null;
  if (match.length <= 2) return (match[1] ?? match[0]).trim();
  const group = match.slice(1).find((text) => text !== undefined && text !== "");
  return group === undefined ? null : group.trim();
}

/**
 * The GSM8K tasks' exact_match: both sides pass through regexes_to_ignore (",", "\$",
 * "(?s).*#### ", "\.$", each removed wherever it matches, in that order), then ignore_case lowers
 * them; ignore_punctuation is false. The reference is the dataset's answer ("... #### 1,250") or
 * its final number; the prediction is a filter's output.
 */
export function lmEvalExactMatch(prediction: string, reference: string): boolean {
  return normalize(prediction) === normalize(reference);
}

/** A filter's output scored against a reference: lm-eval's "[invalid]" is never right. */
export function lmEvalScore(extracted: string | null, reference: string): ItemScore {
  return { extracted, correct: lmEvalExactMatch(extracted ?? FALLBACK, reference) };
}

/**
 * regexes_to_ignore in JavaScript: "(?s).*#### " (dotall) as "[\s\S]*#### "; Python's "$" also
 * matches before a final newline, hence "\.(?=\n?$)".
 */
const REGEXES_TO_IGNORE = [/,/g, /\$/g, /[\s\S]*#### /g, /\.(?=\n?$)/g];

function normalize(text: string): string {
  return REGEXES_TO_IGNORE.reduce((rest, pattern) => rest.replace(pattern, ""), text).toLowerCase();
}

