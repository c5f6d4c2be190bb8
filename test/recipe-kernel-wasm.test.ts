import { describe, expect, it } from "vitest";
import { DTYPE_BYTES, type FloatDtype } from "../src/core/dtypes.ts";
import type { FloatChunk } from "../src/core/engine/mergeChunk.ts";
import type { MagnitudeCut, MagnitudeStatistics } from "../src/core/recipe/magnitudeStatistics.ts";
import { mergeRecipeChunk } from "../src/core/recipe/mergeRecipeChunk.ts";
import { RECIPE_METHODS, type TensorRecipe } from "../src/core/recipe/TensorRecipe.ts";
import { createWasmMagnitudeCounter } from "../src/core/numeric/wasm/createWasmMagnitudeCounter.ts";
import { createWasmRecipeKernel, instantiateSharedMemoryRecipeKernel } from "../src/core/numeric/wasm/createWasmRecipeKernel.ts";
import { expectSameBytes } from "./helpers/floatChunks.ts";
import {
  bytesOf,
  chunkOf,
  makeTensor,
  mergeInChunks,
  recipe,
  RECIPE_CASES,
  recipeCaseTensors,
  type RecipeChunkMerger,
} from "./helpers/recipeCases.ts";
import { CANONICAL_NAN, referenceMerge, type Tensor, type TermInput } from "./helpers/recipeReference.ts";
import { decodeFloat, encodeFloat } from "./helpers/referenceNumerics.ts";

/*
 * The WebAssembly recipe kernel, own memory and shared memory, against the JavaScript reference
 * mergeRecipeChunk and the second implementation of ../shared/recipe-v2.md in
 * helpers/recipeReference.ts.
 */

const DTYPES: FloatDtype[] = ["BF16", "F16", "F32"];
const kernel = createWasmRecipeKernel();

/**
 * A shared memory whose chunks the shared-memory kernel reads in place: each copied to its own
 * place, 8 bytes apart, some at odd offsets. Like WasmChunkArena, it tells the kernel which arrays
 * lie in the memory by the buffers the memory handed out.
 */
function sharedMemoryKernel() {
  const memory = new WebAssembly.Memory({ initial: 1, maximum: 65536, shared: true });
  const generations = new WeakSet<ArrayBufferLike>([memory.buffer]);
  const shared = instantiateSharedMemoryRecipeKernel(memory, (bytes) => generations.has(bytes.buffer));
  if (!shared) throw new Error("this engine has no shared WebAssembly memory");
  let next = shared.dataStart;
  const place = (length: number, misalign: number): Uint8Array => {
    const start = next + misalign;
    next = start + length + 8;
    const needed = Math.ceil(next / 65536) - memory.buffer.byteLength / 65536;
    if (needed > 0) memory.grow(needed);
    generations.add(memory.buffer);
    return new Uint8Array(memory.buffer, start, length);
  };
  const copyIn = (chunk: FloatChunk, misalign: number): FloatChunk => {
    const bytes = place(chunk.bytes.byteLength, misalign);
    bytes.set(chunk.bytes);
    return { dtype: chunk.dtype, bytes };
  };
  /** mergeRecipeChunk with every input and the output in the memory. */
  const inPlace: RecipeChunkMerger = (recipe, stats, inputs, firstElement, outDtype) => {
    const count = inputs.target.bytes.byteLength / DTYPE_BYTES[inputs.target.dtype];
    const placed = {
      target: copyIn(inputs.target, 0),
      terms: inputs.terms.map((term, j) => ({ plus: copyIn(term.plus, j % 2), minus: copyIn(term.minus, 0) })),
    };
    const into = place(count * DTYPE_BYTES[outDtype], 0);
    const out = shared.mergeRecipeChunk(recipe, stats, placed, firstElement, outDtype, into);
    expect(out.buffer).toBe(into.buffer);
    expect(out.byteOffset).toBe(into.byteOffset);
    return out.slice();
  };
  return { shared, inPlace, place, generations };
}

const { shared, inPlace, place, generations } = sharedMemoryKernel();

const KERNELS: [string, RecipeChunkMerger][] = [
  ["wasm", kernel.mergeRecipeChunk],
  ["wasm, shared memory, in place", inPlace],
  ["wasm, shared memory, staged", shared.mergeRecipeChunk],
];

