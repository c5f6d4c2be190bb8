import type { FloatDtype } from "../dtypes.ts";
import { float32BitsToBfloat16Bits } from "./bfloat16.ts";
import { F16_TO_F32_BITS, float32BitsToFloat16Bits } from "./float16.ts";

/** Raw element bits of a float tensor chunk: 16-bit words for BF16/F16, 32-bit words for F32. */
export type FloatBits = Uint16Array | Uint32Array;

/** Canonical quiet NaN for float32 results. */
export const F32_NAN = 0x7fc00000;

if (new Uint8Array(new Uint16Array([1]).buffer)[0] !== 1) {
  throw new Error("Merge Studio needs a little-endian platform: safetensors data is little-endian");
}

/** Views little-endian bytes as element bits, copying only when the bytes are not aligned. */
export function viewFloatBits(dtype: FloatDtype, bytes: Uint8Array): FloatBits {
  const width = dtype === "F32" ? 4 : 2;
  const aligned = bytes.byteOffset % width === 0 ? bytes : bytes.slice();
  const count = aligned.byteLength / width;
  return width === 4
    ? new Uint32Array(aligned.buffer, aligned.byteOffset, count)
    : new Uint16Array(aligned.buffer, aligned.byteOffset, count);
}

/** Views output bytes as element bits for writing; the bytes must be aligned to the element width. */
export function writableFloatBits(dtype: FloatDtype, bytes: Uint8Array): FloatBits {
  return dtype === "F32"
    ? new Uint32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4)
    : new Uint16Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 2);
}

/** Widens src[start .. start+count) to float32 bits in dst[0 .. count). Exact for every input dtype. */
export function widenToFloat32Bits(dtype: FloatDtype, src: FloatBits, start: number, count: number, dst: Uint32Array): void {
  if (dtype === "F32") {
    dst.set(src.subarray(start, start + count));
  } else if (dtype === "BF16") {
    for (let i = 0; i < count; i++) dst[i] = src[start + i]! << 16;
  } else {
    for (let i = 0; i < count; i++) dst[i] = F16_TO_F32_BITS[src[start + i]!]!;
  }
}

/** Rounds float32 bits src[0 .. count) into dst[start ..) with round-to-nearest-even; NaN becomes the canonical NaN. */
export function narrowFromFloat32Bits(dtype: FloatDtype, src: Uint32Array, count: number, dst: FloatBits, start: number): void {
  if (dtype === "BF16") {
    for (let i = 0; i < count; i++) dst[start + i] = float32BitsToBfloat16Bits(src[i]!);
  } else if (dtype === "F16") {
    for (let i = 0; i < count; i++) {
      const bits = src[i]!;
      const abs = bits & 0x7fffffff;
      // The common case, a normal half, inline; float32BitsToFloat16Bits handles the rest.
      dst[start + i] =
        abs >= 0x38800000 && abs < 0x477ff000
          ? ((bits >>> 16) & 0x8000) | ((abs - 0x38000000 + 0xfff + ((abs >>> 13) & 1)) >>> 13)
          : float32BitsToFloat16Bits(bits);
    }
  } else {
    for (let i = 0; i < count; i++) {
      const bits = src[i]!;
      dst[start + i] = (bits & 0x7fffffff) > 0x7f800000 ? F32_NAN : bits;
    }
  }
}
