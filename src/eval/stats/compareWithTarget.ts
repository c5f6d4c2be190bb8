import { holmAdjust } from "./holmAdjust.ts";
import { pairedComparison, type PairedComparison } from "./pairedComparison.ts";
import { wilsonInterval, type ProportionEstimate } from "./wilsonInterval.ts";

/** One model's correctness on the run's problems, in the problems' order. */
export interface ScoredModel {
  id: string;
  correct: readonly boolean[];
}

export interface ModelComparison {
  id: string;
  correct: number;
  total: number;
  /** Accuracy with its 95% Wilson interval; null before any problem is answered. */
  accuracy: ProportionEstimate | null;
  /**
   * Against the target on the same problems, with the Holm-adjusted p over every comparison of the
   * run (many alphas are many tests); null for the target itself, when no target ran, or when the
   * two did not answer the same number of problems.
   */
  vsTarget: (PairedComparison & { holmPValue: number }) | null;
}

/** Accuracy per model and the paired comparison of each other model with the target (targetId), in the input's order. */
export function compareWithTarget(models: readonly ScoredModel[], targetId: string | null): ModelComparison[] {
  const target = models.find((model) => model.id === targetId);
  const comparable = (model: ScoredModel) => target !== undefined && model !== target && model.correct.length === target.correct.length && model.correct.length > 0;
  const paired = models.map((model) => (comparable(model) ? pairedComparison(target!.correct, model.correct) : null));
  const compared = paired.filter((comparison) => comparison !== null);
  const holm = holmAdjust(compared.map((comparison) => comparison.pValue));
  let next = 0;
  return models.map((model, position) => {
    const correct = model.correct.filter(Boolean).length;
    const total = model.correct.length;
    const comparison = paired[position];
    return {
      id: model.id,
      correct,
      total,
      accuracy: total > 0 ? wilsonInterval(correct, total) : null,
      vsTarget: comparison ? { ...comparison, holmPValue: holm[next++]! } : null,
    };
  });
}
