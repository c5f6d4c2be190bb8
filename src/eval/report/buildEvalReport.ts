import { renderRecipeJson } from "../../core/recipe/renderRecipeJson.ts";
import type { EvalModelResult, EvalModelSpec } from "../runGsm8kEvaluation.ts";
import { compareWithTarget } from "../stats/compareWithTarget.ts";
import { wilsonInterval } from "../stats/wilsonInterval.ts";
import { EVAL_REPORT_SCHEMA, type EvalReport, type EvaluatedModel, type EvaluatedTask, type EvaluatorSettings } from "./EvalReport.ts";

/** A model's description in a run: everything of its spec but how it loads. */
export type EvalModelDescription = Omit<EvalModelSpec, "load">;

export interface EvalReportInput {
  /** When the run finished. */
  finishedAt: Date;
  evaluator: EvaluatorSettings;
  task: EvaluatedTask;
  /** The models in the order they ran. */
  models: readonly EvalModelDescription[];
  /** runGsm8kEvaluation's results: one per model, each with an answer for every problem of task.problemIndices. */
  results: readonly EvalModelResult[];
}

/**
 * The EvalReport of a finished run: per model its scores (Wilson 95% interval), the paired
 * comparison with the target (exact McNemar p and the Holm-adjusted p over every comparison of the
 * run), its run figures and every answer. Only a complete run has a report: a model without a
 * result, or with answers to other problems than the task's, is an error, so that a cancelled run
 * never looks finished. Every answer carries one score per metric of task.metrics (the runner
 * scores them all); the comparison with the target is on the primary (first) metric.
 */
export function buildEvalReport({ finishedAt, evaluator, task, models, results }: EvalReportInput): EvalReport {
  if (task.metrics.length === 0) throw new Error("the task names no metric");
  const resultOf = new Map(results.map((result) => [result.id, result]));
  const ordered = models.map((model) => {
    const result = resultOf.get(model.id);
    if (!result) throw new Error(`no results for the model "${model.label}" (id ${model.id}): the run did not finish`);
    const indices = result.answers.map((answer) => answer.problemIndex);
    if (indices.length !== task.problemIndices.length || indices.some((index, position) => index !== task.problemIndices[position])) {
      throw new Error(`the model "${model.label}" answered ${indices.length} problems, not the task's ${task.problemIndices.length} in order: the run did not finish`);
    }
    const scored = result.answers.find((answer) => answer.scores.length !== task.metrics.length);
    if (scored) throw new Error(`the model "${model.label}" has ${scored.scores.length} scores for problem ${scored.problemIndex}, not one per metric (${task.metrics.join(", ")})`);
    return { model, result };
  });
  const targets = models.filter((model) => model.kind === "target");
  if (targets.length > 1) throw new Error(`a run compares with one target; this one has ${targets.length}`);
  const comparisons = compareWithTarget(
    ordered.map(({ model, result }) => ({ id: model.id, correct: result.answers.map((answer) => answer.correct) })),
    targets[0]?.id ?? null,
  );
  const evaluated = ordered.map(({ model, result }, position): EvaluatedModel => {
    const { correct, total, accuracy, vsTarget } = comparisons[position]!;
    return {
      label: model.label,
      kind: model.kind,
      alpha: model.alpha,
      control: model.control,
      recipe: model.recipe === null ? null : JSON.parse(renderRecipeJson(model.recipe)),
      scores: task.metrics.map((metric, i) => {
        if (i === 0) return { metric, correct, total, accuracy: accuracy!.estimate, low: accuracy!.low, high: accuracy!.high };
        const right = result.answers.filter((answer) => answer.scores[i]!.correct).length;
        const interval = wilsonInterval(right, total);
        return { metric, correct: right, total, accuracy: interval.estimate, low: interval.low, high: interval.high };
      }),
      comparison: vsTarget && { fixed: vsTarget.wrongToRight, broken: vsTarget.rightToWrong, pValue: vsTarget.pValue, holmPValue: vsTarget.holmPValue },
      run: { loadSeconds: result.run.loadSeconds, answerSeconds: result.run.seconds, newTokens: result.run.newTokens, tokensPerSecond: result.run.tokensPerSecond },
      answers: result.answers.map((answer) => ({
        problemIndex: answer.problemIndex,
        output: answer.output,
        newTokens: answer.newTokens,
        stopReason: answer.stopReason,
        scores: answer.scores,
      })),
    };
  });
  return { schema: EVAL_REPORT_SCHEMA, createdAt: finishedAt.toISOString(), evaluator, task, models: evaluated };
}