describe("wasm recipe kernel", () => {
  it.each(RECIPE_CASES.map((testCase, k) => [testCase.name, testCase, k] as const))("%s: the reference's bytes for every chunking", async (_, testCase, k) => {
    const { target, inputs, outDtype, expected, dtypes } = recipeCaseTensors(testCase, k);
    for (const chunk of [1, 7, 4096, testCase.n]) {
      for (const [name, merge] of KERNELS) {
        // The shared-memory paths once per case, on the whole tensor: they share the driver.
        if (name !== "wasm" && chunk !== testCase.n) continue;
        const what = `${testCase.name}, ${dtypes}, chunks of ${chunk}, ${name}`;
        expectSameBytes(await mergeInChunks(merge, testCase.recipe, target, inputs, outDtype, chunk), expected, what);
      }
    }
  });

  it("handles every dtype of target, plus, minus and output", async () => {
    const recipes = [
      recipe("dare_ties", [{ weight: 0.7, density: 0.6 }, { weight: -0.4, density: 0.3 }], { normalize: true, seed: 11, control: { kind: "random_sign", seed: 3 } }),
      recipe("breadcrumbs", [{ weight: 1.5, density: 0.5, gamma: 0.1 }]),
      recipe("task_arithmetic", [{ weight: -0.3 }]),
    ];
    let seed = 1;
    for (const tDtype of DTYPES) {
      for (const pDtype of DTYPES) {
        for (const mDtype of DTYPES) {
          const n = 67;
          const target = makeTensor(tDtype, n, seed++);
          const inputs = [0, 1].map(() => ({ plus: makeTensor(pDtype, n, seed++), minus: makeTensor(mDtype, n, seed++) }));
          for (const outDtype of DTYPES) {
            for (const r of recipes) {
              const termInputs = inputs.slice(0, r.terms.length);
              const expected = bytesOf(outDtype, referenceMerge(r, target, termInputs, outDtype));
              const what = `${r.method}: ${tDtype} + (${pDtype} - ${mDtype}) -> ${outDtype}`;
              expectSameBytes(await mergeInChunks(kernel.mergeRecipeChunk, r, target, termInputs, outDtype, 30), expected, what);
            }
          }
        }
      }
    }
  });

  it("merges hand-made vectors: NaN, -0, Inf, subnormals, equal magnitudes", async () => {
    // In float32: v = p - m per element; the target is 1 everywhere.
    const p = [3, -1, NaN, -3, 0, 1, -0, 2, Infinity, -Infinity, 1e-45, -1e-45, 2 ** -130, 5, 5, -5];
    const m = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 5, -5, -5];
    const f32 = (values: number[]): Tensor => ({ dtype: "F32", bits: values.map((x) => encodeFloat("F32", x) ?? CANONICAL_NAN.F32) });
    const target = f32(p.map(() => 1));
    const inputs: TermInput[] = [{ plus: f32(p), minus: f32(m) }, { plus: f32(p.map((x) => -x)), minus: f32(m) }];
    const merged = async (r: TensorRecipe, termCount: number) => {
      const bytes = await mergeInChunks(kernel.mergeRecipeChunk, r, target, inputs.slice(0, termCount), "F32", 5);
      expectSameBytes(bytes, await mergeInChunks(mergeRecipeChunk, r, target, inputs.slice(0, termCount), "F32", 5), `${r.method} ${termCount}`);
      return [...new Float32Array(bytes.buffer)];
    };
    // One term, weight 1: r = 1 + v; Inf - Inf never arises; 1 + 1e-45 rounds to 1.
    expect(await merged(recipe("task_arithmetic", [{}]), 1)).toEqual([4, 0, NaN, -2, 1, 2, 1, 3, Infinity, -Infinity, 1, 1, 1, 1, 11, 1]);
    // K = floor(0.25 * 16) = 4 of the order NaN(2), Inf(8), -Inf(9), 10(14): r = 1 + v there, but
    // the kept NaN has no sign, so the election leaves it out (r = t).
    expect(await merged(recipe("ties", [{ density: 0.25 }]), 1)).toEqual([1, 1, 1, 1, 1, 1, 1, 1, Infinity, -Infinity, 1, 1, 1, 1, 11, 1]);
    // The second term negates plus: where m = 0 the two s_j cancel, S = +-0 elects +1 (the
    // positive s_j is mixed, D = 1), S = NaN (Inf - Inf) elects -1; zeros and NaN are never included.
    const opposite = await merged(recipe("ties", [{}, {}], { normalize: true }), 2);
    expect(opposite).toEqual([4, 2, 1, 4, 1, 2, 1, 3, -Infinity, -Infinity, 1, 1, 1, -9, 11, 11]);
  });

  it("uses the index tie-break of the magnitude order past element 2^32", () => {
    // Hand-made statistics: numel 2^33, keep positions from the top `from` to the top `to`. Every
    // |v| is 1 or 2, so the cut patterns fall on them, and the tie indices decide within.
    const n = 4096 + 7;
    const one = encodeFloat("F32", 1)!;
    const two = encodeFloat("F32", 2)!;
    const values = Array.from({ length: n }, (_, i) => (i % 3 === 0 ? 2 : i % 2 ? -1 : 1));
    const chunk: FloatChunk = { dtype: "F32", bytes: bytesOf("F32", values.map((x) => encodeFloat("F32", x)!)) };
    const zeros: FloatChunk = { dtype: "F32", bytes: new Uint8Array(4 * n) };
    for (const firstElement of [2 ** 32 - 2000, 2 ** 32, 2 ** 40 + 3]) {
      const cut = (pattern: number, offset: number): MagnitudeCut => ({ pattern, lastTieIndex: firstElement + offset });
      const ranges = [
        { from: cut(two, 1000), to: cut(one, 3000) },
        { from: cut(0xffffffff, -1), to: cut(two, 2500) },
        { from: cut(one, -5), to: cut(0, n + 10) },
      ];
      for (const range of ranges) {
        const stats: MagnitudeStatistics = { numel: 2 ** 41, terms: [range] };
        const r = recipe("breadcrumbs", [{ weight: 1, density: 0.5 }]);
        const inputs = { target: zeros, terms: [{ plus: chunk, minus: zeros }] };
        const got = kernel.mergeRecipeChunk(r, stats, inputs, firstElement, "F32");
        expectSameBytes(got, mergeRecipeChunk(r, stats, inputs, firstElement, "F32"), `range ${JSON.stringify(range)} at ${firstElement}`);
        // Independently: kept when in the top `to` and not in the top `from` (by |v|, ties by index).
        const inTop = (c: MagnitudeCut, bits: number, e: number) => bits > c.pattern || (bits === c.pattern && e <= c.lastTieIndex);
        const expected = values.map((x, i) => {
          const bits = encodeFloat("F32", Math.abs(x))!;
          const e = firstElement + i;
          return inTop(range.to, bits, e) && !inTop(range.from, bits, e) ? x : 0;
        });
        expect([...new Float32Array(got.buffer)]).toEqual(expected);
      }
    }
  });

  it("hashes element indices past 2^32 (DARE and the control)", () => {
    const n = 3000;
    const r = recipe("dare_ties", [{ weight: 0.5, density: 0.4 }, { weight: -0.8, density: 0.7 }], { seed: 77, control: { kind: "random_sign", seed: 5 } });
    const target = makeTensor("BF16", n, 1);
    const inputs = [0, 1].map((j) => ({ plus: makeTensor("BF16", n, 10 + j), minus: makeTensor("F16", n, 20 + j) }));
    // From just below 2^32 (the low word wraps inside a block) to far above it.
    for (const firstElement of [2 ** 32 - 1001, 2 ** 32 + 5, 2 ** 45 - 3, 2 ** 53 - n]) {
      const expected = bytesOf("F16", referenceMerge(r, target, inputs, "F16", firstElement));
      const chunkInputs = { target: chunkOf(target, 0, n), terms: inputs.map((input) => ({ plus: chunkOf(input.plus, 0, n), minus: chunkOf(input.minus, 0, n) })) };
      for (const [name, merge] of KERNELS) {
        expectSameBytes(merge(r, undefined, chunkInputs, firstElement, "F16"), expected, `${name} at ${firstElement}`);
      }
    }
  });

  it("mixes 9 terms (more than the kernel keeps at once) for every method", async () => {
    const n = 1100;
    const terms = Array.from({ length: 9 }, (_, j) => ({ weight: (j % 2 ? -1 : 1) * (0.2 + 0.1 * j), density: 0.3 + 0.07 * j, gamma: 0.02 * j }));
    const target = makeTensor("F32", n, 5);
    const inputs = terms.map((_, j) => ({ plus: makeTensor(j % 2 ? "BF16" : "F16", n, 100 + j), minus: makeTensor("BF16", n, 200 + j) }));
    for (const method of RECIPE_METHODS) {
      const r = recipe(method, terms, { normalize: true, seed: 9, control: { kind: "random_sign", seed: 1 } });
      const expected = bytesOf("BF16", referenceMerge(r, target, inputs, "BF16"));
      for (const [name, merge] of KERNELS) expectSameBytes(await mergeInChunks(merge, r, target, inputs, "BF16", 500), expected, `${method}, ${name}`);
    }
  });

  it("merges one-term task arithmetic (today's merge loop) over several stages, a tail, in place or not", () => {
    const n = 2 * 16384 + 13;
    const r = recipe("task_arithmetic", [{ weight: 0.7 }]);
    for (const [dtype, outDtype] of [["BF16", "BF16"], ["F16", "F32"]] as const) {
      const target = makeTensor(dtype, n, 1);
      const input = { plus: makeTensor(dtype, n, 2), minus: makeTensor("BF16", n, 3) };
      const chunks = { target: chunkOf(target, 0, n), terms: [{ plus: chunkOf(input.plus, 0, n), minus: chunkOf(input.minus, 0, n) }] };
      const expected = bytesOf(outDtype, referenceMerge(r, target, [input], outDtype));
      for (const [name, merge] of KERNELS) expectSameBytes(merge(r, undefined, chunks, 5, outDtype), expected, `${dtype} -> ${outDtype}, ${name}`);
    }
  });

  it("writes into a reused buffer, and copes with unaligned chunks", () => {
    const n = 1001;
    const r = recipe("dare_linear", [{ weight: 0.3, density: 0.5 }], { rescale: false, seed: 4 });
    const target = makeTensor("F16", n, 1);
    const input = { plus: makeTensor("F32", n, 2), minus: makeTensor("BF16", n, 3) };
    const unaligned = new Uint8Array(4 * n + 1);
    unaligned.set(chunkOf(input.plus, 0, n).bytes, 1);
    const chunks = { target: chunkOf(target, 0, n), terms: [{ plus: { dtype: "F32" as const, bytes: unaligned.subarray(1) }, minus: chunkOf(input.minus, 0, n) }] };
    const into = new Uint8Array(2 * n + 10);
    const out = kernel.mergeRecipeChunk(r, undefined, chunks, 0, "BF16", into);
    expect(out.buffer).toBe(into.buffer);
    expectSameBytes(out, bytesOf("BF16", referenceMerge(r, target, [input], "BF16")), "into a reused buffer");
  });

  it("reads in place the arrays that liesInMemory names", () => {
    // A chunk in the memory and a twin outside it at the same byte offset, with other values: the
    // kernel told that the twin lies in the memory reads the memory's bytes, so it merges the chunk.
    const n = 4096 + 12;
    const r = recipe("dare_ties", [{ weight: 0.4, density: 0.5 }, { weight: 0.6, density: 0.5 }], { seed: 2 });
    const [target, plus, other] = [makeTensor("BF16", n, 1), makeTensor("BF16", n, 2), makeTensor("BF16", n, 3)];
    const inMemory = place(2 * n, 0);
    inMemory.set(chunkOf(plus, 0, n).bytes);
    const twin = new Uint8Array(new ArrayBuffer(inMemory.byteOffset + 2 * n), inMemory.byteOffset, 2 * n);
    twin.set(chunkOf(other, 0, n).bytes);
    generations.add(twin.buffer);
    const into = place(2 * n, 0);
    const term = { plus: { dtype: "BF16" as const, bytes: twin }, minus: chunkOf(target, 0, n) };
    const out = shared.mergeRecipeChunk(r, undefined, { target: chunkOf(target, 0, n), terms: [term, term] }, 0, "BF16", into);
    expect(out.byteOffset).toBe(into.byteOffset);
    const termInput = { plus, minus: target };
    expectSameBytes(out, bytesOf("BF16", referenceMerge(r, target, [termInput, termInput], "BF16")), "read in place");
  });

  it("counts the magnitude order keys of plus - minus for the statistics pass, and finds ties by index", () => {
    // The contract's order by hand: |v|'s float32 bits (sign cleared, -0 = +0), every NaN above +Inf.
    const f32 = new Float32Array(1);
    const bits = new Uint32Array(f32.buffer);
    const orderKey = (p: number, m: number) => {
      f32[0] = p - m;
      return Number.isNaN(f32[0]) ? 0x7f800001 : bits[0]! & 0x7fffffff;
    };
    const counts = (values: number[]) => {
      const tally = new Map<number, number>();
      for (const value of values) tally.set(value, (tally.get(value) ?? 0) + 1);
      return tally;
    };
    const nonZero = (histogram: Uint32Array) => new Map([...histogram].map((count, bin) => [bin, count] as const).filter(([, count]) => count > 0));
    const counter = createWasmMagnitudeCounter(2)!;
    // Past the counter's staging (16384 elements) and its blocks (4096), with a tail.
    const n = 16384 + 4096 + 11;
    for (const [pDtype, mDtype] of [["BF16", "F16"], ["F32", "F32"], ["F16", "BF16"], ["BF16", "BF16"]] as const) {
      const [plus, minus] = [makeTensor(pDtype, n, 7), makeTensor(mDtype, n, 8)];
      const [plusChunk, minusChunk] = [chunkOf(plus, 0, n), chunkOf(minus, 0, n)];
      const keys = plus.bits.map((p, e) => orderKey(decodeFloat(pDtype, p), decodeFloat(mDtype, minus.bits[e]!)));
      for (const [start, count] of [[0, n], [3, 16385], [n - 5, 5]] as const) {
        const name = `${pDtype} - ${mDtype}, ${start} + ${count}`;
        const range = [...keys.slice(start, start + count)];
        counter.histograms.forEach((histogram) => histogram.fill(0));
        counter.countHigh(plusChunk, minusChunk, start, count, 1);
        expect(nonZero(counter.histograms[1]!), name).toEqual(counts(range.map((key) => key >>> 16)));
        const highBin = range[range.length - 1]! >>> 16;
        counter.countLow(plusChunk, minusChunk, start, count, highBin, 0);
        expect(nonZero(counter.histograms[0]!), name).toEqual(counts(range.filter((key) => key >>> 16 === highBin).map((key) => key & 0xffff)));
        // The most frequent key: many elements of equal magnitude.
        const [pattern] = [...counts(range)].reduce((most, entry) => (entry[1] > most[1] ? entry : most));
        const ties = range.flatMap((key, i) => (key === pattern ? [i] : []));
        for (const need of new Set([1, 2, ties.length >> 1, ties.length - 1, ties.length].filter((need) => need >= 1 && need <= ties.length))) {
          expect(counter.findTie(plusChunk, minusChunk, start, count, pattern, need), `${name}, tie ${need} of ${ties.length}`).toBe(ties[need - 1]);
        }
        expect(counter.findTie(plusChunk, minusChunk, start, count, pattern, ties.length + 1), name).toBe(-1 - ties.length);
      }
    }
  });

  it("refuses what mergeRecipeChunk refuses, with its messages", () => {
    const chunk: FloatChunk = { dtype: "F32", bytes: new Uint8Array(40) };
    const ties = recipe("ties", [{ density: 0.5 }]);
    for (const [name, merge] of KERNELS) {
      expect(() => merge(ties, undefined, { target: chunk, terms: [{ plus: chunk, minus: chunk }] }, 0, "F32"), name).toThrow(/magnitude statistics missing/);
      const short: FloatChunk = { dtype: "F32", bytes: new Uint8Array(36) };
      expect(() => merge(recipe("task_arithmetic", [{}]), undefined, { target: chunk, terms: [{ plus: chunk, minus: short }] }, 0, "F32"), name).toThrow(
        /chunk sizes differ \(target 10, plus 10, minus 9 elements\)/,
      );
    }
  });

});
