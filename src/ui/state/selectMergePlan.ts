import type { ModelInfo } from "../../core/model/inspectModel.ts";
import { taskArithmetic } from "../../core/methods/taskArithmetic.ts";
import { planMerge, type MergePlan } from "../../core/plan/planMerge.ts";
import { slotOf } from "./modelsSlice.ts";
import { minusSlot, plusSlot } from "./recipeDraft.ts";
import type { StudioState } from "./studioStore.ts";

type PlanInputs = [ModelInfo, ModelInfo, ModelInfo, number, StudioState["vocab"], StudioState["outDtype"]];

let last: { inputs: PlanInputs; plan: MergePlan } | undefined;

/**
 * The compatibility plan of the target and the first vector's models, or undefined until the three
 * are inspected. Today's planMerge takes one vector with a number weight (a weight set per layer is
 * planned as 1); once planMerge takes the recipe, this plans every vector.
 * Memoised on its inputs, so that subscribers get the same object until something changes.
 */
export function selectMergePlan(state: StudioState): MergePlan | undefined {
  const [vector] = state.vectors;
  if (!vector) return undefined;
  const target = slotOf(state.models, "target");
  const plus = slotOf(state.models, plusSlot(vector.id));
  const minus = slotOf(state.models, minusSlot(vector.id));
  if (target.status !== "ready" || plus.status !== "ready" || minus.status !== "ready") return undefined;
  const alpha = typeof vector.weight === "number" ? vector.weight : 1;
  const inputs: PlanInputs = [target.info, plus.info, minus.info, alpha, state.vocab, state.outDtype];
  if (last && last.inputs.every((value, index) => value === inputs[index])) return last.plan;
  const plan = planMerge(
    { target: target.info, plus: plus.info, minus: minus.info },
    {
      method: taskArithmetic,
      parameters: { alpha },
      ...(state.outDtype !== "target" ? { outDtype: state.outDtype } : {}),
      vocab: state.vocab,
    },
  );
  last = { inputs, plan };
  return plan;
}
