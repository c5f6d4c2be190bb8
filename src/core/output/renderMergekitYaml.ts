import { TORCH_DTYPE_NAMES } from "../dtypes.ts";
import type { MergePlan } from "../plan/planMerge.ts";
import { inputName } from "./describeInput.ts";

/**
 * A mergekit config with the same math: task_arithmetic with base = minus and unnormalised weights
 * computes minus + 1 * (target - minus) + alpha * (plus - minus) = target + alpha * (plus - minus).
 * mergekit adds the terms in another order, so its result may differ in the last bit.
 */
export function renderMergekitYaml(plan: MergePlan): string {
  const name = (role: "target" | "plus" | "minus") => JSON.stringify(inputName(plan.models[role].source));
  const alpha = plan.options.parameters.alpha ?? 1;
  const outDtype = plan.options.outDtype ?? plan.summaries.target.dtypes.find((dtype) => dtype in TORCH_DTYPE_NAMES);
  const lines = [
    "merge_method: task_arithmetic",
    `base_model: ${name("minus")}`,
    "models:",
    `  - model: ${name("target")}`,
    "    parameters:",
    "      weight: 1.0",
    `  - model: ${name("plus")}`,
    "    parameters:",
    `      weight: ${alpha}`,
    "parameters:",
    "  normalize: false",
    "dtype: float32",
  ];
  if (outDtype) lines.push(`out_dtype: ${TORCH_DTYPE_NAMES[outDtype as keyof typeof TORCH_DTYPE_NAMES]}`);
  lines.push(`tokenizer_source: ${name("target")}`);
  return `${lines.join("\n")}\n`;
}
