import { FLOAT_BITS_WGSL } from "./floatBitsWgsl.ts";
import { OUTPUT_WORDS_WGSL } from "./outputWordsWgsl.ts";

/** Invocations per workgroup; each invocation computes two elements (one u32 word of 16-bit output). */
export const RECIPE_WORKGROUP_SIZE = 64;

/** Elements one invocation computes. */
export const RECIPE_ELEMENTS_PER_INVOCATION = 2;

/** The u32 fields of the uniform block `Params`, in order: one dispatch over `count` elements of a chunk. */
export const RECIPE_PARAM_FIELDS = [
  "count",
  "invocations",
  "term_count",
  "target_dtype",
  "out_dtype",
  /** Without consensus, D of step 7 (every term is included): the same for every element. */
  "divisor_bits",
  /** 1 with the random_sign control (a parameter, not a pipeline constant: its cost is small either way). */
  "control",
  /** The index in X of the dispatch's first element, as two u32 (low, high). */
  "first_low",
  "first_high",
] as const;

/**
 * The kernel's pipeline-overridable constants: the steps a recipe takes, fixed per pipeline, so that
 * the compiled code holds only those. (An implementation may run both sides of a branch for every
 * element, masked, as SwiftShader does: there one kernel for every recipe ran 4 to 5 times slower
 * than one specialised to task arithmetic.)
 */
export interface RecipePipelineConstants {
  /** 1 when the method elects signs (step 5). */
  CONSENSUS: 0 | 1;
  NORMALIZE: 0 | 1;
  /** The KEEP_KIND of the sparsified terms (KEEP_KIND.all when no term is). */
  SPARSE_KEEP: number;
}

/** How term j decides k_j(e) (step 3). */
export const KEEP_KIND = { all: 0, random: 1, magnitude: 2 } as const;

/** The u32 fields of one entry of the `terms` table, in order. */
export const RECIPE_TERM_FIELDS = [
  /** Where the term's plus and minus start in `input_words` (words), and their dtype codes. */
  "plus_offset",
  "minus_offset",
  "plus_dtype",
  "minus_dtype",
  /** w_j as float32 bits. */
  "weight_bits",
  /** A KEEP_KIND. */
  "keep",
  /** random: hashPrefix of stream 1; kept when (H >> 8) < keep_bound. */
  "keep_prefix",
  "keep_bound",
  /** random with rescale: 1, and c_j as float32 bits. */
  "rescale",
  "rescale_bits",
  /** The control: hashPrefix of stream 2. */
  "sign_prefix",
  /** magnitude: kept when in the top `to` and not in the top `from` (MagnitudeCut; tie_end = lastTieIndex + 1 as low, high). */
  "from_pattern",
  "from_tie_end_low",
  "from_tie_end_high",
  "to_pattern",
  "to_tie_end_low",
  "to_tie_end_high",
] as const;

export type RecipeParamField = (typeof RECIPE_PARAM_FIELDS)[number];
export type RecipeTermField = (typeof RECIPE_TERM_FIELDS)[number];

/** Bytes of the uniform block, padded to 16. */
export const RECIPE_PARAMS_BYTES = Math.ceil(RECIPE_PARAM_FIELDS.length / 4) * 16;

const u32Fields = (fields: readonly string[]) => fields.map((field) => `  ${field}: u32,`).join("\n");

/**
 * The recipe kernel of ../shared/recipe-v2.md (steps 1-8, one chunk) in WGSL, in integer arithmetic
 * only (FLOAT_BITS_WGSL says why). Every input of the dispatch is packed into one storage buffer,
 * `input_words`: the target's elements from word 0, then each term's plus and minus at the offsets
 * of its entry in `terms`, so that any number of terms binds four buffers. Each element runs once
 * through the terms in order, keeping the running sums of step 5 (S) and of step 6 and 7 for both
 * possible majorities (the sums over the positive and over the negative s_j): the elected one is
 * then picked, which equals summing the included terms after the election, with no per-term storage.
 * The steps the recipe takes are pipeline constants (RecipePipelineConstants). Invocation w
 * computes elements 2w and 2w + 1 of the dispatch.
 */
