import { FLOAT_BITS_WGSL } from "./floatBitsWgsl.ts";
import { OUTPUT_WORDS_WGSL } from "./outputWordsWgsl.ts";

// The engine's webGpuComputer takes the dtype codes from here, with the kernel's other constants.
export { WGSL_DTYPE_CODE } from "./floatBitsWgsl.ts";

/** Invocations per workgroup; each invocation computes two elements (one u32 word of 16-bit output). */
export const WORKGROUP_SIZE = 64;

/** Elements one invocation computes. */
export const ELEMENTS_PER_INVOCATION = 2;

/** Bytes of the uniform block `Params` below: seven u32 fields, padded to 16 bytes. */
export const PARAMS_BYTES = 32;

/**
 * The merge and convert kernels of contract v1 in WGSL, the numeric contract in integer arithmetic
 * only (FLOAT_BITS_WGSL says why). Invocation w computes elements 2w and 2w + 1.
 */
export const MERGE_KERNEL_WGSL = /* wgsl */ `
${FLOAT_BITS_WGSL}
${OUTPUT_WORDS_WGSL}
const WORKGROUP_SIZE: u32 = ${WORKGROUP_SIZE}u;

struct Params {
  count: u32,
  alpha_bits: u32,
  target_dtype: u32,
  plus_dtype: u32,
  minus_dtype: u32,
  out_dtype: u32,
  invocations: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> target_words: array<u32>;
@group(0) @binding(2) var<storage, read> plus_words: array<u32>;
@group(0) @binding(3) var<storage, read> minus_words: array<u32>;
@group(0) @binding(4) var<storage, read_write> out_words: array<u32>;

// t + a * (p - m) as three float32 operations: d = p - m, s = d * a, r = t + s.
fn merge_element(i: u32) -> u32 {
  let t = widen(params.target_dtype, target_words[word_index(params.target_dtype, i)], i);
  let p = widen(params.plus_dtype, plus_words[word_index(params.plus_dtype, i)], i);
  let m = widen(params.minus_dtype, minus_words[word_index(params.minus_dtype, i)], i);
  // p - m is p + (-m) for every operand; a NaN m stays NaN whatever its sign.
  let d = add_f32(p, m ^ SIGN);
  let s = mul_f32(d, params.alpha_bits);
  return narrow(params.out_dtype, add_f32(t, s));
}

fn convert_element(i: u32) -> u32 {
  return narrow(params.out_dtype, widen(params.target_dtype, target_words[word_index(params.target_dtype, i)], i));
}


@compute @workgroup_size(WORKGROUP_SIZE)
fn merge(@builtin(global_invocation_id) id: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
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

@compute @workgroup_size(WORKGROUP_SIZE)
fn convert(@builtin(global_invocation_id) id: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
  let w = invocation_index(id, groups);
  if (w >= params.invocations) {
    return;
  }
  let first = convert_element(2u * w);
  var second = 0u;
  if (2u * w + 1u < params.count) {
    second = convert_element(2u * w + 1u);
  }
  store(w, first, second);
}
`;
