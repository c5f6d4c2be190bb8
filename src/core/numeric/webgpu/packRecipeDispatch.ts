import { DTYPE_BYTES, type FloatDtype } from "../../dtypes.ts";
import type { MagnitudeCut, MagnitudeStatistics } from "../../recipe/magnitudeStatistics.ts";
import { hashPrefix, RANDOM_KEEP_STREAM, RANDOM_SIGN_STREAM, tensorKey } from "../../recipe/recipeHash.ts";
import { METHOD_STEPS, type TensorRecipe } from "../../recipe/TensorRecipe.ts";
import { WGSL_DTYPE_CODE } from "./floatBitsWgsl.ts";
import {
  KEEP_KIND,
  RECIPE_ELEMENTS_PER_INVOCATION,
  RECIPE_PARAM_FIELDS,
  RECIPE_PARAMS_BYTES,
  RECIPE_TERM_FIELDS,
  type RecipeParamField,
  type RecipePipelineConstants,
  type RecipeTermField,
} from "./recipeKernelWgsl.ts";

/** The dtypes of one chunk's inputs: the target's, and each term's plus and minus (aligned with TensorRecipe.terms). */
export interface RecipeInputDtypes {
  target: FloatDtype;
  terms: readonly { plus: FloatDtype; minus: FloatDtype }[];
}

/** What one dispatch of the recipe kernel binds, besides its inputs' bytes. */
export interface RecipeDispatch {
  /** The pipeline the dispatch runs on: the steps the recipe takes. */
  constants: RecipePipelineConstants;
  /** The uniform block (RECIPE_PARAMS_BYTES). */
  params: Uint32Array<ArrayBuffer>;
  /** The `terms` table: RECIPE_TERM_FIELDS.length words per term (at least one entry: a binding is never empty). */
  terms: Uint32Array<ArrayBuffer>;
  /** Where each input's bytes go in `input_words`, in words: the target, then plus_j and minus_j for each term. */
  inputOffsets: number[];
  /** Words of `input_words` in all. */
  inputWords: number;
}

const TWO_POW_24 = 2 ** 24;
const TWO_POW_32 = 2 ** 32;

const float32Bits = (value: number) => new Uint32Array(new Float32Array([value]).buffer)[0]!;

/**
 * DARE's random keep as an integer compare: the contract keeps e when u = (H >> 8) * 2^-24 is below
 * fl32(rho). With x = H >> 8, an integer in [0, 2^24), x * 2^-24 < fl32(rho) holds exactly when
 * x < fl32(rho) * 2^24 (a product exact in float64: a power of two times a float32), that is when x
 * is below the smallest integer not less than it: x < ceil(fl32(rho) * 2^24). At most 2^24 (rho
 * rounding to 1 keeps every element).
 */
export function dareKeepBound(density: number): number {
  return Math.min(TWO_POW_24, Math.ceil(Math.fround(density) * TWO_POW_24));
}

/** Words a region of `count` elements of `dtype` takes (16-bit elements two to a word). */
export function regionWords(dtype: FloatDtype, count: number): number {
  return Math.ceil((count * DTYPE_BYTES[dtype]) / 4);
}

/** A cut's "index below tie_end" as the two u32 the kernel compares: tie_end = lastTieIndex + 1 (0 when none ties). */
function tieEnd(cut: MagnitudeCut): [number, number] {
  const end = Math.max(0, cut.lastTieIndex + 1);
  return [end % TWO_POW_32, Math.floor(end / TWO_POW_32)];
}

/**
 * The pipeline constants and parameters of one dispatch of RECIPE_KERNEL_WGSL over elements firstElement .. firstElement
 * + count - 1 of X: every per-tensor number of the recipe (w_j, c_j, D, the DARE bound, the hash
 * prefixes, the magnitude cuts of `stats`) in the bits the kernel reads, and where each input goes.
 * A term keeps by its magnitude cut when `stats` has one for it, by DARE's draw when the method is
 * random and its density is below 1, else every element (as mergeRecipeChunk).
 */
