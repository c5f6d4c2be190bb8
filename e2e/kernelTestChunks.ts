import { randomWords } from "../test/helpers/writeTestModel.ts";

export type KernelDtype = "BF16" | "F16" | "F32";
export const KERNEL_DTYPES: KernelDtype[] = ["BF16", "F16", "F32"];

const FORMAT: Record<KernelDtype, { exponentBits: number; mantissaBits: number }> = {
  F32: { exponentBits: 8, mantissaBits: 23 },
  BF16: { exponentBits: 8, mantissaBits: 7 },
  F16: { exponentBits: 5, mantissaBits: 10 },
};

/**
 * Bit patterns a random draw rarely hits: signed zeros and infinities, NaNs (quiet, signalling,
 * negative), the edges of the subnormal range, the largest finite values, exact ties of the
 * narrower output dtypes (normal and F16 subnormal), and values that overflow a narrower output.
 */
const SPECIALS: Record<KernelDtype, number[]> = {
  F32: [
    0x00000000, 0x80000000, 0x7f800000, 0xff800000, 0x7fc00000, 0xffc00001, 0x7f800001, 0x00000001, 0x807fffff, 0x00800000,
    0x7f7fffff, 0xff7fffff, 0x3f808000, 0x3f818000, 0xbf808000, 0x7f7f8000, 0x7f7f7fff, 0x3f801000, 0x3f803000, 0xbf801000,
    0x477fe000, 0x477ff000, 0x477fefff, 0xc77ff000, 0x47800000, 0x33000000, 0x33000001, 0xb3000000, 0x33c00000, 0x34200000,
    0x387fc000, 0x387fe000, 0x387fffff, 0x38800000,
  ],
  BF16: [0x0000, 0x8000, 0x7f80, 0xff80, 0x7fc0, 0xffc1, 0x7f81, 0x0001, 0x807f, 0x0080, 0x7f7f, 0xff7f, 0x477f, 0x4780, 0xc780, 0x3300, 0x3380, 0x33c0, 0x387f, 0x3880],
  F16: [0x0000, 0x8000, 0x7c00, 0xfc00, 0x7e00, 0xfe01, 0x7c01, 0x0001, 0x8001, 0x03ff, 0x0400, 0x7bff, 0xfbff, 0x3c04, 0x3c0c, 0xbc04, 0x3c01],
};

type Triple = [number, number, number];
type Family = (dtype: Record<"t" | "p" | "m", KernelDtype>, random: () => number) => Triple;

function compose(dtype: KernelDtype, sign: number, field: number, mantissa: number): number {
  const { exponentBits, mantissaBits } = FORMAT[dtype];
  return ((sign & 1) * 2 ** (exponentBits + mantissaBits) + (field << mantissaBits) + (mantissa & ((1 << mantissaBits) - 1))) >>> 0;
}
const maxField = (dtype: KernelDtype) => (1 << FORMAT[dtype].exponentBits) - 1;
const bias = (dtype: KernelDtype) => maxField(dtype) >> 1;
const randomBits = (dtype: KernelDtype, random: () => number) => (dtype === "F32" ? random() : random() >>> 16);
const finite = (dtype: KernelDtype, random: () => number) => compose(dtype, random(), 1 + (random() % (maxField(dtype) - 1)), random());

/**
 * Element families; element i of a chunk takes family i mod 8, so that every chunk has each. A
 * family makes an element's target, plus and minus together, for the arithmetic they exercise.
 */
