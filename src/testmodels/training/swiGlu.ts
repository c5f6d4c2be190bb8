import { zerosLike, type FloatArray } from "./floatArrays.ts";

const sigmoid = (x: number) => 1 / (1 + Math.exp(-x));

/** Qwen2MLP's activation: silu(gate) * up, elementwise. */
export function swiGluForward(gate: FloatArray, up: FloatArray): FloatArray {
  const y = zerosLike(gate);
  for (let i = 0; i < gate.length; i++) y[i] = gate[i]! * sigmoid(gate[i]!) * up[i]!;
  return y;
}

/** The backward pass of swiGluForward: d gate = dy up silu'(gate), d up = dy silu(gate), silu'(g) = s (1 + g (1 - s)). */
export function swiGluBackward(dy: FloatArray, gate: FloatArray, up: FloatArray): { dGate: FloatArray; dUp: FloatArray } {
  const dGate = zerosLike(gate);
  const dUp = zerosLike(up);
  for (let i = 0; i < gate.length; i++) {
    const g = gate[i]!;
    const s = sigmoid(g);
    dUp[i] = dy[i]! * g * s;
    dGate[i] = dy[i]! * up[i]! * s * (1 + g * (1 - s));
  }
  return { dGate, dUp };
}
