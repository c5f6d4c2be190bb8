import type { FloatArray } from "./floatArrays.ts";
import { zerosLikeParameters, type Qwen2Parameters } from "./qwen2Parameters.ts";

export interface AdamWSettings {
  learningRate: number;
  beta1: number;
  beta2: number;
  epsilon: number;
  /** Decoupled weight decay (Loshchilov & Hutter), applied to matrices only: not to norms or biases. */
  weightDecay: number;
}

/** AdamW's state: first and second moments of every parameter and the steps taken. */
export interface AdamWState {
  step: number;
  firstMoments: Map<string, FloatArray>;
  secondMoments: Map<string, FloatArray>;
}

export function createAdamWState(parameters: Qwen2Parameters): AdamWState {
  return { step: 0, firstMoments: zerosLikeParameters(parameters), secondMoments: zerosLikeParameters(parameters) };
}

/** Matrices (embedding, projections, lm_head) decay; vectors (norm scales, biases) do not. */
const decays = (name: string) => name.endsWith(".weight") && !name.endsWith("norm.weight");

/**
 * One AdamW step, in place, as torch.optim.AdamW computes it: p <- p (1 - lr wd), m <- b1 m + (1 - b1) g,
 * v <- b2 v + (1 - b2) g^2, p <- p - lr (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps).
 * `learningRate` overrides the settings' (a schedule's value for this step).
 */
export function adamWStep(parameters: Qwen2Parameters, gradients: Map<string, FloatArray>, state: AdamWState, settings: AdamWSettings, learningRate = settings.learningRate): void {
  const { beta1, beta2, epsilon, weightDecay } = settings;
  state.step += 1;
  const firstCorrection = 1 - beta1 ** state.step;
  const secondCorrection = 1 - beta2 ** state.step;
  for (const [name, values] of parameters.tensors) {
    const gradient = gradients.get(name);
    const m = state.firstMoments.get(name);
    const v = state.secondMoments.get(name);
    if (!gradient || !m || !v) throw new Error(`AdamW: no gradient or moments for ${name}`);
    const shrink = decays(name) ? 1 - learningRate * weightDecay : 1;
    for (let i = 0; i < values.length; i++) {
      const g = gradient[i]!;
      m[i] = beta1 * m[i]! + (1 - beta1) * g;
      v[i] = beta2 * v[i]! + (1 - beta2) * g * g;
      values[i] = values[i]! * shrink - (learningRate * (m[i]! / firstCorrection)) / (Math.sqrt(v[i]! / secondCorrection) + epsilon);
    }
  }
}

/**
 * Scales all gradients together so that their global L2 norm is at most maxNorm (torch's
 * clip_grad_norm_: coefficient maxNorm / (norm + 1e-6), when below 1). Returns the norm before
 * clipping, summed in tensor order then element order.
 */
export function clipGradientNorm(gradients: Map<string, FloatArray>, maxNorm: number): number {
  let squares = 0;
  for (const values of gradients.values()) {
    for (let i = 0; i < values.length; i++) squares += values[i]! * values[i]!;
  }
  const norm = Math.sqrt(squares);
  const coefficient = maxNorm / (norm + 1e-6);
  if (coefficient < 1) {
    for (const values of gradients.values()) {
      for (let i = 0; i < values.length; i++) values[i] = values[i]! * coefficient;
    }
  }
  return norm;
}
