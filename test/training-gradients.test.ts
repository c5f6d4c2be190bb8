import { describe, expect, it } from "vitest";
import { nextUniform, splitMix32 } from "../src/testmodels/seededGaussian.ts";
import type { Qwen2Shape } from "../src/testmodels/qwen2Shape.ts";
import { causalAttentionBackward, causalAttentionForward } from "../src/testmodels/training/causalAttention.ts";
import { embeddingBackward, embeddingForward } from "../src/testmodels/training/embedding.ts";
import type { FloatArray } from "../src/testmodels/training/floatArrays.ts";
import { linearBackward, linearForward } from "../src/testmodels/training/linear.ts";
import { multiplyTransposed } from "../src/testmodels/training/matrixProducts.ts";
import { packSequences } from "../src/testmodels/training/packSequences.ts";
import { qwen2LossAndGradients } from "../src/testmodels/training/qwen2Model.ts";
import { initQwen2Parameters, type Qwen2Parameters } from "../src/testmodels/training/qwen2Parameters.ts";
import { rmsNormBackward, rmsNormForward } from "../src/testmodels/training/rmsNorm.ts";
import { applyRope, ropeTables } from "../src/testmodels/training/rope.ts";
import { swiGluBackward, swiGluForward } from "../src/testmodels/training/swiGlu.ts";
import { weightedCrossEntropy } from "../src/testmodels/training/weightedCrossEntropy.ts";

/**
 * Every backward pass against central finite differences, in float64: for a scalar
 * L = sum(output * R) with R fixed random, dL/dx_i ~ (L(x_i + h) - L(x_i - h)) / 2h with h = 1e-5.
 * The difference quotient's truncation error is O(h^2 f''') ~ 1e-10 and its rounding error
 * ~ 1e-16 |L| / h ~ 1e-11 relative, so the analytic and numeric gradients agree to about 1e-8 of
 * the gradient's scale when the backward pass is right; a wrong term (a missing factor, a sign, a
 * transposed index) shows up at 1e-2 or more. Bound: 1e-6 of the largest |numeric gradient|.
 */
const RELATIVE_BOUND = 1e-6;
const H = 1e-5;

function randomArray(length: number, seed: number, scale = 1): Float64Array {
  const rng = splitMix32(seed);
  return Float64Array.from({ length }, () => scale * (2 * nextUniform(rng) - 1));
}

function weightedSum(y: FloatArray, r: Float64Array): number {
  let sum = 0;
  for (let i = 0; i < y.length; i++) sum += y[i]! * r[i]!;
  return sum;
}

/** Central differences of `loss` with respect to every element of `values` (changed in place and restored). */
function numericGradient(values: FloatArray, loss: () => number): Float64Array {
  const gradient = new Float64Array(values.length);
  for (let i = 0; i < values.length; i++) {
    const original = values[i]!;
    values[i] = original + H;
    const plus = loss();
    values[i] = original - H;
    const minus = loss();
    values[i] = original;
    gradient[i] = (plus - minus) / (2 * H);
  }
  return gradient;
}

function expectGradientClose(analytic: FloatArray, numeric: Float64Array, what: string): void {
  expect(analytic.length, what).toBe(numeric.length);
  let scale = 0;
  let difference = 0;
  for (let i = 0; i < numeric.length; i++) {
    scale = Math.max(scale, Math.abs(numeric[i]!));
    difference = Math.max(difference, Math.abs(analytic[i]! - numeric[i]!));
  }
  expect(scale, `${what}: the gradient is not all zero`).toBeGreaterThan(1e-6);
  expect(difference / scale, `${what}: max |analytic - numeric| ${difference} against a gradient scale of ${scale}`).toBeLessThanOrEqual(RELATIVE_BOUND);
}

