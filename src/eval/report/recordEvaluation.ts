import { sha256 } from "hash-wasm";
import { parseDocument } from "yaml";
import { parseJsonLimited } from "../../core/json/parseJsonLimited.ts";
import { RECIPE_FILE_NAME } from "../../core/output/renderMergeRecipe.ts";
import { parseRecipeJson } from "../../core/recipe/parseRecipeJson.ts";
import type { EvalReport } from "./EvalReport.ts";
import { evaluationModelIndex, type ModelIndexEntry, type ModelIndexOptions, type ModelIndexResult } from "./evaluationModelIndex.ts";
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

const FRONT_MATTER = /^---\r?\n([\s\S]*?\r?\n)?---\r?\n/;

/**
 * Records an evaluation in a saved merge's files (what `merge-studio record` and the studio's save
 * with results call), one task at a time: the card's front matter gets the Hub `model-index`
 * result of this merge on the report's task (evaluationModelIndex), the card the section
 * "Evaluation: target vs this merge (TASK)", and merge_recipe.json `evaluation[TASK]`
 * (evaluationRecord), with files["README.md"] updated to the new card's size and SHA-256. A task
 * recorded before is replaced, in all three; other tasks' results stay. Refuses a report that did
 * not evaluate this merge's recipe (findEvaluatedMerge), and files that are not a merge's card and
 * record.
 */
export async function recordEvaluation(files: MergeRecordFiles, report: EvalReport, options: RecordEvaluationOptions): Promise<RecordedEvaluation> {
  const record = parseMergeRecord(files.recipeJson);
  const evaluated = findEvaluatedMerge(report, parseRecipeJson(files.recipeJson, RECIPE_FILE_NAME), options.reportSource);
  const task = report.task.name;
  const withIndex = withModelIndex(files.readme, (existing) => mergedModelIndex(existing, evaluationModelIndex(report, evaluated, options), task));
  const readme = withSection(withIndex, task, renderEvaluationSection(report, evaluated));
  const bytes = new TextEncoder().encode(readme);
  const fileRecord = { ...(record.files as Record<string, unknown>), [MODEL_CARD_FILE_NAME]: { size: bytes.byteLength, sha256: await sha256(bytes) } };
  const evaluations = isPlainObject(record.evaluation) ? record.evaluation : {};
  const updated = { ...record, files: fileRecord, evaluation: { ...evaluations, [task]: evaluationRecord(report, evaluated, options.reportSha256) } };
  return { readme, recipeJson: `${JSON.stringify(updated, null, 2)}\n`, evaluated };
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/**
 * The card's model-index with `fresh`'s one result in place of the result of the same task (its
 * dataset.args.task) in the card's first entry, else after its results; the name is `fresh`'s.
 */
function mergedModelIndex(existing: unknown, fresh: ModelIndexEntry[], task: string): unknown[] {
  const [entry] = fresh as [ModelIndexEntry];
  const [result] = entry.results as [ModelIndexResult];
  const first: unknown = Array.isArray(existing) ? existing[0] : undefined;
  const previous: unknown[] = isPlainObject(first) && Array.isArray(first.results) ? first.results : [];
  const taskOf = (value: unknown) => (isPlainObject(value) && isPlainObject(value.dataset) && isPlainObject(value.dataset.args) ? value.dataset.args.task : undefined);
  const at = previous.findIndex((value) => taskOf(value) === task);
  const results = at < 0 ? [...previous, result] : previous.map((value, index) => (index === at ? result : value));
  return [{ name: entry.name, results }];
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

/** The card with `model-index` set (from the one it has) in its YAML front matter; the other keys, their order and comments stay. */
function withModelIndex(readme: string, modelIndex: (existing: unknown) => unknown): string {
  const match = FRONT_MATTER.exec(readme);
  if (!match) throw new Error(`${MODEL_CARD_FILE_NAME}: no YAML front matter (a "---" line first, and one closing it), so it is not a merge's model card`);
  const document = parseDocument(match[1] ?? "");
  if (document.errors.length > 0) throw new Error(`${MODEL_CARD_FILE_NAME}: its front matter is not valid YAML: ${document.errors[0]!.message}`);
  if (!document.has("base_model")) throw new Error(`${MODEL_CARD_FILE_NAME}: its front matter has no base_model, so it is not a merge's model card`);
  document.set("model-index", modelIndex((document.toJS() as Record<string, unknown>)["model-index"]));
  return `---\n${document.toString({ indentSeq: false, lineWidth: 0 })}---\n${readme.slice(match[0].length)}`;
}

/**
 * The card with the task's evaluation section in place of the one recorded before for that task,
 * else after the last evaluation section, else before "## mergekit", else at the end. Each section
 * sits between HTML comments naming its task, which a rendered card does not show.
 */
function withSection(readme: string, task: string, section: string): string {
  const key = task.replace(/[^A-Za-z0-9._]/g, "_");
  const [start, end] = [`<!-- merge-studio: evaluation ${key} -->`, `<!-- /merge-studio: evaluation ${key} -->`];
  const block = `${start}\n${section}${end}\n`;
  const at = readme.indexOf(start);
  if (at >= 0) {
    const to = readme.indexOf(end, at);
    if (to < 0) throw new Error(`${MODEL_CARD_FILE_NAME}: "${start}" without its "${end}": fix or remove that evaluation section by hand`);
    return `${readme.slice(0, at)}${block}${readme.slice(to + end.length).replace(/^\r?\n/, "")}`;
  }
  const lastEnd = [...readme.matchAll(/<!-- \/merge-studio: evaluation [^\n]*? -->\r?\n/g)].at(-1);
  if (lastEnd) {
    const after = lastEnd.index + lastEnd[0].length;
    return `${readme.slice(0, after)}\n${block}${readme.slice(after)}`;
  }
  const mergekit = readme.indexOf("\n## mergekit\n");
  if (mergekit >= 0) return `${readme.slice(0, mergekit + 1)}${block}\n${readme.slice(mergekit + 1)}`;
  return `${readme.endsWith("\n") ? readme : `${readme}\n`}\n${block}`;
}
