import type { FloatDtype } from "../src/core/dtypes.ts";
import { convertChunk, mergeChunk, type FloatChunk } from "../src/core/engine/mergeChunk.ts";
import { DTYPE_CODE } from "../src/core/numeric/wasm/wasmKernelModule.ts";
import { createWasmRecipeKernel, instantiateSharedMemoryRecipeKernel } from "../src/core/numeric/wasm/createWasmRecipeKernel.ts";
import type { TensorRecipe } from "../src/core/recipe/TensorRecipe.ts";

/**
 * Merge arithmetic throughput (npm run bench:kernel): the JavaScript mergeChunk against the
 * WebAssembly SIMD recipe kernel (mergeRecipeChunk of a one-term task_arithmetic recipe, the same
 * bytes) on 4 M-element chunks, one thread, best CPU time of several runs taken in turns, because
 * other jobs share the machine. The recipe kernel is timed with its own memory (chunks copied in
 * and out, as computeChunkHere runs it) and in place in a shared memory (as WasmChunkArena runs
 * it), there against the module's raw merge entry point called on the chunks where they lie (the
 * floor of its driver's overhead).
 */

const ELEMENTS = 4 * 2 ** 20;
const RUNS = 11;
const ALPHA = 0.7;

/** Weight-like values (normal floats around +-0.05) stored as dtype. */
function weights(dtype: FloatDtype): FloatChunk {
  const values = Float32Array.from({ length: ELEMENTS }, () => (Math.random() - 0.5) * 0.1);
  return { dtype, bytes: convertChunk({ dtype: "F32", bytes: new Uint8Array(values.buffer) }, dtype) };
}

/** CPU seconds of this process (user + system): steadier than wall time on a machine shared with other jobs. */
function cpuSeconds(): number {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1e6;
}

/** Each runner's best CPU time, the runners taking turns so that a busy spell of the machine hits them alike. */
function bestSeconds(runners: (() => Uint8Array)[]): number[] {
  const best = runners.map(() => Infinity);
  for (let i = 0; i < RUNS; i++) {
    runners.forEach((run, k) => {
      const start = cpuSeconds();
      run();
      best[k] = Math.min(best[k]!, cpuSeconds() - start);
    });
  }
  return best;
}

const recipeKernel = createWasmRecipeKernel();
const oneTerm: TensorRecipe = {
  tensorName: "model.layers.0.mlp.up_proj.weight",
  method: "task_arithmetic",
  terms: [{ index: 0, weight: ALPHA, density: 1, gamma: 0.01 }],
  normalize: false,
  rescale: true,
  seed: 0,
};

const memory = new WebAssembly.Memory({ initial: 1, maximum: 65536, shared: true });
const shared = instantiateSharedMemoryRecipeKernel(memory, (bytes) => bytes.buffer === memory.buffer);
if (!shared) throw new Error("bench:kernel needs WebAssembly SIMD and shared memories");
// Room for the three inputs and the output of the widest dtype, grown once: memory.buffer stays the same.
memory.grow(Math.ceil((shared.dataStart + 4 * ELEMENTS * 4) / 65536) - 1);
const inMemory = (chunk: FloatChunk, slot: number): FloatChunk => {
  const bytes = new Uint8Array(memory.buffer, shared.dataStart + slot * ELEMENTS * 4, chunk.bytes.byteLength);
  bytes.set(chunk.bytes);
  return { dtype: chunk.dtype, bytes };
};

const rate = (seconds: number) => (ELEMENTS / seconds / 1e6).toFixed(0).padStart(6);
process.stdout.write(`${ELEMENTS} elements per chunk, best of ${RUNS} runs, M elements/s\n`);
process.stdout.write("                    own memory                |  in place, shared memory\n");
process.stdout.write("dtype            JS    wasm recipe  speed-up  |  raw merge  wasm recipe  recipe / merge\n");
for (const dtype of ["BF16", "F16", "F32"] as const) {
  const [t, p, m] = [weights(dtype), weights(dtype), weights(dtype)] as const;
  const [tShared, pShared, mShared] = [inMemory(t, 0), inMemory(p, 1), inMemory(m, 2)];
  const into = new Uint8Array(memory.buffer, shared.dataStart + 3 * ELEMENTS * 4, t.bytes.byteLength);
  const code = DTYPE_CODE[dtype];
  const [js, recipe, wasmInPlace, recipeInPlace] = bestSeconds([
    () => mergeChunk(ALPHA, t, p, m, dtype),
    () => recipeKernel.mergeRecipeChunk(oneTerm, undefined, { target: t, terms: [{ plus: p, minus: m }] }, 0, dtype),
    () => {
      const offset = (chunk: FloatChunk) => chunk.bytes.byteOffset;
      shared.merge(code, offset(tShared), code, offset(pShared), code, offset(mShared), code, into.byteOffset, ELEMENTS, ALPHA);
      return into;
    },
    () => shared.mergeRecipeChunk(oneTerm, undefined, { target: tShared, terms: [{ plus: pShared, minus: mShared }] }, 0, dtype, into),
  ]) as [number, number, number, number];
  process.stdout.write(
    `${`${dtype} -> ${dtype}`.padEnd(12)} ${rate(js)}       ${rate(recipe)}  ${(js / recipe).toFixed(1).padStart(7)}x` +
      `  |     ${rate(wasmInPlace)}       ${rate(recipeInPlace)}  ${(wasmInPlace / recipeInPlace).toFixed(2).padStart(13)}\n`,
  );
}
