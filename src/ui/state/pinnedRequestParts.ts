import type { MergePlan } from "../../core/plan/planMerge.ts";
import { pinnedRecipe } from "../../core/output/pinnedRecipe.ts";
import type { MergeRecipe } from "../../core/recipe/MergeRecipe.ts";
import type { ModelInput } from "./modelInput.ts";

/**
 * The recipe with every Hub input pinned to the commit its inspection resolved (pinnedRecipe of the
 * plan: `owner/name@sha`), and inputs keyed by those pinned specs, each opening exactly that commit;
 * folders stay as they are. An evaluation run from these names each merged model as the merge's
 * merge_recipe.json does, so that the results of a run can be matched to a saved merge
 * (findEvaluatedMerge compares pinned revisions too), and every worker reads the same bytes.
 */
export function pinnedRequestParts(parts: { recipe: MergeRecipe; inputs: Record<string, ModelInput> }, plan: MergePlan): { recipe: MergeRecipe; inputs: Record<string, ModelInput> } {
  const pinned = pinnedRecipe({ ...plan, recipe: parts.recipe });
  const specs = (recipe: MergeRecipe) => [recipe.target, ...recipe.vectors.flatMap((vector) => [vector.plus, vector.minus])];
  const inputs: Record<string, ModelInput> = {};
  specs(parts.recipe).forEach((spec, index) => {
    const pinnedSpec = specs(pinned)[index]!;
    const input = parts.inputs[spec];
    if (!input) throw new Error(`the request gives no input for the model ${JSON.stringify(spec)}`);
    if (pinnedSpec === spec || input.kind !== "hub") {
      inputs[pinnedSpec] = input;
      return;
    }
    const at = pinnedSpec.lastIndexOf("@");
    inputs[pinnedSpec] = { kind: "hub", repo: pinnedSpec.slice(0, at), revision: pinnedSpec.slice(at + 1) };
  });
  return { recipe: pinned, inputs };
}
