import type { ModelInfo } from "../../core/model/inspectModel.ts";
import { planMerge, type MergePlan, type RecipeInputs } from "../../core/plan/planMerge.ts";
import { slotOf } from "./modelsSlice.ts";
import { draftProblems, minusSlot, plusSlot } from "./recipeDraft.ts";
import { selectRecipe } from "./selectMergeRequest.ts";
import type { StudioState } from "./studioStore.ts";

let last: { infos: ModelInfo[]; recipeJson: string; plan: MergePlan } | undefined;

/**
 * The compatibility plan of the recipe: the target against every vector's plus and minus, or
 * undefined until every model is inspected and every setting is a value (the fields say what is
 * wrong). Memoised on the inspected models and the recipe, so that subscribers get the same object
 * until something changes.
 */
export function selectMergePlan(state: StudioState): MergePlan | undefined {
  const info = (slot: Parameters<typeof slotOf>[1]) => {
    const model = slotOf(state.models, slot);
    return model.status === "ready" ? model.info : undefined;
  };
  const target = info("target");
  const vectors = state.vectors.map((vector) => ({ plus: info(plusSlot(vector.id)), minus: info(minusSlot(vector.id)) }));
  if (!target || vectors.some((vector) => !vector.plus || !vector.minus)) return undefined;
  if (Object.keys(state.fieldProblems).length > 0 || draftProblems(state).length > 0) return undefined;
  const models = { target, vectors } as RecipeInputs<ModelInfo>;
  const infos = [target, ...vectors.flatMap((vector) => [vector.plus!, vector.minus!])];
  const recipe = selectRecipe(state);
  const recipeJson = JSON.stringify(recipe);
  if (last && last.recipeJson === recipeJson && last.infos.length === infos.length && last.infos.every((value, index) => value === infos[index])) return last.plan;
  const plan = planMerge(models, recipe);
  last = { infos, recipeJson, plan };
  return plan;
}
