import { memo } from "react";
import type { ModelRunStats, ProblemResult } from "../../eval/runGsm8kEvaluation.ts";
import { renderEvalReportCsv } from "../../eval/report/renderEvalReportCsv.ts";
import { compareWithTarget } from "../../eval/stats/compareWithTarget.ts";
import { checkAlphaZero } from "../../eval/sweep/checkAlphaZero.ts";
import { downloadBlob } from "../downloadBlob.ts";
import { formatDuration } from "../format.ts";
import type { EvalRunData } from "../state/evalSlice.ts";
import { studioEvalReport } from "../state/studioEvalReport.ts";
import { useStudioStore } from "../state/studioStore.ts";
import { sweepChartData } from "../state/sweepChartData.ts";
import { ErrorMessage } from "./ErrorMessage.tsx";
import { SweepChart } from "./SweepChart.tsx";
import { SweepTable } from "./SweepTable.tsx";
import { secondaryButtonClass } from "./styles.ts";

const percent = (value: number) => `${(100 * value).toFixed(1)}%`;

/**
 * The run's results: accuracy per model so far, the sweep chart and table of the finished models
 * (they fill as models finish), the answers table, and the whole result as JSON and CSV once done.
 */
export function EvalResults() {
  const run = useStudioStore((state) => state.evalRun);
  const data: EvalRunData | undefined = run.status === "failed" ? run.data : run.status === "idle" ? undefined : run;
  if (!data) return null;
  const { problems, models, answers, runs } = data;
  const answersOf = (id: string) => answers[id] ?? [];
  const summary = compareWithTarget(
    models.map((model) => ({ id: model.id, correct: answersOf(model.id).map((answer) => answer.correct) })),
    models.some((model) => model.id === "target") ? "target" : null,
  );

  return (
    <div className="flex flex-col gap-4">
      <div className="grid gap-3 sm:grid-cols-4">
        {summary.map(
          ({ id, correct, total, accuracy }, position) =>
            accuracy && (
              <div key={id} data-testid={`eval-accuracy-${id}`} className="rounded-lg border border-slate-200 p-3">
                <p className="text-xs font-medium uppercase tracking-wide text-slate-500">{models[position]!.label}</p>
                <p className="text-2xl font-semibold text-slate-900">{percent(accuracy.estimate)}</p>
                <p className="text-xs text-slate-600">
                  {correct} / {total} right · 95% CI {percent(accuracy.low)} – {percent(accuracy.high)}
                  {data.task.metrics.length > 1 && ` · ${data.task.metrics[0]}`}
                </p>
                {data.task.metrics.slice(1).map((metric, i) => {
                  const right = answersOf(id).filter((answer) => answer.scores[i + 1]?.correct).length;
                  return (
                    <p key={metric} data-testid={`eval-accuracy-${id}-${metric}`} className="text-xs text-slate-600">
                      {metric}: {right} / {total} right ({percent(total > 0 ? right / total : 0)})
                    </p>
                  );
                })}
                {runs[id] && <RunStats id={id} stats={runs[id]} />}
              </div>
            ),
        )}
      </div>
      <SweepResults data={data} />
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
              {models.map((model) => (
                <th key={model.id} scope="col" className="py-2 pr-3">
                  {model.label}
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
                {models.map((model) => (
                  <td key={model.id} className="py-2 pr-3">
                    <AnswerCell result={answersOf(model.id).find((answer) => answer.problemIndex === problem.index)} metrics={data.task.metrics} />
                  </td>
                ))}
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      {run.status === "done" && (
        <div className="flex flex-wrap items-center gap-3">
          <p data-testid="eval-done" role="status" className="text-sm text-emerald-700">
            Evaluation finished: {models.length} model{models.length > 1 ? "s" : ""} × {problems.length} problems.
          </p>
          <ReportDownloads data={data} finishedAt={run.finishedAt} />
        </div>
      )}
      {run.status === "done" && <AlphaZeroCheck data={data} />}
    </div>
  );
}

/**
 * The sweep chart and table of the finished models. They change only when a model finishes, that
 * is when its run figures arrive (a new `runs`), so the streamed tokens do not redraw them.
 */
const SweepResults = memo(
  function SweepResults({ data }: { data: EvalRunData }) {
    const report = studioEvalReport(data, new Date());
    const chart = sweepChartData(report.models, report.task.metrics[0]!);
    return (
      <>
        {data.models.some((model) => model.kind === "merged") && <SweepChart points={chart.points} target={chart.target} metric={chart.metric} task={report.task.name} />}
        <SweepTable models={report.models} />
      </>
    );
  },
  (before, after) => before.data.runs === after.data.runs,
);

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
function RunStats({ id, stats }: { id: string; stats: ModelRunStats }) {
  return (
    <p
      data-testid={`eval-run-${id}`}
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

/** "Download results": the finished run's EvalReport as JSON, and as CSV (one row per model). */
function ReportDownloads({ data, finishedAt }: { data: EvalRunData; finishedAt: Date }) {
  const report = () => studioEvalReport(data, finishedAt);
  return (
    <>
      <button
        type="button"
        data-testid="eval-download-json"
        className={secondaryButtonClass}
        onClick={() => downloadBlob(new Blob([`${JSON.stringify(report(), null, 2)}\n`], { type: "application/json" }), "eval-report.json")}
      >
        Download results (JSON)
      </button>
      <button type="button" data-testid="eval-download-csv" className={secondaryButtonClass} onClick={() => downloadBlob(new Blob([renderEvalReportCsv(report())], { type: "text/csv" }), "eval-report.csv")}>
        Download results (CSV)
      </button>
    </>
  );
}

/** Alpha 0 is the target's weights: a finished run with both says whether their answers are exactly the same. */
function AlphaZeroCheck({ data }: { data: EvalRunData }) {
  const { models, answers, runs } = data;
  if (!models.some((model) => model.kind === "target") || !models.some((model) => model.kind === "merged" && model.alpha === 0 && model.control === null)) return null;
  const mismatches = checkAlphaZero(
    models,
    models.map((model) => ({ id: model.id, answers: answers[model.id] ?? [], run: runs[model.id]! })),
  );
  if (mismatches.length > 0) return <ErrorMessage>{mismatches.join("; ")}.</ErrorMessage>;
  return (
    <p data-testid="eval-alpha-zero" className="text-sm text-emerald-700">
      Alpha 0 gave exactly the target&apos;s answers, as it must (its weights are the target&apos;s).
    </p>
  );
}
