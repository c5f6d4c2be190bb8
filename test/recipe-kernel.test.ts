import { describe, expect, it } from "vitest";
import { DTYPE_BYTES, type FloatDtype } from "../src/core/dtypes.ts";
import { mergeChunk, type FloatChunk } from "../src/core/engine/mergeChunk.ts";
import {
  computeMagnitudeStatistics,
  magnitudeOrderKey,
  needsMagnitudeStatistics,
  type MagnitudeStatistics,
  type TermChunk,
} from "../src/core/recipe/magnitudeStatistics.ts";
import { mergeRecipeChunk } from "../src/core/recipe/mergeRecipeChunk.ts";
import { pcg, recipeHash, tensorKey } from "../src/core/recipe/recipeHash.ts";
import { RECIPE_METHODS, type RecipeMethodId, type TensorRecipe, type TensorTerm } from "../src/core/recipe/TensorRecipe.ts";
import { expectSameBytes, makeChunk } from "./helpers/floatChunks.ts";
import { CANONICAL_NAN, hashBig, keyBig, referenceMerge, type Tensor, type TermInput } from "./helpers/recipeReference.ts";
import { encodeFloat } from "./helpers/referenceNumerics.ts";
import { randomWords } from "./helpers/writeTestModel.ts";

/* The recipe kernel against a second implementation of ../shared/recipe-v2.md (helpers/recipeReference.ts). */

describe("recipe hash H", () => {
  it("gives the contract's check values", () => {
    expect(pcg(0)).toBe(129708002);
    expect(pcg(1)).toBe(2831084092);
    expect(tensorKey("model.norm.weight")).toBe(3187971780);
  });

  it("equals a BigInt implementation, element indices past 2^32 included", () => {
    const cases: [number, string, number, number, number][] = [
      [0, "model.norm.weight", 1, 0, 0],
      [7, "model.layers.3.mlp.down_proj.weight", 2, 2, 123456],
      [0xffffffff, "lm_head.weight", 1, 5, 2 ** 32 - 1],
      [12345, "model.embed_tokens.weight", 2, 1, 2 ** 32],
      [99, "modèle.λ.权重", 1, 3, 2 ** 40 + 17],
      [1, "x", 2, 0, Number.MAX_SAFE_INTEGER],
    ];
    for (const [seed, name, stream, j, e] of cases) {
      expect(recipeHash(seed, name, stream, j, e), `${seed} ${name} ${stream} ${j} ${e}`).toBe(Number(hashBig(seed, name, stream, j, e)));
    }
    expect(tensorKey("modèle.λ.权重")).toBe(Number(keyBig("modèle.λ.权重")));
  });
});

/** Values that repeat (ties in magnitude, exact zeros of v) mixed with random ones and specials. */
const PALETTE = [0, -0, 0.5, -0.5, 1, -1, 0.25, 2, -2, 3, 0.125, -0.125, 1e-3, Infinity, -Infinity, NaN, 1.5, -3];

function makeTensor(dtype: FloatDtype, n: number, seed: number): Tensor {
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

function chunkOf(tensor: Tensor, from: number, to: number): FloatChunk {
  const words = tensor.dtype === "F32" ? Uint32Array.from(tensor.bits.slice(from, to)) : Uint16Array.from(tensor.bits.slice(from, to));
  return { dtype: tensor.dtype, bytes: new Uint8Array(words.buffer) };
}

/** The kernel as the engine will drive it: statistics over the chunks, then chunk by chunk. */
async function kernelMerge(recipe: TensorRecipe, target: Tensor, inputs: TermInput[], outDtype: FloatDtype, chunk: number) {
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
    const bytes = mergeRecipeChunk(recipe, stats, { target: chunkOf(target, from, to), terms: termChunks(from, to) }, from, outDtype);
    out.set(bytes, from * width);
  }
  return out;
}

function bytesOf(dtype: FloatDtype, bits: number[]): Uint8Array {
  const words = dtype === "F32" ? Uint32Array.from(bits) : Uint16Array.from(bits);
  return new Uint8Array(words.buffer);
}

