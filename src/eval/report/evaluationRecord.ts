import type { EvalReport, EvaluatedModel } from "./EvalReport.ts";
import type { EvaluatedMerge } from "./findEvaluatedMerge.ts";

function modelRecord(model: EvaluatedModel, metrics: readonly string[]) {
  return {
    label: model.label,
    alpha: model.alpha,
    control: model.control,
    scores: model.scores,
    comparison: model.comparison && { fixed: model.comparison.fixed, broken: model.comparison.broken, p_value: model.comparison.pValue, holm_p_value: model.comparison.holmPValue },
    run: { load_seconds: model.run.loadSeconds, answer_seconds: model.run.answerSeconds, new_tokens: model.run.newTokens, tokens_per_second: model.run.tokensPerSecond },
    // One character per problem, in task.problem_indices' order: "1" right, "0" wrong.
    correct: Object.fromEntries(metrics.map((metric, index) => [metric, model.answers.map((answer) => (answer.scores[index]!.correct ? "1" : "0")).join("")])),
  };
}

/**
 * One task's entry of merge_recipe.json's `evaluation` (keyed by task name): the report's settings
 * and task, this merge's and the target's scores, comparison, run figures and per-problem
 * right/wrong, and the SHA-256 of the report file when known. The answers themselves are left out (every output of every model can be
 * megabytes); the report holds them, and `report_sha256` names it.
 */
export function evaluationRecord(report: EvalReport, evaluated: EvaluatedMerge, reportSha256?: string) {
  const { evaluator, task } = report;
  return {
    schema: report.schema,
    ...(reportSha256 === undefined ? {} : { report_sha256: reportSha256 }),
    created_at: report.createdAt,
    evaluator: {
      version: evaluator.version,
      runtime: evaluator.runtime,
      format: evaluator.format,
      batch_size: evaluator.batchSize,
      max_new_tokens: evaluator.maxNewTokens,
      greedy: evaluator.greedy,
      chat_template: evaluator.chatTemplate,
    },
    task: {
      name: task.name,
      prompt_format: task.promptFormat,
      few_shot: task.fewShot,
      dataset: task.dataset,
      problem_indices: task.problemIndices,
      sample_seed: task.sampleSeed,
      metrics: task.metrics,
    },
    merge: modelRecord(evaluated.merge, task.metrics),
    target: evaluated.target && modelRecord(evaluated.target, task.metrics),
    answers: "not recorded here: the report holds every answer",
  };
}
