import { DTYPE_BYTES, type FloatDtype } from "../dtypes.ts";
import type { MergeMethod, MergeParameters } from "../methods/MergeMethod.ts";
import { narrowFromFloat32Bits, viewFloatBits, widenToFloat32Bits, writableFloatBits } from "../numeric/floatBlocks.ts";
import { outputBytes } from "../numeric/wasm/createWasmMergeKernel.ts";

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
 * Merges one chunk of elements: widens the three inputs to float32 block by block, applies the
 * method, and rounds each result to `outDtype`. Returns the output bytes.
 */
export function mergeChunk(
  method: MergeMethod,
  parameters: MergeParameters,
  target: FloatChunk,
  plus: FloatChunk,
  minus: FloatChunk,
  outDtype: FloatDtype,
  into?: Uint8Array,
): Uint8Array {
  const t = viewFloatBits(target.dtype, target.bytes);
  const p = viewFloatBits(plus.dtype, plus.bytes);
  const m = viewFloatBits(minus.dtype, minus.bytes);
  const count = t.length;
  if (p.length !== count || m.length !== count) {
    throw new Error(`internal: chunk sizes differ (target ${count}, plus ${p.length}, minus ${m.length} elements)`);
  }
  const outBytes = outputBytes(count * DTYPE_BYTES[outDtype], into);
  const out = writableFloatBits(outDtype, outBytes);
  for (let start = 0; start < count; start += BLOCK) {
    const n = Math.min(BLOCK, count - start);
    widenToFloat32Bits(target.dtype, t, start, n, scratchBits.target);
    widenToFloat32Bits(plus.dtype, p, start, n, scratchBits.plus);
    widenToFloat32Bits(minus.dtype, m, start, n, scratchBits.minus);
    method.mergeBlock(scratch.target, scratch.plus, scratch.minus, scratch.out, n, parameters);
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