function recipe(method: RecipeMethodId, terms: Partial<TensorTerm>[], extra: Partial<TensorRecipe> = {}): TensorRecipe {
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

interface Case {
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

const CASES: Case[] = [];
for (const method of RECIPE_METHODS) {
  for (let count = 1; count <= 3; count++) {
    const terms = THREE_TERMS.slice(0, count);
    const normalize = method === "ties";
    CASES.push({ name: `${method}, ${count} term(s)`, recipe: recipe(method, terms, { normalize, seed: 42 }), n: 700 });
  }
  CASES.push({ name: `${method}, control, normalize`, recipe: recipe(method, THREE_TERMS, { normalize: true, control: { kind: "random_sign", seed: 7 } }), n: 500 });
  CASES.push({ name: `${method}, density 1`, recipe: recipe(method, [{ weight: 0.5 }, { weight: -1.5 }]), n: 300 });
  CASES.push({ name: `${method}, tiny density (K = 0)`, recipe: recipe(method, [{ density: 1e-4 }, { density: 0.5 }]), n: 300 });
}
CASES.push(
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

const DTYPES: [FloatDtype, FloatDtype][] = [
  ["BF16", "BF16"],
  ["F16", "F16"],
  ["F32", "F32"],
  ["BF16", "F32"],
  ["F32", "F16"],
  ["F16", "BF16"],
];

describe("mergeRecipeChunk", () => {
  it.each(CASES.map((testCase, k) => [testCase.name, testCase, k] as const))("%s equals the contract for every chunking", async (_, testCase, k) => {
    const [dtype, outDtype] = testCase.dtype ? [testCase.dtype, testCase.outDtype!] : DTYPES[k % DTYPES.length]!;
    const { n } = testCase;
    const target = makeTensor(dtype, n, 1000 + k);
    // Every third case reads its vectors in another dtype than the target's.
    const termDtype = k % 3 === 2 ? DTYPES[(k + 1) % DTYPES.length]![0] : dtype;
    const inputs = testCase.recipe.terms.map((_, j) => ({
      plus: makeTensor(termDtype, n, 2000 + 10 * k + j),
      minus: makeTensor(termDtype, n, 3000 + 10 * k + j),
    }));
    const expected = bytesOf(outDtype, referenceMerge(testCase.recipe, target, inputs, outDtype));
    for (const chunk of [1, 7, 4096, n]) {
      const what = `${testCase.name}, ${dtype} (vectors ${termDtype}) -> ${outDtype}, chunks of ${chunk}`;
      expectSameBytes(await kernelMerge(testCase.recipe, target, inputs, outDtype, chunk), expected, what);
    }
  });

  it("keeps and drops elements as a hand-made example says", async () => {
    // v = [3, -1, NaN, -3, 0, 1, -0, 2]; order: NaN(2), 3(0), -3(3), 2(7), -1(1), 1(5), 0(4), -0(6).
    const v = [3, -1, NaN, -3, 0, 1, -0, 2];
    const plus = { dtype: "F32" as const, bits: v.map((x) => encodeFloat("F32", x) ?? CANONICAL_NAN.F32) };
    const zeros = { dtype: "F32" as const, bits: v.map(() => 0) };
    const kept = async (method: RecipeMethodId, density: number, gamma = 0) => {
      const bytes = await kernelMerge(recipe(method, [{ density, gamma }]), zeros, [{ plus, minus: zeros }], "F32", 3);
      return [...new Float32Array(bytes.buffer)];
    };
    // K = floor(0.5 * 8) = 4: NaN, 3, -3, 2; the kept NaN has no sign, so the election leaves it out (r = t).
    expect(await kept("ties", 0.5)).toEqual([3, 0, 0, -3, 0, 0, 0, 2]);
    // K = 5: the first of the equal magnitudes 1 (index 1) is kept, not index 5.
    expect(await kept("ties", 0.625)).toEqual([3, -1, 0, -3, 0, 0, 0, 2]);
    // keep = 4, top = 2: positions 2..5 = -3, 2, -1, 1.
    expect(await kept("breadcrumbs", 0.5, 0.25)).toEqual([0, -1, 0, -3, 0, 1, 0, 2]);
  });

  it("gives the bytes of mergeChunk for a one-term task_arithmetic recipe", () => {
    for (const [dtype, outDtype] of DTYPES) {
      for (const alpha of [1, -0.7, 1e-30, 3.4e38]) {
        const [t, p, m] = [makeChunk(dtype, 5000, 1, 0), makeChunk(dtype, 5000, 2, 1), makeChunk(dtype, 5000, 3, 2)];
        const oneTerm = recipe("task_arithmetic", [{ weight: Math.fround(alpha) }]);
        const got = mergeRecipeChunk(oneTerm, undefined, { target: t, terms: [{ plus: p, minus: m }] }, 0, outDtype);
        expectSameBytes(got, mergeChunk(alpha, t, p, m, outDtype), `${dtype} -> ${outDtype}, alpha ${alpha}`);
      }
    }
  });

  it("refuses a magnitude recipe without statistics and mismatched chunks", () => {
    const chunk = makeChunk("F32", 10, 1, 0);
    const ties = recipe("ties", [{ density: 0.5 }]);
    expect(() => mergeRecipeChunk(ties, undefined, { target: chunk, terms: [{ plus: chunk, minus: chunk }] }, 0, "F32")).toThrow(/magnitude statistics missing/);
    const halfKept: MagnitudeStatistics = { numel: 10, terms: [{ from: { pattern: 0xffffffff, lastTieIndex: -1 }, to: { pattern: 0, lastTieIndex: 4 } }] };
    expect(() => mergeRecipeChunk(ties, halfKept, { target: chunk, terms: [{ plus: chunk, minus: chunk }] }, 5, "F32")).toThrow(
      /statistics of 1 terms over 10 elements do not fit a chunk of 1 terms at elements 5 \.\. 14/,
    );
    const short = makeChunk("F32", 9, 1, 0);
    expect(() => mergeRecipeChunk(recipe("task_arithmetic", [{}]), undefined, { target: chunk, terms: [{ plus: short, minus: chunk }] }, 0, "F32")).toThrow(
      /chunk sizes differ/,
    );
  });
});

describe("computeMagnitudeStatistics", () => {
  it("finds the threshold pattern and the last kept tie by index", async () => {
    // |v| = 1 everywhere but one 2 and one NaN: K = 5 keeps NaN, 2 and the first three 1s (indices 0, 1, 3).
    const v = [1, -1, 2, 1, NaN, -1, 1, 1, 1, 1];
    const plus: FloatChunk = { dtype: "F32", bytes: new Uint8Array(Float32Array.from(v).buffer) };
    const minus: FloatChunk = { dtype: "F32", bytes: new Uint8Array(40) };
    const stats = await computeMagnitudeStatistics(recipe("ties", [{ density: 0.5 }]), 10, (visit) => {
      visit(0, [{ plus, minus }]);
    });
    expect(stats.terms[0]!.to).toEqual({ pattern: 0x3f800000, lastTieIndex: 3 });
    expect(stats.terms[0]!.from.pattern).toBe(0xffffffff);
    // One element per chunk: passes 1 and 2 read all 10, pass 3 stops at the last kept tie (index 3).
    let visits = 0;
    const oneByOne = await computeMagnitudeStatistics(recipe("ties", [{ density: 0.5 }]), 10, (visit) => {
      for (let e = 0; e < 10; e++) {
        visits++;
        const at = (chunk: FloatChunk) => ({ dtype: chunk.dtype, bytes: chunk.bytes.subarray(4 * e, 4 * e + 4) });
        if (!visit(e, [{ plus: at(plus), minus: at(minus) }])) break;
      }
    });
    expect(oneByOne).toEqual(stats);
    expect(visits).toBe(24);
    expect(magnitudeOrderKey(0xffc00001)).toBe(0x7f800001);
    expect(magnitudeOrderKey(0x80000000)).toBe(0);
  });

  it("reads no chunk when nothing needs statistics, and says when the chunks do not cover the tensor", async () => {
    let visits = 0;
    await computeMagnitudeStatistics(recipe("ties", [{ density: 1 }]), 10, () => {
      visits++;
    });
    expect(visits).toBe(0);
    expect(needsMagnitudeStatistics(recipe("dare_ties", [{ density: 0.5 }]))).toBe(false);
    const chunk = makeChunk("F32", 4, 1, 0);
    const ties = recipe("ties", [{ density: 0.5 }]);
    const feedOnce = (first: number) => (visit: (first: number, terms: TermChunk[]) => boolean) => {
      visit(first, [{ plus: chunk, minus: chunk }]);
    };
    await expect(computeMagnitudeStatistics(ties, 10, feedOnce(0))).rejects.toThrow(/covered 4 of 10 elements/);
    await expect(computeMagnitudeStatistics(ties, 8, feedOnce(4))).rejects.toThrow(/starts at element 4, expected 0/);
  });
});
