import type { MergeMethod } from "./MergeMethod.ts";

/**
 * The reasoning-vector recipe (arXiv 2509.01363): merged = target + alpha * (plus - minus).
 * Numeric contract: a = fl32(alpha); d = fl32(p - m); s = fl32(d * a); r = fl32(t + s), three
 * separate float32 operations. Each JavaScript double operation on float32 inputs followed by
 * Math.fround (or a Float32Array store) is exactly the float32 operation, since a double holds
 * more than twice float32's precision.
 */
export const taskArithmetic: MergeMethod = {
  id: "task_arithmetic",
  label: "Reasoning vector (task arithmetic)",
  formula: "merged = target + alpha * (plus - minus)",
  parameters: [
    {
      name: "alpha",
      label: "Alpha",
      description: "Scale of the vector plus - minus: 1 adds it, 0 gives the target, negative values subtract it.",
      default: 1,
      min: -2,
      max: 2,
      step: 0.05,
    },
  ],
  isIdentity: (parameters) => Math.fround(parameters.alpha ?? 1) === 0,
  mergeBlock(target, plus, minus, out, count, parameters) {
    const a = Math.fround(parameters.alpha ?? 1);
    for (let i = 0; i < count; i++) {
      out[i] = target[i]! + Math.fround(Math.fround(plus[i]! - minus[i]!) * a);
    }
  },
};
