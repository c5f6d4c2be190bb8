import type { EvalRole } from "../../browser/evalWorkerMessages.ts";
import type { ModelRunStats, ProblemResult } from "../../eval/runGsm8kEvaluation.ts";
import { compareWithTarget } from "../../eval/stats/compareWithTarget.ts";
import { formatDuration } from "../format.ts";
import type { EvalRunData } from "../state/evalSlice.ts";
import { useStudioStore } from "../state/studioStore.ts";

const percent = (value: number) => `${(100 * value).toFixed(1)}%`;

/** The answers table, accuracy per model with its 95% interval, and target vs merged on the same problems. */
export function EvalResults() {
  const run = useStudioStore((state) => state.evalRun);
  const data: EvalRunData | undefined = run.status === "failed" ? run.data : run.status === "idle" ? undefined : run;
  if (!data) return null;
  const { problems, roles, answers, mergedLabel, runs } = data;
  const label = (role: EvalRole) => (role === "merged" ? mergedLabel : role);
  const answersOf = (role: EvalRole) => answers[role] ?? [];
  // In roles' order; a model without answers yet has no accuracy.
  const summary = compareWithTarget(
    roles.map((role) => ({ id: role, correct: answersOf(role).map((answer) => answer.correct) })),
    "target",
  );
  const scored = roles.flatMap((role, position) => {
    const { correct, total, accuracy } = summary[position]!;
    return accuracy ? [{ role, correct, total, accuracy }] : [];
  });
  const paired = run.status === "done" ? (summary.find((model) => model.id === "merged")?.vsTarget ?? null) : null;

  return (
    <div className="flex flex-col gap-4">
      <div className="grid gap-3 sm:grid-cols-4">
        {scored.map(({ role, correct, total, accuracy }) => (
          <div key={role} data-testid={`eval-accuracy-${role}`} className="rounded-lg border border-slate-200 p-3">
            <p className="text-xs font-medium uppercase tracking-wide text-slate-500">{label(role)}</p>
            <p className="text-2xl font-semibold text-slate-900">{percent(accuracy.estimate)}</p>
            <p className="text-xs text-slate-600">
              {correct} / {total} right · 95% CI {percent(accuracy.low)} – {percent(accuracy.high)}
              {data.task.metrics.length > 1 && ` · ${data.task.metrics[0]}`}
            </p>
            {data.task.metrics.slice(1).map((metric, i) => {
              const right = answersOf(role).filter((answer) => answer.scores[i + 1]?.correct).length;
              return (
                <p key={metric} data-testid={`eval-accuracy-${role}-${metric}`} className="text-xs text-slate-600">
                  {metric}: {right} / {total} right ({percent(total > 0 ? right / total : 0)})
                </p>
              );
            })}
            {runs[role] && <RunStats role={role} stats={runs[role]} />}
          </div>
        ))}
      </div>
      {paired && (
        <p className="text-sm text-slate-700">
          Target → merged on the same {problems.length} problems: <strong>{paired.wrongToRight}</strong> fixed, <strong>{paired.rightToWrong}</strong> broken,{" "}
          {paired.bothCorrect} right in both, {paired.bothWrong} wrong in both; exact McNemar p = {paired.pValue.toPrecision(3)}
          {paired.pValue >= 0.05 ? " (no significant difference)" : " (significant at 5%)"}.
        </p>
      )}
      <div className="overflow-x-auto">
        <table data-testid="eval-table" className="w-full border-collapse text-left text-sm">
          <thead>
            <tr className="border-b border-slate-200 text-xs uppercase tracking-wide text-slate-500">
              <th scope="col" className="py-2 pr-3">
                Problem
              </th>
              <th scope="col" className="py-2 pr-3">
                Reference
              </th>
              {roles.map((role) => (
                <th key={role} scope="col" className="py-2 pr-3">
                  {label(role)}
                </th>
              ))}
            </tr>
          </thead>
          <tbody>
            {problems.map((problem) => (
              <tr key={problem.index} className="border-b border-slate-100 align-top">
                <td className="max-w-md py-2 pr-3">
                  <details>
                    <summary className="cursor-pointer text-slate-800">
                      #{problem.index} {problem.question.length > 90 ? `${problem.question.slice(0, 90)}…` : problem.question}
                    </summary>
                    <p className="mt-1 whitespace-pre-wrap text-xs text-slate-600">{problem.question}</p>
                  </details>
                </td>
                <td className="py-2 pr-3 font-mono">{problem.reference}</td>
                {roles.map((role) => (
                  <td key={role} className="py-2 pr-3">
                    <AnswerCell result={answersOf(role).find((answer) => answer.problemIndex === problem.index)} metrics={data.task.metrics} />
                  </td>
                ))}
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      {run.status === "done" && (
        <p data-testid="eval-done" role="status" className="text-sm text-emerald-700">
          Evaluation finished: {roles.length} model{roles.length > 1 ? "s" : ""} × {problems.length} problems.
        </p>
      )}
    </div>
  );
}

/** The answer by every metric (strict-match and flexible-extract for lm-eval tasks), the output on opening. */
function AnswerCell({ result, metrics }: { result: ProblemResult | undefined; metrics: readonly string[] }) {
  if (!result) return <span className="text-slate-400">…</span>;
  return (
    <details>
      <summary className="cursor-pointer">
        {result.scores.map((score, i) => (
          <span key={metrics[i]} data-metric={metrics[i]} title={metrics[i]} className="mr-2 inline-block">
            {metrics.length > 1 && <span className="text-xs text-slate-500">{metrics[i]} </span>}
            <span className={score.correct ? "text-emerald-700" : "text-red-700"}>{score.correct ? "✓" : "✗"}</span>{" "}
            <span className="font-mono">{score.extracted ?? "no answer"}</span>
          </span>
        ))}
      </summary>
      <pre className="mt-1 max-h-60 max-w-md overflow-auto whitespace-pre-wrap rounded bg-slate-50 p-2 font-mono text-xs text-slate-700">{result.output}</pre>
      {result.output.trim() === "" && <p className="text-xs italic text-slate-500">(the output is only whitespace)</p>}
      <p className="text-xs text-slate-500">
        {result.newTokens} tokens, {result.stopReason.replace(/_/g, " ")}
        {Number.isFinite(result.decodeTokensPerSecond) ? `, ${result.decodeTokensPerSecond.toFixed(1)} tokens/s` : ""}
      </p>
    </details>
  );
}

/** How long a model took once all its problems are answered; the exact figures are in data attributes, for scripts. */
function RunStats({ role, stats }: { role: EvalRole; stats: ModelRunStats }) {
  return (
    <p
      data-testid={`eval-run-${role}`}
      data-batch={stats.batchSize}
      data-load-seconds={stats.loadSeconds}
      data-seconds={stats.seconds}
      data-prefill-seconds={stats.prefillSeconds}
      data-decode-seconds={stats.decodeSeconds}
      data-new-tokens={stats.newTokens}
      data-tokens-per-second={stats.tokensPerSecond}
      className="mt-1 text-xs text-slate-500"
    >
      Batch {stats.batchSize} · loaded in {formatDuration(stats.loadSeconds)} · {stats.newTokens} tokens in {formatDuration(stats.seconds)} ({stats.tokensPerSecond.toFixed(1)} tokens/s;
      prefill {formatDuration(stats.prefillSeconds)}, decode {formatDuration(stats.decodeSeconds)})
    </p>
  );
}
