import { describe, expect, it } from "vitest";
import { mergeChunk, type FloatChunk } from "../src/core/engine/mergeChunk.ts";
import {
  computeMagnitudeStatistics,
  magnitudeOrderKey,
  needsMagnitudeStatistics,
  type MagnitudeStatistics,
  type TermChunk,
} from "../src/core/recipe/magnitudeStatistics.ts";
import { createWasmMagnitudeCounter } from "../src/core/numeric/wasm/createWasmMagnitudeCounter.ts";
import { mergeRecipeChunk } from "../src/core/recipe/mergeRecipeChunk.ts";
import { pcg, recipeHash, tensorKey } from "../src/core/recipe/recipeHash.ts";
import type { RecipeMethodId } from "../src/core/recipe/TensorRecipe.ts";
import { expectSameBytes, makeChunk } from "./helpers/floatChunks.ts";
import { DTYPE_PAIRS, mergeInChunks, recipe, RECIPE_CASES, recipeCaseTensors } from "./helpers/recipeCases.ts";
import { CANONICAL_NAN, hashBig, keyBig } from "./helpers/recipeReference.ts";
import { encodeFloat } from "./helpers/referenceNumerics.ts";

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

describe("mergeRecipeChunk", () => {
  it.each(RECIPE_CASES.map((testCase, k) => [testCase.name, testCase, k] as const))("%s equals the contract for every chunking", async (_, testCase, k) => {
    const { target, inputs, outDtype, expected, dtypes } = recipeCaseTensors(testCase, k);
    for (const chunk of [1, 7, 4096, testCase.n]) {
      const what = `${testCase.name}, ${dtypes}, chunks of ${chunk}`;
      expectSameBytes(await mergeInChunks(mergeRecipeChunk, testCase.recipe, target, inputs, outDtype, chunk), expected, what);
    }
  });

  it("keeps and drops elements as a hand-made example says", async () => {
    // v = [3, -1, NaN, -3, 0, 1, -0, 2]; order: NaN(2), 3(0), -3(3), 2(7), -1(1), 1(5), 0(4), -0(6).
    const v = [3, -1, NaN, -3, 0, 1, -0, 2];
    const plus = { dtype: "F32" as const, bits: v.map((x) => encodeFloat("F32", x) ?? CANONICAL_NAN.F32) };
    const zeros = { dtype: "F32" as const, bits: v.map(() => 0) };
    const kept = async (method: RecipeMethodId, density: number, gamma = 0) => {
      const bytes = await mergeInChunks(mergeRecipeChunk, recipe(method, [{ density, gamma }]), zeros, [{ plus, minus: zeros }], "F32", 3);
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
    for (const [dtype, outDtype] of DTYPE_PAIRS) {
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

  it("counts in wasm exactly as the JavaScript reference: ties, NaN, -0/+0, Inf, K = 0 and K = N, any chunking, the control", async () => {
    // v = plus - minus over a palette with many equal magnitudes of both signs.
    const n = 300;
    const palette = [0, -0, 1, -1, 0.5, -0.5, 2, NaN, Infinity, -Infinity, 1e-40, -1e-40, 0.25];
    const plus = Float32Array.from({ length: n }, (_, e) => palette[(e * 7) % palette.length]!);
    const minus = Float32Array.from({ length: n }, (_, e) => (e % 5 === 0 ? palette[(e * 3) % palette.length]! : e % 3 === 0 ? -0 : 0));
    const terms = [
      { plus: { dtype: "F32" as const, bytes: new Uint8Array(plus.buffer) }, minus: { dtype: "F32" as const, bytes: new Uint8Array(minus.buffer) } },
      { plus: { dtype: "F32" as const, bytes: new Uint8Array(minus.buffer) }, minus: { dtype: "F32" as const, bytes: new Uint8Array(plus.buffer) } },
    ];
    // The cut of rank K by sorting: the order of the contract, then the K-th element and whether an equal one follows it.
    const keys = [0, 1].map((j) => {
      const v = Float32Array.from({ length: n }, (_, e) => (j === 0 ? plus[e]! - minus[e]! : minus[e]! - plus[e]!));
      return [...new Uint32Array(v.buffer)].map((bits) => ((bits & 0x7fffffff) > 0x7f800000 ? 0x7f800001 : (bits & 0x7fffffff) >>> 0));
    });
    const sortedCut = (j: number, rank: number) => {
      if (rank <= 0) return { pattern: 0xffffffff, lastTieIndex: -1 };
      if (rank >= n) return { pattern: 0, lastTieIndex: n - 1 };
      const order = keys[j]!.map((key, e) => [key, e] as const).sort((x, y) => y[0] - x[0] || x[1] - y[1]);
      const [pattern, index] = order[rank - 1]!;
      return { pattern, lastTieIndex: order[rank]![0] === pattern ? index : n - 1 };
    };
    const control = { kind: "random_sign" as const, seed: 7 };
    const recipes = [
      // K = 150, 90 and 0 (floor(0.003 * 300)).
      recipe("ties", [{ density: 0.5 }, { density: 0.3 }]),
      recipe("ties", [{ density: 0.003 }, { density: 0.77 }], { control }),
      // Breadcrumbs: positions 60 .. 299 (to K = N), and 0 .. 149 (from K = 0).
      recipe("breadcrumbs", [{ density: 0.9, gamma: 0.2 }, { density: 0.5, gamma: 0 }]),
      recipe("breadcrumbs_ties", [{ density: 0.4, gamma: 0.1 }, { density: 0.6, gamma: 0.35 }], { control }),
    ];
    const counter = (histograms: number) => {
      const made = createWasmMagnitudeCounter(histograms);
      if (!made) throw new Error("this engine has no WebAssembly SIMD");
      return made;
    };
    for (const r of recipes) {
      for (const chunk of [1, 7, n]) {
        const feed = (visit: (first: number, chunks: TermChunk[]) => boolean) => {
          for (let first = 0; first < n; first += chunk) {
            const end = Math.min(n, first + chunk);
            const slice = (input: FloatChunk) => ({ dtype: input.dtype, bytes: input.bytes.subarray(4 * first, 4 * end) });
            if (!visit(first, terms.map((term) => ({ plus: slice(term.plus), minus: slice(term.minus) })))) break;
          }
        };
        const name = `${r.method} ${r.terms.map((term) => term.density).join(", ")}, chunks of ${chunk}`;
        const [wasm, javaScript] = [await computeMagnitudeStatistics(r, n, feed, counter), await computeMagnitudeStatistics(r, n, feed, null)];
        expect(wasm, name).toEqual(javaScript);
        r.terms.forEach((term, j) => {
          const keep = Math.floor(term.density * n);
          let top = r.method === "ties" ? 0 : Math.floor(term.gamma * n);
          const bottom = n - keep - top;
          if (bottom < 0) top += bottom;
          const to = r.method === "ties" ? keep : n - Math.max(bottom, 0);
          expect(wasm.terms[j], `${name}, term ${j}`).toEqual({ from: sortedCut(j, top), to: sortedCut(j, to) });
        });
      }
    }
  });
});
