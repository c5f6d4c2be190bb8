import type { FloatDtype } from "../../dtypes.ts";

/** Dtype codes of the kernels' parameters, as the constants BF16, F16 and F32 of FLOAT_BITS_WGSL. */
export const WGSL_DTYPE_CODE: Record<FloatDtype, number> = { BF16: 0, F16: 1, F32: 2 };

/**
 * IEEE-754 binary32 arithmetic in WGSL on u32 bit patterns, shared by every kernel of this folder:
 * widening BF16 / F16 / F32 elements to float32 bits, narrowing float32 bits to an output dtype
 * (round to nearest even, NaN as the canonical quiet NaN), and add_f32, mul_f32 and div_f32, each
 * rounded to nearest even with subnormals, infinities and NaN.
 *
 * Why no f32 arithmetic: WGSL lets an implementation flush f32 subnormals to zero, assume that no
 * Inf or NaN occurs, and it does not forbid contracting `d * a + t` into a fused multiply-add. On
 * this machine's GPU (SwiftShader) a probe showed the first at work: 2^-70 * 2^-70 gave 0 instead
 * of 2^-140, and 3 * 2^-149 + 5 * 2^-149 gave 0. So the operations below are written out on u32 bit
 * patterns: what the GPU compiles is integer code, which no compiler may fuse, reassociate or
 * flush, and every GPU gives the bits the JavaScript reference gives.
 *
 * Buffers hold packed little-endian words: two 16-bit elements per u32 (element 2k in the low
 * half), or one F32 element per u32.
 */
