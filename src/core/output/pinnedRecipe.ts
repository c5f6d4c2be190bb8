import type { ModelInfo } from "../model/inspectModel.ts";
import type { MergePlan } from "../plan/planMerge.ts";
import type { MergeRecipe } from "../recipe/MergeRecipe.ts";

/**
 * The plan's recipe with every Hub input pinned to the commit its source resolved
 * (`owner/name@sha`), so that the recipe names the exact bytes merged; folders stay as written.
 */
export function pinnedRecipe(plan: MergePlan): MergeRecipe {
  const pin = (spec: string, model: ModelInfo) => {
    const { repoId, revision } = model.source;
    return repoId !== undefined && revision !== undefined ? `${repoId}@${revision}` : spec;
  };
  const { recipe, models } = plan;
  return {
    ...recipe,
    target: pin(recipe.target, models.target),
    vectors: recipe.vectors.map((vector, j) => ({ ...vector, plus: pin(vector.plus, models.vectors[j]!.plus), minus: pin(vector.minus, models.vectors[j]!.minus) })),
  };
}
