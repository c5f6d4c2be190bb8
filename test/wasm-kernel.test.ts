import { readFile } from "node:fs/promises";
import { describe, expect, it } from "vitest";
import { MODULE_PATH, renderMergeKernelModule } from "../scripts/build-wasm.ts";
import type { FloatDtype } from "../src/core/dtypes.ts";
import { convertChunk, mergeChunk, type FloatChunk } from "../src/core/engine/mergeChunk.ts";
import { createWasmRecipeKernel } from "../src/core/numeric/wasm/createWasmRecipeKernel.ts";
import { mergeKernelWasmBytes } from "../src/core/numeric/wasm/wasmKernelModule.ts";
import type { TensorRecipe } from "../src/core/recipe/TensorRecipe.ts";
import { expectSameBytes, makeChunk } from "./helpers/floatChunks.ts";
import { randomWords } from "./helpers/writeTestModel.ts";

const DTYPES: FloatDtype[] = ["BF16", "F16", "F32"];
const ALPHAS = [1, -1, 0.3, 1e-3, 0.5];
const LENGTHS = [0, 1, 7, 8, 9, 4097];

const kernel = createWasmRecipeKernel();

const jsMerge = (alpha: number, t: FloatChunk, p: FloatChunk, m: FloatChunk, out: FloatDtype) =>
  mergeChunk(alpha, t, p, m, out);

/** The kernel's one-term task arithmetic (its merge loop), as computeChunkHere runs it. */
const wasmMerge = (alpha: number, t: FloatChunk, p: FloatChunk, m: FloatChunk, out: FloatDtype) => {
  const oneTerm: TensorRecipe = {
    tensorName: "model.layers.0.mlp.up_proj.weight",
    method: "task_arithmetic",
    terms: [{ index: 0, weight: alpha, density: 1, gamma: 0.01 }],
    normalize: false,
    rescale: true,
    seed: 0,
  };
  return kernel.mergeRecipeChunk(oneTerm, undefined, { target: t, terms: [{ plus: p, minus: m }] }, 0, out);
};

describe("wasm kernel, one-term task arithmetic", () => {
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
                expectSameBytes(wasmMerge(alpha, t, p, m, outDtype), jsMerge(alpha, t, p, m, outDtype), what);
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
          wasmMerge(0.3, t, pUnaligned, m, outDtype),
          jsMerge(0.3, t, p, m, outDtype),
          `${dtype} -> ${outDtype}, n = ${n}`,
        );
      }
    }
  });

  it("rejects chunks of different lengths, as mergeChunk does", () => {
    const t = makeChunk("BF16", 8, 1, 0);
    const p = makeChunk("BF16", 9, 2, 0);
    expect(() => wasmMerge(1, t, p, t, "BF16")).toThrow(/chunk sizes differ/);
  });
});

describe("wasm convert kernel", () => {
  it("converts every dtype pair and length to the same bytes as convertChunk", () => {
    let seed = 100;
    for (const inDtype of DTYPES) {
      for (const n of LENGTHS) {
        const input = makeChunk(inDtype, n, seed++, 2);
        for (const outDtype of DTYPES) {
          expectSameBytes(kernel.convertChunk(input, outDtype), convertChunk(input, outDtype), `${inDtype} -> ${outDtype}, n = ${n}`);
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
        expectSameBytes(kernel.convertChunk(input, outDtype), convertChunk(input, outDtype), `${input.dtype} -> ${outDtype}`);
      }
    }
  });

  it("rounds every F16 subnormal tie and its neighbours to nearest even", () => {
    // k * 2^-25 for every k up to 2^-14: odd k are exact ties between F16 subnormals.
    const bits = new Uint32Array(new Float32Array(2049).map((_, k) => k * 2 ** -25).buffer);
    const nudged = new Uint32Array(Array.from(bits, (b) => (b === 0 ? [b] : [b - 1, b, b + 1])).flat());
    const input: FloatChunk = { dtype: "F32", bytes: new Uint8Array(nudged.buffer) };
    expectSameBytes(kernel.convertChunk(input, "F16"), convertChunk(input, "F16"), "F32 -> F16 subnormals");
  });
});

describe("generated mergeKernelWasm.ts", () => {
  it("is what scripts/build-wasm.ts makes of mergeKernel.wat now (run npm run build:wasm)", async () => {
    expect(await readFile(MODULE_PATH, "utf8")).toBe(await renderMergeKernelModule());
  });
});