describe("the blocked matrix product", () => {
  it("equals a plain triple loop bit for bit at every edge of its 2 x 4 blocks (float32 and float64)", () => {
    for (const arrayType of [Float32Array, Float64Array]) {
      for (let m = 1; m <= 5; m++) {
        for (let n = 1; n <= 9; n++) {
          for (const k of [1, 3, 8]) {
            const a = arrayType.from(randomArray(m * k, m * 100 + n * 10 + k));
            const b = arrayType.from(randomArray(n * k, m * 100 + n * 10 + k + 5000));
            const expected = new arrayType(m * n);
            for (let i = 0; i < m; i++) {
              for (let j = 0; j < n; j++) {
                let sum = 0;
                for (let p = 0; p < k; p++) sum += a[i * k + p]! * b[j * k + p]!;
                expected[i * n + j] = sum;
              }
            }
            expect(multiplyTransposed(a, m, b, n, k), `${arrayType.name} ${m}x${k} times (${n}x${k})^T`).toEqual(expected);
          }
        }
      }
    }
  });
});

describe("backward passes against central finite differences (float64)", () => {
  it("embedding: the table's gradient, with a repeated id", () => {
    const width = 3;
    const table = randomArray(5 * width, 1);
    const ids = Int32Array.from([4, 0, 4, 2]);
    const r = randomArray(ids.length * width, 2);
    const gradient = new Float64Array(table.length);
    embeddingBackward(r, ids, width, gradient);
    expectGradientClose(gradient, numericGradient(table, () => weightedSum(embeddingForward(table, ids, width), r)), "embedding table");
  });

  it("RMS norm: input and scale", () => {
    const width = 6;
    const x = randomArray(3 * width, 3);
    const weight = randomArray(width, 4);
    const r = randomArray(x.length, 5);
    const loss = () => weightedSum(rmsNormForward(x, weight, width, 1e-6).y, r);
    const weightGradient = new Float64Array(width);
    const dx = rmsNormBackward(r, x, weight, rmsNormForward(x, weight, width, 1e-6).inverseRms, width, weightGradient);
    expectGradientClose(dx, numericGradient(x, loss), "RMS norm input");
    expectGradientClose(weightGradient, numericGradient(weight, loss), "RMS norm scale");
  });

  it("linear with bias: input, weight [out, in] and bias", () => {
    const size = { rows: 3, inFeatures: 5, outFeatures: 4 };
    const x = randomArray(size.rows * size.inFeatures, 6);
    const weight = randomArray(size.outFeatures * size.inFeatures, 7);
    const bias = randomArray(size.outFeatures, 8);
    const r = randomArray(size.rows * size.outFeatures, 9);
    const loss = () => weightedSum(linearForward(x, weight, bias, size), r);
    const weightGradient = new Float64Array(weight.length);
    const biasGradient = new Float64Array(bias.length);
    const dx = linearBackward(r, x, weight, size, weightGradient, biasGradient);
    expectGradientClose(dx, numericGradient(x, loss), "linear input");
    expectGradientClose(weightGradient, numericGradient(weight, loss), "linear weight");
    expectGradientClose(biasGradient, numericGradient(bias, loss), "linear bias");
  });

  it("RoPE: the input, at positions 0..4 of two sequences", () => {
    const heads = 2;
    const headDim = 4;
    const positions = Int32Array.from([0, 1, 2, 0, 1, 4]);
    const tables = ropeTables(5, headDim, 10_000);
    const x = randomArray(positions.length * heads * headDim, 10);
    const r = randomArray(x.length, 11);
    const dx = applyRope(r, positions, heads, tables, -1);
    expectGradientClose(dx, numericGradient(x, () => weightedSum(applyRope(x, positions, heads, tables), r)), "RoPE input");
  });

  it("causal attention with grouped kv heads (4 query heads on 2): q, k and v over two packed sequences", () => {
    const size = { numHeads: 4, numKvHeads: 2, headDim: 3 };
    const segmentStarts = [0, 4, 7];
    const rows = 7;
    const q = randomArray(rows * size.numHeads * size.headDim, 12, 2);
    const k = randomArray(rows * size.numKvHeads * size.headDim, 13, 2);
    const v = randomArray(rows * size.numKvHeads * size.headDim, 14);
    const r = randomArray(q.length, 15);
    const loss = () => weightedSum(causalAttentionForward(q, k, v, segmentStarts, size).context, r);
    const { dq, dk, dv } = causalAttentionBackward(r, q, k, v, causalAttentionForward(q, k, v, segmentStarts, size).probabilities, segmentStarts, size);
    expectGradientClose(dq, numericGradient(q, loss), "attention q");
    expectGradientClose(dk, numericGradient(k, loss), "attention k");
    expectGradientClose(dv, numericGradient(v, loss), "attention v");
  });

  it("tied lm_head: one table as the embedding and as the output projection collects both gradients", () => {
    const width = 4;
    const vocab = 6;
    const table = randomArray(vocab * width, 22);
    const ids = Int32Array.from([5, 1, 1]);
    const r = randomArray(ids.length * vocab, 23);
    const size = { rows: ids.length, inFeatures: width, outFeatures: vocab };
    const loss = () => weightedSum(linearForward(embeddingForward(table, ids, width), table, undefined, size), r);
    const gradient = new Float64Array(table.length);
    const dEmbedded = linearBackward(r, embeddingForward(table, ids, width), table, size, gradient, undefined);
    embeddingBackward(dEmbedded, ids, width, gradient);
    expectGradientClose(gradient, numericGradient(table, loss), "tied table");
  });

  it("SwiGLU: gate and up", () => {
    const gate = randomArray(10, 16, 3);
    const up = randomArray(10, 17);
    const r = randomArray(10, 18);
    const loss = () => weightedSum(swiGluForward(gate, up), r);
    const { dGate, dUp } = swiGluBackward(r, gate, up);
    expectGradientClose(dGate, numericGradient(gate, loss), "SwiGLU gate");
    expectGradientClose(dUp, numericGradient(up, loss), "SwiGLU up");
  });

  it("weighted cross-entropy: logits, with masked rows (weight 0) and a negative weight", () => {
    const vocab = 7;
    const logits = randomArray(4 * vocab, 19, 3);
    const targets = Int32Array.from([3, -1, 0, 6]);
    const weights = Float64Array.from([0.5, 0, 0.25, -0.75]);
    const { dLogits } = weightedCrossEntropy(logits, targets, weights, vocab);
    const numeric = numericGradient(logits, () => weightedCrossEntropy(logits, targets, weights, vocab).loss);
    expectGradientClose(dLogits, numeric, "cross-entropy logits");
    expect([...numeric.subarray(vocab, 2 * vocab)], "a masked row has no gradient").toEqual(new Array(vocab).fill(0));
  });
});

