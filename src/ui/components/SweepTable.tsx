import type { EvaluatedModel } from "../../eval/report/EvalReport.ts";

const percent = (value: number) => `${(100 * value).toFixed(1)}%`;
const pValue = (value: number) => (value >= 0.001 ? value.toPrecision(2) : value.toExponential(1));

/**
 * Per evaluated model: accuracy with its 95% interval on the primary metric, and against the
 * target on the same problems the flips both ways, the exact McNemar p-value and its Holm
 * adjustment over all the run's comparisons.
 */
export function SweepTable({ models }: { models: readonly EvaluatedModel[] }) {
  if (models.length === 0) return null;
  const comparisons = models.filter((model) => model.comparison !== null).length;
  return (
    <div className="flex flex-col gap-2">
      <div className="overflow-x-auto">
        <table data-testid="sweep-table" className="w-full border-collapse text-left text-sm">
          <thead>
            <tr className="border-b border-slate-200 text-xs uppercase tracking-wide text-slate-500">
              <th scope="col" className="py-2 pr-3">Model</th>
              <th scope="col" className="py-2 pr-3">Alpha</th>
              <th scope="col" className="py-2 pr-3">Accuracy (95% CI)</th>
              <th scope="col" className="py-2 pr-3">Fixed / broken vs target</th>
              <th scope="col" className="py-2 pr-3">McNemar p</th>
              <th scope="col" className="py-2 pr-3">Holm p</th>
            </tr>
          </thead>
          <tbody>
            {models.map((model) => {
              const [score] = model.scores;
              return (
                <tr
                  key={model.label}
                  data-testid="sweep-row"
                  data-label={model.label}
                  data-alpha={model.alpha ?? ""}
                  data-correct={score?.correct}
                  data-total={score?.total}
                  className="border-b border-slate-100"
                >
                  <td className="py-2 pr-3 text-slate-800">{model.label}</td>
                  <td className="py-2 pr-3 font-mono">{model.alpha ?? "–"}</td>
                  <td className="py-2 pr-3">
                    {score ? (
                      <>
                        {percent(score.accuracy)} <span className="text-xs text-slate-500">({score.correct} / {score.total}; {percent(score.low)} – {percent(score.high)})</span>
                      </>
                    ) : (
                      "–"
                    )}
                  </td>
                  <td className="py-2 pr-3">{model.comparison ? `${model.comparison.fixed} / ${model.comparison.broken}` : "–"}</td>
                  <td className="py-2 pr-3 font-mono">{model.comparison ? pValue(model.comparison.pValue) : "–"}</td>
                  <td className="py-2 pr-3 font-mono">{model.comparison ? pValue(model.comparison.holmPValue) : "–"}</td>
                </tr>
              );
            })}
          </tbody>
        </table>
      </div>
      {comparisons > 1 && (
        <p className="text-xs text-slate-600">
          {comparisons} models are compared with the target, so {comparisons} tests ran: by chance alone one of them is more likely to look significant than a single test is. The Holm p-value
          adjusts for that; read significance from it. Fixed: wrong for the target, right here; broken: the other way.
        </p>
      )}
    </div>
  );
}
