import type { RecipeMethodId, TensorRecipe } from "../src/core/recipe/TensorRecipe.ts";

/** The recipe the kernel benchmarks time per method: two terms (weights 0.7 and 0.5, densities 0.5 and 0.3), normalize for ties. */
export function twoTermRecipe(method: RecipeMethodId): TensorRecipe {
  return {
    tensorName: "model.embed_tokens.weight",
    method,
    terms: [
      { index: 0, weight: 0.7, density: 0.5, gamma: 0.01 },
      { index: 1, weight: 0.5, density: 0.3, gamma: 0.01 },
    ],
    normalize: method === "ties",
    rescale: true,
    seed: 1,
  };
}
