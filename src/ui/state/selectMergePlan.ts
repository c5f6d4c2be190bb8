import type { ModelInfo } from "../../core/model/inspectModel.ts";
import { planMerge, type MergePlan } from "../../core/plan/planMerge.ts";
import { defaultRecipeParameters, type MergeRecipe } from "../../core/recipe/MergeRecipe.ts";
import { inputTitle, type ModelInput } from "./modelInput.ts";
import type { StudioState } from "./studioStore.ts";

type PlanInputs = [ModelInfo, ModelInfo, ModelInfo, number, StudioState["vocab"], StudioState["outDtype"]];

let last: { inputs: PlanInputs; plan: MergePlan } | undefined;

/**
 * The studio's one-vector task_arithmetic recipe, target + alpha * (plus - minus), with each model
 * named by its input's title (`owner/name[@revision]`, or the picked folder's name).
 */
export function studioRecipe(state: StudioState, inputs: { target: ModelInput; plus: ModelInput; minus: ModelInput }): MergeRecipe {
  const recipe: MergeRecipe = {
    target: inputTitle(inputs.target),
    method: "task_arithmetic",
    parameters: defaultRecipeParameters("task_arithmetic"),
    vectors: [{ plus: inputTitle(inputs.plus), minus: inputTitle(inputs.minus), weight: state.alpha === 0 ? 0 : state.alpha }],
    vocab: state.vocab,
  };
  if (state.outDtype !== "target") recipe.out_dtype = state.outDtype;
  return recipe;
}

/**
 * The compatibility plan of the three picked models, or undefined until all three are inspected.
 * Memoised on its inputs, so that subscribers get the same object until something changes.
 */
export function selectMergePlan(state: StudioState): MergePlan | undefined {
  const { target, plus, minus } = state.models;
  if (target.status !== "ready" || plus.status !== "ready" || minus.status !== "ready") return undefined;
  const inputs: PlanInputs = [target.info, plus.info, minus.info, state.alpha, state.vocab, state.outDtype];
  if (last && last.inputs.every((value, index) => value === inputs[index])) return last.plan;
  const recipe = studioRecipe(state, { target: target.input, plus: plus.input, minus: minus.input });
  const plan = planMerge({ target: target.info, vectors: [{ plus: plus.info, minus: minus.info }] }, recipe);
  last = { inputs, plan };
  return plan;
}