const FAMILIES: Family[] = [
  // Any bits at all, NaN and Inf among them.
  (d, random) => [randomBits(d.t, random), randomBits(d.p, random), randomBits(d.m, random)],
  // A special target and plus == minus (zeros where their dtypes differ): the target itself meets
  // the output's rounding, or its NaN and Inf the arithmetic.
  (d, random) => {
    const same = d.m === d.p ? finite(d.p, random) : 0;
    const specials = SPECIALS[d.t];
    return [specials[random() % specials.length]!, same, same];
  },
  // Plus and minus of one exponent: cancellation, renormalisation, and a target of about the same size.
  (d, random) => {
    const shift = (random() % 9) - 4;
    const exponent = (dtype: KernelDtype) => Math.min(maxField(dtype) - 1, Math.max(1, bias(dtype) + shift));
    return [compose(d.t, random(), exponent(d.t) + (random() % 3), random()), compose(d.p, random(), exponent(d.p), random()), compose(d.m, random(), exponent(d.m), random())];
  },
  // Subnormals and the smallest normals: subnormal differences, products and sums.
  (d, random) => [compose(d.t, random(), random() % 3, random()), compose(d.p, random(), random() % 3, random()), compose(d.m, random(), random() % 3, random())],
  // The largest finite values and infinities: p - m and t + s overflow, as does the output.
  (d, random) => {
    const huge = (dtype: KernelDtype) => compose(dtype, random(), maxField(dtype) - 1 - (random() % 2), random());
    const infinity = random() % 8 === 0;
    return [huge(d.t), huge(d.p), infinity ? compose(d.m, random(), maxField(d.m), 0) : huge(d.m)];
  },
  // Signed zeros everywhere: the sign of d, s and r.
  (d, random) => {
    const bits = random();
    const zeroOrTiny = (dtype: KernelDtype, bit: number) => compose(dtype, bits >>> bit, 0, bits & (1 << (bit + 3)) ? 1 : 0);
    return [zeroOrTiny(d.t, 0), compose(d.p, bits >>> 1, 0, 0), compose(d.m, bits >>> 2, 0, 0)];
  },
  // t + (p - m) exactly halfway between two float32 values when alpha is +-1: p is half an ulp of t, m is zero.
  (d, random) => {
    const exponent = d.t === "F16" || d.p === "F16" ? random() % 12 : (random() % 40) - 20;
    const t = (1 + (random() % 2 ** 23) / 2 ** 23) * 2 ** exponent;
    return [fromNumber(d.t, (random() & 1 ? -1 : 1) * t), fromNumber(d.p, 2 ** (exponent - 24)), 0];
  },
  // Infinities, NaN, the largest finite values and zeros in any combination: Inf - Inf, Inf * 0 (alpha 0), -Inf + Inf.
  (d, random) => {
    const pick = (dtype: KernelDtype) => {
      const choice = random() % 7;
      if (choice < 2) return compose(dtype, choice, maxField(dtype), 0);
      if (choice < 4) return compose(dtype, choice, maxField(dtype) - 1, -1);
      if (choice === 4) return compose(dtype, 0, maxField(dtype), 1 << (FORMAT[dtype].mantissaBits - 1));
      return compose(dtype, choice, 0, 0);
    };
    return [pick(d.t), pick(d.p), pick(d.m)];
  },
];

/** The dtype's bits nearest `value` (truncated for BF16 and F16: any pattern near it will do). */
function fromNumber(dtype: KernelDtype, value: number): number {
  const bits = new Uint32Array(new Float32Array([value]).buffer)[0]!;
  if (dtype === "F32") return bits;
  if (dtype === "BF16") return bits >>> 16;
  const sign = (bits >>> 16) & 0x8000;
  const exponent = ((bits >>> 23) & 0xff) - 127;
  if (exponent < -24) return sign;
  if (exponent < -14) return sign | ((((bits & 0x7fffff) | 0x800000) >>> (-1 - exponent)) & 0x3ff);
  return sign | ((exponent + 15) << 10) | ((bits >>> 13) & 0x3ff);
}

function toBytes(dtype: KernelDtype, bits: number[]): Uint8Array {
  const array = dtype === "F32" ? Uint32Array.from(bits) : Uint16Array.from(bits);
  return new Uint8Array(array.buffer);
}

export interface KernelTestInputs {
  target: Uint8Array;
  plus: Uint8Array;
  minus: Uint8Array;
}

/** `count` elements of target, plus and minus in the given dtypes, every family of FAMILIES among them; the same seed gives the same bytes. */
export function makeKernelTestInputs(dtypes: Record<"t" | "p" | "m", KernelDtype>, count: number, seed: number, families: number[] = FAMILIES.map((_, index) => index)): KernelTestInputs {
  const words = randomWords(seed, count * 16);
  let next = 0;
  const random = () => words[next++ % words.length]!;
  const t: number[] = [];
  const p: number[] = [];
  const m: number[] = [];
  for (let i = 0; i < count; i++) {
    const [a, b, c] = FAMILIES[families[i % families.length]!]!(dtypes, random);
    t.push(a);
    p.push(b);
    m.push(c);
  }
  return { target: toBytes(dtypes.t, t), plus: toBytes(dtypes.p, p), minus: toBytes(dtypes.m, m) };
}

/** Indexes into FAMILIES of the ones that stress float32 rounding: random bits, cancellation, subnormals, huge values and ties. */
export const ROUNDING_FAMILIES = [0, 2, 3, 4, 6];
