import { DTYPE_BYTES, type FloatDtype } from "../../src/core/dtypes.ts";
import type { FloatChunk } from "../../src/core/engine/mergeChunk.ts";
import { computeMagnitudeStatistics, needsMagnitudeStatistics, type MagnitudeStatistics, type TermChunk } from "../../src/core/recipe/magnitudeStatistics.ts";
import type { mergeRecipeChunk } from "../../src/core/recipe/mergeRecipeChunk.ts";
import { METHOD_STEPS, RECIPE_METHODS, type RecipeMethodId, type TensorRecipe, type TensorTerm } from "../../src/core/recipe/TensorRecipe.ts";
import { decodeFloat, encodeFloat } from "./referenceNumerics.ts";
import { randomWords } from "./writeTestModel.ts";

/*
 * A second implementation of the recipe kernel, written from ../shared/recipe-v2.md for the tests:
 * whole tensors in memory, doubles rounded by Math.fround, the magnitude order by sorting, the hash
 * in BigInt, conversions by DataView and @petamoriken/float16 (referenceNumerics).
 */

const U32 = (1n << 32n) - 1n;

function pcgBig(x: bigint): bigint {
  const s = (x * 747796405n + 2891336453n) & U32;
  const w = (((s >> ((s >> 28n) + 4n)) ^ s) * 277803737n) & U32;
  return ((w >> 22n) ^ w) & U32;
}

export function keyBig(name: string): bigint {
  let h = 2166136261n;
  for (const byte of Buffer.from(name, "utf8")) h = ((h ^ BigInt(byte)) * 16777619n) & U32;
  return h;
}

export function hashBig(seed: number, name: string, stream: number, j: number, e: number): bigint {
  const element = BigInt(e);
  let h = pcgBig(BigInt(seed) ^ keyBig(name));
  for (const part of [BigInt(stream), BigInt(j), element & U32, element >> 32n]) h = pcgBig((h + part) & U32);
  return h;
}

export interface Tensor {
  dtype: FloatDtype;
  /** Element bit patterns. */
  bits: number[];
}

export interface TermInput {
  plus: Tensor;
  minus: Tensor;
}

export const CANONICAL_NAN: Record<FloatDtype, number> = { F32: 0x7fc00000, F16: 0x7e00, BF16: 0x7fc0 };

/**
 * The contract, whole tensor: the output bit patterns. `firstElement` is the index e of the first
 * element in H (a slice of a tensor too large to build, for the hash's e_hi); magnitude orders
 * range over the given elements, so it must be 0 for magnitude-based recipes.
 */
export function referenceMerge(recipe: TensorRecipe, target: Tensor, inputs: TermInput[], outDtype: FloatDtype, firstElement = 0): number[] {
  const n = target.bits.length;
  const { sparsification, consensus } = METHOD_STEPS[recipe.method];
  const s = recipe.terms.map((term, k) => {
    const w = Math.fround(term.weight);
    const v = inputs[k]!.plus.bits.map((p, e) => {
      const d = Math.fround(decodeFloat(inputs[k]!.plus.dtype, p) - decodeFloat(inputs[k]!.minus.dtype, inputs[k]!.minus.bits[e]!));
      const flip = recipe.control && hashBig(recipe.control.seed, recipe.tensorName, 2, term.index, firstElement + e) >> 31n === 1n;
      return flip ? -d : d;
    });
    const kept = keptFlags(recipe, term, sparsification, v, firstElement);
    return v.map((value, e) => {
      if (!kept[e]) return 0;
      const rescaled = sparsification === "random" && recipe.rescale && term.density < 1 ? Math.fround(value * Math.fround(1 / term.density)) : value;
      return Math.fround(rescaled * w);
    });
  });
  const out: number[] = [];
  for (let e = 0; e < n; e++) {
    const t = decodeFloat(target.dtype, target.bits[e]!);
    let majority = 0;
    if (consensus && s.length > 0) {
      let sum = s[0]![e]!;
      for (let k = 1; k < s.length; k++) sum = Math.fround(sum + s[k]![e]!);
      majority = sum >= 0 ? 1 : -1;
    }
    const sgn = (x: number) => (x > 0 ? 1 : x < 0 ? -1 : 0);
    const included = s.map((_, k) => k).filter((k) => !consensus || sgn(s[k]![e]!) === majority);
    let r = t;
    if (included.length > 0) {
      let mixed = s[included[0]!]![e]!;
      let d = Math.fround(recipe.terms[included[0]!]!.weight);
      for (const k of included.slice(1)) {
        mixed = Math.fround(mixed + s[k]![e]!);
        d = Math.fround(d + Math.fround(recipe.terms[k]!.weight));
      }
      if (recipe.normalize && d !== 0) mixed = Math.fround(mixed / d);
      r = Math.fround(t + mixed);
    }
    out.push(encodeFloat(outDtype, r) ?? CANONICAL_NAN[outDtype]);
  }
  return out;
}

function keptFlags(recipe: TensorRecipe, term: TensorTerm, sparsification: string, v: number[], firstElement: number): boolean[] {
  const n = v.length;
  if (sparsification === "none" || term.density >= 1) return v.map(() => true);
  if (sparsification === "random") {
    return v.map((_, e) => Number(hashBig(recipe.seed, recipe.tensorName, 1, term.index, firstElement + e) >> 8n) * 2 ** -24 < Math.fround(term.density));
  }
  const magnitude = (x: number) => (Number.isNaN(x) ? Infinity : Math.abs(x));
  const order = v.map((_, e) => e);
  order.sort((a, b) => {
    const [ma, mb] = [magnitude(v[a]!), magnitude(v[b]!)];
    const aNaN = Number.isNaN(v[a]!);
    const bNaN = Number.isNaN(v[b]!);
    if (aNaN !== bNaN) return aNaN ? -1 : 1;
    if (ma !== mb) return mb > ma ? 1 : -1;
    return a - b;
  });
  const position = new Array<number>(n);
  order.forEach((e, p) => (position[e] = p));
  const keep = Math.floor(term.density * n);
  let [from, to] = [0, keep];
  if (sparsification === "magnitude_outliers") {
    let top = Math.floor(term.gamma * n);
    let bottom = n - keep - top;
    if (bottom < 0) {
      top = top + bottom;
      bottom = 0;
    }
    [from, to] = [top, n - bottom];
  }
  return position.map((p) => p >= from && p < to);
}

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
