import type { MergeRecipe } from "../../core/recipe/MergeRecipe.ts";
import { scaleRecipeWeights } from "../../core/recipe/scaleRecipeWeights.ts";
import type { EvalModelDescription } from "../report/buildEvalReport.ts";
import type { EvalControl } from "../report/EvalReport.ts";

/** The most alphas one sweep evaluates (each is a whole model run). */
export const MAX_SWEEP_ALPHAS = 21;

export interface SweepControls {
  /** The controls to add; each at most once. */
  kinds: readonly EvalControl[];
  /** The alpha A the controls are made at: "reversed" is the recipe at -A, "random-sign" the recipe at A with random signs. */
  alpha: number;
  /** The random-sign control's seed (unsigned 32-bit). */
  seed: number;
}

/** The alphas of a sweep as evaluated: finite, -0 read as 0, sorted ascending, each once; more than MAX_SWEEP_ALPHAS is an error. */
export function normalizeSweepAlphas(alphas: readonly number[]): number[] {
  const bad = alphas.find((alpha) => !Number.isFinite(alpha));
  if (bad !== undefined) throw new RangeError(`every alpha of a sweep must be a finite number, not ${bad}`);
  const distinct = [...new Set(alphas.map((alpha) => alpha + 0))].sort((a, b) => a - b);
  if (distinct.length > MAX_SWEEP_ALPHAS) throw new RangeError(`a sweep evaluates at most ${MAX_SWEEP_ALPHAS} alphas (each a whole model run), not ${distinct.length}`);
  return distinct;
}

/**
 * The models of an alpha sweep of `recipe`, in the order they run and are reported: the target
 * once, then the recipe at each alpha (scaleRecipeWeights: every vector weight times alpha; sorted,
 * each once; alpha 1 is the recipe as written, so that a recipe with normalize, which no other
 * alpha scales, still runs at its own weights), then the controls at controls.alpha = A:
 * - "reversed": the recipe at -A. When -A is one of the sweep's alphas it is not evaluated twice:
 *   that alpha's entry carries control "reversed" (label "alpha -A (reversed)") and stays in its
 *   place in the sweep, so it is both a point of the curve and the control;
 * - "random-sign": the recipe at A with control random_sign and controls.seed (recipe v2: each
 *   element of each vector keeps its magnitude and gets a random sign).
 * A recipe that is itself a random-sign control makes every merged model a "random-sign" one, and
 * takes no second random-sign control. Each model's `recipe` is the one its weights are computed
 * from (a merge plan of it, loaded as mergedTensorLoader computes it).
 */
export function sweepEvalModels(recipe: MergeRecipe, alphas: readonly number[], controls: SweepControls): EvalModelDescription[] {
  const sweep = normalizeSweepAlphas(alphas);
  const kinds = new Set(controls.kinds);
  if (kinds.size !== controls.kinds.length) throw new Error(`each control is made once; got ${controls.kinds.join(", ")}`);
  if (kinds.size > 0 && !Number.isFinite(controls.alpha)) throw new RangeError(`the controls' alpha must be a finite number, not ${controls.alpha}`);
  if (!(Number.isInteger(controls.seed) && controls.seed >= 0 && controls.seed <= 0xffffffff)) throw new RangeError(`the random-sign control's seed must be an integer from 0 to 4294967295, not ${controls.seed}`);
  if (kinds.has("random-sign") && recipe.control) throw new Error(`the recipe is already a random-sign control (seed ${recipe.control.seed}): drop the random-sign control, or the recipe's control`);
  const recipeControl: EvalControl | null = recipe.control ? "random-sign" : null;
  const reversedAlpha = -controls.alpha + 0;
  const reversedInSweep = kinds.has("reversed") && sweep.includes(reversedAlpha);
  const atAlpha = (alpha: number) => (alpha === 1 ? recipe : scaleRecipeWeights(recipe, alpha));
  const merged = (alpha: number, control: EvalControl | null, id: string, label: string, scaled = atAlpha(alpha)): EvalModelDescription => ({
    id,
    label,
    kind: "merged",
    alpha,
    control,
    recipe: scaled,
  });
  const models: EvalModelDescription[] = [{ id: "target", label: "target", kind: "target", alpha: null, control: null, recipe: null }];
  for (const alpha of sweep) {
    const reversed = reversedInSweep && alpha === reversedAlpha;
    models.push(merged(alpha, reversed ? "reversed" : recipeControl, `alpha ${alpha}`, reversed ? `alpha ${alpha} (reversed)` : `alpha ${alpha}`));
  }
  if (kinds.has("reversed") && !reversedInSweep) models.push(merged(reversedAlpha, "reversed", `reversed ${reversedAlpha}`, `reversed (alpha ${reversedAlpha})`));
  if (kinds.has("random-sign")) {
    const alpha = controls.alpha + 0;
    const scaled = { ...atAlpha(alpha), control: { kind: "random_sign" as const, seed: controls.seed } };
    models.push(merged(alpha, "random-sign", `random-sign ${alpha} seed ${controls.seed}`, `random-sign control (alpha ${alpha})`, scaled));
  }
  return models;
}
