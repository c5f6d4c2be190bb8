import { DTYPE_BYTES, type FloatDtype } from "../../src/core/dtypes.ts";
import type { FloatChunk } from "../../src/core/engine/mergeChunk.ts";
import { computeMagnitudeStatistics, needsMagnitudeStatistics, type MagnitudeStatistics, type TermChunk } from "../../src/core/recipe/magnitudeStatistics.ts";
import type { mergeRecipeChunk } from "../../src/core/recipe/mergeRecipeChunk.ts";
import { RECIPE_METHODS, type RecipeMethodId, type TensorRecipe, type TensorTerm } from "../../src/core/recipe/TensorRecipe.ts";
import { CANONICAL_NAN, referenceMerge, type Tensor, type TermInput } from "./recipeReference.ts";
import { encodeFloat } from "./referenceNumerics.ts";
import { randomWords } from "./writeTestModel.ts";

/*
 * What the tests of every recipe kernel (JavaScript, WebAssembly) share: test tensors, the table of
 * recipes with the reference's bytes for each, and a driver that feeds a kernel chunk by chunk as
 * the engine does.
 */

/** Values that repeat (ties in magnitude, exact zeros of v) mixed with random ones and specials. */
const PALETTE = [0, -0, 0.5, -0.5, 1, -1, 0.25, 2, -2, 3, 0.125, -0.125, 1e-3, Infinity, -Infinity, NaN, 1.5, -3];

export function makeTensor(dtype: FloatDtype, n: number, seed: number): Tensor {
  const words = randomWords(seed, 2 * n);
  const bits = [];
  for (let e = 0; e < n; e++) {
    const [pick, draw] = [words[2 * e]!, words[2 * e + 1]!];
    const uniform = draw / 2 ** 32 - 0.5;
    let value = pick % 5 < 3 ? PALETTE[draw % PALETTE.length]! : uniform / 8;
    // NaN and Inf rarer than the other palette values, so that most sums stay finite.
    if (!Number.isFinite(value) && pick % 7 !== 0) value = 0.75;
    bits.push(encodeFloat(dtype, value) ?? CANONICAL_NAN[dtype]);
  }
  return { dtype, bits };
}

export function chunkOf(tensor: Tensor, from: number, to: number): FloatChunk {
  const words = tensor.dtype === "F32" ? Uint32Array.from(tensor.bits.slice(from, to)) : Uint16Array.from(tensor.bits.slice(from, to));
  return { dtype: tensor.dtype, bytes: new Uint8Array(words.buffer) };
}

export function bytesOf(dtype: FloatDtype, bits: number[]): Uint8Array {
  const words = dtype === "F32" ? Uint32Array.from(bits) : Uint16Array.from(bits);
  return new Uint8Array(words.buffer);
}

export function recipe(method: RecipeMethodId, terms: Partial<TensorTerm>[], extra: Partial<TensorRecipe> = {}): TensorRecipe {
  return {
    tensorName: "model.layers.1.mlp.up_proj.weight",
    method,
    terms: terms.map((term, index) => ({ index, weight: 1, density: 1, gamma: 0.01, ...term })),
    normalize: false,
    rescale: true,
    seed: 0,
    ...extra,
  };
}

/** A kernel with mergeRecipeChunk's signature: the JavaScript reference, the wasm kernel. */
export type RecipeChunkMerger = typeof mergeRecipeChunk;

/** A kernel as the engine drives it: statistics over the chunks, then chunk by chunk. */
export async function mergeInChunks(
  merge: RecipeChunkMerger,
  recipe: TensorRecipe,
  target: Tensor,
  inputs: TermInput[],
  outDtype: FloatDtype,
  chunk: number,
): Promise<Uint8Array> {
  const n = target.bits.length;
  const termChunks = (from: number, to: number): TermChunk[] =>
    inputs.map((input) => ({ plus: chunkOf(input.plus, from, to), minus: chunkOf(input.minus, from, to) }));
  let stats: MagnitudeStatistics | undefined;
  if (needsMagnitudeStatistics(recipe)) {
    stats = await computeMagnitudeStatistics(recipe, n, (visit) => {
      for (let from = 0; from < n; from += chunk) {
        if (!visit(from, termChunks(from, Math.min(n, from + chunk)))) break;
      }
    });
  }
  const width = DTYPE_BYTES[outDtype];
  const out = new Uint8Array(n * width);
  for (let from = 0; from < n; from += chunk) {
    const to = Math.min(n, from + chunk);
    out.set(merge(recipe, stats, { target: chunkOf(target, from, to), terms: termChunks(from, to) }, from, outDtype), from * width);
  }
  return out;
}

export interface RecipeCase {
  name: string;
  recipe: TensorRecipe;
  n: number;
  dtype?: FloatDtype;
  outDtype?: FloatDtype;
}

