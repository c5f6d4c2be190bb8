import { sha256 } from "hash-wasm";
import { RECIPE_FILE_NAME } from "../../core/output/renderMergeRecipe.ts";
import type { EvalReport } from "../../eval/report/EvalReport.ts";
import { MODEL_CARD_FILE_NAME, recordEvaluation, type MergeRecordFiles } from "../../eval/report/recordEvaluation.ts";
import type { BrowserMergeResult } from "../../browser/mergeWorkerMessages.ts";
import { openMergedFile, type SubstituteFiles } from "./mergedFiles.ts";

/** The report saved beside a merge whose card records it (the name the Evaluate panel's JSON download has). */
export const EVAL_REPORT_FILE_NAME = "eval-report.json";

/** A finished merge's README.md and merge_recipe.json, as text, from OPFS. */
export async function readMergeRecordFiles(result: BrowserMergeResult): Promise<MergeRecordFiles> {
  const text = async (path: string) => {
    if (!(path in result.files)) throw new Error(`${result.folder} has no ${path}: the merge did not finish writing its record`);
    return (await openMergedFile(result, path)).text();
  };
  return { readme: await text(MODEL_CARD_FILE_NAME), recipeJson: await text(RECIPE_FILE_NAME) };
}

/**
 * What a save writes in place of the merge's card and record so that they carry the report's
 * results for this merge (recordEvaluation: model-index, the card's table, merge_recipe.json's
 * `evaluation` with the new card's SHA-256), and the report itself beside them, its SHA-256 in the
 * record. The merge's files in OPFS stay as the merge wrote them.
 */
export async function recordedMergeFiles(record: MergeRecordFiles, report: EvalReport, options: { modelName: string; reportSource: string }): Promise<SubstituteFiles> {
  const encoder = new TextEncoder();
  const reportBytes = encoder.encode(`${JSON.stringify(report, null, 2)}\n`);
  const recorded = await recordEvaluation(record, report, { ...options, reportSha256: await sha256(reportBytes) });
  return {
    [MODEL_CARD_FILE_NAME]: encoder.encode(recorded.readme),
    [EVAL_REPORT_FILE_NAME]: reportBytes,
    [RECIPE_FILE_NAME]: encoder.encode(recorded.recipeJson),
  };
}
