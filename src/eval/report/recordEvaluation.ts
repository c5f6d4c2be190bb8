import { sha256 } from "hash-wasm";
import { parseDocument } from "yaml";
import { parseJsonLimited } from "../../core/json/parseJsonLimited.ts";
import { RECIPE_FILE_NAME } from "../../core/output/renderMergeRecipe.ts";
import { parseRecipeJson } from "../../core/recipe/parseRecipeJson.ts";
import type { EvalReport } from "./EvalReport.ts";
import { evaluationModelIndex, type ModelIndexOptions } from "./evaluationModelIndex.ts";
import { evaluationRecord } from "./evaluationRecord.ts";
import { findEvaluatedMerge, type EvaluatedMerge } from "./findEvaluatedMerge.ts";
import { renderEvaluationSection } from "./renderEvaluationSection.ts";

export const MODEL_CARD_FILE_NAME = "README.md";

/** The two files of a saved merge that carry its evaluation, as text. */
export interface MergeRecordFiles {
  /** README.md, the model card. */
  readme: string;
  /** merge_recipe.json. */
  recipeJson: string;
}

/** The files with the evaluation recorded, and the report's entries they record. */
export interface RecordedEvaluation extends MergeRecordFiles {
  evaluated: EvaluatedMerge;
}

export interface RecordEvaluationOptions extends ModelIndexOptions {
  /** How errors name the report: its file name, or "the studio's evaluation". */
  reportSource: string;
  /** SHA-256 of the report file's bytes, recorded in merge_recipe.json when given. */
  reportSha256?: string;
}

const SECTION_START = "<!-- merge-studio: evaluation -->";
const SECTION_END = "<!-- /merge-studio: evaluation -->";
const FRONT_MATTER = /^---\r?\n([\s\S]*?\r?\n)?---\r?\n/;

/**
 * Records an evaluation in a saved merge's files (what `merge-studio record` and the studio's save
 * with results call): the card's front matter gets the Hub `model-index` of this merge's results
 * (evaluationModelIndex), the card the section "Evaluation: target vs this merge" (replacing the
 * one a previous record wrote, else before "## mergekit"), and merge_recipe.json the `evaluation`
 * field (evaluationRecord) with files["README.md"] updated to the new card's size and SHA-256.
 * Refuses a report that did not evaluate this merge's recipe (findEvaluatedMerge), and files that
 * are not a merge's card and record.
 */
export async function recordEvaluation(files: MergeRecordFiles, report: EvalReport, options: RecordEvaluationOptions): Promise<RecordedEvaluation> {
  const record = parseMergeRecord(files.recipeJson);
  const evaluated = findEvaluatedMerge(report, parseRecipeJson(files.recipeJson, RECIPE_FILE_NAME), options.reportSource);
  const readme = withSection(withModelIndex(files.readme, evaluationModelIndex(report, evaluated, options)), renderEvaluationSection(report, evaluated));
  const bytes = new TextEncoder().encode(readme);
  const fileRecord = { ...(record.files as Record<string, unknown>), [MODEL_CARD_FILE_NAME]: { size: bytes.byteLength, sha256: await sha256(bytes) } };
  const updated = { ...record, files: fileRecord, evaluation: evaluationRecord(report, evaluated, options.reportSha256) };
  return { readme, recipeJson: `${JSON.stringify(updated, null, 2)}\n`, evaluated };
}

/** merge_recipe.json as an object that holds a merge's record (the files it wrote). */
function parseMergeRecord(text: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = parseJsonLimited(text);
  } catch (error) {
    throw new Error(`${RECIPE_FILE_NAME}: not JSON: ${(error as Error).message}`);
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) throw new Error(`${RECIPE_FILE_NAME}: not a JSON object`);
  const record = value as Record<string, unknown>;
  if (typeof record.files !== "object" || record.files === null || Array.isArray(record.files)) {
    throw new Error(`${RECIPE_FILE_NAME}: no "files" record, so it is a recipe, not the record of a finished merge`);
  }
  return record;
}

/** The card with `model-index` set in its YAML front matter; the other keys, their order and comments stay. */
function withModelIndex(readme: string, modelIndex: unknown): string {
  const match = FRONT_MATTER.exec(readme);
  if (!match) throw new Error(`${MODEL_CARD_FILE_NAME}: no YAML front matter (a "---" line first, and one closing it), so it is not a merge's model card`);
  const document = parseDocument(match[1] ?? "");
  if (document.errors.length > 0) throw new Error(`${MODEL_CARD_FILE_NAME}: its front matter is not valid YAML: ${document.errors[0]!.message}`);
  if (!document.has("base_model")) throw new Error(`${MODEL_CARD_FILE_NAME}: its front matter has no base_model, so it is not a merge's model card`);
  document.set("model-index", modelIndex);
  return `---\n${document.toString({ indentSeq: false, lineWidth: 0 })}---\n${readme.slice(match[0].length)}`;
}

/** The card with the evaluation section in place of a previous one, else before "## mergekit", else at the end. */
function withSection(readme: string, section: string): string {
  const block = `${SECTION_START}\n${section}${SECTION_END}\n`;
  const start = readme.indexOf(SECTION_START);
  if (start >= 0) {
    const end = readme.indexOf(SECTION_END, start);
    if (end < 0) throw new Error(`${MODEL_CARD_FILE_NAME}: "${SECTION_START}" without its "${SECTION_END}": fix or remove the evaluation section by hand`);
    const after = readme.slice(end + SECTION_END.length).replace(/^\r?\n/, "");
    return `${readme.slice(0, start)}${block}${after}`;
  }
  const mergekit = readme.indexOf("\n## mergekit\n");
  if (mergekit >= 0) return `${readme.slice(0, mergekit + 1)}${block}\n${readme.slice(mergekit + 1)}`;
  return `${readme.endsWith("\n") ? readme : `${readme}\n`}\n${block}`;
}
