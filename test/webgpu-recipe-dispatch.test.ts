import { describe, expect, it } from "vitest";
import { dareKeepBound, packRecipeDispatch, regionWords } from "../src/core/numeric/webgpu/packRecipeDispatch.ts";
import { KEEP_KIND, RECIPE_PARAM_FIELDS, RECIPE_PARAMS_BYTES, RECIPE_TERM_FIELDS } from "../src/core/numeric/webgpu/recipeKernelWgsl.ts";
import { recipeHash } from "../src/core/recipe/recipeHash.ts";
import type { TensorRecipe } from "../src/core/recipe/TensorRecipe.ts";

/*
 * The host side of the WebGPU recipe kernel in plain TypeScript: the DARE bound against the
 * contract's u < fl32(rho), and the dispatch parameters against values worked out here (float32
 * bits by DataView, the hash by recipeHash, 64-bit indices split by BigInt).
 */

const float32Bits = (value: number) => {
  const view = new DataView(new ArrayBuffer(4));
  view.setFloat32(0, value, true);
  return view.getUint32(0, true);
};

/** The contract's DARE keep test for x = H >> 8. */
const keptByContract = (x: number, density: number) => x * 2 ** -24 < Math.fround(density);

describe("dareKeepBound", () => {
  const densities = [0.5, 0.1, 1 / 3, 0.3, 0.7, 2 ** -24, 2 ** -25, 3 * 2 ** -26, 1e-9, 1e-7, 1 - 2 ** -24, 1 - 2 ** -25, 0.99999994, 123457 / 2 ** 24, 123457.5 / 2 ** 24];

  it("keeps x exactly when x * 2^-24 < fl32(rho), on both sides of the bound", () => {
    for (const density of densities) {
      const bound = dareKeepBound(density);
      for (const x of [0, 1, bound - 2, bound - 1, bound, bound + 1, 2 ** 24 - 1]) {
        if (x < 0 || x >= 2 ** 24) continue;
        expect(x < bound, `density ${density}, x ${x}`).toBe(keptByContract(x, density));
      }
    }
  });

  it("is the count of kept draws: every x below it is kept, none from it on", () => {
    // Exhaustive over the 2^24 draws for a few densities, by counting the kept ones.
    for (const density of [0.1, 2 ** -24, 0.99999994]) {
      let kept = 0;
      for (let x = 0; x < 2 ** 24; x++) if (keptByContract(x, density)) kept++;
      expect(dareKeepBound(density), `density ${density}`).toBe(kept);
    }
  });

  it("is 2^24 when rho rounds to 1 in float32, and 1 for the tiniest densities", () => {
    expect(dareKeepBound(1 - 2 ** -25)).toBe(2 ** 24);
    expect(dareKeepBound(0.99999994)).toBe(2 ** 24 - 1);
    expect(dareKeepBound(1e-30)).toBe(1);
    expect(dareKeepBound(0.5)).toBe(2 ** 23);
  });
});

const recipe = (settings: Partial<TensorRecipe>): TensorRecipe => ({
  tensorName: "model.layers.0.self_attn.q_proj.weight",
  method: "task_arithmetic",
  terms: [],
  normalize: false,
  rescale: true,
  seed: 0,
  ...settings,
});

const param = (params: Uint32Array, field: (typeof RECIPE_PARAM_FIELDS)[number]) => params[RECIPE_PARAM_FIELDS.indexOf(field)];
const termField = (terms: Uint32Array, j: number, field: (typeof RECIPE_TERM_FIELDS)[number]) => terms[j * RECIPE_TERM_FIELDS.length + RECIPE_TERM_FIELDS.indexOf(field)];

/** H from a prefix, written here from the contract: pcg(pcg(prefix + e_lo) + e_hi). */
function pcg(x: number): number {
  const s = (Math.imul(x, 747796405) + 2891336453) >>> 0;
  const w = Math.imul((s >>> ((s >>> 28) + 4)) ^ s, 277803737) >>> 0;
  return ((w >>> 22) ^ w) >>> 0;
}
const hashFromPrefix = (prefix: number, e: bigint) => pcg((pcg((prefix + Number(e & 0xffffffffn)) >>> 0) + Number(e >> 32n)) >>> 0);

