import type { ModelInfo } from "../../core/model/inspectModel.ts";
import { taskArithmetic } from "../../core/methods/taskArithmetic.ts";
import { planMerge, type MergePlan } from "../../core/plan/planMerge.ts";
import type { StudioState } from "./studioStore.ts";

type PlanInputs = [ModelInfo, ModelInfo, ModelInfo, number, StudioState["vocab"], StudioState["outDtype"]];

let last: { inputs: PlanInputs; plan: MergePlan } | undefined;

/**
 * The compatibility plan of the three picked models, or undefined until all three are inspected.
 * Memoised on its inputs, so that subscribers get the same object until something changes.
 */
export function selectMergePlan(state: StudioState): MergePlan | undefined {
  const { target, plus, minus } = state.models;
  if (target.status !== "ready" || plus.status !== "ready" || minus.status !== "ready") return undefined;
  const inputs: PlanInputs = [target.info, plus.info, minus.info, state.alpha, state.vocab, state.outDtype];
  if (last && last.inputs.every((value, index) => value === inputs[index])) return last.plan;
  const plan = planMerge(
    { target: target.info, plus: plus.info, minus: minus.info },
    {
      method: taskArithmetic,
      parameters: { alpha: state.alpha },
      ...(state.outDtype !== "target" ? { outDtype: state.outDtype } : {}),
      vocab: state.vocab,
    },
  );
  last = { inputs, plan };
  return plan;
}
