import { quoteName } from "../messages/safeText.ts";
import { evaluateSetting, tensorPosition } from "./evaluateSetting.ts";
import type { MergeRecipe } from "./MergeRecipe.ts";
import { METHOD_STEPS, type TensorRecipe, type TensorTerm } from "./TensorRecipe.ts";

/**
 * The recipe for one tensor X of the target (recipe-v2.md, "Settings per tensor"): each vector's
 * weight, density and gamma (its own setting, else the recipe's parameters) read at X's position;
 * terms whose weight rounds to float32 0, or whose density is 0 under a sparsifying method, left
 * out; density 1 for methods that do not sparsify. `numHiddenLayers` is the target's
 * num_hidden_layers.
 */
export function resolveTensorRecipe(recipe: MergeRecipe, tensorName: string, numHiddenLayers: number): TensorRecipe {
  const t = tensorPosition(tensorName, numHiddenLayers);
  const sparsifies = METHOD_STEPS[recipe.method].sparsification !== "none";
  const { parameters } = recipe;
  const terms: TensorTerm[] = [];
  recipe.vectors.forEach((vector, index) => {
    const weightSetting = vector.weight ?? parameters.weight;
    if (weightSetting === undefined) throw new Error(`vectors[${index}]: no weight (neither its own nor the recipe's parameters.weight)`);
    const weight = Math.fround(evaluateSetting(weightSetting, tensorName, t));
    const density = sparsifies ? evaluateSetting(vector.density ?? parameters.density, tensorName, t) : 1;
    const gamma = evaluateSetting(vector.gamma ?? parameters.gamma, tensorName, t);
    if (weight === 0 || density === 0) return;
    if (!Number.isFinite(weight)) throw new Error(`vectors[${index}].weight is infinite in float32 for tensor ${quoteName(tensorName)}`);
    terms.push({ index, weight, density, gamma });
  });
  const resolved: TensorRecipe = { tensorName, method: recipe.method, terms, normalize: parameters.normalize, rescale: parameters.rescale, seed: parameters.seed };
  if (recipe.control) resolved.control = { kind: recipe.control.kind, seed: recipe.control.seed };
  return resolved;
}
