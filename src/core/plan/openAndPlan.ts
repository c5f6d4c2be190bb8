import { inspectModel, type ModelInfo } from "../model/inspectModel.ts";
import type { MergeRecipe } from "../recipe/MergeRecipe.ts";
import type { ModelSource } from "../sources/ModelSource.ts";
import { labelledInputs, mapRecipeInputs, planMerge, type MergePlan, type RecipeInputs } from "./planMerge.ts";

/** Opens one model of a recipe: `spec` as the recipe writes it, `roleLabel` ("target", "plus", "vectors[1].minus") for messages. */
export type OpenRecipeSource = (spec: string, roleLabel: string) => Promise<ModelSource>;

export interface OpenedPlan {
  plan: MergePlan;
  /** Every source opened, once per distinct spec: the caller closes them when done. */
  sources: ModelSource[];
}

/** The model specs of a recipe in input order: target, then each vector's plus and minus. */
export function recipeModelSpecs(recipe: MergeRecipe): RecipeInputs<string> {
  return { target: recipe.target, vectors: recipe.vectors.map(({ plus, minus }) => ({ plus, minus })) };
}

/**
 * Opens and inspects every distinct model of `recipe` once (a spec used by several roles, as the
 * target that is every vector's minus in a mergekit YAML, is opened and inspected once, under the
 * first role that names it), then plans the merge. On an error or abort the sources opened so far
 * are closed.
 */
export async function openAndPlan(recipe: MergeRecipe, openSource: OpenRecipeSource, signal?: AbortSignal): Promise<OpenedPlan> {
  const sources: ModelSource[] = [];
  const models = new Map<string, ModelInfo>();
  try {
    for (const { label, value: spec } of labelledInputs(recipeModelSpecs(recipe))) {
      if (models.has(spec)) continue;
      signal?.throwIfAborted();
      const source = await openSource(spec, label);
      sources.push(source);
      signal?.throwIfAborted();
      models.set(spec, await inspectModel(source, signal, label));
    }
    return { plan: planMerge(mapRecipeInputs(recipeModelSpecs(recipe), (spec) => models.get(spec)!), recipe), sources };
  } catch (error) {
    await Promise.all(sources.map((source) => source.close?.()));
    throw error;
  }
}