describe("packRecipeDispatch", () => {
  it("lays the inputs out one after another in whole words, 16-bit ones two to a word", () => {
    const packed = packRecipeDispatch(
      recipe({ terms: [{ index: 0, weight: 1, density: 1, gamma: 0 }, { index: 1, weight: 2, density: 1, gamma: 0 }] }),
      undefined,
      { target: "BF16", terms: [{ plus: "F32", minus: "F16" }, { plus: "BF16", minus: "F32" }] },
      "F16",
      0,
      5,
    );
    // 5 elements: 16-bit inputs take 3 words, F32 ones 5.
    expect(regionWords("BF16", 5)).toBe(3);
    expect(packed.inputOffsets).toEqual([0, 3, 8, 11, 14]);
    expect(packed.inputWords).toBe(19);
    expect(packed.params.byteLength).toBe(RECIPE_PARAMS_BYTES);
    expect(RECIPE_PARAMS_BYTES % 16).toBe(0);
    expect([termField(packed.terms, 1, "plus_offset"), termField(packed.terms, 1, "minus_offset")]).toEqual([11, 14]);
    expect([param(packed.params, "count"), param(packed.params, "invocations"), param(packed.params, "term_count")]).toEqual([5, 3, 2]);
    // BF16 0, F16 1, F32 2 (the constants of the WGSL).
    expect([param(packed.params, "target_dtype"), param(packed.params, "out_dtype"), termField(packed.terms, 0, "plus_dtype"), termField(packed.terms, 0, "minus_dtype")]).toEqual([0, 1, 2, 1]);
  });

  it("splits the first element above 2^32 into two words, and the weights and D into float32 bits", () => {
    const first = 2 ** 40 + 5;
    const packed = packRecipeDispatch(
      recipe({ normalize: true, terms: [0.1, 0.2, 0.3].map((weight, index) => ({ index, weight, density: 1, gamma: 0 })) }),
      undefined,
      { target: "F32", terms: [0, 1, 2].map(() => ({ plus: "F32" as const, minus: "F32" as const })) },
      "F32",
      first,
      10,
    );
    expect([param(packed.params, "first_low"), param(packed.params, "first_high")]).toEqual([5, 256]);
    expect(termField(packed.terms, 2, "weight_bits")).toBe(float32Bits(0.3));
    // D = fl32(fl32(w0 + w1) + w2), each w rounded to float32 first.
    const d = Math.fround(Math.fround(Math.fround(0.1) + Math.fround(0.2)) + Math.fround(0.3));
    expect(param(packed.params, "divisor_bits")).toBe(float32Bits(d));
    expect(packed.constants).toEqual({ CONSENSUS: 0, NORMALIZE: 1, SPARSE_KEEP: KEEP_KIND.all });
    expect(param(packed.params, "control")).toBe(0);
    expect(termField(packed.terms, 0, "keep")).toBe(KEEP_KIND.all);
  });

  it("gives DARE's terms their bound, c_j and the hash prefix of stream 1, and the control's of stream 2", () => {
    const tensorName = "model.norm.weight";
    const packed = packRecipeDispatch(
      recipe({
        tensorName,
        method: "dare_ties",
        seed: 0xfffffffe,
        rescale: true,
        control: { kind: "random_sign", seed: 7 },
        terms: [
          { index: 3, weight: -1.5, density: 0.3, gamma: 0 },
          { index: 5, weight: 1, density: 1, gamma: 0 },
        ],
      }),
      undefined,
      { target: "F32", terms: [{ plus: "F32", minus: "F32" }, { plus: "F32", minus: "F32" }] },
      "BF16",
      0,
      4,
    );
    expect(packed.constants).toEqual({ CONSENSUS: 1, NORMALIZE: 0, SPARSE_KEEP: KEEP_KIND.random });
    expect(param(packed.params, "control")).toBe(1);
    expect(termField(packed.terms, 0, "keep")).toBe(KEEP_KIND.random);
    expect(termField(packed.terms, 0, "keep_bound")).toBe(Math.ceil(Math.fround(0.3) * 2 ** 24));
    expect(termField(packed.terms, 0, "rescale")).toBe(1);
    expect(termField(packed.terms, 0, "rescale_bits")).toBe(float32Bits(1 / 0.3));
    // Density 1 keeps every element, with no rescale.
    expect(termField(packed.terms, 1, "keep")).toBe(KEEP_KIND.all);
    for (const e of [0n, 12345n, (1n << 32n) + 9n, (1n << 52n) + 3n]) {
      expect(hashFromPrefix(termField(packed.terms, 0, "keep_prefix")!, e)).toBe(recipeHash(0xfffffffe, tensorName, 1, 3, Number(e)));
      expect(hashFromPrefix(termField(packed.terms, 1, "sign_prefix")!, e)).toBe(recipeHash(7, tensorName, 2, 5, Number(e)));
    }
  });

  it("gives magnitude terms their cuts, the last tie index + 1 as two words (0 for a cut no element reaches)", () => {
    const lastTie = 2 ** 32 + 7;
    const packed = packRecipeDispatch(
      recipe({ method: "breadcrumbs_ties", terms: [{ index: 0, weight: 1, density: 0.5, gamma: 0.1 }] }),
      { numel: 2 ** 33, terms: [{ from: { pattern: 0xffffffff, lastTieIndex: -1 }, to: { pattern: 0x3f800000, lastTieIndex: lastTie } }] },
      { target: "F32", terms: [{ plus: "F32", minus: "F32" }] },
      "F32",
      2 ** 32,
      16,
    );
    expect(termField(packed.terms, 0, "keep")).toBe(KEEP_KIND.magnitude);
    expect(packed.constants).toEqual({ CONSENSUS: 1, NORMALIZE: 0, SPARSE_KEEP: KEEP_KIND.magnitude });
    expect([termField(packed.terms, 0, "from_pattern"), termField(packed.terms, 0, "from_tie_end_low"), termField(packed.terms, 0, "from_tie_end_high")]).toEqual([0xffffffff, 0, 0]);
    const end = BigInt(lastTie) + 1n;
    expect([termField(packed.terms, 0, "to_pattern"), termField(packed.terms, 0, "to_tie_end_low"), termField(packed.terms, 0, "to_tie_end_high")]).toEqual([
      0x3f800000,
      Number(end & 0xffffffffn),
      Number(end >> 32n),
    ]);
  });

  it("refuses a first element past 2^53 and dtypes that do not match the terms, naming the tensor", () => {
    const oneTerm = recipe({ terms: [{ index: 0, weight: 1, density: 1, gamma: 0 }] });
    const dtypes = { target: "F32" as const, terms: [{ plus: "F32" as const, minus: "F32" as const }] };
    expect(() => packRecipeDispatch(oneTerm, undefined, dtypes, "F32", 2 ** 53 - 2, 4)).toThrow(/q_proj\.weight: first element 9007199254740990 is not an index below 2\^53/);
    expect(() => packRecipeDispatch(oneTerm, undefined, { target: "F32", terms: [] }, "F32", 0, 4)).toThrow(/q_proj\.weight: 0 term inputs for 1 terms/);
  });
});
