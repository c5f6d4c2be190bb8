import { useMemo } from "react";
import type { MergeRecordFiles } from "../../eval/report/recordEvaluation.ts";
import { EVAL_REPORT_FILE_NAME } from "../merge/recordedMergeFiles.ts";
import { describeMergeEvaluation, mergeEvaluation } from "../state/mergeEvaluation.ts";
import { studioEvalReport } from "../state/studioEvalReport.ts";
import { useStudioStore } from "../state/studioStore.ts";

/**
 * Next to Save / Download: whether the saved model card and merge_recipe.json will carry the last
 * evaluation's results for this merge (and the report saved beside them), or why not.
 */
export function MergeEvaluationNote({ record }: { record: MergeRecordFiles }) {
  const run = useStudioStore((state) => state.evalRun);
  const evaluation = useMemo(() => {
    try {
      return mergeEvaluation(record.recipeJson, run.status === "done" ? studioEvalReport(run, run.finishedAt) : null);
    } catch (error) {
      return { kind: "error" as const, message: error instanceof Error ? error.message : String(error) };
    }
  }, [record, run]);
  if (evaluation.kind === "error") {
    return (
      <p data-testid="merge-evaluation" data-included="false" className="text-sm text-red-700">
        The results cannot be added to the model card: {evaluation.message}
      </p>
    );
  }
  const included = evaluation.kind === "included";
  return (
    <p data-testid="merge-evaluation" data-included={String(included)} className={`text-sm ${included ? "text-emerald-900" : "text-slate-600"}`}>
      {describeMergeEvaluation(evaluation)}
      {included && <span className="text-slate-600"> (in README.md and merge_recipe.json; the report is saved beside them as {EVAL_REPORT_FILE_NAME})</span>}
    </p>
  );
}
