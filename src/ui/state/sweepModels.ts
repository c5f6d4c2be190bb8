import type { MergeRecipe } from "../../core/recipe/MergeRecipe.ts";
import type { EvalModelDescription } from "../../eval/report/buildEvalReport.ts";
import type { EvalControl, EvaluatedModelKind } from "../../eval/report/EvalReport.ts";
import { sweepEvalModels } from "../../eval/sweep/sweepEvalModels.ts";
import { oneVectorAlpha } from "./recipeDraft.ts";

/** Which models a run evaluates, as the Evaluate panel sets them. */
export interface SweepSettings {
  /** The target, the merged models of the sweep, and the first vector's plus and minus. */
  models: Record<EvaluatedModelKind, boolean>;
  /** The sweep's alphas; empty: the one merged model the recipe describes. */
  alphas: readonly number[];
  /** Evaluate the reversed vector: the recipe at -controlAlpha. */
  reversed: boolean;
  /** Evaluate recipe v2's random-sign control at controlAlpha, with controlSeed. */
  randomSign: boolean;
  controlAlpha: number;
  controlSeed: number;
}

/**
 * The recipe a sweep scales: the one-vector task arithmetic recipe at weight 1 (so that alpha is
 * its weight, whatever the slider says), any other recipe as written (alpha multiplies its weights).
 */
export function sweepBaseRecipe(recipe: MergeRecipe): MergeRecipe {
  if (oneVectorAlpha(recipe) === undefined) return recipe;
  return { ...recipe, vectors: recipe.vectors.map((vector) => ({ ...vector, weight: 1 })) };
}

/**
 * The models a run evaluates, one worker each, in the report's order: sweepEvalModels' target,
 * merged models in ascending alpha and controls (each merged model with its own recipe), less the
 * target when it is not chosen, then plus and minus. Without alphas the merged model is the recipe
 * as set (the one-vector recipe's alpha, else 1).
 */
export function planSweepModels(recipe: MergeRecipe, settings: SweepSettings): EvalModelDescription[] {
  const { models, randomSign } = settings;
  const alphas = models.merged ? (settings.alphas.length > 0 ? settings.alphas : [oneVectorAlpha(recipe) ?? 1]) : [];
  const kinds: EvalControl[] = [...(settings.reversed ? (["reversed"] as const) : []), ...(randomSign ? (["random-sign"] as const) : [])];
  const swept = sweepEvalModels(sweepBaseRecipe(recipe), alphas, { kinds, alpha: settings.controlAlpha, seed: randomSign ? settings.controlSeed : 0 });
  const none = { alpha: null, control: null, recipe: null };
  const planned = [
    ...swept.filter((model) => model.kind !== "target" || models.target),
    ...(models.plus ? [{ id: "plus", label: "plus", kind: "plus" as const, ...none }] : []),
    ...(models.minus ? [{ id: "minus", label: "minus", kind: "minus" as const, ...none }] : []),
  ];
  if (planned.length === 0) throw new Error("Choose at least one model to evaluate.");
  return planned;
}
