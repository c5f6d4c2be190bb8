import type { MergeMethod } from "./MergeMethod.ts";
import { taskArithmetic } from "./taskArithmetic.ts";

/** Every merge method the studio offers, by id. */
export const mergeMethods: Record<string, MergeMethod> = {
  [taskArithmetic.id]: taskArithmetic,
};

export function getMergeMethod(id: string): MergeMethod {
  const method = mergeMethods[id];
  if (!method) throw new Error(`unknown merge method "${id}": known methods are ${Object.keys(mergeMethods).join(", ")}`);
  return method;
}
