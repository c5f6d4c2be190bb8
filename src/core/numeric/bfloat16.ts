/** Canonical quiet NaN written for any NaN result (sign and payload are not kept). */
export const BF16_NAN = 0x7fc0;

/** Rounds float32 bits to bfloat16 bits, round-to-nearest-even; overflow gives ±Inf, NaN gives BF16_NAN. */
export function float32BitsToBfloat16Bits(bits: number): number {
  if ((bits & 0x7fffffff) > 0x7f800000) return BF16_NAN;
  return (bits + 0x7fff + ((bits >>> 16) & 1)) >>> 16;
}