const TINY_TIED: Qwen2Shape = {
  hiddenSize: 8,
  intermediateSize: 12,
  numLayers: 2,
  numHeads: 4,
  numKvHeads: 2,
  vocabSize: 11,
  tieWordEmbeddings: true,
  ropeTheta: 10_000,
  rmsNormEps: 1e-6,
  maxPositionEmbeddings: 64,
};

/** Larger-than-initial weights so every path carries gradient well above the finite differences' noise. */
function scaledParameters(shape: Qwen2Shape, seed: number): Qwen2Parameters {
  const parameters = initQwen2Parameters(shape, seed, Float64Array);
  for (const [name, values] of parameters.tensors) {
    const noise = randomArray(values.length, seed + name.length * 7919 + values.length);
    for (let i = 0; i < values.length; i++) values[i] = name.endsWith("norm.weight") ? 1 + 0.3 * noise[i]! : values[i]! * 20;
  }
  return parameters;
}

describe("the whole model's gradient against central finite differences (float64)", () => {
  const sequences = [
    { ids: [1, 5, 2, 9, 3], lossWeights: [0, 0, 0.2, 0.3, 0.5] },
    { ids: [7, 7, 0, 10], lossWeights: [0, 0.4, -0.1, 0.6] },
  ];
  for (const [label, shape] of [
    ["tied lm_head", TINY_TIED],
    ["untied lm_head", { ...TINY_TIED, tieWordEmbeddings: false, numKvHeads: 4 }],
  ] as const) {
    it(`${label}: every element of every tensor`, () => {
      const parameters = scaledParameters(shape, 21);
      const batch = packSequences(sequences);
      const { gradients } = qwen2LossAndGradients(parameters, batch);
      for (const [name, values] of parameters.tensors) {
        const numeric = numericGradient(values, () => qwen2LossAndGradients(parameters, batch).loss);
        expectGradientClose(gradients.get(name)!, numeric, name);
      }
    });
  }
});
