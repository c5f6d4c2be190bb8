import { getFloat16, setFloat16 } from "@petamoriken/float16";
import type { FloatDtype } from "../../src/core/dtypes.ts";

/**
 * A second, deliberately plain implementation of the numeric contract for tests: DataView and the
 * @petamoriken/float16 library for conversions, and a nearest-value search for bfloat16, instead
 * of the engine's bit tricks.
 */
const view = new DataView(new ArrayBuffer(8));

export function decodeFloat(dtype: FloatDtype, bits: number): number {
  if (dtype === "F32") {
    view.setUint32(0, bits, true);
    return view.getFloat32(0, true);
  }
  if (dtype === "F16") {
    view.setUint16(0, bits, true);
    return getFloat16(view, 0, true);
  }
  view.setUint32(0, bits * 65536, true);
  return view.getFloat32(0, true);
}

/** Bits of `value` rounded to dtype, round-to-nearest-even; undefined for NaN (any NaN is accepted there). */
export function encodeFloat(dtype: FloatDtype, value: number): number | undefined {
  if (Number.isNaN(value)) return undefined;
  if (dtype === "F32") {
    view.setFloat32(0, value, true);
    return view.getUint32(0, true);
  }
  if (dtype === "F16") {
    setFloat16(view, 0, value, true);
    return view.getUint16(0, true);
  }
  return nearestBfloat16(value);
}

function nearestBfloat16(value: number): number {
  view.setFloat32(0, value, true);
  const bits = view.getUint32(0, true);
  const truncated = bits >>> 16;
  if (!Number.isFinite(value)) return truncated;
  const sign = truncated & 0x8000;
  const lower = truncated;
  const upper = truncated + 1;
  const lowerValue = decodeFloat("BF16", lower);
  // One step further from zero than the truncation; past the largest finite value that is Inf.
  const upperValue = (upper & 0x7fff) === 0x7f80 ? (sign ? -1 : 1) * 2 ** 128 : decodeFloat("BF16", upper);
  const below = Math.abs(value - lowerValue);
  const above = Math.abs(upperValue - value);
  if (below < above) return lower;
  if (above < below) return upper;
  return (lower & 1) === 0 ? lower : upper;
}

/** The contract, per element: widen, d = p - m, s = d * a, r = t + s in float32, round to the output dtype. */
export function referenceMerge(t: number, p: number, m: number, alpha: number): number {
  const a = Math.fround(alpha);
  const d = Math.fround(p - m);
  const s = Math.fround(d * a);
  return Math.fround(t + s);
}
