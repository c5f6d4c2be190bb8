import { DTYPE_BYTES, type FloatDtype } from "../src/core/dtypes.ts";
import type { FloatChunk } from "../src/core/engine/mergeChunk.ts";
import { computeMagnitudeStatistics, magnitudeOrderKey, needsMagnitudeStatistics, type MagnitudeStatistics, type TermChunk } from "../src/core/recipe/magnitudeStatistics.ts";
import { recipeHash } from "../src/core/recipe/recipeHash.ts";
import { RECIPE_METHODS, type RecipeMethodId, type TensorRecipe, type TensorTerm } from "../src/core/recipe/TensorRecipe.ts";
import { KERNEL_DTYPES, makeKernelTestInputs } from "./kernelTestChunks.ts";
import type { RecipeKernelCase } from "./webgpu-recipe-kernel-page.ts";

/**
 * The chunks e2e/webgpu-recipe-kernel.spec.ts runs through the WebGPU recipe kernel and
 * mergeRecipeChunk, made in Node (inputs, recipes and magnitude statistics), one function per test,
 * so that the same cases can run on any WebGPU, a real GPU's included.
 */

const TENSOR = "model.layers.3.mlp.down_proj.weight";

/** A whole tensor X in memory: the target and each term's plus and minus. */
interface TensorInputs {
  target: FloatChunk;
  terms: TermChunk[];
}

const numelOf = (chunk: FloatChunk) => chunk.bytes.byteLength / DTYPE_BYTES[chunk.dtype];
const encode = (chunk: FloatChunk, start: number, end: number) => ({
  dtype: chunk.dtype,
  base64: Buffer.from(chunk.bytes.subarray(start * DTYPE_BYTES[chunk.dtype], end * DTYPE_BYTES[chunk.dtype])).toString("base64"),
});

function makeRecipe(method: RecipeMethodId, terms: Partial<TensorTerm>[], settings: Partial<TensorRecipe> = {}): TensorRecipe {
  return {
    tensorName: TENSOR,
    method,
    terms: terms.map((term, j) => ({ index: j, weight: 1, density: 1, gamma: 0.01, ...term })),
    normalize: method === "ties",
    rescale: true,
    seed: 0,
    ...settings,
  };
}

/**
 * Elements [start, end) of the tensor as one case, with firstElement = offset + start; the statistics
 * are computeMagnitudeStatistics' over the whole tensor (offset 0), or `stats` when given.
 */
async function tensorCase(
  label: string,
  recipe: TensorRecipe,
  tensor: TensorInputs,
  outDtype: FloatDtype,
  options: { start?: number; end?: number; offset?: number; stats?: MagnitudeStatistics } = {},
): Promise<RecipeKernelCase> {
  const numel = numelOf(tensor.target);
  const { start = 0, end = numel, offset = 0 } = options;
  let stats = options.stats;
  if (!stats && needsMagnitudeStatistics(recipe)) {
    stats = await computeMagnitudeStatistics(recipe, numel, (visit) => void visit(0, tensor.terms));
  }
  return {
    label: `${label} [${recipe.method}, ${recipe.terms.length} terms, ${tensor.target.dtype} -> ${outDtype}, elements ${offset + start}..${offset + end - 1}]`,
    recipe,
    ...(stats ? { stats } : {}),
    target: encode(tensor.target, start, end),
    terms: tensor.terms.map((term) => ({ plus: encode(term.plus, start, end), minus: encode(term.minus, start, end) })),
    firstElement: offset + start,
    outDtype,
  };
}

/** Random inputs of kernelTestChunks (NaN, Inf, subnormals, ties of the output dtypes among them), one set per term. */
function randomTensor(target: FloatDtype, termDtypes: [FloatDtype, FloatDtype][], count: number, seed: number): TensorInputs {
  const terms = termDtypes.map(([p, m], j) => {
    const inputs = makeKernelTestInputs({ t: target, p, m }, count, seed * 101 + j);
    return { plus: { dtype: p, bytes: inputs.plus }, minus: { dtype: m, bytes: inputs.minus } };
  });
  return { target: { dtype: target, bytes: makeKernelTestInputs({ t: target, p: target, m: target }, count, seed * 101 + 99).target }, terms };
}

