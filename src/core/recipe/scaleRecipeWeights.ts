import type { MergeRecipe, Setting } from "./MergeRecipe.ts";
import { isSettingConditions } from "./MergeRecipe.ts";

/**
 * The recipe at a sweep's alpha: every vector's weight setting (its own, else the recipe's
 * parameters.weight) multiplied by alpha, in float64, entry by entry (a number, each point of a
 * gradient, each condition's value); alpha 1 is the recipe as written, and for the one-vector
 * recipe of weight 1 the weight becomes alpha. A recipe with `normalize` divides the mix by the sum
 * of the weights, which cancels alpha: it is refused, as is a vector with no weight to scale.
 */
export function scaleRecipeWeights(recipe: MergeRecipe, alpha: number): MergeRecipe {
  if (!Number.isFinite(alpha)) throw new RangeError(`alpha must be a finite number, not ${alpha}`);
  if (recipe.parameters.normalize) {
    throw new Error("a recipe with parameters.normalize divides by the sum of its weights, so scaling them by alpha changes nothing: set normalize to false to sweep alpha");
  }
  const vectors = recipe.vectors.map((vector, index) => {
    const weight = vector.weight ?? recipe.parameters.weight;
    if (weight === undefined) throw new Error(`vectors[${index}]: no weight to scale (neither its own nor the recipe's parameters.weight)`);
    return { ...vector, weight: scaleSetting(weight, alpha) };
  });
  return { ...recipe, vectors };
}

function scaleSetting(setting: Setting, alpha: number): Setting {
  if (typeof setting === "number") return setting * alpha;
  if (isSettingConditions(setting)) {
    return setting.map((condition) => ({ ...condition, value: typeof condition.value === "number" ? condition.value * alpha : condition.value.map((point) => point * alpha) }));
  }
  return setting.map((point) => point * alpha);
}
