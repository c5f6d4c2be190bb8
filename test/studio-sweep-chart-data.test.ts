import { describe, expect, it } from "vitest";
import type { EvalControl, EvaluatedModel, EvaluatedModelKind, MetricScore } from "../src/eval/report/EvalReport.ts";
import { sweepChartData } from "../src/ui/state/sweepChartData.ts";

/** A report model with hand-written scores (the chart reads nothing else of it). */
function model(label: string, kind: EvaluatedModelKind, alpha: number | null, control: EvalControl | null, scores: MetricScore[]): EvaluatedModel {
  return { label, kind, alpha, control, recipe: null, scores, comparison: null, run: { loadSeconds: 1, answerSeconds: 2, newTokens: 3, tokensPerSecond: 1.5 }, answers: [] };
}
const score = (metric: string, correct: number, total: number, low: number, high: number): MetricScore => ({ metric, correct, total, accuracy: correct / total, low, high });

describe("sweepChartData", () => {
  const models = [
    model("target", "target", null, null, [score("strict-match", 3, 10, 0.1, 0.6), score("flexible-extract", 4, 10, 0.15, 0.7)]),
    model("alpha -1", "merged", -1, null, [score("strict-match", 1, 10, 0.02, 0.4), score("flexible-extract", 2, 10, 0.05, 0.5)]),
    model("alpha 1", "merged", 1, null, [score("strict-match", 6, 10, 0.3, 0.85), score("flexible-extract", 7, 10, 0.4, 0.9)]),
    model("random-sign control (alpha 1)", "merged", 1, "random-sign", [score("strict-match", 2, 10, 0.05, 0.5), score("flexible-extract", 2, 10, 0.05, 0.5)]),
    model("plus", "plus", null, null, [score("strict-match", 9, 10, 0.6, 0.98), score("flexible-extract", 9, 10, 0.6, 0.98)]),
  ];

  it("draws every merged model at its alpha, controls kept apart, the target as the reference, on the chosen metric", () => {
    expect(sweepChartData(models, "strict-match")).toEqual({
      metric: "strict-match",
      target: { correct: 3, total: 10, low: 0.1, high: 0.6 },
      points: [
        { label: "alpha -1", alpha: -1, control: null, correct: 1, total: 10, low: 0.02, high: 0.4 },
        { label: "alpha 1", alpha: 1, control: null, correct: 6, total: 10, low: 0.3, high: 0.85 },
        { label: "random-sign control (alpha 1)", alpha: 1, control: "random-sign", correct: 2, total: 10, low: 0.05, high: 0.5 },
      ],
    });
    expect(sweepChartData(models, "flexible-extract").points.map((point) => point.correct)).toEqual([2, 7, 2]);
  });

  it("has no reference before the target has run, and no points before a merged model has", () => {
    expect(sweepChartData(models.slice(1, 2), "strict-match").target).toBeNull();
    expect(sweepChartData(models.slice(0, 1), "strict-match").points).toEqual([]);
  });

  it("names a model that lacks the metric", () => {
    expect(() => sweepChartData(models, "exact-match")).toThrow("alpha -1 has no exact-match score");
  });
});