const f32 = (values: number[]): FloatChunk => ({ dtype: "F32", bytes: new Uint8Array(Float32Array.from(values).buffer) });
const fromBits = (bits: number[]): FloatChunk => ({ dtype: "F32", bytes: new Uint8Array(Uint32Array.from(bits).buffer) });

/** Hand-made float32 bit patterns: NaNs of both signs, signed zeros and infinities, subnormals, the largest finite values, ordinary numbers. */
const SPECIAL_BITS = [
  0x7fc00000, 0xffc00001, 0x80000000, 0x00000000, 0x7f800000, 0xff800000, 0x00000001, 0x80000003, 0x007fffff, 0x80400000, 0x00800000,
  0x3f800000, 0xbf800000, 0x40000000, 0xc0000000, 0x3f000000, 0x7f7fffff, 0xff7fffff, 0x7f000000, 0x3dcccccd, 0xbeaaaaab, 0x0000000b,
];

/** Every pairing of SPECIAL_BITS as plus and minus, with a target of SPECIAL_BITS too, per term at its own stride. */
function specialTensor(termCount: number, count: number): TensorInputs {
  const n = SPECIAL_BITS.length;
  const pick = (e: number, stride: number, shift: number) => SPECIAL_BITS[(e * stride + shift + Math.floor(e / n)) % n]!;
  const chunk = (stride: number, shift: number) => fromBits(Array.from({ length: count }, (_, e) => pick(e, stride, shift)));
  return {
    target: chunk(5, 3),
    terms: Array.from({ length: termCount }, (_, j) => ({ plus: chunk(1, j), minus: chunk(7, 2 * j + 1) })),
  };
}

/** Differences from a handful of magnitudes (0, 1, 2, 4, signs mixed, NaN now and then): many equal magnitudes, cuts inside them. */
function tiedTensor(termCount: number, count: number, seed: number): TensorInputs {
  let state = seed;
  const next = () => (state = (Math.imul(state, 1664525) + 1013904223) >>> 0);
  const value = () => {
    const r = next() >>> 24;
    if (r < 3) return Number.NaN;
    return (r & 1 ? -1 : 1) * [0, 1, 2, 4, 0.5][(r >> 1) % 5]!;
  };
  const chunk = (make: () => number) => f32(Array.from({ length: count }, make));
  return { target: chunk(() => value() * 3), terms: Array.from({ length: termCount }, () => ({ plus: chunk(value), minus: chunk(() => (next() & 1 ? 0 : -0)) })) };
}


/** Weights, densities and gammas per term, for the terms' j. */
const WEIGHTS = [1, -0.5, 0.3, 3, -2.5, 0.75, 1e-3, -7, 2, 0.1];
const DENSITY_SETS = [[1, 1, 1], [0.5, 0.5, 0.5], [0.01, 0.3, 0.9]];
const GAMMAS = [0.01, 0, 0.5, 1];

/** Every method with 1 to 3 terms on special values and on equal magnitudes: density 1 / 0.5 / tiny, gamma edges, the control, normalize on and off, whole tensors and middle chunks. */
export async function everyMethodCases(): Promise<RecipeKernelCase[]> {
  const cases: RecipeKernelCase[] = [];
  let variant = 0;
  for (const method of RECIPE_METHODS) {
    for (const termCount of [1, 2, 3]) {
      for (const densities of DENSITY_SETS) {
        variant++;
        const terms = Array.from({ length: termCount }, (_, j) => ({
          // Term indices with gaps now and then, as when a term is dropped for this tensor.
          index: variant % 3 === 0 ? 2 * j + 1 : j,
          weight: WEIGHTS[(variant + j) % WEIGHTS.length]!,
          density: densities[j]!,
          gamma: GAMMAS[(variant + j) % GAMMAS.length]!,
        }));
        const recipe = makeRecipe(method, terms, {
          normalize: variant % 2 === 0,
          rescale: variant % 4 !== 1,
          seed: variant * 7919,
          ...(variant % 3 === 1 ? { control: { kind: "random_sign" as const, seed: variant } } : {}),
        });
        const special = specialTensor(termCount, 1500);
        cases.push(await tensorCase("special values", recipe, special, "F32"));
        cases.push(await tensorCase("special values, a middle chunk", recipe, special, "BF16", { start: 333, end: 1201 }));
        const tied = tiedTensor(termCount, 2000, variant);
        cases.push(await tensorCase("equal magnitudes", recipe, tied, "F32"));
        cases.push(await tensorCase("equal magnitudes, a middle chunk", recipe, tied, "F16", { start: 777, end: 1999 }));
      }
    }
  }
  return cases;
}

