import { describe, expect, it } from "vitest";
import { BF16_NAN, float32BitsToBfloat16Bits } from "../src/core/numeric/bfloat16.ts";
import { F16_NAN, F16_TO_F32_BITS, float32BitsToFloat16Bits } from "../src/core/numeric/float16.ts";
import { F32_NAN, narrowFromFloat32Bits, widenToFloat32Bits } from "../src/core/numeric/floatBlocks.ts";
import { decodeFloat, encodeFloat } from "./helpers/referenceNumerics.ts";
import { randomWords } from "./helpers/writeTestModel.ts";

const f32Bits = (value: number) => new Uint32Array(new Float32Array([value]).buffer)[0]!;

describe("float16", () => {
  it("widens all 65536 half values exactly", () => {
    for (let h = 0; h < 65536; h++) {
      const expected = decodeFloat("F16", h);
      const got = decodeFloat("F32", F16_TO_F32_BITS[h]!);
      if (Number.isNaN(expected)) expect(Number.isNaN(got)).toBe(true);
      else if (!Object.is(got, expected)) expect.fail(`half 0x${h.toString(16)}: got ${got}, expected ${expected}`);
    }
  });

  it("rounds 1M random float32 values to nearest even, as the float16 library does", () => {
    const words = randomWords(7, 1_000_000);
    for (const bits of words) {
      const expected = encodeFloat("F16", decodeFloat("F32", bits));
      const got = float32BitsToFloat16Bits(bits);
      if (expected === undefined) expect(got).toBe(F16_NAN);
      else if (got !== expected) expect.fail(`float32 0x${bits.toString(16)}: got 0x${got.toString(16)}, expected 0x${expected.toString(16)}`);
    }
  });

  it("breaks exact ties to even, in the normal and subnormal range, and overflows to Inf", () => {
    // 1 + 2^-11 lies halfway between 1 (0x3c00, even) and 1 + 2^-10 (0x3c01).
    expect(float32BitsToFloat16Bits(f32Bits(1 + 2 ** -11))).toBe(0x3c00);
    expect(float32BitsToFloat16Bits(f32Bits(1 + 3 * 2 ** -11))).toBe(0x3c02);
    // Halfway between subnormals 1 and 2 (units of 2^-24) goes to 2; between 0 and 1 goes to 0.
    expect(float32BitsToFloat16Bits(f32Bits(1.5 * 2 ** -24))).toBe(0x0002);
    expect(float32BitsToFloat16Bits(f32Bits(0.5 * 2 ** -24))).toBe(0x0000);
    expect(float32BitsToFloat16Bits(f32Bits(-0.5 * 2 ** -24))).toBe(0x8000);
    expect(float32BitsToFloat16Bits(f32Bits(0.75 * 2 ** -24))).toBe(0x0001);
    // The largest subnormal rounds up into the smallest normal.
    expect(float32BitsToFloat16Bits(f32Bits(2 ** -14 - 2 ** -26))).toBe(0x0400);
    expect(float32BitsToFloat16Bits(f32Bits(65504))).toBe(0x7bff);
    expect(float32BitsToFloat16Bits(f32Bits(65519.99))).toBe(0x7bff);
    expect(float32BitsToFloat16Bits(f32Bits(65520))).toBe(0x7c00);
    expect(float32BitsToFloat16Bits(f32Bits(-1e10))).toBe(0xfc00);
    expect(float32BitsToFloat16Bits(f32Bits(-Infinity))).toBe(0xfc00);
    expect(float32BitsToFloat16Bits(0xffc12345)).toBe(F16_NAN);
  });

  it("gives every half value back after widening", () => {
    for (let h = 0; h < 65536; h++) {
      if ((h & 0x7fff) > 0x7c00) continue;
      if (float32BitsToFloat16Bits(F16_TO_F32_BITS[h]!) !== h) expect.fail(`half 0x${h.toString(16)} does not round-trip`);
    }
  });
});

describe("bfloat16", () => {
  it("rounds 1M random float32 values to the nearest bfloat16, ties to even", () => {
    for (const bits of randomWords(11, 1_000_000)) {
      const expected = encodeFloat("BF16", decodeFloat("F32", bits));
      const got = float32BitsToBfloat16Bits(bits);
      if (expected === undefined) expect(got).toBe(BF16_NAN);
      else if (got !== expected) expect.fail(`float32 0x${bits.toString(16)}: got 0x${got.toString(16)}, expected 0x${expected.toString(16)}`);
    }
  });

  it("breaks exact ties to even and overflows to Inf", () => {
    expect(float32BitsToBfloat16Bits(0x3f808000)).toBe(0x3f80);
    expect(float32BitsToBfloat16Bits(0x3f818000)).toBe(0x3f82);
    expect(float32BitsToBfloat16Bits(0x3f808001)).toBe(0x3f81);
    expect(float32BitsToBfloat16Bits(0x7f7fffff)).toBe(0x7f80);
    expect(float32BitsToBfloat16Bits(0xff7f8000)).toBe(0xff80);
    expect(float32BitsToBfloat16Bits(0x00008000)).toBe(0x0000);
    expect(float32BitsToBfloat16Bits(0x80018000)).toBe(0x8002);
    expect(float32BitsToBfloat16Bits(0x7f800001)).toBe(BF16_NAN);
  });
});

describe("float32 blocks", () => {
  it("widen and narrow handle odd lengths, offsets and canonicalise NaN", () => {
    const src = new Uint16Array([0x3f80, 0xbf80, 0x7fc1, 0x0001, 0x8000]);
    const wide = new Uint32Array(3);
    widenToFloat32Bits("BF16", src, 2, 3, wide);
    expect([...wide]).toEqual([0x7fc10000, 0x00010000, 0x80000000]);
    const out = new Uint32Array(4);
    narrowFromFloat32Bits("F32", new Uint32Array([0xffc00001, 0x7f800000, 0x1]), 3, out, 1);
    expect([...out]).toEqual([0, F32_NAN, 0x7f800000, 0x1]);
  });
});
