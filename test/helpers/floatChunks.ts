import { expect } from "vitest";
import type { FloatDtype } from "../../src/core/dtypes.ts";
import type { FloatChunk } from "../../src/core/engine/mergeChunk.ts";
import { randomWords } from "./writeTestModel.ts";

/**
 * Bit patterns that a random draw rarely hits: signed zeros and infinities, NaNs, the edges of the
 * subnormal range, the largest finite values, exact ties of every output dtype (normal and F16
 * subnormal), and values that overflow a narrower output.
 */
const SPECIALS: Record<FloatDtype, number[]> = {
  F32: [
    0x00000000, 0x80000000, 0x7f800000, 0xff800000, 0x7fc00000, 0xffc00001, 0x7f800001, 0x00000001, 0x807fffff,
    0x7f7fffff, 0xff7fffff, 0x3f808000, 0x3f818000, 0xbf808000, 0x7f7f8000, 0x7f7f7fff, 0xff7f8000,
    0x3f801000, 0x3f803000, 0xbf801000, 0x477fe000, 0x477ff000, 0x477fefff, 0xc77ff000, 0x47800000,
    0x33000000, 0x33000001, 0xb3000000, 0x33c00000, 0x34200000, 0x387fc000, 0x387fe000, 0x387fffff, 0x38800000,
    0x38801000, 0x35000000, 0x3c000000, 0x3f800000, 0x3f800001,
  ],
  F16: [0x0000, 0x8000, 0x7c00, 0xfc00, 0x7e00, 0xfe01, 0x7c01, 0x0001, 0x8001, 0x03ff, 0x0400, 0x7bff, 0xfbff, 0x3c00, 0x3c01],
  BF16: [
    0x0000, 0x8000, 0x7f80, 0xff80, 0x7fc0, 0xffc1, 0x7f81, 0x0001, 0x807f, 0x7f7f, 0xff7f, 0x477f, 0x4780, 0x3380,
    0x33c0, 0x3400, 0x3f80, 0x3f81, 0x387f, 0x3880,
  ],
};

/** n elements of dtype: every third zero, the others specials and random bit patterns, interleaved. */
export function makeChunk(dtype: FloatDtype, n: number, seed: number, zeroPhase: number): FloatChunk {
  const words = randomWords(seed, n);
  const specials = SPECIALS[dtype];
  const bits = dtype === "F32" ? new Uint32Array(n) : new Uint16Array(n);
  for (let i = 0; i < n; i++) {
    if (i % 3 === zeroPhase) bits[i] = 0;
    else if (i % 2 === 0) bits[i] = specials[(i >> 1) % specials.length]!;
    else bits[i] = dtype === "F32" ? words[i]! : words[i]! >>> 16;
  }
  return { dtype, bytes: new Uint8Array(bits.buffer) };
}

export function expectSameBytes(got: Uint8Array, expected: Uint8Array, what: string): void {
  expect(got.byteLength, what).toBe(expected.byteLength);
  for (let i = 0; i < got.byteLength; i++) {
    if (got[i] !== expected[i]) expect.fail(`${what}: first difference at byte ${i}`);
  }
}