export function packRecipeDispatch(
  recipe: TensorRecipe,
  stats: MagnitudeStatistics | undefined,
  dtypes: RecipeInputDtypes,
  outDtype: FloatDtype,
  firstElement: number,
  count: number,
): RecipeDispatch {
  if (!Number.isSafeInteger(firstElement) || firstElement < 0 || !Number.isSafeInteger(firstElement + count)) {
    throw new Error(`internal: tensor ${recipe.tensorName}: first element ${firstElement} is not an index below 2^53`);
  }
  if (dtypes.terms.length !== recipe.terms.length) {
    throw new Error(`internal: tensor ${recipe.tensorName}: ${dtypes.terms.length} term inputs for ${recipe.terms.length} terms`);
  }
  const { sparsification, consensus } = METHOD_STEPS[recipe.method];
  const key = tensorKey(recipe.tensorName);
  const weights = recipe.terms.map((term) => Math.fround(term.weight));

  const inputOffsets = [0];
  let inputWords = regionWords(dtypes.target, count);
  for (const { plus, minus } of dtypes.terms) {
    inputOffsets.push(inputWords);
    inputWords += regionWords(plus, count);
    inputOffsets.push(inputWords);
    inputWords += regionWords(minus, count);
  }

  const params = new Uint32Array(RECIPE_PARAMS_BYTES / 4);
  const setParam = (field: RecipeParamField, value: number) => (params[RECIPE_PARAM_FIELDS.indexOf(field)] = value);
  setParam("count", count);
  setParam("invocations", Math.ceil(count / RECIPE_ELEMENTS_PER_INVOCATION));
  setParam("term_count", recipe.terms.length);
  setParam("target_dtype", WGSL_DTYPE_CODE[dtypes.target]);
  setParam("out_dtype", WGSL_DTYPE_CODE[outDtype]);
  // D without consensus: every term is included; 0 + w_0 is exactly w_0.
  setParam("divisor_bits", float32Bits(weights.reduce((sum, w) => Math.fround(sum + w), 0)));
  setParam("control", recipe.control ? 1 : 0);
  setParam("first_low", firstElement % TWO_POW_32);
  setParam("first_high", Math.floor(firstElement / TWO_POW_32));

  const stride = RECIPE_TERM_FIELDS.length;
  const terms = new Uint32Array(Math.max(1, recipe.terms.length) * stride);
  const keeps: number[] = [];
  recipe.terms.forEach((term, j) => {
    const setTerm = (field: RecipeTermField, value: number) => (terms[j * stride + RECIPE_TERM_FIELDS.indexOf(field)] = value);
    setTerm("plus_offset", inputOffsets[1 + 2 * j]!);
    setTerm("minus_offset", inputOffsets[2 + 2 * j]!);
    setTerm("plus_dtype", WGSL_DTYPE_CODE[dtypes.terms[j]!.plus]);
    setTerm("minus_dtype", WGSL_DTYPE_CODE[dtypes.terms[j]!.minus]);
    setTerm("weight_bits", float32Bits(weights[j]!));
    if (recipe.control) setTerm("sign_prefix", hashPrefix(recipe.control.seed >>> 0, key, RANDOM_SIGN_STREAM, term.index));
    const range = stats?.terms[j];
    if (range) {
      keeps.push(KEEP_KIND.magnitude);
      setTerm("keep", KEEP_KIND.magnitude);
      setTerm("from_pattern", range.from.pattern);
      const [fromLow, fromHigh] = tieEnd(range.from);
      setTerm("from_tie_end_low", fromLow);
      setTerm("from_tie_end_high", fromHigh);
      setTerm("to_pattern", range.to.pattern);
      const [toLow, toHigh] = tieEnd(range.to);
      setTerm("to_tie_end_low", toLow);
      setTerm("to_tie_end_high", toHigh);
    } else if (sparsification === "random" && term.density < 1) {
      keeps.push(KEEP_KIND.random);
      setTerm("keep", KEEP_KIND.random);
      setTerm("keep_prefix", hashPrefix(recipe.seed >>> 0, key, RANDOM_KEEP_STREAM, term.index));
      setTerm("keep_bound", dareKeepBound(term.density));
      setTerm("rescale", recipe.rescale ? 1 : 0);
      setTerm("rescale_bits", float32Bits(Math.fround(1 / term.density)));
    } else {
      setTerm("keep", KEEP_KIND.all);
    }
  });
  const constants: RecipePipelineConstants = {
    CONSENSUS: consensus ? 1 : 0,
    NORMALIZE: recipe.normalize ? 1 : 0,
    SPARSE_KEEP: Math.max(KEEP_KIND.all, ...keeps),
  };
  return { constants, params, terms, inputOffsets, inputWords };
}