/** DARE with fixed seeds, with and without rescale, at densities around the draw of one element (fl32(rho) equal to its u, one step above, one below). */
export async function dareCases(): Promise<RecipeKernelCase[]> {
  const count = 4096;
  const tensor = randomTensor("F32", [["F32", "BF16"], ["F16", "F32"]], count, 5);
  const cases: RecipeKernelCase[] = [];
  for (const seed of [0, 1, 0xffffffff]) {
    // u of element 1234 for term 0: a density of exactly u (a float32) drops it (u < rho fails), u + 2^-24 keeps it.
    const draw = (recipeHash(seed, TENSOR, 1, 0, 1234) >>> 8) / 2 ** 24;
    for (const density of [draw, draw + 2 ** -24, draw - 2 ** -24, 0.1, 0.5, 1 - 2 ** -25, 2 ** -24]) {
      for (const method of ["dare_linear", "dare_ties"] as const) {
        for (const rescale of [true, false]) {
          const recipe = makeRecipe(method, [{ density, weight: 0.7 }, { density: 0.3, weight: -1.5 }], { seed, rescale, normalize: rescale });
          cases.push(await tensorCase(`seed ${seed}, density ${density}, rescale ${rescale}`, recipe, tensor, "F32"));
        }
      }
    }
  }
  return cases;
}

/** Nine terms, every method, mixed dtypes. */
export async function nineTermCases(): Promise<RecipeKernelCase[]> {
  const dtypes = Array.from({ length: 9 }, (_, j) => [KERNEL_DTYPES[j % 3]!, KERNEL_DTYPES[(j + 1) % 3]!] as [FloatDtype, FloatDtype]);
  const tensor = randomTensor("BF16", dtypes, 3001, 9);
  const cases: RecipeKernelCase[] = [];
  for (const method of RECIPE_METHODS) {
    const terms = dtypes.map((_, j) => ({ weight: WEIGHTS[j]!, density: [0.9, 0.5, 0.1][j % 3]!, gamma: GAMMAS[j % 4]! }));
    cases.push(await tensorCase("nine terms", makeRecipe(method, terms, { normalize: true, control: { kind: "random_sign", seed: 3 } }), tensor, "BF16", { start: 1 }));
    cases.push(await tensorCase("nine terms", makeRecipe(method, terms, { normalize: false, seed: 12 }), tensor, "F16"));
  }
  return cases;
}

/** Chunks at element indices across and above 2^32: DARE and the control (the hash's high word), and hand-made magnitude cuts whose last tie lies past 2^32. */
export async function farElementCases(): Promise<RecipeKernelCase[]> {
  const count = 1500;
  const tied = tiedTensor(2, count, 77);
  const random = randomTensor("F16", [["BF16", "F32"], ["F32", "F16"]], count, 13);
  const cases: RecipeKernelCase[] = [];
  for (const offset of [2 ** 32 - 700, 2 ** 40 + 5, 2 ** 53 - 2 * count]) {
    for (const method of ["dare_linear", "dare_ties"] as const) {
      const recipe = makeRecipe(method, [{ density: 0.4, weight: 1.25 }, { index: 4, density: 0.8, weight: -0.5 }], { seed: 99, control: { kind: "random_sign", seed: 5 } });
      cases.push(await tensorCase("far elements", recipe, random, "F32", { offset }));
    }
    // A cut at the magnitude 2 (a float32 key), keeping the ties of index up to the middle of the chunk.
    const key = magnitudeOrderKey(0x40000000);
    const cut = (lastTieIndex: number) => ({ pattern: key, lastTieIndex });
    const stats: MagnitudeStatistics = {
      numel: offset + count,
      terms: [
        { from: { pattern: 0xffffffff, lastTieIndex: -1 }, to: cut(offset + 700) },
        { from: cut(offset + 200), to: { pattern: magnitudeOrderKey(0x3f800000), lastTieIndex: offset + 1100 } },
      ],
    };
    for (const method of ["ties", "breadcrumbs", "breadcrumbs_ties"] as const) {
      const recipe = makeRecipe(method, [{ density: 0.5, weight: 0.5 }, { density: 0.5, weight: 2 }]);
      cases.push(await tensorCase("far elements, hand-made cuts", recipe, tied, "BF16", { offset, stats }));
    }
  }
  return cases;
}

