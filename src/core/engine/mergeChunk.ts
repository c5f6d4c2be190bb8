import { DTYPE_BYTES, type FloatDtype } from "../dtypes.ts";
import { narrowFromFloat32Bits, viewFloatBits, widenToFloat32Bits, writableFloatBits } from "../numeric/floatBlocks.ts";
import { outputBytes } from "../numeric/wasm/wasmKernelModule.ts";

export interface FloatChunk {
  dtype: FloatDtype;
  bytes: Uint8Array;
}

/** Elements per block: four float32 scratch arrays of this size stay in the CPU's L1/L2 cache. */
const BLOCK = 4096;

/** Scratch blocks reused across calls; one set per thread, as JavaScript runs one call at a time. */
const scratch = {
  target: new Float32Array(BLOCK),
  plus: new Float32Array(BLOCK),
  minus: new Float32Array(BLOCK),
  out: new Float32Array(BLOCK),
};
const bitsOf = (array: Float32Array) => new Uint32Array(array.buffer);
const scratchBits = {
  target: bitsOf(scratch.target),
  plus: bitsOf(scratch.plus),
  minus: bitsOf(scratch.minus),
  out: bitsOf(scratch.out),
};

/**
 * One term of task arithmetic on one chunk, the numeric contract of design.md: per element
 * a = fl32(weight), d = fl32(p - m), s = fl32(d * a), r = fl32(t + s), rounded once to `outDtype`.
 * Each JavaScript double operation on float32 inputs followed by Math.fround (or a Float32Array
 * store) is exactly the float32 operation. The same bytes as mergeRecipeChunk for a recipe of one
 * task_arithmetic term without control or normalize; the wasm and WGSL kernels are tested against it.
 */
export function mergeChunk(weight: number, target: FloatChunk, plus: FloatChunk, minus: FloatChunk, outDtype: FloatDtype, into?: Uint8Array): Uint8Array {
  const t = viewFloatBits(target.dtype, target.bytes);
  const p = viewFloatBits(plus.dtype, plus.bytes);
  const m = viewFloatBits(minus.dtype, minus.bytes);
  const count = t.length;
  if (p.length !== count || m.length !== count) {
    throw new Error(`internal: chunk sizes differ (target ${count}, plus ${p.length}, minus ${m.length} elements)`);
  }
  const a = Math.fround(weight);
  const outBytes = outputBytes(count * DTYPE_BYTES[outDtype], into);
  const out = writableFloatBits(outDtype, outBytes);
  for (let start = 0; start < count; start += BLOCK) {
    const n = Math.min(BLOCK, count - start);
    widenToFloat32Bits(target.dtype, t, start, n, scratchBits.target);
    widenToFloat32Bits(plus.dtype, p, start, n, scratchBits.plus);
    widenToFloat32Bits(minus.dtype, m, start, n, scratchBits.minus);
    for (let i = 0; i < n; i++) scratch.out[i] = scratch.target[i]! + Math.fround(Math.fround(scratch.plus[i]! - scratch.minus[i]!) * a);
    narrowFromFloat32Bits(outDtype, scratchBits.out, n, out, start);
  }
  return outBytes;
}

/** Converts a chunk of float elements to another float dtype (widen, then round to nearest even). */
export function convertChunk(input: FloatChunk, outDtype: FloatDtype, into?: Uint8Array): Uint8Array {
  const bits = viewFloatBits(input.dtype, input.bytes);
  const outBytes = outputBytes(bits.length * DTYPE_BYTES[outDtype], into);
  const out = writableFloatBits(outDtype, outBytes);
  for (let start = 0; start < bits.length; start += BLOCK) {
    const n = Math.min(BLOCK, bits.length - start);
    widenToFloat32Bits(input.dtype, bits, start, n, scratchBits.target);
    narrowFromFloat32Bits(outDtype, scratchBits.target, n, out, start);
  }
  return outBytes;
}