export const RECIPE_KERNEL_WGSL = /* wgsl */ `
${FLOAT_BITS_WGSL}
${OUTPUT_WORDS_WGSL}
const WORKGROUP_SIZE: u32 = ${RECIPE_WORKGROUP_SIZE}u;
const KEEP_RANDOM: u32 = ${KEEP_KIND.random}u;
const KEEP_MAGNITUDE: u32 = ${KEEP_KIND.magnitude}u;

override CONSENSUS: bool;
override NORMALIZE: bool;
override SPARSE_KEEP: u32;

struct Params {
${u32Fields(RECIPE_PARAM_FIELDS)}
}

struct Term {
${u32Fields(RECIPE_TERM_FIELDS)}
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> terms: array<Term>;
@group(0) @binding(2) var<storage, read> input_words: array<u32>;
@group(0) @binding(3) var<storage, read_write> out_words: array<u32>;

fn pcg(x: u32) -> u32 {
  let s = x * 747796405u + 2891336453u;
  let w = ((s >> ((s >> 28u) + 4u)) ^ s) * 277803737u;
  return (w >> 22u) ^ w;
}

// H of the contract for element (low, high), given pcg(pcg(pcg(seed ^ key) + stream) + j).
fn hash_element(prefix: u32, low: u32, high: u32) -> u32 {
  return pcg(pcg(prefix + low) + high);
}

// The order key of float32 bits: |v|'s pattern (-0 = +0), every NaN one above +Inf.
fn magnitude_order_key(bits: u32) -> u32 {
  let magnitude = bits & ABS;
  return select(magnitude, INF + 1u, magnitude > INF);
}

// Whether element (low, high) with order key k is among the top elements up to a cut: k above
// the cut's pattern, or equal to it and the index below tie_end (equal magnitudes go by index).
fn in_top(k: u32, pattern: u32, tie_end_low: u32, tie_end_high: u32, low: u32, high: u32) -> bool {
  return k > pattern || (k == pattern && (high < tie_end_high || (high == tie_end_high && low < tie_end_low)));
}

fn is_nan(bits: u32) -> bool {
  return (bits & ABS) > INF;
}

fn is_positive(bits: u32) -> bool {
  return (bits & SIGN) == 0u && (bits & ABS) != 0u && !is_nan(bits);
}

fn is_negative(bits: u32) -> bool {
  return (bits & SIGN) != 0u && (bits & ABS) != 0u && !is_nan(bits);
}

// s_j of element i of the dispatch (steps 1-4), as float32 bits; (low, high) is its index in X.
fn term_value(term: Term, i: u32, low: u32, high: u32) -> u32 {
  let p = widen(term.plus_dtype, input_words[term.plus_offset + word_index(term.plus_dtype, i)], i);
  let m = widen(term.minus_dtype, input_words[term.minus_offset + word_index(term.minus_dtype, i)], i);
  // p - m is p + (-m) for every operand; a NaN m stays NaN whatever its sign.
  var v = add_f32(p, m ^ SIGN);
  if (params.control != 0u && (hash_element(term.sign_prefix, low, high) >> 31u) == 1u) {
    v = v ^ SIGN;
  }
  if (SPARSE_KEEP == KEEP_MAGNITUDE && term.keep == KEEP_MAGNITUDE) {
    let k = magnitude_order_key(v);
    let kept = in_top(k, term.to_pattern, term.to_tie_end_low, term.to_tie_end_high, low, high) &&
      !in_top(k, term.from_pattern, term.from_tie_end_low, term.from_tie_end_high, low, high);
    if (!kept) {
      return 0u;
    }
  } else if (SPARSE_KEEP == KEEP_RANDOM && term.keep == KEEP_RANDOM) {
    if ((hash_element(term.keep_prefix, low, high) >> 8u) >= term.keep_bound) {
      return 0u;
    }
    if (term.rescale != 0u) {
      v = mul_f32(v, term.rescale_bits);
    }
  }
  return mul_f32(v, term.weight_bits);
}

// The running sums of steps 6 and 7 over the terms of one sign, in recipe order.
struct Mix {
  any: bool,
  mixed: u32,
  divisor: u32,
}

fn mix_in(sum: Mix, s: u32, w: u32) -> Mix {
  if (!sum.any) {
    return Mix(true, s, w);
  }
  return Mix(true, add_f32(sum.mixed, s), add_f32(sum.divisor, w));
}

fn merge_element(i: u32) -> u32 {
  let t = widen(params.target_dtype, input_words[word_index(params.target_dtype, i)], i);
  let low = params.first_low + i;
  let high = params.first_high + flag(low < i);
  var all = Mix(false, 0u, params.divisor_bits);
  var positive = Mix(false, 0u, 0u);
  var negative = Mix(false, 0u, 0u);
  var sum = 0u;
  for (var j = 0u; j < params.term_count; j++) {
    let term = terms[j];
    let s = term_value(term, i, low, high);
    if (!CONSENSUS) {
      all = Mix(true, select(add_f32(all.mixed, s), s, j == 0u), params.divisor_bits);
      continue;
    }
    sum = select(add_f32(sum, s), s, j == 0u);
    if (is_positive(s)) {
      positive = mix_in(positive, s, term.weight_bits);
    } else if (is_negative(s)) {
      negative = mix_in(negative, s, term.weight_bits);
    }
  }
  if (CONSENSUS) {
    // majority = +1 when S >= 0 (-0 included), -1 otherwise and for NaN.
    if (!is_nan(sum) && ((sum & SIGN) == 0u || (sum & ABS) == 0u)) {
      all = positive;
    } else {
      all = negative;
    }
  }
  if (!all.any) {
    return narrow(params.out_dtype, t);
  }
  var mixed = all.mixed;
  if (NORMALIZE && (all.divisor & ABS) != 0u) {
    mixed = div_f32(mixed, all.divisor);
  }
  return narrow(params.out_dtype, add_f32(t, mixed));
}

@compute @workgroup_size(WORKGROUP_SIZE)
fn merge_recipe(@builtin(global_invocation_id) id: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
  let w = invocation_index(id, groups);
  if (w >= params.invocations) {
    return;
  }
  let first = merge_element(2u * w);
  var second = 0u;
  if (2u * w + 1u < params.count) {
    second = merge_element(2u * w + 1u);
  }
  store(w, first, second);
}
`;
