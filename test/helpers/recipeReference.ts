import type { FloatDtype } from "../../src/core/dtypes.ts";
import { METHOD_STEPS, type TensorRecipe, type TensorTerm } from "../../src/core/recipe/TensorRecipe.ts";
import { decodeFloat, encodeFloat } from "./referenceNumerics.ts";

/*
 * A second implementation of ../shared/recipe-v2.md, written from the contract alone: whole tensors
 * in memory, doubles rounded by Math.fround, the magnitude order by sorting, the hash in BigInt,
 * conversions by DataView and @petamoriken/float16 (referenceNumerics).
 */

const U32 = (1n << 32n) - 1n;

export function pcgBig(x: bigint): bigint {
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

/** The contract, whole tensor: the output bit patterns. */
export function referenceMerge(recipe: TensorRecipe, target: Tensor, inputs: TermInput[], outDtype: FloatDtype): number[] {
  const n = target.bits.length;
  const { sparsification, consensus } = METHOD_STEPS[recipe.method];
  const s = recipe.terms.map((term, k) => {
    const w = Math.fround(term.weight);
    const v = inputs[k]!.plus.bits.map((p, e) => {
      const d = Math.fround(decodeFloat(inputs[k]!.plus.dtype, p) - decodeFloat(inputs[k]!.minus.dtype, inputs[k]!.minus.bits[e]!));
      const flip = recipe.control && hashBig(recipe.control.seed, recipe.tensorName, 2, term.index, e) >> 31n === 1n;
      return flip ? -d : d;
    });
    const kept = keptFlags(recipe, term, sparsification, v);
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

function keptFlags(recipe: TensorRecipe, term: TensorTerm, sparsification: string, v: number[]): boolean[] {
  const n = v.length;
  if (sparsification === "none" || term.density >= 1) return v.map(() => true);
  if (sparsification === "random") {
    return v.map((_, e) => Number(hashBig(recipe.seed, recipe.tensorName, 1, term.index, e) >> 8n) * 2 ** -24 < Math.fround(term.density));
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

