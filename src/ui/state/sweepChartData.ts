import type { EvalControl, EvaluatedModel } from "../../eval/report/EvalReport.ts";

/** One evaluated merged model: a point of the sweep (control null) or a control's marker. */
export interface SweepChartPoint {
  label: string;
  alpha: number;
  control: EvalControl | null;
  correct: number;
  total: number;
  /** The 95% Wilson interval of correct / total. */
  low: number;
  high: number;
}

/** The target's score, drawn as the chart's reference line and band. */
export interface SweepChartTarget {
  correct: number;
  total: number;
  low: number;
  high: number;
}

export interface SweepChartData {
  points: SweepChartPoint[];
  target: SweepChartTarget | null;
  /** The metric the points count: the report's primary one. */
  metric: string;
}

/**
 * What the sweep chart draws of a report's models: every merged model with an alpha as a point
 * (the controls keep their control), the target as the reference, all on the primary metric.
 * Plus and minus are not on the alpha axis and are left out.
 */
export function sweepChartData(models: readonly EvaluatedModel[], metric: string): SweepChartData {
  const primary = (model: EvaluatedModel) => {
    const score = model.scores.find((entry) => entry.metric === metric);
    if (!score) throw new Error(`${model.label} has no ${metric} score`);
    return score;
  };
  const points = models.flatMap((model): SweepChartPoint[] => {
    if (model.kind !== "merged" || model.alpha === null) return [];
    const { correct, total, low, high } = primary(model);
    return [{ label: model.label, alpha: model.alpha, control: model.control, correct, total, low, high }];
  });
  const targetModel = models.find((model) => model.kind === "target");
  const target = targetModel ? (({ correct, total, low, high }) => ({ correct, total, low, high }))(primary(targetModel)) : null;
  return { points, target, metric };
}
