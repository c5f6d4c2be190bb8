import { readFile } from "node:fs/promises";
import { describe, expect, it } from "vitest";
import { MODULE_PATH, renderMergeKernelModule } from "../scripts/build-wasm.ts";
import type { FloatDtype } from "../src/core/dtypes.ts";
import { convertChunk, mergeChunk, type FloatChunk } from "../src/core/engine/mergeChunk.ts";
import { taskArithmetic } from "../src/core/methods/taskArithmetic.ts";
import { createWasmMergeKernel, mergeKernelWasmBytes } from "../src/core/numeric/wasm/createWasmMergeKernel.ts";
import { randomWords } from "./helpers/writeTestModel.ts";

const DTYPES: FloatDtype[] = ["BF16", "F16", "F32"];
const ALPHAS = [1, -1, 0.3, 1e-3, 0.5];
const LENGTHS = [0, 1, 7, 8, 9, 4097];

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
function makeChunk(dtype: FloatDtype, n: number, seed: number, zeroPhase: number): FloatChunk {
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

const kernel = createWasmMergeKernel();

function expectSameBytes(got: Uint8Array, expected: Uint8Array, what: string): void {
  expect(got.byteLength, what).toBe(expected.byteLength);
  for (let i = 0; i < got.byteLength; i++) {
    if (got[i] !== expected[i]) expect.fail(`${what}: first difference at byte ${i}`);
  }
}

const jsMerge = (alpha: number, t: FloatChunk, p: FloatChunk, m: FloatChunk, out: FloatDtype) =>
  mergeChunk(taskArithmetic, { alpha }, t, p, m, out);

describe("wasm merge kernel", () => {
  it("validates in this engine (WebAssembly SIMD)", () => {
    expect(WebAssembly.validate(mergeKernelWasmBytes())).toBe(true);
  });

  it("merges every dtype combination, alpha and length to the same bytes as mergeChunk", () => {
    let seed = 1;
    for (const tDtype of DTYPES) {
      for (const pDtype of DTYPES) {
        for (const mDtype of DTYPES) {
          for (const n of LENGTHS) {
            // Plus and minus are both zero at every third element, where the result is the target
            // itself: its ties and out-of-range values then reach the rounding of the output.
            const t = makeChunk(tDtype, n, seed++, 1);
            const p = makeChunk(pDtype, n, seed++, 0);
            const m = makeChunk(mDtype, n, seed++, 0);
            for (const alpha of ALPHAS) {
              for (const outDtype of DTYPES) {
                const what = `${tDtype} + ${alpha} * (${pDtype} - ${mDtype}) -> ${outDtype}, n = ${n}`;
                expectSameBytes(kernel.mergeChunkWasm(alpha, t, p, m, outDtype), jsMerge(alpha, t, p, m, outDtype), what);
              }
            }
          }
        }
      }
    }
  });

  it("merges chunks longer than one stage, from unaligned bytes", () => {
    const n = 3 * 16384 + 5;
    for (const dtype of DTYPES) {
      const t = makeChunk(dtype, n, 11, 1);
      const p = makeChunk(dtype, n, 12, 0);
      const m = makeChunk(dtype, n, 13, 0);
      const unaligned = new Uint8Array(p.bytes.byteLength + 1);
      unaligned.set(p.bytes, 1);
      const pUnaligned = { dtype, bytes: unaligned.subarray(1) };
      for (const outDtype of DTYPES) {
        expectSameBytes(
          kernel.mergeChunkWasm(0.3, t, pUnaligned, m, outDtype),
          jsMerge(0.3, t, p, m, outDtype),
          `${dtype} -> ${outDtype}, n = ${n}`,
        );
      }
    }
  });

  it("rejects chunks of different lengths, as mergeChunk does", () => {
    const t = makeChunk("BF16", 8, 1, 0);
    const p = makeChunk("BF16", 9, 2, 0);
    expect(() => kernel.mergeChunkWasm(1, t, p, t, "BF16")).toThrow(/chunk sizes differ/);
  });
});

describe("wasm convert kernel", () => {
  it("converts every dtype pair and length to the same bytes as convertChunk", () => {
    let seed = 100;
    for (const inDtype of DTYPES) {
      for (const n of LENGTHS) {
        const input = makeChunk(inDtype, n, seed++, 2);
        for (const outDtype of DTYPES) {
          expectSameBytes(kernel.convertChunkWasm(input, outDtype), convertChunk(input, outDtype), `${inDtype} -> ${outDtype}, n = ${n}`);
        }
      }
    }
  });

  it("converts all 65536 BF16 and F16 patterns and 1M random F32 patterns as convertChunk does", () => {
    const all16 = new Uint16Array(65536).map((_, i) => i);
    const inputs: FloatChunk[] = [
      { dtype: "BF16", bytes: new Uint8Array(all16.buffer) },
      { dtype: "F16", bytes: new Uint8Array(all16.buffer) },
      { dtype: "F32", bytes: new Uint8Array(randomWords(5, 1_000_000).buffer) },
    ];
    for (const input of inputs) {
      for (const outDtype of DTYPES) {
        expectSameBytes(kernel.convertChunkWasm(input, outDtype), convertChunk(input, outDtype), `${input.dtype} -> ${outDtype}`);
      }
    }
  });

  it("rounds every F16 subnormal tie and its neighbours to nearest even", () => {
    // k * 2^-25 for every k up to 2^-14: odd k are exact ties between F16 subnormals.
    const bits = new Uint32Array(new Float32Array(2049).map((_, k) => k * 2 ** -25).buffer);
    const nudged = new Uint32Array(Array.from(bits, (b) => (b === 0 ? [b] : [b - 1, b, b + 1])).flat());
    const input: FloatChunk = { dtype: "F32", bytes: new Uint8Array(nudged.buffer) };
    expectSameBytes(kernel.convertChunkWasm(input, "F16"), convertChunk(input, "F16"), "F32 -> F16 subnormals");
  });
});

describe("generated mergeKernelWasm.ts", () => {
  it("is what scripts/build-wasm.ts makes of mergeKernel.wat now (run npm run build:wasm)", async () => {
    expect(await readFile(MODULE_PATH, "utf8")).toBe(await renderMergeKernelModule());
  });
});