export const FLOAT_BITS_WGSL = /* wgsl */ `
const BF16: u32 = ${WGSL_DTYPE_CODE.BF16}u;
const F16: u32 = ${WGSL_DTYPE_CODE.F16}u;
const F32: u32 = ${WGSL_DTYPE_CODE.F32}u;
const SIGN: u32 = 0x80000000u;
const ABS: u32 = 0x7fffffffu;
const INF: u32 = 0x7f800000u;
const QNAN: u32 = 0x7fc00000u;

// 1 when the condition holds, else 0.
fn flag(condition: bool) -> u32 {
  return select(0u, 1u, condition);
}

// The index of the word holding element i.
fn word_index(dtype: u32, i: u32) -> u32 {
  return select(i >> 1u, i, dtype == F32);
}

fn f16_to_f32_bits(h: u32) -> u32 {
  let sign_bit = (h & 0x8000u) << 16u;
  let exponent = (h >> 10u) & 0x1fu;
  let mantissa = h & 0x3ffu;
  if (exponent == 0x1fu) {
    return sign_bit | INF | (mantissa << 13u);
  }
  if (exponent != 0u) {
    return sign_bit | ((exponent + 112u) << 23u) | (mantissa << 13u);
  }
  if (mantissa == 0u) {
    return sign_bit;
  }
  // Subnormal: move the leading one to bit 10, the implicit bit of a normal float32.
  let shift = countLeadingZeros(mantissa) - 21u;
  return sign_bit | ((113u - shift) << 23u) | (((mantissa << shift) & 0x3ffu) << 13u);
}

// Element bits widened to float32 bits (exact), from the word holding it.
fn widen(dtype: u32, word: u32, i: u32) -> u32 {
  if (dtype == F32) {
    return word;
  }
  // Element 2k is the low half of word k.
  let element = (word >> (16u * (i & 1u))) & 0xffffu;
  if (dtype == BF16) {
    return element << 16u;
  }
  return f16_to_f32_bits(element);
}

fn narrow_to_bf16(bits: u32) -> u32 {
  if ((bits & ABS) > INF) {
    return 0x7fc0u;
  }
  return (bits + 0x7fffu + ((bits >> 16u) & 1u)) >> 16u;
}

fn narrow_to_f16(bits: u32) -> u32 {
  let sign_bit = (bits >> 16u) & 0x8000u;
  let absolute = bits & ABS;
  if (absolute > INF) {
    return 0x7e00u;
  }
  // 65520 and above round to Inf.
  if (absolute >= 0x477ff000u) {
    return sign_bit | 0x7c00u;
  }
  if (absolute >= 0x38800000u) {
    return sign_bit | ((absolute - 0x38000000u + 0xfffu + ((absolute >> 13u) & 1u)) >> 13u);
  }
  // At most 2^-25, half the smallest subnormal: rounds to zero (ties to even).
  if (absolute <= 0x33000000u) {
    return sign_bit;
  }
  let shift = 126u - (absolute >> 23u);
  let mantissa = (absolute & 0x7fffffu) | 0x800000u;
  let quotient = mantissa >> shift;
  let remainder = mantissa & ((1u << shift) - 1u);
  let halfway = 1u << (shift - 1u);
  return sign_bit | (quotient + flag(remainder > halfway || (remainder == halfway && (quotient & 1u) == 1u)));
}

fn narrow(dtype: u32, bits: u32) -> u32 {
  if (dtype == BF16) {
    return narrow_to_bf16(bits);
  }
  if (dtype == F16) {
    return narrow_to_f16(bits);
  }
  return select(bits, QNAN, (bits & ABS) > INF);
}

// Rounds (-1)^sign * m * 2^(e - 153) to float32 bits, to nearest even. m's leading one is at bit 26
// (or lower when e == 1: a subnormal or zero); bits 2..0 are guard, round and sticky, the sticky
// bit being the OR of everything below it.
fn round_pack(sign_bit: u32, e: i32, m: u32) -> u32 {
  if (e >= 255) {
    return sign_bit | INF;
  }
  var mantissa = m;
  var exponent = e;
  if (exponent < 1) {
    let shift = u32(1 - exponent);
    if (shift > 26u) {
      mantissa = flag(mantissa != 0u);
    } else {
      mantissa = (mantissa >> shift) | flag((mantissa & ((1u << shift) - 1u)) != 0u);
    }
    exponent = 1;
  }
  let low = mantissa & 7u;
  mantissa = (mantissa >> 3u) + flag(low > 4u || (low == 4u && (mantissa & 8u) != 0u));
  // The implicit bit adds itself to the exponent field, and so does a carry out of rounding.
  let magnitude = (u32(exponent - 1) << 23u) + mantissa;
  return sign_bit | min(magnitude, INF);
}

// IEEE binary32 a + b, round to nearest even. Any NaN result is QNAN.
fn add_f32(a: u32, b: u32) -> u32 {
  let a_abs = a & ABS;
  let b_abs = b & ABS;
  if (a_abs > INF || b_abs > INF) {
    return QNAN;
  }
  if (a_abs == INF) {
    return select(a, QNAN, b_abs == INF && ((a ^ b) & SIGN) != 0u);
  }
  if (b_abs == INF) {
    return b;
  }
  // x is the operand of larger magnitude.
  let swap = a_abs < b_abs;
  let x = select(a, b, swap);
  let y = select(b, a, swap);
  let x_field = (x >> 23u) & 0xffu;
  let y_field = (y >> 23u) & 0xffu;
  let x_mantissa = ((x & 0x7fffffu) | select(0u, 0x800000u, x_field != 0u)) << 3u;
  var y_mantissa = ((y & 0x7fffffu) | select(0u, 0x800000u, y_field != 0u)) << 3u;
  // Subnormals have exponent field 0 but scale 2^(1 - 127), as exponent field 1.
  let x_exponent = max(x_field, 1u);
  let difference = x_exponent - max(y_field, 1u);
  if (difference > 26u) {
    y_mantissa = flag(y_mantissa != 0u);
  } else if (difference > 0u) {
    y_mantissa = (y_mantissa >> difference) | flag((y_mantissa & ((1u << difference) - 1u)) != 0u);
  }
  var e = i32(x_exponent);
  var m: u32;
  if (((x ^ y) & SIGN) == 0u) {
    m = x_mantissa + y_mantissa;
    if (m >= (1u << 27u)) {
      m = (m >> 1u) | (m & 1u);
      e += 1;
    }
  } else {
    m = x_mantissa - y_mantissa;
    if (m == 0u) {
      // Exact cancellation gives +0 when rounding to nearest.
      return 0u;
    }
    let shift = countLeadingZeros(m) - 5u;
    m = m << shift;
    e -= i32(shift);
  }
  return round_pack(x & SIGN, e, m);
}

// The 24-bit significand of a finite nonzero float32 with its leading one at bit 23, and the
// exponent that goes with it (below 1 for subnormals).
struct Unpacked {
  mantissa: u32,
  exponent: i32,
}

fn unpack_nonzero(absolute: u32) -> Unpacked {
  let field = absolute >> 23u;
  let mantissa = absolute & 0x7fffffu;
  if (field == 0u) {
    let shift = countLeadingZeros(mantissa) - 8u;
    return Unpacked(mantissa << shift, 1 - i32(shift));
  }
  return Unpacked(mantissa | 0x800000u, i32(field));
}

// IEEE binary32 a * b, round to nearest even. Any NaN result is QNAN.
fn mul_f32(a: u32, b: u32) -> u32 {
  let sign_bit = (a ^ b) & SIGN;
  let a_abs = a & ABS;
  let b_abs = b & ABS;
  if (a_abs > INF || b_abs > INF) {
    return QNAN;
  }
  if (a_abs == INF || b_abs == INF) {
    return select(sign_bit | INF, QNAN, a_abs == 0u || b_abs == 0u);
  }
  if (a_abs == 0u || b_abs == 0u) {
    return sign_bit;
  }
  let x = unpack_nonzero(a_abs);
  let y = unpack_nonzero(b_abs);
  // The 48-bit product of the significands as 16 high and 32 low bits: WGSL has no 64-bit
  // integers, so it is put together from 16-bit halves, each partial product fitting 32 bits.
  let x_high = x.mantissa >> 16u;
  let x_low = x.mantissa & 0xffffu;
  let y_high = y.mantissa >> 16u;
  let y_low = y.mantissa & 0xffffu;
  let low_low = x_low * y_low;
  let middle = x_high * y_low + x_low * y_high;
  let low = low_low + (middle << 16u);
  let high = x_high * y_high + (middle >> 16u) + flag(low < low_low);
  // The product is in [2^46, 2^48): bring its leading one to bit 26, the rest into the sticky bit.
  let carry = (high >> 15u) & 1u;
  let shift = 20u + carry;
  let m = (high << (32u - shift)) | (low >> shift) | flag((low & ((1u << shift) - 1u)) != 0u);
  return round_pack(sign_bit, x.exponent + y.exponent - 127 + i32(carry), m);
}

// IEEE binary32 a / b, round to nearest even. Any NaN result is QNAN; x / +-0 is +-Inf (x != 0).
fn div_f32(a: u32, b: u32) -> u32 {
  let sign_bit = (a ^ b) & SIGN;
  let a_abs = a & ABS;
  let b_abs = b & ABS;
  if (a_abs > INF || b_abs > INF || (a_abs == INF && b_abs == INF) || (a_abs == 0u && b_abs == 0u)) {
    return QNAN;
  }
  if (a_abs == INF || b_abs == 0u) {
    return sign_bit | INF;
  }
  if (a_abs == 0u || b_abs == INF) {
    return sign_bit;
  }
  let x = unpack_nonzero(a_abs);
  let y = unpack_nonzero(b_abs);
  // Both significands lie in [2^23, 2^24); doubling the dividend when it is the smaller puts the
  // quotient in [1, 2).
  let doubled = x.mantissa < y.mantissa;
  var remainder = select(x.mantissa, x.mantissa << 1u, doubled);
  // Long division, one quotient bit per step: 26 bits (the leading one at bit 25), then the sticky
  // bit below them is whether anything remains.
  var quotient = 0u;
  for (var step = 0u; step < 26u; step++) {
    quotient = quotient << 1u;
    if (remainder >= y.mantissa) {
      remainder -= y.mantissa;
      quotient |= 1u;
    }
    remainder = remainder << 1u;
  }
  let m = (quotient << 1u) | flag(remainder != 0u);
  return round_pack(sign_bit, x.exponent - y.exponent + 127 - i32(doubled), m);
}
`;
