import type { EvalReport, EvaluatedModel } from "./EvalReport.ts";
import type { EvaluatedMerge } from "./findEvaluatedMerge.ts";

const EVALUATION_SECTION_TITLE = "## Evaluation: target vs this merge";

const percent = (value: number) => `${(value * 100).toFixed(1)}%`;

/** A p-value as a reader compares it with 0.05: three decimals, or two significant digits below 0.001. */
function formatPValue(p: number): string {
  return p >= 0.001 || p === 0 ? p.toFixed(3) : p.toExponential(1);
}

/** Markdown table cells cannot hold a pipe or a line break. */
const cell = (text: string) => text.replaceAll("|", "\\|").replace(/\s+/g, " ");

function modelRows(model: EvaluatedModel, name: string): string[] {
  return model.scores.map((score, index) => {
    const comparison = index === 0 ? model.comparison : null;
    const paired = comparison ? [String(comparison.fixed), String(comparison.broken), formatPValue(comparison.pValue), formatPValue(comparison.holmPValue)] : ["", "", "", ""];
    return `| ${cell(name)} | ${cell(score.metric)} | ${percent(score.accuracy)} | ${percent(score.low)} – ${percent(score.high)} | ${score.correct}/${score.total} | ${paired.join(" | ")} |`;
  });
}

function problemsText(report: EvalReport): string {
  const { task } = report;
  const count = task.problemIndices.length;
  const dataset = task.dataset.kind === "hub" ? `${task.dataset.id} (${task.dataset.config}, ${task.dataset.split})` : `the custom set ${task.dataset.name} (sha256 ${task.dataset.sha256})`;
  const chosen = task.sampleSeed === null ? "the listed problems" : `a random sample drawn with seed ${task.sampleSeed}`;
  return `${count} problem${count === 1 ? "" : "s"} of ${dataset}: ${chosen} (their indices are in merge_recipe.json, evaluation.task.problem_indices)`;
}

/**
 * The card's human-readable results: the target and this merge on every metric (accuracy, Wilson
 * 95% interval, correct of total), the paired comparison on the primary metric (problems fixed and
 * broken, exact McNemar p, Holm-adjusted p over the run's comparisons), and the settings.
 */
export function renderEvaluationSection(report: EvalReport, evaluated: EvaluatedMerge): string {
  const { task, evaluator } = report;
  const { merge, target } = evaluated;
  const others = report.models.filter((model) => model !== merge && model !== target).length;
  const rows = [...(target ? modelRows(target, `target (${target.label})`) : []), ...modelRows(merge, `this merge (${merge.label})`)];
  const notes = [
    `- task: ${task.name}: ${task.promptFormat} (${task.fewShot}-shot); metrics: ${task.metrics.join(", ")} (the first is primary)`,
    `- problems: ${problemsText(report)}`,
    `- decoding: ${evaluator.greedy ? "greedy" : "sampled"}, at most ${evaluator.maxNewTokens} new tokens, chat template ${evaluator.chatTemplate ? "on" : "off"}`,
    `- evaluator: merge-studio ${evaluator.version}, ${evaluator.runtime}, ${evaluator.format} weights, batch ${evaluator.batchSize}; finished ${report.createdAt}`,
    target
      ? `- fixed: the target wrong and this merge right; broken: the reverse (on ${task.metrics[0]}). McNemar p is exact and two-sided; Holm p adjusts it for the ${report.models.filter((model) => model.comparison).length} comparisons with the target in the run.`
      : "- the target did not run in this evaluation, so there is no paired comparison.",
    ...(others > 0 ? [`- the same run evaluated ${others} other model${others === 1 ? "" : "s"} (other alphas or controls), not shown here.`] : []),
  ];
  return `${EVALUATION_SECTION_TITLE} (${task.name})

| model | metric | accuracy | 95% interval | correct | fixed | broken | McNemar p | Holm p |
| --- | --- | --- | --- | --- | --- | --- | --- | --- |
${rows.join("\n")}

${notes.join("\n")}
`;
}
