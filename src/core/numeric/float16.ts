/**
 * IEEE binary16 <-> binary32 conversions in integer arithmetic. Written here rather than taken
 * from a library because the merge runs them on every element: the widening is a table lookup,
 * the narrowing a few integer operations, and both must match the WGSL kernels bit for bit.
 */

/** Canonical quiet NaN written for any NaN result (sign and payload are not kept). */
export const F16_NAN = 0x7e00;

function float16BitsToFloat32Bits(h: number): number {
  const sign = (h & 0x8000) << 16;
  const exponent = (h >> 10) & 0x1f;
  const mantissa = h & 0x3ff;
  if (exponent === 0x1f) return (sign | 0x7f800000 | (mantissa << 13)) >>> 0;
  if (exponent !== 0) return (sign | ((exponent + 112) << 23) | (mantissa << 13)) >>> 0;
  if (mantissa === 0) return sign >>> 0;
  // Subnormal: normalise the mantissa into an implicit-one float32.
  let shift = 0;
  let m = mantissa;
  while ((m & 0x400) === 0) {
    m <<= 1;
    shift++;
  }
  return (sign | ((113 - shift) << 23) | ((m & 0x3ff) << 13)) >>> 0;
}

/** float32 bit patterns of all 65536 half values; exact, so a lookup widens without rounding. */
export const F16_TO_F32_BITS: Uint32Array = (() => {
  const table = new Uint32Array(65536);
  for (let h = 0; h < 65536; h++) table[h] = float16BitsToFloat32Bits(h);
  return table;
})();

/** Rounds float32 bits to binary16 bits, round-to-nearest-even; overflow gives ±Inf, NaN gives F16_NAN. */
export function float32BitsToFloat16Bits(bits: number): number {
  const sign = (bits >>> 16) & 0x8000;
  const abs = bits & 0x7fffffff;
  if (abs > 0x7f800000) return F16_NAN;
  // 65520 (0x477ff000) is halfway between 65504, the largest half, and 65536: it and above round to Inf.
  if (abs >= 0x477ff000) return sign | 0x7c00;
  if (abs >= 0x38800000) {
    // Normal half: rebias the exponent (127 - 15 = 112) and round away 13 mantissa bits to nearest even.
    return sign | ((abs - 0x38000000 + 0xfff + ((abs >>> 13) & 1)) >>> 13);
  }
  if (abs <= 0x33000000) return sign; // at most 2^-25, half the smallest subnormal: rounds to zero (ties to even).
  // Subnormal half: value / 2^-24 = mantissa * 2^(exponent - 126), rounded to nearest even.
  const shift = 126 - (abs >>> 23);
  const mantissa = (abs & 0x7fffff) | 0x800000;
  const quotient = mantissa >>> shift;
  const remainder = mantissa & ((1 << shift) - 1);
  const half = 1 << (shift - 1);
  return sign | (quotient + (remainder > half || (remainder === half && (quotient & 1) === 1) ? 1 : 0));
}
