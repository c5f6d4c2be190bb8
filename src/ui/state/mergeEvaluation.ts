import { RECIPE_FILE_NAME } from "../../core/output/renderMergeRecipe.ts";
import { parseRecipeJson } from "../../core/recipe/parseRecipeJson.ts";
import type { EvalReport } from "../../eval/report/EvalReport.ts";
import { findEvaluatedMerge, type EvaluatedMerge } from "../../eval/report/findEvaluatedMerge.ts";

/** How errors and the card name the studio's report. */
export const STUDIO_REPORT_SOURCE = "the studio's evaluation";

/**
 * Whether a saved merge will carry evaluation results: `included` when the last finished run
 * evaluated a model with exactly the merge's recipe (findEvaluatedMerge: canonical recipe JSON,
 * pinned Hub revisions included); `not-evaluated` when a run finished but evaluated other models
 * only (`evaluated` lists their labels); `none` when no run has finished.
 */
export type MergeEvaluation =
  | { kind: "included"; report: EvalReport; evaluated: EvaluatedMerge }
  | { kind: "not-evaluated"; evaluated: string[] }
  | { kind: "none" };

/**
 * The evaluation a merge's saved files will record, from its merge_recipe.json and the report of
 * the Evaluate panel's last finished run (null when none finished: a cancelled or failed run is not
 * a result to publish).
 */
export function mergeEvaluation(recipeJson: string, report: EvalReport | null): MergeEvaluation {
  if (report === null) return { kind: "none" };
  const recipe = parseRecipeJson(recipeJson, RECIPE_FILE_NAME);
  try {
    return { kind: "included", report, evaluated: findEvaluatedMerge(report, recipe, STUDIO_REPORT_SOURCE) };
  } catch {
    return { kind: "not-evaluated", evaluated: report.models.filter((model) => model.recipe !== null).map((model) => model.label) };
  }
}

/** The line shown next to Save / Download. */
export function describeMergeEvaluation(evaluation: MergeEvaluation): string {
  switch (evaluation.kind) {
    case "none":
      return "Evaluate this merge to add its results to the model card.";
    case "not-evaluated": {
      const others = evaluation.evaluated.length === 0 ? "no merged model" : evaluation.evaluated.join(", ");
      return `This merge itself was not evaluated (the last run evaluated ${others}): evaluate it to add its results to the model card.`;
    }
    case "included": {
      const { task } = evaluation.report;
      const title = task.dataset.kind === "hub" ? (task.dataset.id.endsWith("gsm8k") ? "GSM8K" : task.dataset.id) : `custom set ${task.dataset.name}`;
      return `Includes ${title} results: ${task.name}, n = ${task.problemIndices.length}`;
    }
  }
}