/** The weights of normalizeCases: D = 0, sums that round, tiny and huge D. */
export const NORMALIZE_WEIGHT_SETS = [
  [1, -1],
  [3, 7],
  [0.1, 0.2, 0.3],
  [1, -0.9999],
  [1e-30, 3e-30],
  [3e38, 3e38],
  [1e-20, -1e-20, 3],
];

/** Normalize with NORMALIZE_WEIGHT_SETS on random (subnormal, huge) and tied values. */
export async function normalizeCases(): Promise<RecipeKernelCase[]> {
  const count = 2048;
  const cases: RecipeKernelCase[] = [];
  const subnormal = randomTensor("F32", [["F32", "F32"], ["F32", "F32"], ["F32", "F32"]], count, 21);
  for (const [set, weights] of NORMALIZE_WEIGHT_SETS.entries()) {
    for (const method of ["task_arithmetic", "ties", "dare_linear", "breadcrumbs_ties"] as const) {
      const recipe = makeRecipe(method, weights.map((weight) => ({ weight, density: 0.7, gamma: 0.1 })), { normalize: true, seed: set });
      const tensor = { target: subnormal.target, terms: subnormal.terms.slice(0, weights.length) };
      cases.push(await tensorCase(`weights ${weights.join(", ")}`, recipe, tensor, "F32"));
      cases.push(await tensorCase(`weights ${weights.join(", ")}`, recipe, tiedTensor(weights.length, 600, set), "F32"));
    }
  }
  return cases;
}

/** Every mix of input and output dtypes, and a tensor with no term left (the target converted). */
export async function dtypeMixCases(): Promise<RecipeKernelCase[]> {
  const cases: RecipeKernelCase[] = [];
  let index = 0;
  for (const t of KERNEL_DTYPES) {
    for (const p of KERNEL_DTYPES) {
      for (const m of KERNEL_DTYPES) {
        const tensor = randomTensor(t, [[p, m], [m, t]], 517, index + 40);
        for (const outDtype of KERNEL_DTYPES) {
          const method = RECIPE_METHODS[index++ % RECIPE_METHODS.length]!;
          const recipe = makeRecipe(method, [{ weight: 0.3, density: 0.6 }, { weight: -1.7, density: 0.3, gamma: 0.2 }], { seed: index });
          cases.push(await tensorCase("dtype mix", recipe, tensor, outDtype, { start: index % 2 }));
        }
      }
    }
    // No term left for the tensor: the target, converted to the output dtype.
    for (const outDtype of KERNEL_DTYPES) cases.push(await tensorCase("no term", makeRecipe("ties", []), randomTensor(t, [], 333, 7), outDtype));
  }
  return cases;
}

/** A random chunk of 90,000 elements of a 1e5-element tensor, every method, 3 terms. */
export async function randomChunkCases(): Promise<RecipeKernelCase[]> {
  const count = 100_000;
  const tensor = randomTensor("BF16", [["BF16", "BF16"], ["BF16", "F16"], ["F32", "BF16"]], count, 31);
  const cases: RecipeKernelCase[] = [];
  for (const [index, method] of RECIPE_METHODS.entries()) {
    const recipe = makeRecipe(method, [{ weight: 0.8, density: 0.3 }, { weight: -0.4, density: 0.6 }, { weight: 1.1, density: 0.9, gamma: 0.05 }], {
      seed: index,
      ...(index % 2 ? { control: { kind: "random_sign" as const, seed: 17 } } : {}),
    });
    cases.push(await tensorCase("random", recipe, tensor, "BF16", { start: 10_001, end: count }));
  }
  return cases;
}