const THREE_TERMS: Partial<TensorTerm>[] = [
  { weight: 0.7, density: 0.5, gamma: 0.1 },
  { weight: -0.3, density: 0.25, gamma: 0.05 },
  { weight: 1.25, density: 0.9, gamma: 0.2 },
];

export const RECIPE_CASES: RecipeCase[] = [];
for (const method of RECIPE_METHODS) {
  for (let count = 1; count <= 3; count++) {
    const terms = THREE_TERMS.slice(0, count);
    const normalize = method === "ties";
    RECIPE_CASES.push({ name: `${method}, ${count} term(s)`, recipe: recipe(method, terms, { normalize, seed: 42 }), n: 700 });
  }
  RECIPE_CASES.push({ name: `${method}, control, normalize`, recipe: recipe(method, THREE_TERMS, { normalize: true, control: { kind: "random_sign", seed: 7 } }), n: 500 });
  RECIPE_CASES.push({ name: `${method}, density 1`, recipe: recipe(method, [{ weight: 0.5 }, { weight: -1.5 }]), n: 300 });
  RECIPE_CASES.push({ name: `${method}, tiny density (K = 0)`, recipe: recipe(method, [{ density: 1e-4 }, { density: 0.5 }]), n: 300 });
}
RECIPE_CASES.push(
  { name: "ties over several blocks", recipe: recipe("ties", THREE_TERMS.slice(0, 2), { normalize: true }), n: 9000 },
  { name: "dare_ties over several blocks", recipe: recipe("dare_ties", THREE_TERMS, { seed: 3 }), n: 9000 },
  { name: "dare_linear without rescale", recipe: recipe("dare_linear", THREE_TERMS, { rescale: false, seed: 5 }), n: 500 },
  { name: "dare_linear, another seed", recipe: recipe("dare_linear", THREE_TERMS, { seed: 0xfffffffe }), n: 500 },
  { name: "ties, K = 1", recipe: recipe("ties", [{ density: 1 / 250 }, { density: 0.999 }]), n: 300 },
  { name: "breadcrumbs, bottom < 0", recipe: recipe("breadcrumbs", [{ density: 0.9, gamma: 0.3 }, { density: 0.5, gamma: 0.7 }]), n: 400 },
  { name: "breadcrumbs, gamma 0 and 1", recipe: recipe("breadcrumbs_ties", [{ density: 0.6, gamma: 0 }, { density: 0.2, gamma: 1 }]), n: 400 },
  {
    name: "normalize with D = 0",
    recipe: recipe("task_arithmetic", [{ weight: 0.75 }, { weight: -0.75 }], { normalize: true }),
    n: 300,
  },
  {
    name: "ties with D = 0 among included terms",
    recipe: recipe("ties", [{ weight: 2, density: 0.8 }, { weight: -1, density: 0.8 }, { weight: -1, density: 0.8 }], { normalize: true }),
    n: 300,
  },
  {
    name: "a term dropped before: H uses the recipe index",
    recipe: {
      ...recipe("dare_ties", [], { control: { kind: "random_sign", seed: 9 } }),
      terms: [
        { index: 0, weight: 0.5, density: 0.5, gamma: 0.01 },
        { index: 2, weight: 0.5, density: 0.5, gamma: 0.01 },
      ],
    },
    n: 300,
  },
  { name: "no term left: the target", recipe: recipe("ties", []), n: 200, dtype: "F32", outDtype: "BF16" },
);

export const DTYPE_PAIRS: [FloatDtype, FloatDtype][] = [
  ["BF16", "BF16"],
  ["F16", "F16"],
  ["F32", "F32"],
  ["BF16", "F32"],
  ["F32", "F16"],
  ["F16", "BF16"],
];

/**
 * Case k's tensors and the reference's bytes: dtypes from DTYPE_PAIRS by k (unless the case sets
 * them), every third case with its vectors in another dtype than the target's.
 */
export function recipeCaseTensors(testCase: RecipeCase, k: number) {
  const [dtype, outDtype] = testCase.dtype ? [testCase.dtype, testCase.outDtype!] : DTYPE_PAIRS[k % DTYPE_PAIRS.length]!;
  const { n } = testCase;
  const target = makeTensor(dtype, n, 1000 + k);
  const termDtype = k % 3 === 2 ? DTYPE_PAIRS[(k + 1) % DTYPE_PAIRS.length]![0] : dtype;
  const inputs = testCase.recipe.terms.map((_, j) => ({
    plus: makeTensor(termDtype, n, 2000 + 10 * k + j),
    minus: makeTensor(termDtype, n, 3000 + 10 * k + j),
  }));
  const expected = bytesOf(outDtype, referenceMerge(testCase.recipe, target, inputs, outDtype));
  return { target, inputs, outDtype, expected, dtypes: `${dtype} (vectors ${termDtype}) -> ${outDtype}` };
}
