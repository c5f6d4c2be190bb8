import { sha256 } from "hash-wasm";
import { RECIPE_FILE_NAME } from "../../core/output/renderMergeRecipe.ts";
import type { EvalReport } from "../../eval/report/EvalReport.ts";
import { MODEL_CARD_FILE_NAME, recordEvaluation, type MergeRecordFiles } from "../../eval/report/recordEvaluation.ts";

/** The report saved beside a merge whose card records it (the name the Evaluate panel's JSON download has). */
export const EVAL_REPORT_FILE_NAME = "eval-report.json";

/**
 * Files a save writes in place of the merge's own of the same path, or besides them, by path: the
 * model card and merge_recipe.json with evaluation results, and the report.
 */
export type SubstituteFiles = Readonly<Record<string, Uint8Array<ArrayBuffer>>>;

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
