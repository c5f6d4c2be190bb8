import { defaultRecipeParameters, type MergeRecipe } from "../recipe/MergeRecipe.ts";

/**
 * The recipe whose merge plan reads what the inspector needs: the same models and vocab mode, every
 * vector with weight 1 under task_arithmetic, no control, the target's dtype. Its plan (planMerge)
 * then gives every float tensor that all models share every vector as a term, whatever the
 * recipe's weights, densities or filters would drop: the inspector looks at the raw vectors.
 */
export function inspectionRecipe(recipe: MergeRecipe): MergeRecipe {
  return {
    target: recipe.target,
    method: "task_arithmetic",
    parameters: defaultRecipeParameters("task_arithmetic"),
    vectors: recipe.vectors.map(({ plus, minus }) => ({ plus, minus, weight: 1 })),
    vocab: recipe.vocab,
  };
}
